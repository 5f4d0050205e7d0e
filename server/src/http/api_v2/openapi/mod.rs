//! The OpenAPI 3.1 document of the API v2, generated from these types and operations by
//! utoipa and served at `/api/v2/openapi.json`. The schemas describe what the handlers render;
//! a test validates live responses against the served document, so the two cannot drift.
//!
//! The answers' examples are real answers: `examples.json` is recorded by that test from a
//! walk through every operation (`LABHOOK_RECORD_API_EXAMPLES=1 cargo test --features
//! labhook/ssr api::schemas`), and the test fails when a live answer's shape no longer matches
//! its recorded example.

mod operations;
mod resources;
mod schemas;

use std::sync::OnceLock;

use axum::{http::header, response::IntoResponse};
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use self::{
    operations::*,
    schemas::{Errors, Success},
};

struct Security;

/// Recorded answers, by `"<method> <path> <status>"`.
const EXAMPLES: &str = include_str!("examples.json");

/// Puts each recorded answer into its response as the example.
fn add_examples(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    let examples: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(EXAMPLES).expect("BUG: examples.json is a JSON object");
    for (path, item) in openapi.paths.paths.iter_mut() {
        let operations = [
            ("get", &mut item.get),
            ("post", &mut item.post),
            ("patch", &mut item.patch),
            ("delete", &mut item.delete),
        ];
        for (method, op) in operations {
            let Some(op) = op else { continue };
            for (status, response) in op.responses.responses.iter_mut() {
                let (RefOr::T(response), Some(example)) =
                    (response, examples.get(&format!("{method} {path} {status}")))
                else {
                    continue;
                };
                if let Some(content) = response.content.get_mut(JSONAPI) {
                    content.example = Some(example.clone());
                }
            }
        }
    }
}

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
        add_examples(openapi);
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("lhp_…")
                        .description(Some(
                            "A personal API token from More → API → My API tokens, with the scopes the operation names (read, write, delete). It acts as its user: the same role and device access as in the browser.",
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
        get_channels, get_channel, get_data_points, export_records,
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
        (name = "records", description = "Exports of the tamper-evident audit trail and delivery log (org admins)"),
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
