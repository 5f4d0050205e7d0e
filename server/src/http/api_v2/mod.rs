//! The HTTP API v2 for integrators, after Laboperator's API v2 (JSON:API): subscriptions, the
//! delivery log, the organisation's webhook settings, devices, channels and data points, and
//! the subscription page's operations as actions. Every handler parses the document, asks the
//! same service as the page's server function, and renders the answer — nothing more; the
//! caller is a personal API token acting as its user ([`caller`]).

mod body;
pub(crate) mod caller;
mod devices;
pub mod document;
mod logs;
pub mod openapi;
mod organisations;
mod query;
mod subscription_attributes;
mod subscriptions;

use axum::{
    routing::{delete, get, post},
    Router,
};

use crate::{AppState, Error};

pub use caller::REQUESTS_PER_SECOND;

pub const SUBSCRIPTIONS: &str = "/api/v2/webhook_subscriptions";
pub const SUBSCRIPTION: &str = "/api/v2/webhook_subscriptions/{id}";
pub const TEST_EVENT: &str = "/api/v2/webhook_subscriptions/{id}/test_event";
pub const ROTATE_SECRET: &str = "/api/v2/webhook_subscriptions/{id}/rotate_secret";
pub const REPLAYS: &str = "/api/v2/webhook_subscriptions/{id}/replays";
pub const REPLAY: &str = "/api/v2/replays/{id}";
pub const LOGS: &str = "/api/v2/webhook_logs";
pub const LOG: &str = "/api/v2/webhook_logs/{id}";
pub const REDELIVER: &str = "/api/v2/webhook_logs/{id}/redeliver";
pub const ORGANISATIONS: &str = "/api/v2/organisations";
pub const ORGANISATION: &str = "/api/v2/organisations/{id}";
pub const DEVICES: &str = "/api/v2/devices";
pub const DEVICE: &str = "/api/v2/devices/{id}";
pub const CHANNELS: &str = "/api/v2/channels";
pub const CHANNEL: &str = "/api/v2/channels/{id}";
pub const DATA_POINTS: &str = "/api/v2/data_points";
pub const OPENAPI: &str = "/api/v2/openapi.json";
pub const RECORDS_EXPORT: &str = "/api/v2/records/{chain}/export";

/// Every route (method, path), for the authorisation matrix.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", SUBSCRIPTIONS),
    ("POST", SUBSCRIPTIONS),
    ("GET", SUBSCRIPTION),
    ("PATCH", SUBSCRIPTION),
    ("DELETE", SUBSCRIPTION),
    ("POST", TEST_EVENT),
    ("POST", ROTATE_SECRET),
    ("GET", REPLAYS),
    ("POST", REPLAYS),
    ("DELETE", REPLAY),
    ("GET", LOGS),
    ("GET", LOG),
    ("POST", REDELIVER),
    ("GET", ORGANISATIONS),
    ("GET", ORGANISATION),
    ("PATCH", ORGANISATION),
    ("GET", DEVICES),
    ("GET", DEVICE),
    ("GET", CHANNELS),
    ("GET", CHANNEL),
    ("GET", DATA_POINTS),
    ("GET", OPENAPI),
    ("GET", RECORDS_EXPORT),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            SUBSCRIPTIONS,
            get(subscriptions::list).post(subscriptions::create),
        )
        .route(
            SUBSCRIPTION,
            get(subscriptions::show)
                .patch(subscriptions::update)
                .delete(subscriptions::delete),
        )
        .route(TEST_EVENT, post(subscriptions::test_event))
        .route(ROTATE_SECRET, post(subscriptions::rotate_secret))
        .route(
            REPLAYS,
            get(subscriptions::list_replays).post(subscriptions::start_replay),
        )
        .route(REPLAY, delete(subscriptions::cancel_replay))
        .route(LOGS, get(logs::list))
        .route(LOG, get(logs::show))
        .route(REDELIVER, post(logs::redeliver))
        .route(ORGANISATIONS, get(organisations::list))
        .route(
            ORGANISATION,
            get(organisations::show).patch(organisations::update),
        )
        .route(DEVICES, get(devices::list_devices))
        .route(DEVICE, get(devices::show_device))
        .route(CHANNELS, get(devices::list_channels))
        .route(CHANNEL, get(devices::show_channel))
        .route(DATA_POINTS, get(devices::list_data_points))
        .route(OPENAPI, get(openapi::serve))
        .route(RECORDS_EXPORT, get(super::records::api_export))
        .route("/api/v2/{*rest}", axum::routing::any(unknown))
}

/// Anything else under `/api/v2/`: a JSON:API 404, not the app's page.
async fn unknown() -> document::ApiError {
    document::ApiError(Error::NotFound(
        "We haven't found the resource you are looking for: there is no such API path.".into(),
    ))
}
