use std::fmt;

/// An email address, trimmed and lower-cased: the sign-in name of a user.
///
/// Only the shape is checked (one `@`, something on both sides, a dot in the domain, no
/// spaces); whether mail arrives is not our business.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> crate::Result<Self> {
        let email = raw.trim().to_lowercase();
        let invalid = || crate::Error::invalid("email", "Please enter a valid email address.");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || domain.is_empty()
            || domain.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
        {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        let e = Email::parse("  Admin@Demo.LAB ").unwrap();
        assert_eq!(e.as_str(), "admin@demo.lab");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "admin",
            "@demo.lab",
            "admin@",
            "admin@lab",
            "a@b@c.d",
            "ad min@demo.lab",
            "admin@.lab",
            "admin@lab.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
