//! The words of the delivery log: where a delivery stands, why an attempt failed, why a
//! subscription is switched off. Stored as their `as_str` spelling; shown as their `label`.

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first attempt.
    Pending,
    /// An attempt failed; another is scheduled.
    Retrying,
    /// A receiver answered 2xx.
    Delivered,
    /// Every attempt failed, or the receiver answered 410 Gone.
    Failed,
    /// Stopped before it was delivered: the subscription was switched off or deleted, the
    /// organisation switched webhooks off, or the target lost its registration.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Retrying,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "Pending",
            DeliveryStatus::Retrying => "Retrying",
            DeliveryStatus::Delivered => "Delivered",
            DeliveryStatus::Failed => "Failed",
            DeliveryStatus::Cancelled => "Cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// The label of a stored status; an unknown one is shown as it is.
    pub fn label_of(raw: &str) -> String {
        Self::parse(raw).map_or_else(|| raw.to_owned(), |s| s.label().to_owned())
    }
}

/// Why an attempt got no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Timeout,
    Connection,
    Dns,
    Tls,
    Redirect,
    Unregistered,
    /// The address the target resolved to is refused by the outbound policy.
    Blocked,
    Other,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::Timeout,
        ErrorKind::Connection,
        ErrorKind::Dns,
        ErrorKind::Tls,
        ErrorKind::Redirect,
        ErrorKind::Unregistered,
        ErrorKind::Blocked,
        ErrorKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::Dns => "dns",
            ErrorKind::Tls => "tls",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Unregistered => "unregistered",
            ErrorKind::Blocked => "blocked",
            ErrorKind::Other => "other",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "Timed out",
            ErrorKind::Connection => "Connection refused or reset",
            ErrorKind::Dns => "Host name not found (DNS)",
            ErrorKind::Tls => "TLS/certificate error",
            ErrorKind::Redirect => "Redirect (not followed)",
            ErrorKind::Unregistered => "Target not registered",
            ErrorKind::Blocked => "Address not allowed",
            ErrorKind::Other => "Error",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == raw)
    }

    /// The label of a stored kind; an unknown one reads as a plain error.
    pub fn label_of(raw: &str) -> &'static str {
        Self::parse(raw).unwrap_or(ErrorKind::Other).label()
    }
}

/// Why a subscription is switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InactiveReason {
    /// Switched off with its toggle.
    User,
    /// Its target URL no longer matches a registered URL.
    TargetNotRegistered,
    /// The receiver answered 410 Gone.
    Gone,
    /// Its owner's account was deactivated.
    OwnerDeactivated,
    /// Every delivery failed for days: switched off by Labhook ("failing since …").
    Failing,
}

impl InactiveReason {
    pub const ALL: [InactiveReason; 5] = [
        InactiveReason::User,
        InactiveReason::TargetNotRegistered,
        InactiveReason::Gone,
        InactiveReason::OwnerDeactivated,
        InactiveReason::Failing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InactiveReason::User => "user",
            InactiveReason::TargetNotRegistered => "target_not_registered",
            InactiveReason::Gone => "gone",
            InactiveReason::OwnerDeactivated => "owner_deactivated",
            InactiveReason::Failing => "failing",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == raw)
    }

    /// What the delivery log says of the deliveries this stops.
    pub fn cancels_because(self) -> &'static str {
        match self {
            InactiveReason::User => "subscription switched off",
            InactiveReason::TargetNotRegistered => "target not registered any more",
            InactiveReason::Gone => "subscription deactivated: 410 Gone",
            InactiveReason::OwnerDeactivated => "its owner's account was deactivated",
            InactiveReason::Failing => "subscription switched off: its deliveries kept failing",
        }
    }

    /// What the audit trail says of why it was switched off (`None`: its owner did).
    pub fn audit_reason(self) -> Option<&'static str> {
        match self {
            InactiveReason::User => None,
            InactiveReason::TargetNotRegistered => Some("target not registered"),
            InactiveReason::Gone => Some("the receiver answered 410 Gone"),
            InactiveReason::OwnerDeactivated => Some("its owner's account was deactivated"),
            InactiveReason::Failing => Some("every delivery failed for days"),
        }
    }
}

/// What went wrong, as a person would say it — the delivery log's summary; the technical
/// text stays in the attempt's details. `address` is the receiver's `host:port`.
pub fn in_plain_words(kind: ErrorKind, technical: &str, address: &str) -> String {
    let lower = technical.to_lowercase();
    match kind {
        ErrorKind::Connection if lower.contains("refused") => {
            format!("nothing is listening at {address} — connection refused")
        }
        ErrorKind::Connection if lower.contains("reset") || lower.contains("closed") => {
            format!("{address} closed the connection before answering")
        }
        ErrorKind::Connection => format!("could not connect to {address}"),
        ErrorKind::Timeout => format!("{address} did not answer in time"),
        ErrorKind::Dns => {
            let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
            format!("the name {host} could not be looked up")
        }
        ErrorKind::Tls => format!("the secure connection to {address} failed (certificate or TLS)"),
        ErrorKind::Redirect => {
            "the receiver answered with a redirect, which is not followed".into()
        }
        // The policy's and the registration check's own words are meant for people already.
        ErrorKind::Blocked | ErrorKind::Unregistered => technical.to_owned(),
        ErrorKind::Other => {
            let short: String = technical.chars().take(120).collect();
            format!("the request to {address} failed: {short}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_a_person_would_say_them() {
        let refused = "error sending request for url (http://127.0.0.1:9999/x): client error (Connect): tcp connect error: Connection refused (os error 111)";
        assert_eq!(
            in_plain_words(ErrorKind::Connection, refused, "127.0.0.1:9999"),
            "nothing is listening at 127.0.0.1:9999 — connection refused"
        );
        assert_eq!(
            in_plain_words(ErrorKind::Dns, "dns error", "lims.invalid:443"),
            "the name lims.invalid could not be looked up"
        );
        assert_eq!(
            in_plain_words(ErrorKind::Timeout, "operation timed out", "lims:80"),
            "lims:80 did not answer in time"
        );
        assert!(in_plain_words(ErrorKind::Other, &"x".repeat(500), "a:1").len() < 200);
    }

    #[test]
    fn every_word_reads_back_as_itself() {
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Some(s));
        }
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::parse(k.as_str()), Some(k));
        }
        for r in InactiveReason::ALL {
            assert_eq!(InactiveReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(ErrorKind::label_of("too_large"), "Error");
        assert_eq!(DeliveryStatus::label_of("odd"), "odd");
    }
}
