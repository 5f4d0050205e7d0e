//! What a change changed: the before and after states an audit entry keeps (JSON), compared
//! field by field, nested objects by their dotted path. The audit trail page and the PDF
//! export show this instead of two whole documents.

use serde_json::Value as Json;

/// One field that differs. `None`: the field was not there (added, or removed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    /// `url`, `headers.X-Api-Key`, `triggers`; empty when the whole value is not an object.
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// The fields that differ between `before` and `after` (each the JSON an audit entry stored,
/// or nothing), in field order. Values that are not objects are compared whole.
pub fn difference(before: Option<&str>, after: Option<&str>) -> Vec<Change> {
    let parse =
        |s: Option<&str>| s.map(|s| serde_json::from_str(s).unwrap_or(Json::String(s.into())));
    let mut changes = Vec::new();
    walk(
        String::new(),
        parse(before).as_ref(),
        parse(after).as_ref(),
        &mut changes,
    );
    changes
}

fn walk(path: String, before: Option<&Json>, after: Option<&Json>, out: &mut Vec<Change>) {
    match (before, after) {
        (Some(Json::Object(b)), Some(Json::Object(a))) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(field, b.get(key), a.get(key), out);
            }
        }
        // A whole object added or removed: each of its fields, so that a created subscription
        // reads as its settings.
        (None, Some(Json::Object(a))) => {
            for (key, value) in a {
                walk(join(&path, key), None, Some(value), out);
            }
        }
        (Some(Json::Object(b)), None) => {
            for (key, value) in b {
                walk(join(&path, key), Some(value), None, out);
            }
        }
        (b, a) if b != a => out.push(Change {
            field: path,
            before: b.map(show),
            after: a.map(show),
        }),
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A value as people read it: text without quotes, the rest as JSON.
fn show(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(field: &str, before: Option<&str>, after: Option<&str>) -> Change {
        Change {
            field: field.into(),
            before: before.map(Into::into),
            after: after.map(Into::into),
        }
    }

    #[test]
    fn only_the_fields_that_changed_are_listed_by_their_path() {
        let before = r#"{"url":"https://a.example/","active":true,"headers":{"X-Key":"••••","Y":"1"},"triggers":["a"]}"#;
        let after = r#"{"url":"https://b.example/","active":true,"headers":{"X-Key":"(changed)"},"triggers":["a","b"]}"#;
        assert_eq!(
            difference(Some(before), Some(after)),
            vec![
                change("headers.X-Key", Some("••••"), Some("(changed)")),
                change("headers.Y", Some("1"), None),
                change("triggers", Some(r#"["a"]"#), Some(r#"["a","b"]"#)),
                change(
                    "url",
                    Some("https://a.example/"),
                    Some("https://b.example/")
                ),
            ]
        );
    }

    #[test]
    fn a_creation_lists_every_field_and_a_deletion_every_field_gone() {
        assert_eq!(
            difference(None, Some(r#"{"name":"Balance","on":true}"#)),
            vec![
                change("name", None, Some("Balance")),
                change("on", None, Some("true"))
            ]
        );
        assert_eq!(
            difference(Some(r#"{"name":"Balance"}"#), None),
            vec![change("name", Some("Balance"), None)]
        );
        assert_eq!(difference(None, None), vec![]);
        assert_eq!(
            difference(Some("true"), Some("false")),
            vec![change("", Some("true"), Some("false"))]
        );
    }
}
