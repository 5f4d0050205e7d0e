//! The OpenAPI 3.1 document of the API v2, generated from these types and operations by
//! utoipa and served at `/api/v2/openapi.json`. The schemas describe what the handlers render;
//! a test validates live responses against the served document, so the two cannot drift.

#![allow(dead_code)] // The operations below exist for their `#[utoipa::path]` attributes.

use std::{collections::BTreeMap, sync::OnceLock};

use axum::{http::header, response::IntoResponse};
use serde::Serialize;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi, ToSchema,
};

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
}

#[derive(Serialize, ToSchema)]
pub struct WebhookSubscriptionData {
    pub id: Option<String>,
    #[serde(rename = "type")]
    #[schema(example = "webhook_subscription")]
    pub kind: Option<String>,
    pub attributes: WebhookSubscriptionInput,
}

#[derive(Serialize, ToSchema)]
pub struct WriteWebhookSubscription {
    pub data: WebhookSubscriptionData,
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

// ---- the operations -----------------------------------------------------------------------

const JSONAPI: &str = "application/vnd.api+json";

#[utoipa::path(get, path = "/api/v2/webhook_subscriptions", operation_id = "getWebhookSubscriptions",
    tag = "webhook_subscriptions", security(("bearer" = ["read"])),
    params(
        ("page[number]" = Option<u32>, Query, description = "Page, from 1"),
        ("page[size]" = Option<u32>, Query, description = "1 to 100 (default 20)"),
        ("sort" = Option<String>, Query, description = "`id`, `created_at`, `-id`, `-created_at` (default: newest first)"),
        ("fields[webhook_subscription]" = Option<String>, Query, description = "Attributes to include, separated by commas"),
    ),
    responses(
        (status = 200, description = "The subscriptions the caller may see: their own; an org admin's organisation's", body = WebhookSubscriptionsResponse, content_type = JSONAPI),
        (status = 400, description = "A wrong parameter", body = Errors, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 403, description = "Scope missing, or webhooks off for the organisation", body = Errors, content_type = JSONAPI),
    ))]
fn get_webhook_subscriptions() {}

#[utoipa::path(post, path = "/api/v2/webhook_subscriptions", operation_id = "createWebhookSubscription",
    tag = "webhook_subscriptions", security(("bearer" = ["write"])),
    request_body(content = WriteWebhookSubscription, content_type = JSONAPI),
    responses(
        (status = 200, description = "Created; `meta.signing_secret` is shown this once", body = WebhookSubscriptionResponse, content_type = JSONAPI),
        (status = 400, description = "Not a JSON:API document", body = Errors, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 403, description = "Scope missing, or webhooks off", body = Errors, content_type = JSONAPI),
        (status = 409, description = "`data.type` is not `webhook_subscription`", body = Errors, content_type = JSONAPI),
        (status = 422, description = "A rule refused it; `source.pointer` names the attribute", body = Errors, content_type = JSONAPI),
    ))]
fn create_webhook_subscription() {}

#[utoipa::path(get, path = "/api/v2/webhook_subscriptions/{id}", operation_id = "getWebhookSubscription",
    tag = "webhook_subscriptions", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = WebhookSubscriptionResponse, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
    ))]
fn get_webhook_subscription() {}

#[utoipa::path(patch, path = "/api/v2/webhook_subscriptions/{id}", operation_id = "updateWebhookSubscription",
    tag = "webhook_subscriptions", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    request_body(content = WriteWebhookSubscription, content_type = JSONAPI,
        description = "The attributes to change. Only the owner changes url, headers and triggers; `active` alone may be switched by an org admin too."),
    responses(
        (status = 200, description = "The subscription as saved", body = WebhookSubscriptionResponse, content_type = JSONAPI),
        (status = 400, description = "Not a JSON:API document", body = Errors, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 403, description = "Not the owner, or scope missing", body = Errors, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
        (status = 409, description = "`data.type` or `data.id` does not match", body = Errors, content_type = JSONAPI),
        (status = 422, description = "A rule refused it", body = Errors, content_type = JSONAPI),
    ))]
fn update_webhook_subscription() {}

#[utoipa::path(delete, path = "/api/v2/webhook_subscriptions/{id}", operation_id = "deleteWebhookSubscription",
    tag = "webhook_subscriptions", security(("bearer" = ["delete"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "Deleted", body = Success, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 403, description = "Scope missing", body = Errors, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
    ))]
fn delete_webhook_subscription() {}

#[utoipa::path(post, path = "/api/v2/webhook_subscriptions/{id}/test_event", operation_id = "sendTestEvent",
    tag = "webhook_subscriptions", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    request_body(content = SendTestEvent, content_type = JSONAPI, description = "Optional"),
    responses(
        (status = 202, description = "Queued: the log entry it made", body = WebhookLogResponse, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
        (status = 409, description = "Its target is not registered any more", body = Errors, content_type = JSONAPI),
        (status = 422, description = "The sample does not fit the channel", body = Errors, content_type = JSONAPI),
    ))]
fn send_test_event() {}

#[utoipa::path(post, path = "/api/v2/webhook_subscriptions/{id}/rotate_secret", operation_id = "rotateSigningSecret",
    tag = "webhook_subscriptions", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The new secret is in `meta`, shown this once", body = WebhookSubscriptionResponse, content_type = JSONAPI),
        (status = 403, description = "Not the owner", body = Errors, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
    ))]
fn rotate_secret() {}

#[utoipa::path(get, path = "/api/v2/webhook_subscriptions/{id}/replays", operation_id = "getReplays",
    tag = "webhook_subscriptions", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "Its replays, newest first", body = ReplaysResponse, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
    ))]
fn get_replays() {}

#[utoipa::path(post, path = "/api/v2/webhook_subscriptions/{id}/replays", operation_id = "startReplay",
    tag = "webhook_subscriptions", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    request_body(content = StartReplay, content_type = JSONAPI),
    responses(
        (status = 202, description = "Started: sent behind live traffic", body = ReplayResponse, content_type = JSONAPI),
        (status = 200, description = "With `preview`: how many events it would send", body = ReplayPreview, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
        (status = 422, description = "A wrong time range (e.g. before the retention)", body = Errors, content_type = JSONAPI),
    ))]
fn start_replay() {}

#[utoipa::path(delete, path = "/api/v2/replays/{id}", operation_id = "cancelReplay",
    tag = "webhook_subscriptions", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The replay's id")),
    responses(
        (status = 200, description = "Cancelled: its waiting deliveries are cancelled", body = Success, content_type = JSONAPI),
        (status = 404, description = "No such replay the caller may see", body = Errors, content_type = JSONAPI),
    ))]
fn cancel_replay() {}

#[utoipa::path(get, path = "/api/v2/webhook_logs", operation_id = "getWebhookLogs",
    tag = "webhook_logs", security(("bearer" = ["read"])),
    params(
        ("filter[status]" = Option<String>, Query, description = "pending, retrying, delivered, failed, cancelled (several separated by commas); also `filter[webhook_logs][status]`"),
        ("filter[container_id]" = Option<String>, Query, description = "A subscription's id"),
        ("filter[container_type]" = Option<String>, Query, description = "`WebhookSubscription`"),
        ("filter[trigger]" = Option<String>, Query, description = "An event type"),
        ("filter[channel_id]" = Option<String>, Query, description = "A channel's id"),
        ("filter[device_id]" = Option<String>, Query, description = "A device's id"),
        ("page[number]" = Option<u32>, Query, description = "Page, from 1"),
        ("page[size]" = Option<u32>, Query, description = "1 to 100 (default 20)"),
        ("sort" = Option<String>, Query, description = "`id`, `created_at` (default: newest first)"),
    ),
    responses(
        (status = 200, description = "Deliveries of the subscriptions the caller may see", body = WebhookLogsResponse, content_type = JSONAPI),
        (status = 400, description = "A wrong parameter", body = Errors, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
    ))]
fn get_webhook_logs() {}

#[utoipa::path(get, path = "/api/v2/webhook_logs/{id}", operation_id = "getWebhookLog",
    tag = "webhook_logs", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The log entry's id")),
    responses(
        (status = 200, description = "One delivery with the body sent and the last answer", body = WebhookLogResponse, content_type = JSONAPI),
        (status = 404, description = "No such entry the caller may see", body = Errors, content_type = JSONAPI),
    ))]
fn get_webhook_log() {}

#[utoipa::path(post, path = "/api/v2/webhook_logs/{id}/redeliver", operation_id = "redeliverWebhookLog",
    tag = "webhook_logs", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The log entry's id")),
    responses(
        (status = 202, description = "Queued again, with the same webhook-id", body = WebhookLogResponse, content_type = JSONAPI),
        (status = 404, description = "No such entry the caller may see", body = Errors, content_type = JSONAPI),
        (status = 409, description = "Still queued, or its subscription is switched off", body = Errors, content_type = JSONAPI),
    ))]
fn redeliver() {}

#[utoipa::path(get, path = "/api/v2/organisations", operation_id = "getOrganisations",
    tag = "organisations", security(("bearer" = ["read"])),
    responses((status = 200, description = "The caller's organisation", body = OrganisationsResponse, content_type = JSONAPI)))]
fn get_organisations() {}

#[utoipa::path(get, path = "/api/v2/organisations/{id}", operation_id = "getOrganisation",
    tag = "organisations", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The organisation's id")),
    responses(
        (status = 200, description = "The organisation; `settings.security` for org admins", body = OrganisationResponse, content_type = JSONAPI),
        (status = 404, description = "Not the caller's organisation", body = Errors, content_type = JSONAPI),
    ))]
fn get_organisation() {}

#[utoipa::path(patch, path = "/api/v2/organisations/{id}", operation_id = "updateOrganisation",
    tag = "organisations", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The organisation's id")),
    request_body(content = UpdateOrganisation, content_type = JSONAPI,
        description = "`settings.features` (with `webhooks` or without) and `settings.security.approvedWebhooks` (the registered URLs: missing ones are removed and subscriptions to them switched off)"),
    responses(
        (status = 200, description = "As saved", body = OrganisationResponse, content_type = JSONAPI),
        (status = 403, description = "Not an org admin", body = Errors, content_type = JSONAPI),
        (status = 404, description = "Not the caller's organisation", body = Errors, content_type = JSONAPI),
        (status = 422, description = "A URL that cannot be registered", body = Errors, content_type = JSONAPI),
    ))]
fn update_organisation() {}

#[utoipa::path(get, path = "/api/v2/devices", operation_id = "getDevices",
    tag = "devices", security(("bearer" = ["read"])),
    params(
        ("filter[name]" = Option<String>, Query, description = "Names, separated by commas"),
        ("filter[status]" = Option<String>, Query, description = "online, offline"),
        ("include" = Option<String>, Query, description = "`channels`"),
        ("page[number]" = Option<u32>, Query, description = "Page, from 1"),
        ("page[size]" = Option<u32>, Query, description = "1 to 100 (default 20)"),
    ),
    responses((status = 200, description = "The devices the caller may see, by name", body = DevicesResponse, content_type = JSONAPI)))]
fn get_devices() {}

#[utoipa::path(get, path = "/api/v2/devices/{id}", operation_id = "getDevice",
    tag = "devices", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The device's id"), ("include" = Option<String>, Query, description = "`channels`")),
    responses(
        (status = 200, description = "The device", body = DeviceResponse, content_type = JSONAPI),
        (status = 404, description = "No such device the caller may see", body = Errors, content_type = JSONAPI),
    ))]
fn get_device() {}

#[utoipa::path(get, path = "/api/v2/channels", operation_id = "getChannels",
    tag = "channels", security(("bearer" = ["read"])),
    params(
        ("filter[device_id]" = Option<String>, Query, description = "Device ids, separated by commas"),
        ("filter[name]" = Option<String>, Query, description = "Names"),
        ("include" = Option<String>, Query, description = "`device`"),
        ("page[number]" = Option<u32>, Query, description = "Page, from 1"),
        ("page[size]" = Option<u32>, Query, description = "1 to 100 (default 20)"),
    ),
    responses((status = 200, description = "The channels of the devices the caller may see", body = ChannelsResponse, content_type = JSONAPI)))]
fn get_channels() {}

#[utoipa::path(get, path = "/api/v2/channels/{id}", operation_id = "getChannel",
    tag = "channels", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The channel's id"), ("include" = Option<String>, Query, description = "`device`")),
    responses(
        (status = 200, description = "The channel", body = ChannelResponse, content_type = JSONAPI),
        (status = 404, description = "No such channel the caller may see", body = Errors, content_type = JSONAPI),
    ))]
fn get_channel() {}

#[utoipa::path(get, path = "/api/v2/data_points", operation_id = "getDataPoints",
    tag = "data_points", security(("bearer" = ["read"])),
    params(
        ("filter[channel_id]" = Option<String>, Query, description = "Channel ids, separated by commas (default: every channel the caller may see); also `filter[data_points][channel_id]`"),
        ("filter[timestamp]" = Option<String>, Query, description = "`<from>,<to>`: RFC 3339 or milliseconds, either may be empty (default: the last week)"),
        ("sort" = Option<String>, Query, description = "`timestamp` (default) or `-timestamp`"),
        ("page[number]" = Option<u32>, Query, description = "Page, from 1"),
        ("page[size]" = Option<u32>, Query, description = "1 to 10000 (default 1000)"),
    ),
    responses(
        (status = 200, description = "The data points, by time", body = DataPointsResponse, content_type = JSONAPI),
        (status = 404, description = "A channel the caller may not see", body = Errors, content_type = JSONAPI),
        (status = 422, description = "A wrong time window", body = Errors, content_type = JSONAPI),
    ))]
fn get_data_points() {}

struct Security;

/// The answers every operation can give, added where an operation does not list its own.
fn common_errors(path: &str) -> Vec<(&'static str, &'static str)> {
    let mut common = vec![
        ("400", "A malformed document or a wrong query parameter"),
        (
            "401",
            "No token, or one that is unknown, revoked or expired, or whose user was deactivated",
        ),
        ("403", "The token lacks the scope, or its user the right"),
        (
            "429",
            "Too many requests with this token: `Retry-After` says when to come back",
        ),
    ];
    if path.contains('{') {
        common.push(("404", "Nothing with this id that the caller may see"));
    }
    common
}

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in operations.into_iter().flatten() {
                for (status, words) in common_errors(path) {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(words)
                                    .content(
                                        JSONAPI,
                                        ContentBuilder::new()
                                            .schema(Some(Ref::from_schema_name("Errors")))
                                            .build(),
                                    )
                                    .build(),
                            )
                        });
                }
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("lhp_…")
                        .description(Some(
                            "A personal API token from More → My API tokens, with the scopes the operation names (read, write, delete). It acts as its user: the same role and device access as in the browser.",
                        ))
                        .build(),
                ),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Labhook API v2",
        description = "Webhook subscriptions for lab devices, after Laboperator's API v2 (JSON:API). Every request needs `Authorization: Bearer <personal API token>`; at most 20 requests a second per token (429 with Retry-After). Errors are JSON:API `errors` with `source.pointer` (body attributes) or `source.parameter` (query).",
    ),
    paths(
        get_webhook_subscriptions, create_webhook_subscription, get_webhook_subscription,
        update_webhook_subscription, delete_webhook_subscription, send_test_event, rotate_secret,
        get_replays, start_replay, cancel_replay, get_webhook_logs, get_webhook_log, redeliver,
        get_organisations, get_organisation, update_organisation, get_devices, get_device,
        get_channels, get_channel, get_data_points,
    ),
    components(schemas(Errors, Success)),
    modifiers(&Security),
    tags(
        (name = "webhook_subscriptions", description = "Subscriptions and their operations"),
        (name = "webhook_logs", description = "The delivery log"),
        (name = "organisations", description = "The organisation's webhook settings"),
        (name = "devices", description = "Devices the caller may see"),
        (name = "channels", description = "Their channels"),
        (name = "data_points", description = "Stored data points"),
    ),
)]
struct ApiDoc;

/// The document, made once.
pub fn document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::to_value(ApiDoc::openapi()).expect("BUG: the document serialises")
    })
}

/// `GET /api/v2/openapi.json` — public, like any API's reference.
pub async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(document()).expect("BUG: the document serialises"),
    )
}
