//! The schemas of the JSON:API building blocks and of `webhook_subscriptions` (with its
//! actions' documents), as the handlers render them.

// These types describe what the handlers render; utoipa reads them, nothing builds them.
#![allow(dead_code)]

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

// ---- JSON:API building blocks -------------------------------------------------------------

/// A reference to another resource.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    #[schema(example = "2")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "user")]
    pub kind: String,
}

#[derive(Serialize, ToSchema)]
pub struct BelongsToRelationship {
    pub data: Relationship,
}

#[derive(Serialize, ToSchema)]
pub struct HasManyRelationship {
    pub data: Vec<Relationship>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Links {
    #[serde(rename = "self")]
    #[schema(example = "/api/v2/webhook_subscriptions/3")]
    pub self_link: String,
}

/// The reference's paging `meta`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pagination {
    pub page_number: i64,
    pub page_size: i64,
    pub pages_total: i64,
    pub records_total: i64,
    pub records_size: i64,
    /// The ids of this page, in order.
    pub records_order: Vec<i64>,
}

/// Where an error comes from: an attribute of the body, or a query parameter.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorSource {
    #[schema(example = "/data/attributes/url")]
    pub pointer: Option<String>,
    #[schema(example = "filter[status]")]
    pub parameter: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Error {
    #[schema(example = "422")]
    pub status: String,
    #[schema(example = "invalid")]
    pub code: String,
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    #[schema(example = "This URL is not registered for your organisation.")]
    pub detail: String,
    pub source: Option<ErrorSource>,
}

/// The reference's `Errors` document.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    pub errors: Vec<Error>,
}

#[derive(Serialize, ToSchema)]
pub struct SuccessMeta {
    #[schema(example = "Success")]
    pub result: String,
}

/// The answer to a deletion or a cancellation.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Success {
    pub meta: SuccessMeta,
}

// ---- webhook_subscriptions ----------------------------------------------------------------

/// A header's value: a string for a plain header; for a secret one `{"secret": true}` when
/// read (the value is never shown again) and `{"value": "…", "secret": true}` when written.
/// Writing `{"secret": true}` back keeps the stored value.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum HeaderValue {
    Plain(String),
    Secret(SecretHeader),
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretHeader {
    pub secret: bool,
    pub value: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscriptionAttributes {
    /// The display name, or the URL when it has none.
    pub display_name: String,
    pub active: bool,
    pub url: String,
    /// `"<channel id>:<event type>"`: `data_point.created`, `channel.out_of_range`,
    /// `channel.back_in_range`, `device.online`, `device.offline`.
    #[schema(example = json!(["12:data_point.created", "12:channel.out_of_range"]))]
    pub triggers: Vec<String>,
    #[schema(example = json!({"X-Lab": "QC", "X-Api-Key": {"secret": true}}))]
    pub headers: BTreeMap<String, HeaderValue>,
    /// "Use the receiver's reply": a 2xx answer of the shape `{"data_points": [{"channel":
    /// "<name>", "value": …}]}` is stored on the device whose event was delivered (only on
    /// channels an org admin marked "may be written by replies").
    pub use_replies: bool,
    /// Advanced options of noisy channels, by trigger (`"<channel id>:<event type>"`); a
    /// trigger not named here sends every event.
    pub trigger_options: BTreeMap<String, TriggerOptions>,
    /// Why it is switched off: user, target_not_registered, gone, owner_deactivated, failing.
    pub inactive_reason: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscriptionRelationships {
    pub user: BelongsToRelationship,
}

/// Shown once: when the subscription is created and when its secret is rotated.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SigningSecretMeta {
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub signing_secret: String,
    /// After a rotation: how long the previous secret still signs too.
    pub previous_secret_valid_for_seconds: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscription {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "webhook_subscription")]
    pub kind: String,
    pub attributes: WebhookSubscriptionAttributes,
    pub relationships: WebhookSubscriptionRelationships,
    pub links: Links,
    pub meta: Option<SigningSecretMeta>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscriptionResponse {
    pub data: WebhookSubscription,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSubscriptionsResponse {
    pub data: Vec<WebhookSubscription>,
    pub meta: Pagination,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookSubscriptionInput {
    pub display_name: Option<String>,
    /// Required when creating; must match a registered target URL.
    pub url: Option<String>,
    pub triggers: Option<Vec<String>>,
    pub headers: Option<BTreeMap<String, HeaderValue>>,
    pub active: Option<bool>,
    /// Default false.
    pub use_replies: Option<bool>,
    /// Replaces all advanced options when given (kept as they are otherwise).
    pub trigger_options: Option<BTreeMap<String, TriggerOptions>>,
}

/// A trigger's advanced options (noisy channels); each is optional.
#[derive(Serialize, ToSchema)]
pub struct TriggerOptions {
    /// `channel.value_changed` of a number channel only: the smallest change since the value
    /// last sent that counts.
    pub dead_band: Option<f64>,
    /// The dead band is a percentage of the value last sent.
    pub dead_band_percent: bool,
    /// At most one webhook per this many seconds (0.001 to 86,400).
    pub min_interval_seconds: Option<f64>,
    /// Settled: send once the value stayed within this band…
    pub settle_band: Option<f64>,
    /// …for this many seconds (new data points or value changes of a number channel).
    pub settle_seconds: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookSubscriptionData {
    pub id: Option<String>,
    #[serde(rename = "type")]
    #[schema(example = "webhook_subscription")]
    pub kind: Option<String>,
    pub attributes: WebhookSubscriptionInput,
}

/// Why a change is made: required where the organisation requires a reason for every change
/// (else `422` pointing at `/meta/reason`); kept in the audit trail beside the change.
#[derive(Serialize, ToSchema)]
pub struct ChangeMeta {
    #[schema(example = "CAPA-112: the QC LIMS moves to its new host")]
    pub reason: Option<String>,
}

/// The body of a deletion or an action that takes nothing but its reason.
#[derive(Serialize, ToSchema)]
pub struct ReasonOnly {
    pub meta: ChangeMeta,
}

#[derive(Serialize, ToSchema)]
pub struct WriteWebhookSubscription {
    pub data: WebhookSubscriptionData,
    pub meta: Option<ChangeMeta>,
}

#[derive(Serialize, ToSchema)]
pub struct TestEventAttributes {
    /// One of the subscription's channels (default: the first usable one).
    pub channel_id: Option<String>,
    /// A value to send when the channel has none yet.
    pub sample: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TestEventData {
    #[serde(rename = "type")]
    #[schema(example = "test_event")]
    pub kind: Option<String>,
    pub attributes: TestEventAttributes,
}

#[derive(Serialize, ToSchema)]
pub struct SendTestEvent {
    pub data: TestEventData,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayAttributes {
    #[schema(format = DateTime)]
    pub since: String,
    #[schema(format = DateTime)]
    pub until: String,
    pub channel_id: Option<String>,
    pub event_type: Option<String>,
    pub total: i64,
    pub queued: i64,
    /// running, done, cancelled
    pub status: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub finished_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRelationships {
    pub webhook_subscription: BelongsToRelationship,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Replay {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "replay")]
    pub kind: String,
    pub attributes: ReplayAttributes,
    pub relationships: ReplayRelationships,
    pub links: Links,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayResponse {
    pub data: Replay,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaysResponse {
    pub data: Vec<Replay>,
    pub meta: Pagination,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayInput {
    /// From (inclusive), RFC 3339.
    pub since: String,
    /// To (exclusive), RFC 3339.
    pub until: String,
    pub channel_id: Option<String>,
    pub event_type: Option<String>,
    /// Only count what would be sent.
    pub preview: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayData {
    #[serde(rename = "type")]
    #[schema(example = "replay")]
    pub kind: Option<String>,
    pub attributes: ReplayInput,
}

#[derive(Serialize, ToSchema)]
pub struct StartReplay {
    pub data: ReplayData,
    pub meta: Option<ChangeMeta>,
}

#[derive(Serialize, ToSchema)]
pub struct ReplayPreviewMeta {
    pub events: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayPreview {
    pub meta: ReplayPreviewMeta,
}
