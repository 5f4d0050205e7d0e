use std::fmt;

/// Why a change is made, in the words of the person making it: the audit trail keeps it beside
/// the change (EU GMP Annex 11 §9), and an organisation may require one for every change.
///
/// Trimmed, not empty, at most [`Reason::MAX_CHARS`] characters, with no control characters but
/// line breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub const MAX_CHARS: usize = 500;

    /// `field` names where the reason came from, for the error (`reason` in the pages and the
    /// command line, `meta.reason` in the API).
    pub fn parse(field: &str, raw: &str) -> crate::Result<Self> {
        let reason = raw.replace("\r\n", "\n");
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(crate::Error::invalid(field, "Please give a reason."));
        }
        if reason.chars().count() > Self::MAX_CHARS {
            return Err(crate::Error::invalid(
                field,
                format!(
                    "A reason can be at most {} characters long.",
                    Self::MAX_CHARS
                ),
            ));
        }
        if reason.chars().any(|c| c.is_control() && c != '\n') {
            return Err(crate::Error::invalid(
                field,
                "A reason cannot contain control characters.",
            ));
        }
        Ok(Self(reason.to_owned()))
    }

    /// A reason that may be left out: blank is none.
    pub fn parse_optional(field: &str, raw: Option<&str>) -> crate::Result<Option<Self>> {
        match raw {
            Some(raw) if !raw.trim().is_empty() => Self::parse(field, raw).map(Some),
            _ => Ok(None),
        }
    }

    /// What a change without a reason is told when its organisation requires one.
    pub const MISSING: &'static str =
        "Your organisation requires a reason for every change: please give one.";

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_keeps_line_breaks() {
        let r = Reason::parse("reason", "  CAPA-112:\r\nnew LIMS host ").unwrap();
        assert_eq!(r.as_str(), "CAPA-112:\nnew LIMS host");
    }

    #[test]
    fn refuses_blank_long_and_control_characters() {
        for bad in ["", "   ", "tab\there", "bell\u{7}"] {
            assert!(Reason::parse("reason", bad).is_err(), "{bad:?}");
        }
        assert!(Reason::parse("reason", &"x".repeat(Reason::MAX_CHARS)).is_ok());
        assert!(Reason::parse("reason", &"x".repeat(Reason::MAX_CHARS + 1)).is_err());
    }

    #[test]
    fn blank_is_no_reason_when_optional() {
        assert_eq!(Reason::parse_optional("reason", Some("  ")).unwrap(), None);
        assert_eq!(Reason::parse_optional("reason", None).unwrap(), None);
        assert!(Reason::parse_optional("reason", Some("why"))
            .unwrap()
            .is_some());
    }
}
