//! Webhook Subscriptions, exactly as the help article walks them: the overview (toggle,
//! pencil, trash bin, three dots → "Add new Webhook Subscription"), the form (Target URL,
//! headers with ADD HEADER, the Selected Channels pop-up, SUBMIT), and each subscription's
//! delivery log.

mod advanced;
pub mod deliveries;
mod delivery_dialog;
pub mod detail;
pub mod form;
mod headers;
mod log_tools;
pub mod overview;
pub mod picker;
mod replay;
mod test_event;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Json;

use crate::{components::pager::ListPage, errors::AppError};

/// A header as the form sends it; `value: None` keeps the stored value of a secret header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderInput {
    pub name: String,
    pub value: Option<String>,
    pub secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TriggerInput {
    pub channel_id: i64,
    pub event_type: String,
}

/// A chosen trigger event's advanced options (noisy channels), as SUBMIT sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerOptionsInput {
    pub channel_id: i64,
    pub event_type: String,
    pub dead_band: Option<f64>,
    pub dead_band_percent: bool,
    pub min_interval_seconds: Option<f64>,
    pub settle_band: Option<f64>,
    pub settle_seconds: Option<f64>,
}

/// A channel's advanced options as typed in its "Advanced" fields (empty: not used).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvancedText {
    pub dead_band: String,
    pub dead_band_percent: bool,
    pub min_interval_seconds: String,
    pub settle_band: String,
    pub settle_seconds: String,
}

/// What SUBMIT sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionInput {
    pub display_name: String,
    pub url: String,
    pub headers: Vec<HeaderInput>,
    pub triggers: Vec<TriggerInput>,
    /// "Use the receiver's reply".
    #[serde(default)]
    pub use_replies: bool,
    #[serde(default)]
    pub trigger_options: Vec<TriggerOptionsInput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderView {
    pub name: String,
    /// `None` for a secret header: its value never leaves the server again.
    pub value: Option<String>,
    pub secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerView {
    pub device_id: i64,
    pub device_name: String,
    pub channel_id: i64,
    pub channel_name: String,
    pub event_type: String,
    pub event_label: String,
    /// Set when it no longer fires: why ("access to Hotplate was revoked").
    pub lost_access: Option<String>,
    pub device_archived: bool,
    /// Its advanced options, to edit them, and in words ("changes of at least 0.5 mg").
    pub options: Option<AdvancedText>,
    pub options_text: Option<String>,
}

/// A subscription's deliveries of the last 24 hours (tests left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthView {
    pub delivered: i64,
    pub failing: i64,
    pub last_failure_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastDeliveryView {
    pub status: String,
    pub status_label: String,
    pub at: i64,
    pub http_status: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionView {
    pub id: i64,
    /// The display name, or the URL when there is none.
    pub name: String,
    pub display_name: String,
    pub url: String,
    pub owner_name: String,
    pub owned_by_me: bool,
    pub active: bool,
    /// "Use the receiver's reply".
    pub use_replies: bool,
    /// "user", "target_not_registered" or "gone".
    pub inactive_reason: Option<String>,
    pub target_registered: bool,
    pub headers: Vec<HeaderView>,
    pub triggers: Vec<TriggerView>,
    pub last_delivery: Option<LastDeliveryView>,
    /// The last 24 hours: delivered, failing, the last failure.
    pub health: Option<HealthView>,
    /// Events not queued because too many deliveries were waiting, and since when.
    pub overflowed: i64,
    pub overflow_since: Option<i64>,
    /// Switched off by Labhook: every delivery since then failed.
    pub failing_since: Option<i64>,
}

/// The overview's page of subscriptions, and whether the viewer sees the owner column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionPageView {
    #[serde(flatten)]
    pub list: ListPage<SubscriptionView>,
    pub viewer_is_admin: bool,
}

/// A channel in the Selected Channels pop-up, with the trigger events it offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickerChannel {
    pub id: i64,
    pub name: String,
    pub unit: String,
    /// It holds numbers: the advanced options that need numbers apply.
    pub numeric: bool,
    /// (event type, label), e.g. ("channel.out_of_range", "Out of range").
    pub events: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PickerDevice {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub channels: Vec<PickerChannel>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedView {
    pub id: i64,
    pub name: String,
    pub secret: String,
}

/// What may be subscribed to: every trigger event type with its label, in the pop-up's column
/// order (the server's words), and the devices with their channels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    /// (event type, label), e.g. ("channel.out_of_range", "Out of range").
    pub event_types: Vec<(String, String)>,
    pub devices: Vec<PickerDevice>,
}

impl Catalogue {
    /// The label of an event type (`None` for a type the server does not know).
    pub fn label(&self, event_type: &str) -> Option<String> {
        self.event_types
            .iter()
            .find(|(e, _)| e == event_type)
            .map(|(_, l)| l.clone())
    }

    /// Where an event type stands in the column order (for sorting).
    pub fn rank(&self, event_type: &str) -> usize {
        self.event_types
            .iter()
            .position(|(e, _)| e == event_type)
            .unwrap_or(usize::MAX)
    }
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use server::subscriptions::{rules, Subscription};

    pub fn view(s: Subscription, viewer_id: i64, with_headers: bool) -> SubscriptionView {
        // Credentials in the query are masked except in the owner's edit form.
        let url = if with_headers {
            s.url.clone()
        } else {
            s.shown_url()
        };
        SubscriptionView {
            id: s.id,
            name: s.name().to_owned(),
            owned_by_me: s.owner_id == viewer_id,
            inactive_reason: s.inactive_reason.map(|r| r.as_str().to_owned()),
            headers: if with_headers {
                s.headers
                    .iter()
                    .map(|h| HeaderView {
                        name: h.name.as_str().to_owned(),
                        value: (!h.secret).then(|| h.value.expose().to_owned()),
                        secret: h.secret,
                    })
                    .collect()
            } else {
                vec![]
            },
            triggers: s
                .triggers
                .into_iter()
                .map(|t| TriggerView {
                    options: t.options.is_some().then(|| {
                        let raw = t.options().to_raw();
                        let number = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
                        AdvancedText {
                            dead_band: number(raw.dead_band),
                            dead_band_percent: raw.dead_band_percent,
                            min_interval_seconds: number(raw.min_interval_seconds),
                            settle_band: number(raw.settle_band),
                            settle_seconds: number(raw.settle_seconds),
                        }
                    }),
                    options_text: t.options.is_some().then(|| t.options().describe(&t.unit)),
                    event_label: server::subscriptions::event_label(&t.event_type).to_owned(),
                    device_id: t.device_id,
                    device_name: t.device_name,
                    channel_id: t.channel_id,
                    channel_name: t.channel_name,
                    event_type: t.event_type,
                    lost_access: t.lost_access_reason,
                    device_archived: t.device_archived,
                })
                .collect(),
            health: s.health.map(|h| HealthView {
                delivered: h.delivered,
                failing: h.failing,
                last_failure_at: h.last_failure_at,
            }),
            last_delivery: s.last_delivery.map(|l| LastDeliveryView {
                status_label: server::domain::delivery::DeliveryStatus::label_of(&l.status),
                status: l.status,
                at: l.at,
                http_status: l.http_status,
            }),
            overflowed: s.overflowed,
            overflow_since: s.overflow_since,
            failing_since: s.failing_since,
            display_name: s.display_name,
            // Credentials in the query are masked except in the owner's edit form.
            url,
            owner_name: s.owner_name,
            active: s.active,
            use_replies: s.use_replies,
            target_registered: s.target_registered,
        }
    }

    impl From<SubscriptionInput> for rules::SubscriptionInput {
        fn from(i: SubscriptionInput) -> Self {
            rules::SubscriptionInput {
                display_name: i.display_name,
                url: i.url,
                headers: i
                    .headers
                    .into_iter()
                    .map(|h| server::domain::headers::RawHeader {
                        name: h.name,
                        value: h.value,
                        secret: h.secret,
                    })
                    .collect(),
                triggers: i
                    .triggers
                    .into_iter()
                    .map(|t| rules::TriggerChoice {
                        channel_id: t.channel_id,
                        event_type: t.event_type,
                    })
                    .collect(),
                use_replies: i.use_replies,
                trigger_options: i
                    .trigger_options
                    .into_iter()
                    .map(|o| rules::TriggerOptions {
                        channel_id: o.channel_id,
                        event_type: o.event_type,
                        options: server::domain::debounce::RawOptions {
                            dead_band: o.dead_band,
                            dead_band_percent: o.dead_band_percent,
                            min_interval_seconds: o.min_interval_seconds,
                            settle_band: o.settle_band,
                            settle_seconds: o.settle_seconds,
                        },
                    })
                    .collect(),
            }
        }
    }
}

#[server(endpoint = "subscriptions/list")]
pub async fn list_subscriptions(page: u32) -> Result<SubscriptionPageView, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let p = server::subscriptions::list(&state, &user, page).await?;
    Ok(SubscriptionPageView {
        list: ListPage::from_page(p, |s| convert::view(s, user.id, false)),
        viewer_is_admin: user.is_org_admin(),
    })
}

/// One subscription, for its owner's edit form (secret header values stay on the server).
#[server(endpoint = "subscriptions/get")]
pub async fn get_subscription(id: i64) -> Result<SubscriptionView, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let s = server::subscriptions::get_for_edit(&state, &user, id).await?;
    Ok(convert::view(s, user.id, true))
}

/// One subscription for its page (owner or org admin), without header values.
#[server(endpoint = "subscriptions/show")]
pub async fn show_subscription(id: i64) -> Result<SubscriptionView, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let s = server::subscriptions::get(&state, &user, id).await?;
    Ok(convert::view(s, user.id, false))
}

#[server(endpoint = "subscriptions/catalogue")]
pub async fn subscription_catalogue() -> Result<Catalogue, AppError> {
    use server::{domain::EventType, subscriptions::rules::events_for};
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let devices = server::subscriptions::catalogue(&state.pool, &user).await?;
    let event_types = EventType::ALL
        .into_iter()
        .map(|e| (e.as_str().to_owned(), e.label().to_owned()))
        .collect();
    let devices = devices
        .into_iter()
        .map(|d| PickerDevice {
            id: d.device.id,
            description: [d.device.vendor, d.device.model, d.device.device_class]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" · "),
            name: d.device.name,
            channels: d
                .channels
                .into_iter()
                .map(|c| PickerChannel {
                    events: events_for(c.spec.has_range())
                        .into_iter()
                        .map(|e| (e.as_str().to_owned(), e.label().to_owned()))
                        .collect(),
                    id: c.id,
                    numeric: c.spec.value_type == server::domain::channel::ValueType::Float,
                    name: c.name,
                    unit: c.unit,
                })
                .collect(),
        })
        .collect();
    Ok(Catalogue {
        event_types,
        devices,
    })
}

#[server(endpoint = "subscriptions/create", input = Json)]
pub async fn create_subscription(
    input: SubscriptionInput,
    reason: Option<String>,
) -> Result<CreatedView, AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    let created = server::subscriptions::create(&state, &user, &input.into()).await?;
    Ok(CreatedView {
        id: created.id,
        name: created.name,
        secret: created.secret,
    })
}

#[server(endpoint = "subscriptions/update", input = Json)]
pub async fn update_subscription(
    id: i64,
    input: SubscriptionInput,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::subscriptions::update(&state, &user, id, &input.into()).await?;
    Ok(())
}

#[server(endpoint = "subscriptions/set_active")]
pub async fn set_subscription_active(
    id: i64,
    active: bool,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::subscriptions::set_active(&state, &user, id, active).await?;
    Ok(())
}

#[server(endpoint = "subscriptions/delete")]
pub async fn delete_subscription(id: i64, reason: Option<String>) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::subscriptions::delete(&state, &user, id).await?;
    Ok(())
}

#[server(endpoint = "subscriptions/rotate_secret")]
pub async fn rotate_subscription_secret(
    id: i64,
    reason: Option<String>,
) -> Result<String, AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    Ok(server::subscriptions::rotate_secret(&state, &user, id).await?)
}

/// A signing secret to show once, on the next page: after creating a subscription (the
/// overview) or rotating its secret. It lives in memory only, so a reload forgets it.
#[derive(Clone, Copy)]
pub struct SecretFlash(pub RwSignal<Option<CreatedView>>);

pub fn provide_secret_flash() {
    provide_context(SecretFlash(RwSignal::new(None)));
}

pub fn use_secret_flash() -> RwSignal<Option<CreatedView>> {
    expect_context::<SecretFlash>().0
}
