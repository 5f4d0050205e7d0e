//! Headers as stored in the database: the values of secret headers sealed (see
//! [`crate::domain::sealed`]), and sealing what an older version stored in clear.

use super::{Header, HeaderName, HeaderValue, Headers, RawHeader};
use crate::domain::sealed::{SecretsKey, Unreadable};

impl Headers {
    /// The stored form, with the values of secret headers sealed.
    pub fn to_stored(&self, key: &SecretsKey) -> String {
        let mut json = self.to_json();
        for (h, stored) in self.0.iter().zip(json.as_array_mut().into_iter().flatten()) {
            if h.secret {
                stored["value"] = key.seal(h.value.expose()).into();
            }
        }
        json.to_string()
    }

    /// Reads the stored form back, opening sealed values. Stored headers were valid when
    /// saved; anything unreadable (a value sealed with another key) is dropped rather than
    /// sent, and logged.
    pub fn from_stored(raw: &str, key: &SecretsKey) -> Self {
        let rows: Vec<RawHeader> = serde_json::from_str(raw).unwrap_or_default();
        Self(
            rows.into_iter()
                .filter_map(|r| {
                    let stored = r.value.as_deref()?;
                    let value = if r.secret {
                        match key.open(stored) {
                            Ok(plain) => plain,
                            // Written before secrets were sealed (sealed at the next start).
                            Err(Unreadable::NotSealed) => stored.to_owned(),
                            Err(e) => {
                                tracing::error!(header = %r.name, error = ?e, "cannot open a secret header value");
                                return None;
                            }
                        }
                    } else {
                        stored.to_owned()
                    };
                    Some(Header {
                        name: HeaderName::parse(&r.name).ok()?,
                        value: HeaderValue::parse(&value).ok()?,
                        secret: r.secret,
                    })
                })
                .collect(),
        )
    }

    /// Seals the secret values of a stored form written before secrets were sealed; `None`
    /// when there is nothing to seal.
    pub fn seal_stored(raw: &str, key: &SecretsKey) -> Option<String> {
        let mut json: serde_json::Value = serde_json::from_str(raw).ok()?;
        let mut changed = false;
        for h in json.as_array_mut()? {
            let open = h["secret"].as_bool() == Some(true)
                && h["value"]
                    .as_str()
                    .is_some_and(|v| !SecretsKey::is_sealed(v));
            if open {
                let sealed = key.seal(h["value"].as_str().unwrap_or_default());
                h["value"] = sealed.into();
                changed = true;
            }
        }
        changed.then(|| json.to_string())
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

    #[test]
    fn round_trips_through_its_stored_form() {
        let h = Headers::parse(&[row("X-A", "1")], |_| None).unwrap();
        let key = SecretsKey::generate();
        let stored = h.to_stored(&key);
        assert_eq!(Headers::from_stored(&stored, &key), h);
    }

    #[test]
    fn secret_values_are_stored_sealed_and_old_open_ones_get_sealed() {
        let mut api_key = row("Authorization", "Bearer lims-key");
        api_key.secret = true;
        let h = Headers::parse(&[row("X-Lab", "QC"), api_key], |_| None).unwrap();
        let key = SecretsKey::generate();
        let stored = h.to_stored(&key);
        assert!(!stored.contains("lims-key"), "{stored}");
        assert!(stored.contains("\"QC\""), "plain values stay readable");
        assert_eq!(Headers::from_stored(&stored, &key), h);
        // Another key cannot open it: the header is dropped, never sent garbled.
        assert_eq!(
            Headers::from_stored(&stored, &SecretsKey::generate())
                .iter()
                .count(),
            1
        );
        // A row from before sealing: read as it is, and sealed by `seal_stored`.
        let old = h.to_json().to_string();
        assert_eq!(Headers::from_stored(&old, &key), h);
        let sealed = Headers::seal_stored(&old, &key).unwrap();
        assert!(!sealed.contains("lims-key"));
        assert_eq!(Headers::from_stored(&sealed, &key), h);
        assert_eq!(
            Headers::seal_stored(&sealed, &key),
            None,
            "nothing left to seal"
        );
    }
}
