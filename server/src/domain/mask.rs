//! Secret values as people get to see them: masked, wherever they are shown or recorded
//! (the audit trail, the request headers in the delivery log).

use serde_json::Value as Json;

use super::headers::looks_secret;

/// What a secret value reads as.
pub const MASK: &str = "•••••";

/// The value to show for a header: masked when marked secret or named like a secret
/// (Authorization, X-Api-Key, …).
pub fn shown_header_value<'a>(name: &str, value: &'a str, secret: bool) -> &'a str {
    if secret || looks_secret(name) {
        MASK
    } else {
        value
    }
}

/// A target URL as shown to people (pages, audit trail, delivery log): the values of query
/// parameters named like credentials (`?token=…`, `?api_key=…`, `?sig=…`) masked. Only the
/// owner's edit form shows the URL as typed.
pub fn shown_url(raw: &str) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return raw.to_owned();
    };
    if url.query().is_none() {
        return raw.to_owned();
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let secret = looks_secret(&k)
                || matches!(
                    k.to_ascii_lowercase().as_str(),
                    "sig" | "code" | "pwd" | "pass"
                );
            (
                k.into_owned(),
                if secret {
                    MASK.to_owned()
                } else {
                    v.into_owned()
                },
            )
        })
        .collect();
    if pairs.iter().all(|(_, v)| v != MASK) {
        return raw.to_owned();
    }
    url.query_pairs_mut().clear().extend_pairs(pairs);
    // Keep the mask readable rather than percent-encoded.
    url.as_str().replace(
        &url::form_urlencoded::byte_serialize(MASK.as_bytes()).collect::<String>(),
        MASK,
    )
}

/// Replaces the values of headers that are marked secret, or whose names look secret,
/// wherever a `headers` list appears.
pub fn mask_secrets(mut json: Json) -> Json {
    fn walk(v: &mut Json) {
        match v {
            Json::Object(map) => {
                if let Some(Json::Array(headers)) = map.get_mut("headers") {
                    for h in headers.iter_mut() {
                        let secret = h.get("secret").and_then(Json::as_bool).unwrap_or(false)
                            || h.get("name")
                                .and_then(Json::as_str)
                                .is_some_and(looks_secret);
                        if secret {
                            if let Some(value) = h.get_mut("value") {
                                *value = Json::String(MASK.into());
                            }
                        }
                    }
                }
                for (_, child) in map.iter_mut() {
                    walk(child);
                }
            }
            Json::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut json);
    json
}

/// A URL with a password in it (a database's, `postgres://user:password@host/db`) fit for a
/// log line or an error message: the password masked (as `***`: [`MASK`] would be
/// percent-encoded in a URL).
pub fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        Err(_) => "(a URL that cannot be read)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credentials_in_a_query_are_masked_and_the_rest_kept() {
        assert_eq!(
            shown_url("https://lims.example.org/hook?token=abc&site=basel"),
            "https://lims.example.org/hook?token=•••••&site=basel"
        );
        assert_eq!(
            shown_url("https://x.example/h?api_key=1&sig=2&page=3"),
            "https://x.example/h?api_key=•••••&sig=•••••&page=3"
        );
        assert_eq!(
            shown_url("https://x.example/h?site=basel"),
            "https://x.example/h?site=basel"
        );
        assert_eq!(shown_url("https://x.example/h"), "https://x.example/h");
        assert_eq!(shown_url("not a url"), "not a url");
    }

    #[test]
    fn masks_secret_and_secret_looking_headers_only() {
        let masked = mask_secrets(json!({
            "url": "https://lims.example.org/",
            "headers": [
                {"name": "X-Lab", "value": "QC", "secret": false},
                {"name": "X-Custom", "value": "hidden", "secret": true},
                {"name": "Authorization", "value": "Bearer abc", "secret": false},
                {"name": "X-Api-Key", "value": "k", "secret": false}
            ]
        }));
        let values: Vec<&str> = masked["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["value"].as_str().unwrap())
            .collect();
        assert_eq!(values, ["QC", MASK, MASK, MASK]);
        assert_eq!(shown_header_value("X-Lab", "QC", false), "QC");
        assert_eq!(shown_header_value("X-Lab", "QC", true), MASK);
    }

    #[test]
    fn a_password_never_reaches_a_message() {
        assert_eq!(
            without_password("postgres://labhook:s3cret@db.lab:5432/labhook"),
            "postgres://labhook:***@db.lab:5432/labhook"
        );
        assert_eq!(
            without_password("postgres://labhook@127.0.0.1/labhook"),
            "postgres://labhook@127.0.0.1/labhook"
        );
        assert!(!without_password("postgres://a:s3cret@[bad").contains("s3cret"));
    }
}
