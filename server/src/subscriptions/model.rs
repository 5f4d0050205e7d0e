//! What a subscription is, as the services hand it out.

use serde_json::{json, Value as Json};

use crate::{
    deliveries::LastDelivery,
    domain::{debounce::Options, delivery::InactiveReason, headers::Headers, mask::shown_url},
};

/// One selected trigger event, with names for people.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TriggerRow {
    pub subscription_id: i64,
    pub device_id: i64,
    pub device_name: String,
    pub channel_id: i64,
    pub channel_name: String,
    pub event_type: String,
    /// Why it no longer fires: its owner lost access to the device (and when).
    pub lost_access_reason: Option<String>,
    pub lost_access_at: Option<i64>,
    /// Its device is archived: nothing comes from it until it is restored.
    pub device_archived: bool,
    /// Its advanced options as stored (`None`: every event is sent).
    pub options: Option<String>,
    /// The channel's unit (for describing the options).
    pub unit: String,
}

impl TriggerRow {
    pub fn options(&self) -> Options {
        Options::from_stored(self.options.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub owner_id: i64,
    pub owner_name: String,
    pub display_name: String,
    pub url: String,
    pub headers: Headers,
    pub active: bool,
    /// "Use the receiver's reply": a 2xx answer's data points are stored on the device.
    pub use_replies: bool,
    pub inactive_reason: Option<InactiveReason>,
    /// Whether the target still matches a registered URL.
    pub target_registered: bool,
    pub triggers: Vec<TriggerRow>,
    pub last_delivery: Option<LastDelivery>,
    /// Deliveries of the last 24 hours: delivered, failing, the last failure.
    pub health: Option<crate::deliveries::Health>,
    /// Events not queued because too many deliveries were waiting, and since when.
    pub overflowed: i64,
    pub overflow_since: Option<i64>,
    /// Switched off by Labhook because every delivery since then failed.
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Subscription {
    /// What people call it: the display name, or the URL (credentials masked) when there is
    /// none.
    pub fn name(&self) -> String {
        display_name_or_url(&self.display_name, &self.url)
    }

    /// The target URL as shown (credentials in its query masked).
    pub fn shown_url(&self) -> String {
        shown_url(&self.url)
    }

    /// How the audit trail names it.
    pub(super) fn subject(&self) -> String {
        subject(self.id, &self.name())
    }

    /// The audit trail's picture of it (header secrets are masked by the audit module).
    pub(super) fn snapshot(&self) -> Json {
        json!({
            "display_name": self.display_name,
            "url": self.shown_url(),
            "active": self.active,
            "use_replies": self.use_replies,
            "headers": self.headers.to_json(),
            "triggers": self.triggers.iter().map(|t| {
                let mut trigger = json!({
                    "device": t.device_name, "channel": t.channel_name, "event": t.event_type,
                });
                let options = t.options();
                if !options.is_default() {
                    trigger["options"] = json!(options.describe(&t.unit));
                }
                trigger
            }).collect::<Vec<_>>(),
        })
    }
}

/// A subscription just created, with its signing secret: the only time it is shown.
#[derive(Debug, Clone)]
pub struct Created {
    pub id: i64,
    pub name: String,
    pub secret: String,
}

/// "Subscription #3 (QC LIMS)": how the audit trail names a subscription.
pub(super) fn subject(id: i64, name: &str) -> String {
    format!("Subscription #{id} ({name})")
}

/// What people call a subscription: its display name, or its URL (credentials masked) when
/// it has none.
pub(super) fn display_name_or_url(display_name: &str, url: &str) -> String {
    if display_name.is_empty() {
        shown_url(url)
    } else {
        display_name.to_owned()
    }
}
