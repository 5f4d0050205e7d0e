//! The schemas of `webhook_logs`, `organisations`, `devices`, `channels` and `data_points`.

// These types describe what the handlers render; utoipa reads them, nothing builds them.
#![allow(dead_code)]

use serde::Serialize;
use utoipa::ToSchema;

use super::schemas::{BelongsToRelationship, HasManyRelationship, Links, Pagination};

// ---- webhook_logs -------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookLogAttributes {
    pub id: i64,
    /// pending, retrying, delivered, failed, cancelled
    pub status: String,
    /// The receiver's answer or what went wrong, in plain words.
    pub response_message: Option<String>,
    /// The last answer's body (on a single entry).
    pub response_body: Option<String>,
    /// The event type, e.g. `data_point.created` (a test's ends in `.test`).
    pub trigger: String,
    /// The body sent (on a single entry).
    pub payload: Option<String>,
    #[schema(example = "WebhookSubscription")]
    pub container_type: String,
    pub container_id: i64,
    /// The `webhook-id` header: the same for every attempt and for a redelivery.
    pub webhook_id: String,
    pub attempts: i64,
    pub http_status: Option<i64>,
    pub next_attempt_at: Option<String>,
    pub test: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookLogRelationships {
    pub webhook_subscription: BelongsToRelationship,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookLog {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "webhook_log")]
    pub kind: String,
    pub attributes: WebhookLogAttributes,
    pub relationships: WebhookLogRelationships,
    pub links: Links,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookLogResponse {
    pub data: WebhookLog,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookLogsResponse {
    pub data: Vec<WebhookLog>,
    pub meta: Pagination,
}

// ---- organisations ------------------------------------------------------------------------

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganisationSecurity {
    /// The registered target URLs (org admins only).
    pub approved_webhooks: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OrganisationSettings {
    /// Contains `webhooks` when the feature is on.
    #[schema(example = json!(["webhooks"]))]
    pub features: Vec<String>,
    pub security: Option<OrganisationSecurity>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationAttributes {
    pub name: String,
    pub settings: OrganisationSettings,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "organisation")]
    pub kind: String,
    pub attributes: OrganisationAttributes,
    pub links: Links,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationResponse {
    pub data: Organisation,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrganisationsResponse {
    pub data: Vec<Organisation>,
    pub meta: Pagination,
}

#[derive(Serialize, ToSchema)]
pub struct OrganisationInput {
    pub settings: OrganisationSettings,
}

#[derive(Serialize, ToSchema)]
pub struct OrganisationData {
    pub id: Option<String>,
    #[serde(rename = "type")]
    #[schema(example = "organisation")]
    pub kind: Option<String>,
    pub attributes: OrganisationInput,
}

#[derive(Serialize, ToSchema)]
pub struct UpdateOrganisation {
    pub data: OrganisationData,
    pub meta: Option<super::schemas::ChangeMeta>,
}

// ---- devices, channels, data_points -------------------------------------------------------

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceAttributes {
    pub display_name: String,
    pub name: String,
    /// online or offline
    pub status: String,
    pub vendor: String,
    pub model: String,
    /// One of Laboperator's device classes.
    pub device_class: String,
    pub last_seen_at: Option<String>,
    /// Archived devices send nothing; only org admins see them.
    pub archived: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRelationships {
    pub channels: HasManyRelationship,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "device")]
    pub kind: String,
    pub attributes: DeviceAttributes,
    pub relationships: DeviceRelationships,
    pub links: Links,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelAttributes {
    pub name: String,
    pub unit: String,
    /// float, string, enum or boolean
    pub type_sym: String,
    /// `min`/`max` of the acceptable range; `enum`/`enumLabels` of a choice.
    #[schema(value_type = Object)]
    pub specific_attributes: serde_json::Value,
    /// The device's: online or offline.
    pub status: String,
    /// The device is archived.
    pub disabled: bool,
    pub last_value: Option<ChannelValue>,
    pub last_timestamp: Option<String>,
    /// "May be written by replies": receivers of subscriptions with `use_replies` may store
    /// data points here.
    pub reply_writable: bool,
}

/// A channel's value: a number, or text (a string channel's, or a choice's label).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ChannelValue {
    Number(f64),
    Text(String),
}

/// One item of a data point's quadruple.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum DataPointItem {
    Number(f64),
    Text(String),
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelRelationships {
    pub device: BelongsToRelationship,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "channel")]
    pub kind: String,
    pub attributes: ChannelAttributes,
    pub relationships: ChannelRelationships,
    pub links: Links,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceResponse {
    pub data: Device,
    /// Its channels, with `include=channels`.
    pub included: Option<Vec<Channel>>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicesResponse {
    pub data: Vec<Device>,
    pub meta: Pagination,
    pub included: Option<Vec<Channel>>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelResponse {
    pub data: Channel,
    /// Its device, with `include=device`.
    pub included: Option<Vec<Device>>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelsResponse {
    pub data: Vec<Channel>,
    pub meta: Pagination,
    pub included: Option<Vec<Device>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataPointsMeta {
    pub page_number: i64,
    pub page_size: i64,
    pub pages_total: i64,
    pub records_total: i64,
    pub records_size: i64,
}

/// Each data point is `[timestamp (ms), value, str_value, channel_id]`, as in the reference:
/// `value` for numbers (choices as their position, yes/no as 1/0), `str_value` for text and
/// a choice's label.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataPointsResponse {
    #[schema(example = json!([[1764582000000_i64, 21.5, null, 5]]))]
    pub data: Vec<Vec<Option<DataPointItem>>>,
    pub meta: DataPointsMeta,
}
