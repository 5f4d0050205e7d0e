//! The query of a list or show request — `page[…]`, `sort`, `filter[…]`, `fields[…]`,
//! `include` — checked against what the endpoint offers, with the reference's error words.

use std::collections::{BTreeMap, BTreeSet};

use super::document::{bad_request, ApiResult};

/// What a list or show request asked for, checked against what the resource offers.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub page_number: u32,
    pub page_size: u32,
    /// `sort=-created_at` → ("created_at", descending).
    pub sort: Option<(String, bool)>,
    /// `filter[status]=failed` or `filter[webhook_logs][status]=failed,delivered`.
    pub filters: BTreeMap<String, Vec<String>>,
    /// `fields[webhook_subscription]=url,active`, by resource type.
    pub fields: BTreeMap<String, BTreeSet<String>>,
    pub include: Vec<String>,
}

/// What one endpoint understands.
pub struct Accepts<'a> {
    /// The collection as filters name it (`webhook_logs`).
    pub collection: &'a str,
    pub kind: &'a str,
    pub filters: &'a [&'a str],
    pub sorts: &'a [&'a str],
    pub attributes: &'a [&'a str],
    pub includes: &'a [&'a str],
    pub default_page_size: u32,
    pub max_page_size: u32,
}

impl ListQuery {
    pub fn parse(raw: Option<&str>, accepts: &Accepts) -> ApiResult<Self> {
        let mut q = ListQuery {
            page_number: 1,
            page_size: accepts.default_page_size,
            ..Default::default()
        };
        let mut wrong_filters = Vec::new();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let (key, value) = (key.into_owned(), value.into_owned());
            let parts = bracketed(&key);
            match parts.as_slice() {
                ["page", "number"] => q.page_number = number(&key, &value, 1, u32::MAX)?,
                ["page", "size"] => {
                    q.page_size = number(&key, &value, 1, accepts.max_page_size)?;
                }
                ["sort"] => {
                    let (name, descending) = match value.strip_prefix('-') {
                        Some(n) => (n, true),
                        None => (value.as_str(), false),
                    };
                    if !accepts.sorts.contains(&name) {
                        return Err(bad_request(
                            "wrong_sort",
                            format!(
                                "Wrong `sort` value for {} given: `{value}`. Sort by {}.",
                                accepts.collection,
                                words(accepts.sorts)
                            ),
                        ));
                    }
                    q.sort = Some((name.to_owned(), descending));
                }
                ["filter", name] | ["filter", _, name]
                    if parts.len() == 2 || parts[1] == accepts.collection =>
                {
                    if accepts.filters.contains(name) {
                        q.filters.insert(
                            (*name).to_owned(),
                            value.split(',').map(|v| v.trim().to_owned()).collect(),
                        );
                    } else {
                        wrong_filters.push(format!("`{name}`"));
                    }
                }
                ["filter", other, name] => wrong_filters.push(format!("`{other}.{name}`")),
                ["fields", kind] => {
                    let wanted: BTreeSet<String> =
                        value.split(',').map(|v| v.trim().to_owned()).collect();
                    if *kind == accepts.kind || *kind == accepts.collection {
                        let wrong: Vec<String> = wanted
                            .iter()
                            .filter(|f| !accepts.attributes.contains(&f.as_str()))
                            .map(|f| format!("`{f}`"))
                            .collect();
                        if !wrong.is_empty() {
                            return Err(bad_request(
                                "wrong_fields",
                                format!(
                                    "Wrong `fields` value(s) for {} given: {}.",
                                    accepts.collection,
                                    wrong.join(", ")
                                ),
                            ));
                        }
                        q.fields.insert(accepts.kind.to_owned(), wanted);
                    } else {
                        q.fields.insert((*kind).to_owned(), wanted);
                    }
                }
                ["include"] => {
                    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                        if !accepts.includes.contains(&name) {
                            return Err(bad_request(
                                "wrong_include",
                                format!(
                                    "Wrong `include` value for {} given: `{name}`.{}",
                                    accepts.collection,
                                    if accepts.includes.is_empty() {
                                        " Nothing can be included here.".to_owned()
                                    } else {
                                        format!(" Include {}.", words(accepts.includes))
                                    }
                                ),
                            ));
                        }
                        q.include.push(name.to_owned());
                    }
                }
                // Laboperator's `locale` changes its messages' language; ours are English.
                ["locale"] => {}
                _ => {
                    return Err(bad_request(
                        "unknown_parameter",
                        format!("`{key}` is not a parameter of this request."),
                    ))
                }
            }
        }
        if !wrong_filters.is_empty() {
            return Err(bad_request(
                "wrong_filter",
                format!(
                    "Wrong {} attributes given for filtering: {}.",
                    accepts.collection,
                    wrong_filters.join(", ")
                ),
            ));
        }
        Ok(q)
    }

    /// The one value of a filter, if given.
    pub fn filter(&self, name: &str) -> Option<&str> {
        self.filters
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
    }

    /// A filter of ids.
    pub fn filter_ids(&self, name: &str) -> ApiResult<Vec<i64>> {
        self.filters
            .get(name)
            .into_iter()
            .flatten()
            .map(|v| {
                v.parse().map_err(|_| {
                    bad_request(
                        "wrong_filter",
                        format!("`filter[{name}]` takes ids; `{v}` is not one."),
                    )
                })
            })
            .collect()
    }

    /// Newest first unless `sort` says otherwise.
    pub fn ascending(&self) -> bool {
        self.sort
            .as_ref()
            .is_some_and(|(_, descending)| !descending)
    }

    pub fn page(&self) -> crate::paging::PageRequest {
        crate::paging::PageRequest::new(self.page_number, self.page_size)
    }
}

/// `filter[webhook_logs][status]` → ["filter", "webhook_logs", "status"].
fn bracketed(key: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (head, mut rest) = key.split_once('[').map_or((key, ""), |(h, r)| (h, r));
    parts.push(head);
    while let Some((inner, after)) = rest.split_once(']') {
        parts.push(inner);
        rest = after.strip_prefix('[').unwrap_or(after);
        if after.is_empty() {
            break;
        }
    }
    parts
}

fn number(key: &str, value: &str, min: u32, max: u32) -> ApiResult<u32> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            bad_request(
                "wrong_page",
                format!("`{key}` must be a whole number from {min} to {max}; `{value}` is not."),
            )
        })
}

fn words(list: &[&str]) -> String {
    list.iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::api_v2::document::ApiError;

    const LOGS: Accepts = Accepts {
        collection: "webhook_logs",
        kind: "webhook_log",
        filters: &["status", "container_id"],
        sorts: &["created_at", "id"],
        attributes: &["status", "payload"],
        includes: &[],
        default_page_size: 20,
        max_page_size: 100,
    };

    #[test]
    fn the_reference_query_forms_are_understood() {
        let q = ListQuery::parse(
            Some("page[number]=2&page[size]=5&sort=-created_at&filter[webhook_logs][status]=failed,delivered&filter[container_id]=7&fields[webhook_log]=status&locale=de"),
            &LOGS,
        )
        .ok()
        .unwrap();
        assert_eq!((q.page_number, q.page_size), (2, 5));
        assert_eq!(q.sort, Some(("created_at".into(), true)));
        assert_eq!(q.filters["status"], ["failed", "delivered"]);
        assert_eq!(q.filter_ids("container_id").ok().unwrap(), [7]);
        assert!(q.fields["webhook_log"].contains("status"));
    }

    #[test]
    fn wrong_parameters_are_named() {
        let message = |raw: &str| match ListQuery::parse(Some(raw), &LOGS) {
            Err(ApiError(e)) => e.to_string(),
            Ok(_) => panic!("{raw} accepted"),
        };
        assert_eq!(
            message("filter[webhook_logs][hair]=1"),
            "Wrong webhook_logs attributes given for filtering: `hair`."
        );
        assert_eq!(
            message("fields[webhook_log]=invalid,invalid2"),
            "Wrong `fields` value(s) for webhook_logs given: `invalid`, `invalid2`."
        );
        assert!(message("page[size]=1000").contains("from 1 to 100"));
        assert!(message("sort=hair").contains("Sort by `created_at`, `id`"));
        assert!(message("colour=red").contains("`colour` is not a parameter"));
    }
}
