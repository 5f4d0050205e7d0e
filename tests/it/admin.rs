use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{error_of, spawn_app, ADMIN, LAB_USER, OTHER_ADMIN};

#[tokio::test]
async fn a_lab_user_is_refused_by_every_admin_server_function() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    for (f, args) in [
        ("admin/settings", vec![]),
        ("admin/set_webhooks_enabled", vec![("enabled", "false")]),
        (
            "admin/register_url",
            vec![("url", "https://x.example/"), ("note", "")],
        ),
        ("admin/remove_url", vec![("id", "1")]),
        ("admin/audit", vec![("page", "1")]),
    ] {
        let (status, body) = error_of(app.call_form(&lab, f, &args).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{f}");
        assert_eq!(
            body["Forbidden"], "Only an organisation administrator can do this.",
            "{f}"
        );
    }
    // Nothing changed.
    let me: Value = app
        .call_form(&lab, "who_am_i", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["webhooks_enabled"], true);
    assert_eq!(app.count("registered_urls").await, 2);
    // Sign-ins are audited; nothing else is.
    assert_eq!(app.count("audit_log WHERE kind <> 'sign_in'").await, 0);
}

#[tokio::test]
async fn an_admin_of_another_organisation_cannot_reach_ours() {
    let app = spawn_app().await;
    let other = app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await;
    // Their settings are their own: feature off, nothing registered.
    let s: Value = app
        .call_form(&other, "admin/settings", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["enabled"], false);
    assert_eq!(s["registered"], serde_json::json!([]));

    // Our registered URL is not theirs to remove.
    let ours: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT MIN(id) FROM registered_urls")
        .fetch_one(db)
        .await)
        .unwrap();
    let (status, body) = error_of(
        app.call_form(&other, "admin/remove_url", &[("id", &ours.to_string())])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["NotFound"], "Registered URL not found.");
    assert_eq!(app.count("registered_urls").await, 2);

    // Switching their feature on changes nothing for us, and our audit trail is not theirs.
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    app.call_form(
        &admin,
        "admin/set_webhooks_enabled",
        &[("enabled", "false")],
    )
    .await;
    let res = app
        .call_form(&other, "admin/set_webhooks_enabled", &[("enabled", "true")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = app
        .call_form(&admin, "who_am_i", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["webhooks_enabled"], false);
    let trail: Value = app
        .call_form(&other, "admin/audit", &[("page", "1")])
        .await
        .json()
        .await
        .unwrap();
    // Her own sign-in, and her change.
    assert_eq!(trail["total"], 2);
    assert_eq!(trail["items"][0]["actor"], "Nora Northwind");
    assert_eq!(trail["items"][1]["action"], "signed in");
}

#[tokio::test]
async fn registered_urls_are_normalised_and_bad_ones_refused_with_a_reason() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let res = app
        .call_form(
            &admin,
            "admin/register_url",
            &[
                ("url", "HTTPS://ELN.Example.ORG:443/hooks"),
                ("note", "ELN"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["url"], "https://eln.example.org/hooks");

    for (url, message) in [
        (
            "https://eln.example.org/hooks",
            "https://eln.example.org/hooks is registered already.",
        ),
        (
            "ftp://eln.example.org/",
            "Only http:// and https:// URLs are possible.",
        ),
        (
            "https://u:p@eln.example.org/",
            "A URL with a user name or password (user@host) is not allowed; use a header instead.",
        ),
        (
            "https://eln.example.org/?a=1",
            "A registered URL cannot contain a query string (?…).",
        ),
        (
            "https://eln.example.org/#x",
            "A URL cannot contain a fragment (#…).",
        ),
        (
            "eln.example.org",
            "This is not a valid URL (e.g. https://lims.example.org/api/).",
        ),
    ] {
        let (status, body) = error_of(
            app.call_form(&admin, "admin/register_url", &[("url", url), ("note", "")])
                .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert_eq!(body["Invalid"][0]["field"], "url");
        assert_eq!(body["Invalid"][0]["message"], message, "{url}");
    }
    assert_eq!(app.count("registered_urls").await, 3);
}

#[tokio::test]
async fn every_change_is_in_the_audit_trail_newest_first_and_filterable() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    app.call_form(
        &admin,
        "admin/set_webhooks_enabled",
        &[("enabled", "false")],
    )
    .await;
    app.call_form(&admin, "admin/set_webhooks_enabled", &[("enabled", "true")])
        .await;
    let created: Value = app
        .call_form(
            &admin,
            "admin/register_url",
            &[("url", "https://eln.example.org/"), ("note", "ELN")],
        )
        .await
        .json()
        .await
        .unwrap();
    app.call_form(
        &admin,
        "admin/remove_url",
        &[("id", &created["id"].to_string())],
    )
    .await;

    let trail: Value = app
        .call_form(&admin, "admin/audit", &[("page", "1")])
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["removed", "registered", "enabled", "disabled", "signed in"]
    );
    let removed = &trail["items"][0];
    assert_eq!(removed["actor"], "Ada Admin");
    assert_eq!(removed["subject"], "https://eln.example.org/");
    // What it changed, compared on the server: the note and the URL were there, now gone.
    let note = removed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "note")
        .expect("the note among the changes");
    assert_eq!(
        (&note["before"], &note["after"]),
        (&serde_json::json!("ELN"), &Value::Null)
    );

    let settings_only: Value = app
        .call_form(
            &admin,
            "admin/audit",
            &[("kind", "settings"), ("page", "1")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings_only["total"], 2);

    // Append-only, whatever code might try.
    let update = server::db::with_db!(&app.state.pool, db => sqlx::query("UPDATE audit_log SET actor_name = 'someone else'")
        .execute(db)
        .await
        .map(server::db::Done::from));
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = server::db::with_db!(&app.state.pool, db => sqlx::query("DELETE FROM audit_log")
        .execute(db)
        .await
        .map(server::db::Done::from));
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(app.count("audit_log").await, 5);
}

#[tokio::test]
async fn switching_the_feature_off_hides_it_from_everyone_in_the_organisation() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let me: Value = app
        .call_form(&lab, "who_am_i", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["webhooks_enabled"], true);
    app.call_form(
        &admin,
        "admin/set_webhooks_enabled",
        &[("enabled", "false")],
    )
    .await;
    let me: Value = app
        .call_form(&lab, "who_am_i", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["webhooks_enabled"], false);
}
