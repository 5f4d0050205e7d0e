//! `webhook_subscriptions`: list, show, create, update, delete, and the operations of the
//! subscription's page as actions (send a test event, rotate the secret, replay). Each calls
//! the `subscriptions` service the page's server function calls.
//!
//! Where the reference leaves our model open:
//! - `triggers` are strings `"<channel id>:<event type>"` (`"12:data_point.created"`); a bare
//!   channel id (`"12"`, the reference's form) means that channel's new data points.
//! - `headers` is an object: a plain header's value is a string; a secret header is
//!   `{"secret": true}` on the way out (its value is never shown again) and
//!   `{"value": "…", "secret": true}` on the way in; sending `{"secret": true}` back keeps the
//!   stored value, so what a GET answers can be PATCHed back unchanged.

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
};
use serde_json::{json, Map, Value};

use super::{
    body::reason_of,
    caller::Caller,
    document::{
        attributes_of, belongs_to, bool_attr, data_of, id_attr, many, one, optional_attributes,
        parse_time, string_attr, time, Accepts, ApiError, ApiResult, Body, Document, ListQuery,
        Resource,
    },
    subscription_attributes::{headers_of, kept_headers, trigger_options_of, triggers_of},
};
use crate::{
    api_tokens::Scope,
    auth::CurrentUser,
    domain::mask,
    subscriptions::{
        self,
        replay::{self, ReplayInput},
        rules::{SubscriptionInput, TriggerChoice, TriggerOptions},
        Subscription,
    },
    AppState, Error,
};

pub const KIND: &str = "webhook_subscription";
pub const COLLECTION: &str = "webhook_subscriptions";
const ATTRIBUTES: &[&str] = &[
    "display_name",
    "active",
    "url",
    "triggers",
    "headers",
    "use_replies",
    "trigger_options",
    "inactive_reason",
    "created_at",
    "updated_at",
];

pub const ACCEPTS: Accepts = Accepts {
    collection: COLLECTION,
    kind: KIND,
    filters: &[],
    sorts: &["id", "created_at"],
    attributes: ATTRIBUTES,
    includes: &[],
    default_page_size: super::document::DEFAULT_PAGE_SIZE,
    max_page_size: super::document::MAX_PAGE_SIZE,
};

const SHOW: Accepts = Accepts {
    filters: &[],
    sorts: &[],
    ..ACCEPTS
};

/// `"12:data_point.created"`
pub fn trigger_id(channel_id: i64, event_type: &str) -> String {
    format!("{channel_id}:{event_type}")
}

/// A subscription as `viewer` gets to see it: its owner as it was typed; anyone else (an org
/// admin) with the target URL's credentials and secret-looking header values masked, as the
/// pages show them.
pub fn resource(s: Subscription, viewer: &CurrentUser) -> Resource {
    let owner = viewer.id == s.owner_id;
    let triggers: Vec<String> = s
        .triggers
        .iter()
        .map(|t| trigger_id(t.channel_id, &t.event_type))
        .collect();
    let trigger_options: Map<String, Value> = s
        .triggers
        .iter()
        .filter(|t| t.options.is_some())
        .map(|t| {
            (
                trigger_id(t.channel_id, &t.event_type),
                json!(t.options().to_raw()),
            )
        })
        .collect();
    let mut headers = Map::new();
    for h in s.headers.iter() {
        let value = if h.secret {
            json!({ "secret": true })
        } else if owner {
            json!(h.value.expose())
        } else {
            json!(mask::shown_header_value(
                h.name.as_str(),
                h.value.expose(),
                false
            ))
        };
        headers.insert(h.name.as_str().to_owned(), value);
    }
    Resource::new(
        KIND,
        COLLECTION,
        s.id,
        json!({
            "display_name": s.name(),
            "active": s.active,
            "url": if owner { s.url.clone() } else { mask::shown_url(&s.url) },
            "triggers": triggers,
            "headers": headers,
            "use_replies": s.use_replies,
            "trigger_options": trigger_options,
            "inactive_reason": s.inactive_reason.map(|r| r.as_str()),
            "created_at": time(s.created_at),
            "updated_at": time(s.updated_at),
        }),
    )
    .related("user", belongs_to("user", s.owner_id))
}

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(raw.as_deref(), &ACCEPTS)?;
    let page = subscriptions::list_page(&state, &caller.user, q.page(), q.ascending()).await?;
    Ok(many(page, &q, KIND, |s| resource(s, &caller.user)))
}

pub async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(raw.as_deref(), &SHOW)?;
    let s = subscriptions::get(&state, &caller.user, path_id(&id)?).await?;
    Ok(one(StatusCode::OK, resource(s, &caller.user), &q))
}

/// Answers the new subscription; its signing secret, shown this once, is in `meta`.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Body(body): Body,
) -> ApiResult {
    caller.require(Scope::Write)?;
    let data = data_of(&body, KIND)?;
    let a = attributes_of(&data)?;
    let user = caller.user.clone().because(reason_of(&body)?);
    let url = string_attr(&a, "url")?
        .ok_or_else(|| ApiError(Error::invalid("url", "Please enter the target URL.")))?;
    let input = SubscriptionInput {
        display_name: string_attr(&a, "display_name")?.unwrap_or_default(),
        url,
        headers: headers_of(&a, None)?.unwrap_or_default(),
        triggers: triggers_of(&a)?.unwrap_or_default(),
        use_replies: bool_attr(&a, "use_replies")?.unwrap_or(false),
        trigger_options: trigger_options_of(&a)?.unwrap_or_default(),
    };
    let active = bool_attr(&a, "active")?;
    let created = subscriptions::create(&state, &user, &input).await?;
    if active == Some(false) {
        subscriptions::set_active(&state, &user, created.id, false).await?;
    }
    let s = subscriptions::get(&state, &caller.user, created.id).await?;
    let r = resource(s, &caller.user).with_meta(json!({ "signing_secret": created.secret }));
    Ok(one(StatusCode::OK, r, &ListQuery::default()))
}

/// Changes what is given; `active` alone is a switch (org admins may switch anyone's off).
pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> ApiResult {
    caller.require(Scope::Write)?;
    let id = path_id(&id)?;
    let data = data_of(&body, KIND)?;
    if let Some(given) = id_attr(&data, "id")? {
        if given != id {
            return Err(ApiError(Error::Conflict(
                "The `id` of `data` is not the id of the URL.".into(),
            )));
        }
    }
    let a = attributes_of(&data)?;
    let user = &caller.user.clone().because(reason_of(&body)?);
    let changes_content = [
        "display_name",
        "url",
        "headers",
        "triggers",
        "use_replies",
        "trigger_options",
    ]
    .iter()
    .any(|k| a.contains_key(*k));
    let active = bool_attr(&a, "active")?;
    // Checked before anything is saved, so that a refused switch changes nothing.
    let current = subscriptions::get(&state, user, id).await?;
    if changes_content {
        let current = subscriptions::get_for_edit(&state, user, id).await?;
        let input = SubscriptionInput {
            display_name: match string_attr(&a, "display_name")? {
                Some(n) => n,
                None => current.display_name.clone(),
            },
            url: string_attr(&a, "url")?.unwrap_or_else(|| current.url.clone()),
            headers: match headers_of(&a, Some(&current))? {
                Some(h) => h,
                None => kept_headers(&current),
            },
            // Triggers that lost their access are dropped on saving, as the edit form does.
            triggers: match triggers_of(&a)? {
                Some(t) => t,
                None => current
                    .triggers
                    .iter()
                    .filter(|t| t.lost_access_at.is_none())
                    .map(|t| TriggerChoice {
                        channel_id: t.channel_id,
                        event_type: t.event_type.clone(),
                    })
                    .collect(),
            },
            use_replies: bool_attr(&a, "use_replies")?.unwrap_or(current.use_replies),
            // Kept unless given (those of triggers no longer chosen are refused by the rules).
            trigger_options: match trigger_options_of(&a)? {
                Some(o) => o,
                None => current
                    .triggers
                    .iter()
                    .filter(|t| t.options.is_some() && t.lost_access_at.is_none())
                    .map(|t| TriggerOptions {
                        channel_id: t.channel_id,
                        event_type: t.event_type.clone(),
                        options: t.options().to_raw(),
                    })
                    .collect(),
            },
        };
        subscriptions::update(&state, user, id, &input).await?;
    }
    if let Some(active) = active.filter(|a| *a != current.active) {
        subscriptions::set_active(&state, user, id, active).await?;
    }
    let s = subscriptions::get(&state, user, id).await?;
    Ok(one(
        StatusCode::OK,
        resource(s, user),
        &ListQuery::default(),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> ApiResult {
    caller.require(Scope::Delete)?;
    let user = caller.user.clone().because(reason_of(&body)?);
    subscriptions::delete(&state, &user, path_id(&id)?).await?;
    Ok(success())
}

/// `{"meta": {"result": "Success"}}`, the reference's answer to a deletion.
pub fn success() -> Document {
    Document(StatusCode::OK, json!({ "meta": { "result": "Success" } }))
}

/// Sends a test event; answers the `webhook_log` it made (its attempt follows shortly).
pub async fn test_event(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> ApiResult {
    caller.require(Scope::Write)?;
    let a = optional_attributes(&body, "test_event")?;
    let channel_id = id_attr(&a, "channel_id")?;
    let sample = string_attr(&a, "sample")?;
    let delivery = subscriptions::send_test_event(
        &state,
        &caller.user,
        path_id(&id)?,
        channel_id,
        sample.as_deref(),
    )
    .await?;
    super::logs::show_one(&state, &caller.user, delivery, StatusCode::ACCEPTED).await
}

/// A new signing secret, shown this once; the old one keeps working for a while.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> ApiResult {
    caller.require(Scope::Write)?;
    let id = path_id(&id)?;
    let user = caller.user.clone().because(reason_of(&body)?);
    let secret = subscriptions::rotate_secret(&state, &user, id).await?;
    let s = subscriptions::get(&state, &caller.user, id).await?;
    let r = resource(s, &caller.user).with_meta(json!({
        "signing_secret": secret,
        "previous_secret_valid_for_seconds": subscriptions::ROTATION_OVERLAP_MS / 1000,
    }));
    Ok(one(StatusCode::OK, r, &ListQuery::default()))
}

pub fn replay_resource(r: replay::Replay) -> Resource {
    Resource::new(
        "replay",
        "replays",
        r.id,
        json!({
            "since": time(r.since),
            "until": time(r.until),
            "channel_id": r.channel_id.map(|c| c.to_string()),
            "event_type": r.event_type,
            "total": r.total,
            "queued": r.queued,
            "status": r.status,
            "created_at": time(r.created_at),
            "finished_at": r.finished_at.map(time),
        }),
    )
    .related("webhook_subscription", belongs_to(KIND, r.subscription_id))
}

/// Starts a replay — or with `"preview": true` only counts what it would send.
pub async fn start_replay(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> ApiResult {
    caller.require(Scope::Write)?;
    let id = path_id(&id)?;
    let a = attributes_of(&data_of(&body, "replay")?)?;
    let required = |name: &str| -> ApiResult<i64> {
        let raw = string_attr(&a, name)?
            .ok_or_else(|| ApiError(Error::invalid(name, "Please give a time (RFC 3339).")))?;
        parse_time(name, &raw)
    };
    let input = ReplayInput {
        since: required("since")?,
        until: required("until")?,
        channel_id: id_attr(&a, "channel_id")?,
        event_type: string_attr(&a, "event_type")?,
    };
    if bool_attr(&a, "preview")? == Some(true) {
        let n = replay::preview(&state, &caller.user, id, &input).await?;
        return Ok(Document(StatusCode::OK, json!({ "meta": { "events": n } })));
    }
    let user = caller.user.clone().because(reason_of(&body)?);
    let replay_id = replay::start(&state, &user, id, &input).await?;
    let started = replay::list(&state, &caller.user, id)
        .await?
        .into_iter()
        .find(|r| r.id == replay_id)
        .ok_or_else(|| ApiError(Error::not_found("Replay")))?;
    Ok(one(
        StatusCode::ACCEPTED,
        replay_resource(started),
        &ListQuery::default(),
    ))
}

pub async fn list_replays(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let id = path_id(&id)?;
    let replays = replay::list(&state, &caller.user, id).await?;
    let n = replays.len() as i64;
    let page = crate::paging::PageRequest::new(1, replays.len().max(1) as u32).of(replays, n);
    Ok(many(page, &ListQuery::default(), "replay", replay_resource))
}

pub async fn cancel_replay(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> ApiResult {
    caller.require(Scope::Write)?;
    let user = caller.user.clone().because(reason_of(&body)?);
    replay::cancel(&state, &user, path_id(&id)?).await?;
    Ok(success())
}

/// An id of the URL; anything else is a resource that does not exist.
pub fn path_id(raw: &str) -> ApiResult<i64> {
    raw.parse().map_err(|_| {
        ApiError(Error::NotFound(format!(
            "We haven't found the resource you are looking for: `{raw}` is not an id."
        )))
    })
}
