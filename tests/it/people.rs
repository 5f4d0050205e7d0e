//! People managed by org admins (More → Users): adding someone with a one-time password
//! link, roles, deactivation, password resets, the rules that keep an organisation
//! administered, and the audit of sign-ins — all through the pages' server functions.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{client, error_of, spawn_app, TestApp, ADMIN, LAB_USER, OTHER_ADMIN};

async fn user_id(app: &TestApp, email: &str) -> i64 {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(db)
        .await)
        .unwrap()
}

/// Adds a person; answers their id and the token of their password link.
async fn add(app: &TestApp, admin: &Client, name: &str, email: &str, role: &str) -> (i64, String) {
    let res = app
        .call_json(
            admin,
            "people/add",
            &json!({"input": {"name": name, "email": email, "role": role}}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let (id, link): (i64, Value) = res.json().await.unwrap();
    let path = link["path"].as_str().unwrap();
    let token = path
        .strip_prefix("/set-password?token=")
        .expect("a set-password link");
    (id, token.to_owned())
}

async fn sign_in(app: &TestApp, email: &str, password: &str) -> (StatusCode, Client) {
    let c = client();
    let res = app
        .call_form(&c, "sign_in", &[("email", email), ("password", password)])
        .await;
    (res.status(), c)
}

async fn audit_actions(app: &TestApp, kind: &str, subject: &str) -> Vec<String> {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT action FROM audit_log WHERE kind = $1 AND subject = $2 ORDER BY id")
        .bind(kind)
        .bind(subject)
        .fetch_all(db)
        .await)
        .unwrap()
}

#[tokio::test]
async fn a_new_user_sets_their_password_with_a_one_time_link_and_signs_in() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let (_, token) = add(&app, &admin, "Mia Analyst", "mia@demo.lab", "lab_user").await;

    // Until the link is used no password opens the account.
    assert_eq!(
        sign_in(&app, "mia@demo.lab", "!unset").await.0,
        StatusCode::UNAUTHORIZED
    );
    let anyone = client();
    let owner: Value = app
        .call_form(&anyone, "password/link", &[("token", &token)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(owner, "Mia Analyst");
    // The password rules apply; a refused password leaves the link usable.
    let (status, body) = error_of(
        app.call_form(
            &anyone,
            "password/set",
            &[("token", &token), ("password", "short")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["Invalid"][0]["field"], "password");
    let res = app
        .call_form(
            &anyone,
            "password/set",
            &[("token", &token), ("password", "mia-chooses-this")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Once only.
    let (status, body) = error_of(
        app.call_form(
            &anyone,
            "password/set",
            &[("token", &token), ("password", "someone-else-now")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("not valid any more"), "{body}");

    assert_eq!(
        sign_in(&app, "mia@demo.lab", "wrong password!").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, mia) = sign_in(&app, "mia@demo.lab", "mia-chooses-this").await;
    assert_eq!(status, StatusCode::OK);
    let me: Value = app
        .call_form(&mia, "who_am_i", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["is_org_admin"], false);

    // The list shows her with her last sign-in; the audit trail has every step.
    let people: Vec<Value> = app
        .call_form(&admin, "people/list", &[])
        .await
        .json()
        .await
        .unwrap();
    let row = people
        .iter()
        .find(|p| p["email"] == "mia@demo.lab")
        .unwrap();
    assert_eq!(row["role"], "lab_user");
    assert!(row["last_sign_in_at"].is_i64());
    assert_eq!(audit_actions(&app, "user", "Mia Analyst").await, ["added"]);
    assert_eq!(
        audit_actions(&app, "sign_in", "Mia Analyst").await,
        [
            "sign-in failed",
            "password set with a link",
            "sign-in failed",
            "signed in"
        ]
    );

    // The same email again, in any case, is refused beside the field.
    let (status, body) = error_of(
        app.call_json(
            &admin,
            "people/add",
            &json!({"input": {"name": "Mia 2", "email": "MIA@demo.lab", "role": "lab_user"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["Invalid"][0]["field"], "email");
}

#[tokio::test]
async fn an_organisation_keeps_an_admin_and_no_admin_locks_themself_out() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let me = user_id(&app, ADMIN.0).await.to_string();
    for (f, args) in [
        (
            "people/set_deactivated",
            vec![("user_id", me.as_str()), ("deactivated", "true")],
        ),
        (
            "people/change_role",
            vec![("user_id", me.as_str()), ("role", "lab_user")],
        ),
    ] {
        let (status, body) = error_of(app.call_form(&admin, f, &args).await).await;
        assert_eq!(status, StatusCode::CONFLICT, "{f}");
        assert!(body.to_string().contains("your own account"), "{body}");
    }
    // A second admin can be made, and then can demote the first; the last one stays.
    let lab = user_id(&app, LAB_USER.0).await.to_string();
    let res = app
        .call_form(
            &admin,
            "people/change_role",
            &[("user_id", &lab), ("role", "org_admin")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let lars = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let res = app
        .call_form(
            &lars,
            "people/change_role",
            &[("user_id", &me), ("role", "lab_user")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Ada is a lab user now: her page doors close at once.
    let res = app.call_form(&admin, "people/list", &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        audit_actions(&app, "user", "Ada Admin").await,
        ["role changed"]
    );

    // Another organisation's people are not found; a lab user is refused.
    let other = app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await;
    for (f, args) in [
        (
            "people/set_deactivated",
            vec![("user_id", lab.as_str()), ("deactivated", "true")],
        ),
        (
            "people/change_role",
            vec![("user_id", lab.as_str()), ("role", "lab_user")],
        ),
        ("people/reset_password", vec![("user_id", lab.as_str())]),
        ("people/devices", vec![("user_id", lab.as_str())]),
    ] {
        assert_eq!(
            app.call_form(&other, f, &args).await.status(),
            StatusCode::NOT_FOUND,
            "{f}"
        );
        assert_eq!(
            app.call_form(&admin, f, &args).await.status(),
            StatusCode::FORBIDDEN,
            "{f}"
        );
    }
    let names: Vec<Value> = app
        .call_form(&other, "people/list", &[])
        .await
        .json()
        .await
        .unwrap();
    assert!(names
        .iter()
        .all(|p| p["email"].as_str().unwrap().ends_with("@northwind.lab")));
}

#[tokio::test]
async fn deactivating_someone_ends_their_sessions_and_switches_their_subscriptions_off() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let channel: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT c.id FROM channels c JOIN device_access a ON a.device_id = c.device_id
         WHERE a.user_id = $1 LIMIT 1",
    )
    .bind(user_id(&app, LAB_USER.0).await)
    .fetch_one(db)
    .await)
    .unwrap();
    let res = app
        .call_json(
            &lab,
            "subscriptions/create",
            &json!({"input": {"display_name": "Lars' LIMS", "url": "http://127.0.0.1:9999/lars",
                "headers": [], "triggers": [{"channel_id": channel, "event_type": "data_point.created"}]}}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );

    let lars = user_id(&app, LAB_USER.0).await.to_string();
    let res = app
        .call_form(
            &admin,
            "people/set_deactivated",
            &[("user_id", &lars), ("deactivated", "true")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Signed out at once; the right password now says why it is refused.
    assert_eq!(
        app.call_form(&lab, "who_am_i", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let c = client();
    let (status, body) = error_of(
        app.call_form(
            &c,
            "sign_in",
            &[("email", LAB_USER.0), ("password", LAB_USER.1)],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.to_string().contains("deactivated"), "{body}");
    let (active, reason): (bool, String) =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as("SELECT active, inactive_reason FROM subscriptions WHERE display_name = $1")
            .bind("Lars' LIMS")
            .fetch_one(db)
            .await)
            .unwrap();
    assert!(!active);
    assert_eq!(reason, "owner_deactivated");
    // An admin cannot switch it back on while its owner is deactivated.
    let id: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM subscriptions WHERE display_name = $1")
        .bind("Lars' LIMS")
        .fetch_one(db)
        .await)
        .unwrap();
    let res = app
        .call_form(
            &admin,
            "subscriptions/set_active",
            &[("id", &id.to_string()), ("active", "true")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);

    let res = app
        .call_form(
            &admin,
            "people/set_deactivated",
            &[("user_id", &lars), ("deactivated", "false")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        sign_in(&app, LAB_USER.0, LAB_USER.1).await.0,
        StatusCode::OK
    );
    assert_eq!(
        audit_actions(&app, "user", "Lars Labuser").await,
        ["deactivated", "reactivated"]
    );
}

#[tokio::test]
async fn a_password_reset_stops_the_old_password_and_signs_out() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let lars = user_id(&app, LAB_USER.0).await.to_string();
    let link: Value = app
        .call_form(&admin, "people/reset_password", &[("user_id", &lars)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        app.call_form(&lab, "who_am_i", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(&app, LAB_USER.0, LAB_USER.1).await.0,
        StatusCode::UNAUTHORIZED
    );
    let token = link["path"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap();
    let res = app
        .call_form(
            &client(),
            "password/set",
            &[("token", token), ("password", "lars-new-password")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        sign_in(&app, LAB_USER.0, "lars-new-password").await.0,
        StatusCode::OK
    );
    assert_eq!(
        audit_actions(&app, "user", "Lars Labuser").await,
        ["password reset"]
    );
}

#[tokio::test]
async fn a_demoted_admin_keeps_only_the_devices_granted_to_them() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let (nina, token) = add(&app, &admin, "Nina Admin", "nina@demo.lab", "org_admin").await;
    app.call_form(
        &client(),
        "password/set",
        &[("token", &token), ("password", "nina-password-1")],
    )
    .await;
    let (_, nina_c) = sign_in(&app, "nina@demo.lab", "nina-password-1").await;
    // Nina (admin) subscribes to a channel of a device she was never granted.
    let channel: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT c.id FROM channels c JOIN devices d ON d.id = c.device_id
         WHERE d.name = 'Centrifuge 5425' LIMIT 1",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    let res = app
        .call_json(
            &nina_c,
            "subscriptions/create",
            &json!({"input": {"display_name": "Spins", "url": "http://127.0.0.1:9999/spins",
                "headers": [], "triggers": [{"channel_id": channel, "event_type": "data_point.created"}]}}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let res = app
        .call_form(
            &admin,
            "people/change_role",
            &[("user_id", &nina.to_string()), ("role", "lab_user")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let lost: Option<String> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT lost_access_reason FROM subscription_triggers WHERE channel_id = $1",
    )
    .bind(channel)
    .fetch_one(db)
    .await)
    .unwrap();
    assert_eq!(
        lost.as_deref(),
        Some("Nina Admin is a lab user now, without access to Centrifuge 5425")
    );
}
