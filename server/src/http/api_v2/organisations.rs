//! `organisations`: the caller's own organisation (list, show) and, for org admins, an update
//! of `settings.features` (containing `webhooks` or not) and
//! `settings.security.approvedWebhooks` (the registered target URLs: given ones are
//! registered, missing ones removed — with what removal does on the Server Administration
//! page: subscriptions to them are switched off). Another organisation is "not found".

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
};
use serde_json::{json, Value};

use super::{
    body::reason_of,
    caller::Caller,
    document::{
        attributes_of, data_of, id_attr, many, one, Accepts, ApiError, ApiResult, Body, ListQuery,
        Resource,
    },
    subscriptions::path_id,
};
use crate::{
    admin,
    api_tokens::Scope,
    auth::CurrentUser,
    domain::target_url::RegisteredUrl,
    settings::{self, webhook_settings},
    AppState, Error,
};

const KIND: &str = "organisation";

pub const ACCEPTS: Accepts = Accepts {
    collection: "organisations",
    kind: KIND,
    filters: &[],
    sorts: &[],
    attributes: &["name", "settings"],
    includes: &[],
    default_page_size: super::document::DEFAULT_PAGE_SIZE,
    max_page_size: super::document::MAX_PAGE_SIZE,
};

async fn resource(state: &AppState, user: &CurrentUser) -> crate::Result<Resource> {
    let enabled = settings::webhooks_enabled(&state.pool, user.organisation_id).await?;
    let features: Vec<&str> = if enabled { vec!["webhooks"] } else { vec![] };
    let mut settings = json!({ "features": features });
    // The registered URLs are the administrators' business.
    if user.is_org_admin() {
        let registered: Vec<String> = webhook_settings(&state.pool, user)
            .await?
            .registered
            .into_iter()
            .map(|r| r.url)
            .collect();
        settings["security"] = json!({ "approvedWebhooks": registered });
    }
    Ok(Resource::new(
        KIND,
        "organisations",
        user.organisation_id,
        json!({ "name": user.organisation_name, "settings": settings }),
    ))
}

fn own(user: &CurrentUser, id: &str) -> Result<(), ApiError> {
    if path_id(id)? == user.organisation_id {
        Ok(())
    } else {
        Err(Error::not_found("Organisation").into())
    }
}

pub async fn list(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(raw.as_deref(), &ACCEPTS)?;
    let r = resource(&state, &caller.user).await?;
    let page = q
        .page()
        .of(if q.page_number == 1 { vec![r] } else { vec![] }, 1);
    Ok(many(page, &q, KIND, |r| r))
}

pub async fn show(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    own(&caller.user, &id)?;
    let q = ListQuery::parse(raw.as_deref(), &ACCEPTS)?;
    Ok(one(
        StatusCode::OK,
        resource(&state, &caller.user).await?,
        &q,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> ApiResult {
    caller.require(Scope::Write)?;
    own(&caller.user, &id)?;
    let user = &caller.user.clone().because(reason_of(&body)?);
    user.require_org_admin()?;
    let data = data_of(&body, KIND)?;
    if id_attr(&data, "id")?.is_some_and(|given| given != user.organisation_id) {
        return Err(Error::Conflict("The `id` of `data` is not the id of the URL.".into()).into());
    }
    let a = attributes_of(&data)?;
    if a.keys().any(|k| k != "settings") {
        return Err(Error::invalid(
            "name",
            "Only `settings` (its `features` and `security.approvedWebhooks`) can be changed here.",
        )
        .into());
    }
    let settings = a.get("settings").cloned().unwrap_or(Value::Null);
    let features = match settings.get("features") {
        None => None,
        Some(Value::Array(f)) => Some(f.iter().any(|v| v.as_str() == Some("webhooks"))),
        Some(_) => {
            return Err(Error::invalid(
                "settings.features",
                "`features` is a list such as [\"webhooks\"].",
            )
            .into())
        }
    };
    let approved = match settings.pointer("/security/approvedWebhooks") {
        None => None,
        Some(Value::Array(urls)) => {
            let mut parsed = Vec::with_capacity(urls.len());
            for (n, u) in urls.iter().enumerate() {
                let raw = u.as_str().unwrap_or_default();
                let url = RegisteredUrl::parse(raw).map_err(|e| {
                    Error::invalid(
                        format!("settings.security.approvedWebhooks.{n}"),
                        e.to_string(),
                    )
                })?;
                parsed.push(url.as_str().to_owned());
            }
            Some(parsed)
        }
        Some(_) => {
            return Err(Error::invalid(
                "settings.security.approvedWebhooks",
                "`approvedWebhooks` is a list of URLs.",
            )
            .into())
        }
    };
    // Checked in full above, so that a bad URL changes nothing; registered before removals
    // so that a subscription moving from one URL to its replacement is never left without.
    if let Some(wanted) = approved {
        let current = webhook_settings(&state.pool, user).await?.registered;
        for url in wanted
            .iter()
            .filter(|w| !current.iter().any(|c| &&c.url == w))
        {
            admin::register_url(&state, user, url, "added through the API").await?;
        }
        for gone in current.iter().filter(|c| !wanted.contains(&c.url)) {
            admin::remove_url(&state, user, gone.id).await?;
        }
    }
    if let Some(enabled) = features {
        if enabled != settings::webhooks_enabled(&state.pool, user.organisation_id).await? {
            admin::set_webhooks_enabled(&state, user, enabled).await?;
        }
    }
    Ok(one(
        StatusCode::OK,
        resource(&state, user).await?,
        &ListQuery::default(),
    ))
}
