//! `webhook_logs`: the delivery log of every subscription the caller may see (list, show), and
//! `redeliver` as an action. `status` is the delivery's (pending, retrying, delivered, failed,
//! cancelled); `response_message` says what the receiver answered, or what went wrong, in
//! plain words; `container_type`/`container_id` name the subscription, as in the reference.

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
};
use serde_json::json;

use super::{
    caller::Caller,
    document::{
        belongs_to, many, one, optional_time, time, Accepts, ApiResult, Body, ListQuery, Resource,
    },
    subscriptions::{path_id, KIND as SUBSCRIPTION},
};
use crate::{
    api_tokens::Scope,
    auth::CurrentUser,
    deliveries::log::{self, DeliveryRow, LogFilter},
    subscriptions, AppState,
};

pub const KIND: &str = "webhook_log";
pub const COLLECTION: &str = "webhook_logs";
const CONTAINER: &str = "WebhookSubscription";

pub const ACCEPTS: Accepts = Accepts {
    collection: COLLECTION,
    kind: KIND,
    filters: &[
        "status",
        "container_type",
        "container_id",
        "trigger",
        "channel_id",
        "device_id",
    ],
    sorts: &["id", "created_at"],
    attributes: &[
        "id",
        "status",
        "response_message",
        "response_body",
        "trigger",
        "payload",
        "container_type",
        "container_id",
        "webhook_id",
        "attempts",
        "http_status",
        "next_attempt_at",
        "test",
        "created_at",
        "updated_at",
    ],
    includes: &[],
    default_page_size: super::document::DEFAULT_PAGE_SIZE,
    max_page_size: super::document::MAX_PAGE_SIZE,
};

const SHOW: Accepts = Accepts {
    filters: &[],
    sorts: &[],
    ..ACCEPTS
};

fn response_message(d: &DeliveryRow) -> Option<String> {
    match (d.last_http_status, d.last_error.as_deref()) {
        // Recorded in plain words by the dispatcher.
        (_, Some(error)) => Some(error.to_owned()),
        (Some(code), None) => Some(format!(
            "HTTP {code}{}",
            axum::http::StatusCode::from_u16(code as u16)
                .ok()
                .and_then(|s| s.canonical_reason())
                .map(|r| format!(" {r}"))
                .unwrap_or_default()
        )),
        (None, None) => None,
    }
}

fn resource(d: DeliveryRow, payload: Option<String>, response_body: Option<String>) -> Resource {
    Resource::new(
        KIND,
        COLLECTION,
        d.id,
        json!({
            "id": d.id,
            "status": d.status,
            "response_message": response_message(&d),
            "response_body": response_body,
            "trigger": d.event_type,
            "payload": payload,
            "container_type": CONTAINER,
            "container_id": d.subscription_id,
            "webhook_id": d.webhook_id,
            "attempts": d.attempts,
            "http_status": d.last_http_status,
            "next_attempt_at": optional_time(d.next_attempt_at),
            "test": d.test,
            "created_at": time(d.created_at),
            "updated_at": time(d.updated_at),
        }),
    )
    .related(
        "webhook_subscription",
        belongs_to(SUBSCRIPTION, d.subscription_id),
    )
}

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(raw.as_deref(), &ACCEPTS)?;
    if let Some(t) = q.filter("container_type") {
        if t != CONTAINER {
            return Ok(many(
                q.page().of(Vec::<DeliveryRow>::new(), 0),
                &q,
                KIND,
                |d| resource(d, None, None),
            ));
        }
    }
    let subscription = match q.filter_ids("container_id")?.as_slice() {
        [] => None,
        [one] => Some(*one),
        _ => {
            return Err(super::document::bad_request(
                "wrong_filter",
                "`filter[container_id]` takes one subscription id at a time.",
            ))
        }
    };
    let filter = LogFilter {
        status: q.filters.get("status").map(|s| s.join(",")),
        event_type: q.filter("trigger").map(str::to_owned),
        device_id: q.filter_ids("device_id")?.first().copied(),
        channel_id: q.filter_ids("channel_id")?.first().copied(),
        since: None,
        until: None,
    };
    let page = log::list_of(
        &state.pool,
        &caller.user,
        subscription,
        &filter,
        q.page(),
        q.ascending(),
    )
    .await?;
    // The list stays light: payload and answer are on each log entry's own page.
    Ok(many(page, &q, KIND, |d| resource(d, None, None)))
}

pub async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(raw.as_deref(), &SHOW)?;
    let super::document::Document(_, mut doc) =
        show_one(&state, &caller.user, path_id(&id)?, StatusCode::OK).await?;
    // Sparse fieldsets on a single entry.
    if let Some(fields) = q.fields.get(KIND) {
        if let Some(a) = doc["data"]["attributes"].as_object_mut() {
            a.retain(|k, _| fields.contains(k));
        }
    }
    Ok(super::document::Document(StatusCode::OK, doc))
}

/// One log entry with the body sent and the last answer.
pub async fn show_one(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    status: StatusCode,
) -> ApiResult {
    let detail = log::detail(&state.pool, user, id).await?;
    let body = detail.attempts.last().and_then(|a| a.response_body.clone());
    Ok(one(
        status,
        resource(detail.delivery, Some(detail.request_body), body),
        &ListQuery::default(),
    ))
}

/// Sends one delivery again with the same `webhook-id`.
pub async fn redeliver(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> ApiResult {
    caller.require(Scope::Write)?;
    let id = path_id(&id)?;
    let user = caller.user.clone().because(super::body::reason_of(&body)?);
    subscriptions::redeliver(&state, &user, id).await?;
    show_one(&state, &caller.user, id, StatusCode::ACCEPTED).await
}
