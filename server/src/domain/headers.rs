//! Custom HTTP headers a subscription sends with every webhook (an API key for the LIMS, a
//! tenant id). Parsed once into [`Headers`]; everything that reaches the dispatcher is valid.

use std::fmt;

use crate::FieldError;

mod stored;

pub const MAX_HEADERS: usize = 20;
pub const MAX_TOTAL_BYTES: usize = 8 * 1024;
const MAX_NAME_LEN: usize = 100;

/// Names the dispatcher sets itself, and why a subscription may not.
const RESERVED: &[(&str, &str)] = &[
    ("host", "is set from the target URL"),
    ("content-length", "is set from the body"),
    ("content-type", "is always application/json"),
    ("transfer-encoding", "is decided by the HTTP client"),
    ("connection", "controls the connection, not the message"),
    ("keep-alive", "controls the connection, not the message"),
    ("upgrade", "controls the connection, not the message"),
    ("te", "controls the connection, not the message"),
    ("trailer", "controls the connection, not the message"),
    (
        "proxy-connection",
        "controls the connection, not the message",
    ),
    (
        "webhook-id",
        "carries the webhook signature and is set by Labhook",
    ),
    (
        "webhook-timestamp",
        "carries the webhook signature and is set by Labhook",
    ),
    (
        "webhook-signature",
        "carries the webhook signature and is set by Labhook",
    ),
    (
        "content-encoding",
        "would make the receiver decode a body that is not encoded",
    ),
    ("expect", "changes how the request is sent"),
    (
        "user-agent",
        "names Labhook, so that receivers know who is calling",
    ),
    (
        "forwarded",
        "is for proxies on the way, and would mislead the receiver about where the request came from",
    ),
];

/// Name prefixes that are reserved like [`RESERVED`].
const RESERVED_PREFIXES: &[(&str, &str)] = &[(
    "x-forwarded-",
    "is for proxies on the way, and would mislead the receiver about where the request came from",
)];

/// Whether a header's name suggests its value is a credential (used to mask it in logs and
/// the audit trail even when it was not marked secret).
pub fn looks_secret(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "auth",
        "token",
        "secret",
        "key",
        "password",
        "passwd",
        "cookie",
        "credential",
        "signature",
        "session",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// An HTTP header name: RFC 9110 token characters only, not one we set ourselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderName(String);

impl HeaderName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        // Spaces around are forgiven; a line break is not (it would end the header).
        let name = raw.trim_matches(' ');
        if name.is_empty() {
            return Err("Please enter a key (the header's name).".into());
        }
        if name.len() > MAX_NAME_LEN {
            return Err(format!(
                "A header name can be at most {MAX_NAME_LEN} characters."
            ));
        }
        if let Some(c) = name.chars().find(|c| !is_token_char(*c)) {
            return Err(format!(
                "A header name can only contain letters, digits and !#$%&'*+-.^_`|~ — not {c:?}."
            ));
        }
        let lower = name.to_ascii_lowercase();
        let reserved = RESERVED
            .iter()
            .find(|(r, _)| *r == lower)
            .or_else(|| RESERVED_PREFIXES.iter().find(|(p, _)| lower.starts_with(p)));
        if let Some((_, why)) = reserved {
            return Err(format!("The header {name} cannot be set: it {why}."));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A header value: one line of printable ASCII (what HTTP/1.1 carries without surprises).
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderValue(String);

impl HeaderValue {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.contains(['\r', '\n']) {
            return Err("A header value must be a single line (no line breaks).".into());
        }
        let value = raw.trim();
        if value.is_empty() {
            return Err("Please enter a value.".into());
        }
        if value
            .chars()
            .any(|c| !(c == '\t' || (' '..='~').contains(&c)))
        {
            return Err(
                "A header value can only contain printable ASCII characters (no accents, emoji or control characters).".into(),
            );
        }
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HeaderValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeaderValue(…)")
    }
}

/// One custom header. A secret header's value is stored but never shown again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: HeaderName,
    pub value: HeaderValue,
    pub secret: bool,
}

/// A header as typed: `value` is `None` for "keep the stored secret value".
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RawHeader {
    pub name: String,
    pub value: Option<String>,
    #[serde(default)]
    pub secret: bool,
}

/// All custom headers of a subscription, checked together (duplicates, count, total size).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// Parses the typed rows. `stored` resolves rows whose value was left untouched (`None`):
    /// it returns the saved value of a secret header with that name. Errors name the row:
    /// `headers.3.name`, `headers.3.value`.
    pub fn parse(
        rows: &[RawHeader],
        stored: impl Fn(&str) -> Option<HeaderValue>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        if rows.len() > MAX_HEADERS {
            errors.push(FieldError::new(
                "headers",
                format!("At most {MAX_HEADERS} headers; there are {}.", rows.len()),
            ));
            return Err(errors);
        }
        let mut headers: Vec<Header> = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let name = match HeaderName::parse(&row.name) {
                Ok(n) => Some(n),
                Err(m) => {
                    errors.push(FieldError::new(format!("headers.{i}.name"), m));
                    None
                }
            };
            if let Some(n) = &name {
                if headers
                    .iter()
                    .any(|h| h.name.as_str().eq_ignore_ascii_case(n.as_str()))
                {
                    errors.push(FieldError::new(
                        format!("headers.{i}.name"),
                        format!("The header {} appears twice.", n.as_str()),
                    ));
                    continue;
                }
            }
            let value = match &row.value {
                Some(v) => HeaderValue::parse(v).map_err(|m| (format!("headers.{i}.value"), m)),
                None => name
                    .as_ref()
                    .and_then(|n| stored(n.as_str()))
                    .ok_or_else(|| {
                        (
                            format!("headers.{i}.value"),
                            "Please enter the value again.".to_owned(),
                        )
                    }),
            };
            match (name, value) {
                (Some(name), Ok(value)) => headers.push(Header {
                    name,
                    value,
                    // A kept value is a stored secret's (`stored` knows no other): it stays
                    // secret unless a new value is typed, or unticking "Secret" would reveal it.
                    secret: row.secret || row.value.is_none(),
                }),
                (_, Err((field, m))) => errors.push(FieldError::new(field, m)),
                (None, Ok(_)) => {}
            }
        }
        let total: usize = headers
            .iter()
            .map(|h| h.name.as_str().len() + h.value.expose().len())
            .sum();
        if total > MAX_TOTAL_BYTES {
            errors.push(FieldError::new(
                "headers",
                format!(
                    "The headers add up to {total} bytes; at most {} KiB are possible.",
                    MAX_TOTAL_BYTES / 1024
                ),
            ));
        }
        if errors.is_empty() {
            Ok(Self(headers))
        } else {
            Err(errors)
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stored form: `[{"name", "value", "secret"}]`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.0
                .iter()
                .map(|h| {
                    serde_json::json!({
                        "name": h.name.as_str(),
                        "value": h.value.expose(),
                        "secret": h.secret,
                    })
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, value: &str) -> RawHeader {
        RawHeader {
            name: name.into(),
            value: Some(value.into()),
            secret: false,
        }
    }

    fn fields(e: Vec<FieldError>) -> Vec<String> {
        e.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_kept_secret_value_stays_secret_whatever_the_box_says() {
        let stored = |name: &str| {
            (name == "Authorization").then(|| HeaderValue::parse("Bearer s3cret").unwrap())
        };
        let kept = RawHeader {
            name: "Authorization".into(),
            value: None,
            secret: false,
        };
        let h = Headers::parse(&[kept], stored).unwrap();
        let h = h.iter().next().unwrap();
        assert_eq!(h.value.expose(), "Bearer s3cret");
        assert!(h.secret);
        // A new value may be made public on purpose.
        let retyped = RawHeader {
            name: "Authorization".into(),
            value: Some("Bearer public".into()),
            secret: false,
        };
        assert!(
            !Headers::parse(&[retyped], stored)
                .unwrap()
                .iter()
                .next()
                .unwrap()
                .secret
        );
    }

    #[test]
    fn accepts_ordinary_headers() {
        let h = Headers::parse(&[row("X-Api-Key", "abc123"), row("X-Lab", "QC 2")], |_| {
            None
        })
        .unwrap();
        assert_eq!(h.iter().count(), 2);
    }

    #[test]
    fn refuses_reserved_names_with_a_reason() {
        for name in [
            "Host",
            "content-length",
            "Content-Type",
            "Transfer-Encoding",
            "Connection",
            "webhook-id",
            "Webhook-Timestamp",
            "WEBHOOK-SIGNATURE",
            "Content-Encoding",
            "Expect",
            "User-Agent",
            "Forwarded",
            "X-Forwarded-For",
            "x-forwarded-proto",
        ] {
            let err = HeaderName::parse(name).unwrap_err();
            assert!(
                err.starts_with(&format!("The header {name} cannot be set")),
                "{err}"
            );
        }
    }

    #[test]
    fn refuses_non_token_names_and_multi_line_values() {
        assert!(HeaderName::parse("X Lab").is_err());
        assert!(HeaderName::parse("X:Lab").is_err());
        assert!(HeaderName::parse("Ünicode").is_err());
        assert!(HeaderName::parse("").is_err());
        assert!(HeaderValue::parse("a\r\nX-Injected: 1").is_err());
        assert!(HeaderValue::parse("a\nb").is_err());
        assert!(HeaderValue::parse("café").is_err());
        assert!(HeaderValue::parse("   ").is_err());
        assert!(HeaderValue::parse("tab\tok").is_ok());
    }

    #[test]
    fn refuses_duplicates_too_many_and_too_large() {
        let e = Headers::parse(&[row("X-A", "1"), row("x-a", "2")], |_| None).unwrap_err();
        assert_eq!(fields(e), ["headers.1.name"]);
        let many: Vec<RawHeader> = (0..21).map(|i| row(&format!("X-{i}"), "v")).collect();
        assert_eq!(
            fields(Headers::parse(&many, |_| None).unwrap_err()),
            ["headers"]
        );
        let big: Vec<RawHeader> = (0..3)
            .map(|i| row(&format!("X-{i}"), &"v".repeat(3000)))
            .collect();
        assert_eq!(
            fields(Headers::parse(&big, |_| None).unwrap_err()),
            ["headers"]
        );
    }

    #[test]
    fn an_untouched_secret_keeps_its_stored_value() {
        let keep = RawHeader {
            name: "Authorization".into(),
            value: None,
            secret: true,
        };
        let stored =
            |n: &str| (n == "Authorization").then(|| HeaderValue::parse("Bearer s3cret").unwrap());
        let h = Headers::parse(std::slice::from_ref(&keep), stored).unwrap();
        assert_eq!(h.iter().next().unwrap().value.expose(), "Bearer s3cret");
        // Renamed: there is nothing to keep.
        let renamed = RawHeader {
            name: "X-Auth".into(),
            ..keep
        };
        assert_eq!(
            fields(Headers::parse(&[renamed], stored).unwrap_err()),
            ["headers.0.value"]
        );
    }

    #[test]
    fn recognises_secret_looking_names() {
        assert!(looks_secret("Authorization"));
        assert!(looks_secret("X-API-KEY"));
        assert!(looks_secret("x-access-token"));
        assert!(!looks_secret("X-Lab"));
    }
}
