//! Personal API tokens: made on "My API tokens", acting as their user, limited by scopes,
//! expiry and rate, refused at once when revoked or when their user is deactivated.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{token, Api};
use crate::helpers::{error_of, spawn_app, ADMIN, LAB_USER, OTHER_ADMIN};

const SUBSCRIPTIONS: &str = "/api/v2/webhook_subscriptions";

async fn user_id(app: &crate::helpers::TestApp, email: &str) -> i64 {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(db)
        .await)
        .unwrap()
}

#[tokio::test]
async fn a_token_acts_as_its_user_until_it_is_revoked_expires_or_its_user_goes() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let secret = token(&app, &lab, &["read"]).await;
    assert!(secret.starts_with("lhp_"));
    let api = Api::new(&app, &secret);

    let ok = api.get(SUBSCRIPTIONS).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.content_type, "application/vnd.api+json");
    // Stored as a hash only; its use is recorded.
    let hashes: Vec<Vec<u8>> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT token_hash FROM api_tokens",
    )
    .fetch_all(db)
    .await)
    .unwrap();
    assert!(!hashes.is_empty());
    let stored = hashes
        .iter()
        .filter(|h| h.windows(secret.len()).any(|w| w == secret.as_bytes()))
        .count();
    assert_eq!(stored, 0);
    let listed: Value = app
        .call_form(&lab, "api_tokens/list", &[])
        .await
        .json()
        .await
        .unwrap();
    let mine = &listed["mine"][0];
    assert_eq!(mine["scopes"], "read");
    assert!(mine["last_used_at"].is_i64(), "{listed}");
    assert!(
        listed["organisation"].is_null(),
        "lab users see only their own"
    );

    // No token, a wrong one: the reference's 401.
    for bad in ["", "lhp_not-a-token", &secret[..secret.len() - 1]] {
        let a = Api::new(&app, bad).get(SUBSCRIPTIONS).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(a.body["errors"][0]["status"], "401");
        assert!(
            a.detail().starts_with("Authentication failed."),
            "{}",
            a.body
        );
    }
    // A session cookie is not a token.
    let with_cookie = lab.get(app.url(SUBSCRIPTIONS)).send().await.unwrap();
    assert_eq!(with_cookie.status(), StatusCode::UNAUTHORIZED);

    // The admin sees the organisation's tokens and can revoke the lab user's.
    let all: Value = app
        .call_form(&admin, "api_tokens/list", &[])
        .await
        .json()
        .await
        .unwrap();
    let id = all["organisation"][0]["id"].as_i64().unwrap();
    assert_eq!(all["organisation"][0]["owner_name"], "Lars Labuser");
    // An admin of another organisation cannot (nor see it).
    let other = app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await;
    let (status, _) = error_of(
        app.call_form(&other, "api_tokens/revoke", &[("id", &id.to_string())])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(api.get(SUBSCRIPTIONS).await.status, StatusCode::OK);
    let res = app
        .call_form(&admin, "api_tokens/revoke", &[("id", &id.to_string())])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        api.get(SUBSCRIPTIONS).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Expired: refused from that moment.
    let second = token(&app, &lab, &["read"]).await;
    let api = Api::new(&app, &second);
    assert_eq!(api.get(SUBSCRIPTIONS).await.status, StatusCode::OK);
    server::db::with_db!(&app.state.pool, db => sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE revoked_at IS NULL")
        .bind(server::clock::now_ms() - 1)
        .execute(db)
        .await
        .map(server::db::Done::from))
        .unwrap();
    assert_eq!(
        api.get(SUBSCRIPTIONS).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Its user deactivated: refused at once, and for good — reactivated, they make new ones.
    let third = token(&app, &lab, &["read"]).await;
    let api = Api::new(&app, &third);
    let lab_id = user_id(&app, LAB_USER.0).await.to_string();
    let res = app
        .call_form(
            &admin,
            "people/set_deactivated",
            &[("user_id", &lab_id), ("deactivated", "true")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        api.get(SUBSCRIPTIONS).await.status,
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .call_form(
            &admin,
            "people/set_deactivated",
            &[("user_id", &lab_id), ("deactivated", "false")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        api.get(SUBSCRIPTIONS).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Its user's password reset by an admin: the token ends with the password.
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let fourth = token(&app, &lab, &["read"]).await;
    let api = Api::new(&app, &fourth);
    assert_eq!(api.get(SUBSCRIPTIONS).await.status, StatusCode::OK);
    let res = app
        .call_form(&admin, "people/reset_password", &[("user_id", &lab_id)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        api.get(SUBSCRIPTIONS).await.status,
        StatusCode::UNAUTHORIZED
    );
    let reset: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT after FROM audit_log WHERE action = 'password reset' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    assert!(reset.contains("\"API tokens revoked\":1"), "{reset}");

    // Created and revoked are in the audit trail.
    let audited: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('API token created', 'API token revoked')",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    assert_eq!(audited, 5);
}

/// One person may have only so many tokens in use: each has its own rate limit, so more
/// tokens must not buy more requests. Revoking one makes room.
#[tokio::test]
async fn one_person_has_at_most_twenty_tokens_in_use() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    for _ in 0..server::api_tokens::MAX_ACTIVE_PER_USER {
        token(&app, &lab, &["read"]).await;
    }
    let one_more =
        json!({"input": {"label": "one more", "scopes": ["read"], "expires_in_days": 30}});
    let create = || app.call_json(&lab, "api_tokens/create", &one_more);
    let (status, body) = error_of(create().await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("20 API tokens in use"), "{body}");
    let id: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT MIN(id) FROM api_tokens")
        .fetch_one(db)
        .await)
        .unwrap();
    let res = app
        .call_form(&lab, "api_tokens/revoke", &[("id", &id.to_string())])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(create().await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_token_can_do_only_what_its_scopes_say() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let channel = super::channel_id(&app, "Barcode Scanner Bench 2", "barcode").await;
    let read = Api::new(&app, &token(&app, &lab, &["read"]).await);
    let write = Api::new(&app, &token(&app, &lab, &["write"]).await);
    let delete = Api::new(&app, &token(&app, &lab, &["delete"]).await);

    let refused = read
        .post(SUBSCRIPTIONS, &super::new_subscription(channel, "scopes"))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.detail().contains("requires scope \"write\""),
        "{}",
        refused.body
    );
    assert_eq!(app.count("subscriptions").await, 0);

    let created = write
        .post(SUBSCRIPTIONS, &super::new_subscription(channel, "scopes"))
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let path = format!(
        "{SUBSCRIPTIONS}/{}",
        created.body["data"]["id"].as_str().unwrap()
    );
    assert_eq!(write.get(&path).await.status, StatusCode::FORBIDDEN);
    assert_eq!(write.delete(&path).await.status, StatusCode::FORBIDDEN);
    assert_eq!(delete.get(&path).await.status, StatusCode::FORBIDDEN);
    let gone = delete.delete(&path).await;
    assert_eq!(gone.status, StatusCode::OK);
    assert_eq!(gone.body, json!({"meta": {"result": "Success"}}));
    assert_eq!(read.get(&path).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn token_input_is_checked_on_the_server() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    for (input, field) in [
        (
            json!({"label": " ", "scopes": ["read"], "expires_in_days": 30}),
            "label",
        ),
        (
            json!({"label": "x", "scopes": [], "expires_in_days": 30}),
            "scopes",
        ),
        (
            json!({"label": "x", "scopes": ["admin"], "expires_in_days": 30}),
            "scopes",
        ),
        (
            json!({"label": "x", "scopes": ["read"], "expires_in_days": 0}),
            "expires_in_days",
        ),
        (
            json!({"label": "x", "scopes": ["read"], "expires_in_days": 400}),
            "expires_in_days",
        ),
    ] {
        let (status, body) = error_of(
            app.call_json(&lab, "api_tokens/create", &json!({ "input": input }))
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{input}");
        assert!(body.to_string().contains(field), "{input}: {body}");
    }
    assert_eq!(app.count("api_tokens").await, 0);
    // Anonymous callers cannot make tokens.
    let (status, _) = error_of(
        app.call_json(
            &crate::helpers::client(),
            "api_tokens/create",
            &json!({"input": {"label": "x", "scopes": ["read"], "expires_in_days": 1}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_busy_token_is_told_when_to_come_back() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let api = std::sync::Arc::new(Api::new(&app, &token(&app, &lab, &["read"]).await));
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..160 {
        let api = api.clone();
        calls.spawn(async move { api.get("/api/v2/organisations").await });
    }
    let mut limited = 0;
    while let Some(answer) = calls.join_next().await {
        let answer = answer.unwrap();
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
            assert!(answer.retry_after.is_some(), "429 without Retry-After");
            assert_eq!(answer.body["errors"][0]["status"], "429");
        } else {
            assert_eq!(answer.status, StatusCode::OK);
        }
    }
    assert!(
        limited > 0,
        "160 requests at once passed a limit of 100 a burst"
    );
    // Another user's token has its own allowance.
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let other = Api::new(&app, &token(&app, &admin, &["read"]).await);
    assert_eq!(
        other.get("/api/v2/organisations").await.status,
        StatusCode::OK
    );
}
