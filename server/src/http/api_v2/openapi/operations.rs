//! The operations, one `#[utoipa::path]` each: their parameters, bodies and answers.

#![allow(dead_code)] // These functions exist for their attributes.

use super::{resources::*, schemas::*};

// ---- the operations -----------------------------------------------------------------------

pub(super) const JSONAPI: &str = "application/vnd.api+json";

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
pub(super) fn get_webhook_subscriptions() {}

#[utoipa::path(post, path = "/api/v2/webhook_subscriptions", operation_id = "createWebhookSubscription",
    tag = "webhook_subscriptions", security(("bearer" = ["write"])),
    request_body(content = WriteWebhookSubscription, content_type = JSONAPI),
    responses(
        (status = 200, description = "Created; `meta.signing_secret` is shown this once", body = WebhookSubscriptionResponse, content_type = JSONAPI),
        (status = 400, description = "Not a JSON:API document", body = Errors, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 403, description = "Scope missing, or webhooks off", body = Errors, content_type = JSONAPI),
        (status = 409, description = "`data.type` is not `webhook_subscription`", body = Errors, content_type = JSONAPI),
        (status = 422, description = "A rule refused it; `source.pointer` names the attribute (`/meta/reason`: a reason is required)", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn create_webhook_subscription() {}

#[utoipa::path(get, path = "/api/v2/webhook_subscriptions/{id}", operation_id = "getWebhookSubscription",
    tag = "webhook_subscriptions", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = WebhookSubscriptionResponse, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn get_webhook_subscription() {}

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
pub(super) fn update_webhook_subscription() {}

#[utoipa::path(delete, path = "/api/v2/webhook_subscriptions/{id}", operation_id = "deleteWebhookSubscription",
    tag = "webhook_subscriptions", security(("bearer" = ["delete"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    request_body(content = ReasonOnly, content_type = JSONAPI, description = "Optional: the reason for the change, where the organisation requires one"),
    responses(
        (status = 200, description = "Deleted", body = Success, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 403, description = "Scope missing", body = Errors, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn delete_webhook_subscription() {}

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
pub(super) fn send_test_event() {}

#[utoipa::path(post, path = "/api/v2/webhook_subscriptions/{id}/rotate_secret", operation_id = "rotateSigningSecret",
    tag = "webhook_subscriptions", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    request_body(content = ReasonOnly, content_type = JSONAPI, description = "Optional: the reason for the change, where the organisation requires one"),
    responses(
        (status = 200, description = "The new secret is in `meta`, shown this once", body = WebhookSubscriptionResponse, content_type = JSONAPI),
        (status = 403, description = "Not the owner", body = Errors, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn rotate_secret() {}

#[utoipa::path(get, path = "/api/v2/webhook_subscriptions/{id}/replays", operation_id = "getReplays",
    tag = "webhook_subscriptions", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "Its replays, newest first", body = ReplaysResponse, content_type = JSONAPI),
        (status = 404, description = "No such subscription the caller may see", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn get_replays() {}

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
pub(super) fn start_replay() {}

#[utoipa::path(delete, path = "/api/v2/replays/{id}", operation_id = "cancelReplay",
    tag = "webhook_subscriptions", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The replay's id")),
    request_body(content = ReasonOnly, content_type = JSONAPI, description = "Optional: the reason for the change, where the organisation requires one"),
    responses(
        (status = 200, description = "Cancelled: its waiting deliveries are cancelled", body = Success, content_type = JSONAPI),
        (status = 404, description = "No such replay the caller may see", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn cancel_replay() {}

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
pub(super) fn get_webhook_logs() {}

#[utoipa::path(get, path = "/api/v2/webhook_logs/{id}", operation_id = "getWebhookLog",
    tag = "webhook_logs", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The log entry's id")),
    responses(
        (status = 200, description = "One delivery with the body sent and the last answer", body = WebhookLogResponse, content_type = JSONAPI),
        (status = 404, description = "No such entry the caller may see", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn get_webhook_log() {}

#[utoipa::path(post, path = "/api/v2/webhook_logs/{id}/redeliver", operation_id = "redeliverWebhookLog",
    tag = "webhook_logs", security(("bearer" = ["write"])),
    params(("id" = i64, Path, description = "The log entry's id")),
    request_body(content = ReasonOnly, content_type = JSONAPI, description = "Optional: the reason for the change, where the organisation requires one"),
    responses(
        (status = 202, description = "Queued again, with the same webhook-id", body = WebhookLogResponse, content_type = JSONAPI),
        (status = 404, description = "No such entry the caller may see", body = Errors, content_type = JSONAPI),
        (status = 409, description = "Still queued, or its subscription is switched off", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn redeliver() {}

#[utoipa::path(get, path = "/api/v2/organisations", operation_id = "getOrganisations",
    tag = "organisations", security(("bearer" = ["read"])),
    responses((status = 200, description = "The caller's organisation", body = OrganisationsResponse, content_type = JSONAPI)))]
pub(super) fn get_organisations() {}

#[utoipa::path(get, path = "/api/v2/organisations/{id}", operation_id = "getOrganisation",
    tag = "organisations", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The organisation's id")),
    responses(
        (status = 200, description = "The organisation; `settings.security` for org admins", body = OrganisationResponse, content_type = JSONAPI),
        (status = 404, description = "Not the caller's organisation", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn get_organisation() {}

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
pub(super) fn update_organisation() {}

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
pub(super) fn get_devices() {}

#[utoipa::path(get, path = "/api/v2/devices/{id}", operation_id = "getDevice",
    tag = "devices", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The device's id"), ("include" = Option<String>, Query, description = "`channels`")),
    responses(
        (status = 200, description = "The device", body = DeviceResponse, content_type = JSONAPI),
        (status = 404, description = "No such device the caller may see", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn get_device() {}

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
pub(super) fn get_channels() {}

#[utoipa::path(get, path = "/api/v2/channels/{id}", operation_id = "getChannel",
    tag = "channels", security(("bearer" = ["read"])),
    params(("id" = i64, Path, description = "The channel's id"), ("include" = Option<String>, Query, description = "`device`")),
    responses(
        (status = 200, description = "The channel", body = ChannelResponse, content_type = JSONAPI),
        (status = 404, description = "No such channel the caller may see", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn get_channel() {}

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
pub(super) fn get_data_points() {}

#[utoipa::path(get, path = "/api/v2/records/{chain}/export", operation_id = "exportRecords",
    tag = "records", security(("bearer" = ["read"])),
    params(
        ("chain" = String, Path, description = "`audit` (the audit trail) or `deliveries` (the delivery log's attempts)"),
        ("from" = String, Query, description = "From this day (`2026-12-01`, UTC) or moment (RFC 3339), inclusive"),
        ("to" = Option<String>, Query, description = "Until this day or moment, exclusive (default: now)"),
    ),
    responses(
        (status = 200, description = "JSON Lines: a header, the signed removals and checkpoints in the range, each record with its hashes, and a signed seal over the file; check it offline with `labhook verify-export FILE --public-key lhrk_…` (docs/records.md)", body = String, content_type = "application/x-ndjson"),
        (status = 400, description = "A day or moment that cannot be read, or a range that ends before it starts", body = Errors, content_type = JSONAPI),
        (status = 401, description = "No valid token", body = Errors, content_type = JSONAPI),
        (status = 403, description = "Not an org admin, or scope missing", body = Errors, content_type = JSONAPI),
        (status = 404, description = "No such records", body = Errors, content_type = JSONAPI),
        (status = 429, description = "Too many exports at once for the organisation", body = Errors, content_type = JSONAPI),
    ))]
pub(super) fn export_records() {}
