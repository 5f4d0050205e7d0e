//! JSON:API as Laboperator's API v2 speaks it: `application/vnd.api+json` documents, resource
//! objects with string ids, `page[number]`/`page[size]` with the reference's `meta`, `sort`,
//! `filter[…]`, `fields[…]`, `include`, and `Errors` objects whose `source.pointer` names the
//! attribute at fault. Only the shape lives here; every rule is the services'.

use std::collections::{BTreeMap, BTreeSet};

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{json, Map, Value};

use crate::{clock::rfc3339, http::error::error_object, paging::Page, Error};

pub const MEDIA_TYPE: &str = "application/vnd.api+json";
/// Where the API lives; resource links are relative to the server.
pub const BASE: &str = "/api/v2";
pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 100;

/// A JSON:API document with its status.
pub struct Document(pub StatusCode, pub Value);

impl IntoResponse for Document {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.1).expect("BUG: a JSON value serialises");
        let mut res = (self.0, body).into_response();
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
        res
    }
}

/// [`crate::Error`] as the reference's `Errors` document: a field error points at the
/// attribute (`/data/attributes/url`), or at the query parameter it came from.
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.into())
    }
}

pub type ApiResult<T = Document> = std::result::Result<T, ApiError>;

/// Query parameters are named as they were sent; body attributes get a JSON pointer.
const QUERY_FIELDS: &[&str] = &[
    "page", "sort", "filter", "fields", "include", "since", "until",
];

fn source(field: &str) -> Value {
    let top = field.split(['[', '.']).next().unwrap_or(field);
    if QUERY_FIELDS.contains(&top) {
        json!({ "parameter": field })
    } else {
        // `headers.2.value` → /data/attributes/headers/2/value
        json!({ "pointer": format!("/data/attributes/{}", field.replace('.', "/")) })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = e.status();
        let errors: Vec<Value> = match &e {
            Error::Internal(inner) => {
                tracing::error!(error = ?inner, "internal error");
                vec![error_object(
                    status,
                    e.code(),
                    "Something went wrong on our side.",
                    None,
                )]
            }
            Error::Invalid(fields) => fields
                .iter()
                .map(|f| {
                    let mut o = error_object(status, e.code(), &f.message, None);
                    o["source"] = source(&f.field);
                    o
                })
                .collect(),
            other => vec![error_object(status, e.code(), &other.to_string(), None)],
        };
        let mut res = Document(status, json!({ "errors": errors })).into_response();
        if let Some(v) = e.retry_after_header() {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError(Error::BadRequest {
        code,
        message: message.into(),
    })
}

/// A time as the reference writes it: RFC 3339 in UTC with milliseconds.
pub fn time(ms: i64) -> Value {
    Value::String(rfc3339(ms))
}

pub fn optional_time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, time)
}

/// `{"data": {"id": "2", "type": "user"}}`
pub fn belongs_to(kind: &str, id: i64) -> Value {
    json!({ "data": { "id": id.to_string(), "type": kind } })
}

/// One resource object.
pub struct Resource {
    pub kind: &'static str,
    /// The collection's path segment (`webhook_subscriptions`), for the self link.
    pub collection: &'static str,
    pub id: i64,
    pub attributes: Map<String, Value>,
    pub relationships: Map<String, Value>,
    pub meta: Option<Value>,
}

impl Resource {
    pub fn new(kind: &'static str, collection: &'static str, id: i64, attributes: Value) -> Self {
        let Value::Object(attributes) = attributes else {
            panic!("BUG: attributes are an object")
        };
        Self {
            kind,
            collection,
            id,
            attributes,
            relationships: Map::new(),
            meta: None,
        }
    }

    pub fn related(mut self, name: &str, value: Value) -> Self {
        self.relationships.insert(name.to_owned(), value);
        self
    }

    pub fn with_meta(mut self, meta: Value) -> Self {
        self.meta = Some(meta);
        self
    }

    /// The resource object, its attributes narrowed to `fields` when asked.
    pub fn render(mut self, fields: Option<&BTreeSet<String>>) -> Value {
        if let Some(fields) = fields {
            self.attributes.retain(|k, _| fields.contains(k));
        }
        let mut o = json!({
            "id": self.id.to_string(),
            "type": self.kind,
            "attributes": self.attributes,
            "links": { "self": format!("{BASE}/{}/{}", self.collection, self.id) },
        });
        if !self.relationships.is_empty() {
            o["relationships"] = Value::Object(self.relationships);
        }
        if let Some(meta) = self.meta {
            o["meta"] = meta;
        }
        o
    }
}

/// A single resource's document.
pub fn one(status: StatusCode, resource: Resource, query: &ListQuery) -> Document {
    let fields = query.fields.get(resource.kind);
    Document(status, json!({ "data": resource.render(fields) }))
}

/// A page of resources with the reference's `meta`.
pub fn many<T>(
    page: Page<T>,
    query: &ListQuery,
    kind: &str,
    to_resource: impl Fn(T) -> Resource,
) -> Document {
    let fields = query.fields.get(kind);
    let (number, size, total) = (page.page, page.per_page, page.total);
    let resources: Vec<Resource> = page.items.into_iter().map(to_resource).collect();
    let order: Vec<i64> = resources.iter().map(|r| r.id).collect();
    let data: Vec<Value> = resources.into_iter().map(|r| r.render(fields)).collect();
    Document(
        StatusCode::OK,
        json!({ "data": data, "meta": meta(number, size, total, order) }),
    )
}

pub fn meta(number: u32, size: u32, total: i64, order: Vec<i64>) -> Value {
    let pages = (total + i64::from(size) - 1) / i64::from(size.max(1));
    json!({
        "pageNumber": number,
        "pageSize": size,
        "pagesTotal": pages,
        "recordsTotal": total,
        "recordsSize": order.len(),
        "recordsOrder": order,
    })
}

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

/// Largest request document accepted.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A request's body, read up to [`MAX_BODY_BYTES`]; larger ones get a JSON:API 413.
pub struct Body(pub axum::body::Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, ApiError> {
        axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map(Body)
            .map_err(|_| {
                ApiError(Error::TooLarge(format!(
                    "The request body is larger than {} KiB.",
                    MAX_BODY_BYTES / 1024
                )))
            })
    }
}

/// The `data` object of a request body: the reference's 400 when it is missing, 409 when its
/// `type` names another resource.
pub fn data_of(body: &[u8], kind: &str) -> ApiResult<Map<String, Value>> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        bad_request(
            "malformed_json",
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    let Some(Value::Object(data)) = doc.get("data") else {
        return Err(bad_request(
            "missing_data",
            "Missing `data` attribute at document's top level.",
        ));
    };
    if let Some(t) = data.get("type") {
        if t.as_str() != Some(kind) {
            return Err(ApiError(Error::Conflict(format!(
                "The `type` of `data` must be `{kind}`."
            ))));
        }
    }
    Ok(data.clone())
}

/// The attributes of an action's optional body: none at all, `{}`, or a `data` document.
pub fn optional_attributes(body: &[u8], kind: &str) -> ApiResult<Map<String, Value>> {
    let empty = body.iter().all(u8::is_ascii_whitespace)
        || serde_json::from_slice::<Value>(body).is_ok_and(|v| v == Value::Object(Map::new()));
    if empty {
        return Ok(Map::new());
    }
    attributes_of(&data_of(body, kind)?)
}

/// The `attributes` of a request's `data` (an empty object when absent).
pub fn attributes_of(data: &Map<String, Value>) -> ApiResult<Map<String, Value>> {
    match data.get("attributes") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(a)) => Ok(a.clone()),
        Some(_) => Err(bad_request(
            "wrong_attributes",
            "`data.attributes` must be an object.",
        )),
    }
}

/// An attribute that must be a string when given.
pub fn string_attr(a: &Map<String, Value>, name: &str) -> ApiResult<Option<String>> {
    match a.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError(Error::invalid(name, "This must be a string."))),
    }
}

pub fn bool_attr(a: &Map<String, Value>, name: &str) -> ApiResult<Option<bool>> {
    match a.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError(Error::invalid(
            name,
            "This must be true or false.",
        ))),
    }
}

/// An id given as a number or a string (JSON:API ids are strings).
pub fn id_attr(a: &Map<String, Value>, name: &str) -> ApiResult<Option<i64>> {
    match a.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(Value::String(s)) if s.parse::<i64>().is_ok() => Ok(s.parse().ok()),
        Some(_) => Err(ApiError(Error::invalid(name, "This must be an id."))),
    }
}

/// A time attribute or parameter: RFC 3339, or milliseconds since the epoch.
pub fn parse_time(name: &str, raw: &str) -> ApiResult<i64> {
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(raw)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError(Error::invalid(
                name,
                format!("`{raw}` is not a time: use RFC 3339 (2026-11-24T09:30:00Z) or milliseconds since 1970."),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_body_needs_data_of_the_right_type() {
        assert!(data_of(
            br#"{"data": {"type": "webhook_subscription"}}"#,
            "webhook_subscription"
        )
        .is_ok());
        let Err(ApiError(e)) = data_of(br#"{"url": "x"}"#, "webhook_subscription") else {
            panic!()
        };
        assert_eq!(
            e.to_string(),
            "Missing `data` attribute at document's top level."
        );
        let Err(ApiError(e)) = data_of(br#"{"data": {"type": "device"}}"#, "webhook_subscription")
        else {
            panic!()
        };
        assert_eq!(e.status(), StatusCode::CONFLICT);
    }
}
