//! Domain types: raw input is parsed into these once, at the edge, and every rule about what
//! is valid lives here, shared by the server functions and the HTTP APIs.

pub mod channel;
pub mod channel_definition;
pub mod database;
pub mod debounce;
pub mod delivery;
pub mod device;
pub mod difference;
mod email;
mod event_type;
pub mod headers;
pub mod mask;
pub mod opc_endpoint;
pub mod outbound;
mod password;
mod reason;
mod role;
pub mod schedule;
pub mod sealed;
pub mod settle_run;
pub mod signature;
pub mod target_url;
mod time_zone;
pub mod webhook;

pub use email::Email;
pub use event_type::EventType;
pub use password::Password;
pub use reason::Reason;
pub use role::Role;
pub use time_zone::TimeZoneName;

/// A trimmed, non-empty, single-line name of bounded length (organisation names, user names).
pub fn parse_name(field: &str, raw: &str, max_chars: usize) -> crate::Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(crate::Error::invalid(field, "Please enter a name."));
    }
    if name.chars().count() > max_chars {
        return Err(crate::Error::invalid(
            field,
            format!("A name can be at most {max_chars} characters long."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(crate::Error::invalid(
            field,
            "A name cannot contain line breaks or control characters.",
        ));
    }
    Ok(name.to_string())
}
