use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_of, spawn_app, Stoppable, TestApp, ADMIN, LAB_USER, OTHER_ADMIN};

async fn channel(app: &TestApp, device: &str, channel: &str) -> i64 {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT c.id FROM channels c JOIN devices d ON d.id = c.device_id WHERE d.name = $1 AND c.name = $2",
    )
    .bind(device)
    .bind(channel)
    .fetch_one(db)
    .await)
    .unwrap()
}

async fn valid_input(app: &TestApp) -> Value {
    json!({
        "display_name": "QC LIMS",
        "url": "https://lims.demo-lab.example/api/webhooks",
        "headers": [
            {"name": "X-Lab", "value": "QC", "secret": false},
            {"name": "Authorization", "value": "Bearer s3cret", "secret": true}
        ],
        "triggers": [
            {"channel_id": channel(app, "Hotplate Stirrer RCT digital", "temperature").await, "event_type": "channel.out_of_range"},
            {"channel_id": channel(app, "Barcode Scanner Bench 2", "barcode").await, "event_type": "channel.value_changed"}
        ]
    })
}

async fn create(app: &TestApp, c: &Client, input: &Value) -> reqwest::Response {
    app.call_json(c, "subscriptions/create", &json!({ "input": input }))
        .await
}

/// Creates a subscription from `valid_input` as `c`, then saves it again with `change`
/// applied to that input (the edit form's SUBMIT); returns its id.
async fn create_then_update(app: &TestApp, c: &Client, change: impl FnOnce(&mut Value)) -> i64 {
    create(app, c, &valid_input(app).await).await;
    let id: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    let mut input = valid_input(app).await;
    change(&mut input);
    let res = app
        .call_json(
            c,
            "subscriptions/update",
            &json!({"id": id, "input": input}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    id
}

async fn list(app: &TestApp, c: &Client) -> Value {
    let res = app
        .call_form(c, "subscriptions/list", &[("page", "1")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_lab_user_creates_a_subscription_and_gets_its_secret_once() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let res = create(&app, &lab, &valid_input(&app).await).await;
    assert_eq!(res.status(), StatusCode::OK);
    let created: Value = res.json().await.unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["name"], "QC LIMS");

    let page = list(&app, &lab).await;
    assert_eq!(page["total"], 1);
    let row = &page["items"][0];
    assert_eq!(row["url"], "https://lims.demo-lab.example/api/webhooks");
    assert_eq!(row["active"], true);
    assert_eq!(row["triggers"].as_array().unwrap().len(), 2);
    // The secret never comes back, nor do secret header values.
    let id = row["id"].to_string();
    let edit = app
        .call_form(&lab, "subscriptions/get", &[("id", &id)])
        .await
        .text()
        .await
        .unwrap();
    assert!(!edit.contains(&secret));
    assert!(!edit.contains("s3cret"));
    let edit: Value = serde_json::from_str(&edit).unwrap();
    assert_eq!(
        edit["headers"][1],
        json!({"name": "Authorization", "value": null, "secret": true})
    );
    assert_eq!(edit["headers"][0]["value"], "QC");
}

#[tokio::test]
async fn invalid_subscriptions_get_a_message_per_field_and_store_nothing() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let base = valid_input(&app).await;
    let centrifuge = channel(&app, "Centrifuge 5425", "rotation").await; // not granted
    let foreign = channel(&app, "Ultra-Low Freezer", "temperature").await; // other organisation
    let mut big_headers = vec![];
    for i in 0..21 {
        big_headers.push(json!({"name": format!("X-{i}"), "value": "v", "secret": false}));
    }
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "unregistered URL",
            json!({"url": "https://evil.example/collect"}),
            "url",
            "evil.example is not a registered target URL. Ask an organisation administrator to register it.",
        ),
        (
            "prefix trick",
            json!({"url": "https://lims.demo-lab.example.evil.com/api/"}),
            "url",
            "lims.demo-lab.example.evil.com is not a registered target URL. Ask an organisation administrator to register it.",
        ),
        (
            "no trigger event",
            json!({"triggers": []}),
            "triggers",
            "Choose at least one trigger event under Selected Channels.",
        ),
        (
            "an ungranted channel",
            json!({"triggers": [{"channel_id": centrifuge, "event_type": "data_point.created"}]}),
            "triggers",
            "A chosen channel is not available to you (any more). Remove it and choose again.",
        ),
        (
            "another organisation's channel",
            json!({"triggers": [{"channel_id": foreign, "event_type": "data_point.created"}]}),
            "triggers",
            "A chosen channel is not available to you (any more). Remove it and choose again.",
        ),
        (
            "a reserved header",
            json!({"headers": [{"name": "Content-Type", "value": "text/plain", "secret": false}]}),
            "headers.0.name",
            "The header Content-Type cannot be set: it is always application/json.",
        ),
        (
            "a signature header",
            json!({"headers": [{"name": "webhook-signature", "value": "v1,x", "secret": false}]}),
            "headers.0.name",
            "The header webhook-signature cannot be set: it carries the webhook signature and is set by Labhook.",
        ),
        (
            "CR/LF in a header value",
            json!({"headers": [{"name": "X-Lab", "value": "QC\r\nX-Evil: 1", "secret": false}]}),
            "headers.0.value",
            "A header value must be a single line (no line breaks).",
        ),
        (
            "a duplicate header",
            json!({"headers": [{"name": "X-Lab", "value": "a", "secret": false}, {"name": "x-lab", "value": "b", "secret": false}]}),
            "headers.1.name",
            "The header x-lab appears twice.",
        ),
        (
            "too many headers",
            json!({"headers": big_headers}),
            "headers",
            "At most 20 headers; there are 21.",
        ),
        (
            "oversize headers",
            json!({"headers": [{"name": "X-A", "value": "a".repeat(5000), "secret": false}, {"name": "X-B", "value": "b".repeat(5000), "secret": false}]}),
            "headers",
            "The headers add up to 10006 bytes; at most 8 KiB are possible.",
        ),
    ];
    for (what, patch, field, message) in cases {
        let mut input = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            input[k] = v.clone();
        }
        let (status, body) = error_of(create(&app, &lab, &input).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let errors = body["Invalid"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: {body}"));
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field && e["message"] == message),
            "{what}: {body}"
        );
    }
    assert_eq!(app.count("subscriptions").await, 0);
    assert_eq!(app.count("subscription_triggers").await, 0);
    assert_eq!(app.count("audit_log WHERE kind <> 'sign_in'").await, 0);

    // A payload that does not even have the right shape.
    let res = app
        .call_json(&lab, "subscriptions/create", &json!({"input": {"url": 42}}))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.count("subscriptions").await, 0);
}

#[tokio::test]
async fn nothing_of_another_organisation_is_reachable_by_id() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    create(&app, &lab, &valid_input(&app).await).await;
    let id: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    let id = id.to_string();

    let other = app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await;
    // Northwind has the feature off; switch it on so that only isolation stops them.
    app.call_form(&other, "admin/set_webhooks_enabled", &[("enabled", "true")])
        .await;
    assert_eq!(list(&app, &other).await["total"], 0);
    for (f, args) in [
        ("subscriptions/get", vec![("id", id.as_str())]),
        ("subscriptions/show", vec![("id", id.as_str())]),
        (
            "subscriptions/set_active",
            vec![("id", id.as_str()), ("active", "false")],
        ),
        ("subscriptions/delete", vec![("id", id.as_str())]),
        ("subscriptions/rotate_secret", vec![("id", id.as_str())]),
        (
            "deliveries/list",
            vec![("subscription_id", id.as_str()), ("page", "1")],
        ),
    ] {
        let (status, body) = error_of(app.call_form(&other, f, &args).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{f}");
        assert_eq!(body["NotFound"], "Subscription not found.", "{f}");
    }
    let (status, _) = error_of(
        app.call_json(
            &other,
            "subscriptions/update",
            &json!({"id": id.parse::<i64>().unwrap(), "input": {"display_name": "", "url": "https://x.example/", "headers": [], "triggers": []}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let active: bool = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT active FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    assert!(active);
}

#[tokio::test]
async fn an_admin_sees_everyones_subscriptions_and_may_switch_off_or_delete_but_not_edit_them() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    create(&app, &lab, &valid_input(&app).await).await;
    let page = list(&app, &admin).await;
    assert_eq!(page["viewer_is_admin"], true);
    assert_eq!(page["items"][0]["owner_name"], "Lars Labuser");
    assert_eq!(page["items"][0]["owned_by_me"], false);
    let id = page["items"][0]["id"].to_string();

    let (status, body) = error_of(
        app.call_form(&admin, "subscriptions/get", &[("id", &id)])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["Forbidden"],
        "Only Lars Labuser can change this subscription; you can switch it off or delete it."
    );

    let res = app
        .call_form(
            &admin,
            "subscriptions/set_active",
            &[("id", &id), ("active", "false")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(list(&app, &lab).await["items"][0]["active"], false);

    // Another lab user's view would not include it; the owner's does.
    let res = app
        .call_form(&admin, "subscriptions/delete", &[("id", &id)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(list(&app, &lab).await["total"], 0);

    let trail: Value = app
        .call_form(
            &admin,
            "admin/audit",
            &[("kind", "subscription"), ("page", "1")],
        )
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
    assert_eq!(actions, ["deleted", "deactivated", "created"]);
    // The secret header value is masked in the trail; the plain one is not.
    let created = trail["items"][2]["changes"].to_string();
    assert!(!created.contains("s3cret"), "{created}");
    assert!(created.contains("•••••"), "{created}");
    assert!(created.contains("QC"), "{created}");
}

#[tokio::test]
async fn editing_keeps_an_untouched_secret_header_and_replaces_the_rest() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let weight = channel(&app, "Analytical Balance XPR204", "weight").await;
    create_then_update(&app, &lab, |input| {
        input["url"] = json!("http://127.0.0.1:9999/lims");
        input["headers"] = json!([
            {"name": "Authorization", "value": null, "secret": true},
            {"name": "X-New", "value": "1", "secret": false}
        ]);
        input["triggers"] = json!([{"channel_id": weight, "event_type": "data_point.created"}]);
    })
    .await;
    let headers: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT headers FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    // Stored sealed; opened with the server's key it is the value typed at first.
    assert!(!headers.contains("s3cret"));
    let headers =
        server::domain::headers::Headers::from_stored(&headers, &app.state.secrets).to_json();
    assert_eq!(
        headers,
        json!([
            {"name": "Authorization", "value": "Bearer s3cret", "secret": true},
            {"name": "X-New", "value": "1", "secret": false}
        ])
    );
    assert_eq!(app.count("subscription_triggers").await, 1);
}

#[tokio::test]
async fn a_stored_secret_value_is_not_revealed_by_unticking_secret() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let id = create_then_update(&app, &lab, |input| {
        input["headers"] = json!([{"name": "Authorization", "value": null, "secret": false}]);
    })
    .await;
    let shown: Value = app
        .call_form(&lab, "subscriptions/get", &[("id", &id.to_string())])
        .await
        .json()
        .await
        .unwrap();
    let text = shown.to_string();
    assert!(!text.contains("s3cret"), "{text}");
    assert_eq!(shown["headers"][0]["secret"], true);
}

#[tokio::test]
async fn with_the_feature_off_every_subscription_function_refuses() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    app.call_form(
        &admin,
        "admin/set_webhooks_enabled",
        &[("enabled", "false")],
    )
    .await;
    let (status, body) = error_of(
        app.call_form(&lab, "subscriptions/list", &[("page", "1")])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body["Forbidden"],
        "Webhooks are not enabled for your organisation — ask an organisation administrator."
    );
    let (status, _) = error_of(create(&app, &lab, &valid_input(&app).await).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = error_of(app.call_form(&lab, "subscriptions/catalogue", &[]).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("subscriptions").await, 0);
}

#[tokio::test]
async fn removing_a_registered_url_deactivates_its_subscriptions_until_it_is_registered_again() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    create(&app, &lab, &valid_input(&app).await).await;
    let id: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    let lims: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM registered_urls WHERE url LIKE 'https://lims%'")
            .fetch_one(db)
            .await)
            .unwrap();

    let res = app
        .call_form(&admin, "admin/remove_url", &[("id", &lims.to_string())])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let row = list(&app, &lab).await["items"][0].clone();
    assert_eq!(row["active"], false);
    assert_eq!(row["target_registered"], false);
    assert_eq!(row["inactive_reason"], "target_not_registered");

    let (status, body) = error_of(
        app.call_form(
            &lab,
            "subscriptions/set_active",
            &[("id", &id.to_string()), ("active", "true")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["Refused"]
        .as_str()
        .unwrap()
        .starts_with("lims.demo-lab.example is not a registered target URL any more"));

    app.call_form(
        &admin,
        "admin/register_url",
        &[
            ("url", "https://lims.demo-lab.example/api/"),
            ("note", "QC LIMS"),
        ],
    )
    .await;
    let res = app
        .call_form(
            &lab,
            "subscriptions/set_active",
            &[("id", &id.to_string()), ("active", "true")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(list(&app, &lab).await["items"][0]["active"], true);
}

/// A copy of the database file neither forges webhooks nor reads receivers' API keys: signing
/// secrets and secret header values are stored sealed, under a key file (mode 0600) beside
/// the database. Rows an older version stored in clear are sealed at the next start, and a
/// database whose key is missing does not start with a new one.
#[tokio::test]
async fn secrets_are_stored_sealed_under_a_private_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = server::harness::throwaway_config(dir.path().join("lab.db"));
    let (app, halt) = Stoppable::start(config.clone()).await.unwrap();
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let created: Value = create(&app, &lab, &valid_input(&app).await)
        .await
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let stored: (String, String) = server::db::with_db!(&app.state.pool, db => sqlx::query_as("SELECT secret, headers FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    assert!(stored.0.starts_with("sealed:v1:"), "{stored:?}");
    assert!(
        !stored.1.contains("s3cret") && stored.1.contains("QC"),
        "{stored:?}"
    );
    // Nor in the files a backup copies (database and write-ahead log).
    for file in ["lab.db", "lab.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        let found = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(
            !found("s3cret") && !found(&secret),
            "{file} holds a secret in clear"
        );
    }
    let key_file = dir.path().join("lab.secrets.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // What an older version left in clear is sealed at the next start, and still opens.
    server::db::with_db!(&app.state.pool, db => sqlx::query("UPDATE subscriptions SET secret = $1, headers = $2")
        .bind(&secret)
        .bind(r#"[{"name":"Authorization","value":"Bearer old","secret":true}]"#)
        .execute(db)
        .await
        .map(server::db::Done::from))
        .unwrap();
    halt.halt().await;
    let (again, halt) = Stoppable::start(config.clone()).await.unwrap();
    let stored: (String, String) = server::db::with_db!(&again.state.pool, db => sqlx::query_as("SELECT secret, headers FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    assert!(stored.0.starts_with("sealed:v1:"));
    assert_eq!(again.state.secrets.open(&stored.0).unwrap(), secret);
    assert!(!stored.1.contains("Bearer old"), "{stored:?}");

    halt.halt().await;
    // Without its key, the database does not start (a new key would open nothing).
    std::fs::rename(&key_file, dir.path().join("elsewhere.key")).unwrap();
    let refused = match Stoppable::start(config.clone()).await {
        Ok(_) => panic!("started without its key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("restore that file"), "{refused}");
    assert!(!key_file.exists(), "no new key was made");
    // The operator points at the key where it is now.
    let config = server::config::Config {
        secrets_key_file: Some(dir.path().join("elsewhere.key")),
        ..config
    };
    assert!(Stoppable::start(config).await.is_ok());
}

/// One person, and one organisation, may have only so many subscriptions: the next is refused
/// with the reason, and nothing is stored.
#[tokio::test]
async fn subscriptions_per_user_and_per_organisation_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = server::harness::throwaway_config(dir.path().join("q.db"));
    config.quotas.subscriptions_per_user = 2;
    config.quotas.subscriptions_per_organisation = 3;
    let app = labhook::startup::Application::build(config).await.unwrap();
    let app_ = TestApp::at(app.address(), app.state().clone());
    tokio::spawn(app.run(std::future::pending()));
    let app = app_;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let input = valid_input(&app).await;
    for _ in 0..2 {
        assert_eq!(create(&app, &lab, &input).await.status(), StatusCode::OK);
    }
    let (status, body) = error_of(create(&app, &lab, &input).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body.to_string().contains("the most one person may have"),
        "{body}"
    );
    assert_eq!(create(&app, &admin, &input).await.status(), StatusCode::OK);
    let (status, body) = error_of(create(&app, &admin, &input).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body.to_string()
            .contains("Your organisation has 3 subscriptions"),
        "{body}"
    );
    assert_eq!(app.count("subscriptions").await, 3);
}

/// Credentials in a target URL's query are masked wherever the URL is shown — the overview,
/// the subscription's page, the audit trail, the delivery log's errors — and only the
/// owner's edit form shows the URL as typed.
#[tokio::test]
async fn credentials_in_a_target_urls_query_are_masked_wherever_it_is_shown() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let mut input = valid_input(&app).await;
    input["display_name"] = json!("");
    input["url"] = json!("http://127.0.0.1:9999/lims?token=abc123&site=basel");
    input["triggers"] = json!([{
        "channel_id": channel(&app, "Barcode Scanner Bench 2", "barcode").await,
        "event_type": "data_point.created"
    }]);
    let res = create(&app, &lab, &input).await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = list(&app, &lab).await;
    let shown = "http://127.0.0.1:9999/lims?token=•••••&site=basel";
    assert_eq!(page["items"][0]["url"], shown);
    assert_eq!(page["items"][0]["name"], shown);
    let id = page["items"][0]["id"].to_string();
    let detail = app
        .call_form(&lab, "subscriptions/show", &[("id", &id)])
        .await
        .text()
        .await
        .unwrap();
    assert!(!detail.contains("abc123"), "{detail}");
    let edit: Value = app
        .call_form(&lab, "subscriptions/get", &[("id", &id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        edit["url"],
        "http://127.0.0.1:9999/lims?token=abc123&site=basel"
    );
    let audit: Vec<String> =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT COALESCE(subject, '') || COALESCE(after, '') FROM audit_log")
            .fetch_all(db)
            .await)
            .unwrap();
    assert!(audit.iter().all(|a| !a.contains("abc123")), "{audit:?}");

    // Nothing listens there: the attempt's error quotes the URL, masked.
    let scanner: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM devices WHERE name = 'Barcode Scanner Bench 2'")
            .fetch_one(db)
            .await)
            .unwrap();
    server::devices::ingest::record(
        &app.state,
        scanner,
        None,
        vec![server::devices::ingest::RawPoint {
            channel: "barcode".into(),
            timestamp: None,
            value: json!("S-1"),
        }],
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let message: String = loop {
        let m: Option<String> =
            server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT error_message FROM delivery_attempts LIMIT 1")
                .fetch_optional(db)
                .await)
                .unwrap()
                .flatten();
        if let Some(m) = m {
            break m;
        }
        assert!(std::time::Instant::now() < deadline, "no attempt was made");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(!message.contains("abc123"), "{message}");
}

/// An installation moves from its SQLite file to PostgreSQL with `labhook migrate-to-postgres`:
/// every row, its sealed secrets opening with the same key file, ids continuing; never into a
/// database that holds data, and never served with another key.
#[tokio::test]
async fn an_installation_moves_to_postgres_with_its_sealed_secrets_into_an_empty_database_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.db");
    let key = dir.path().join("lab.secrets.key");
    // A SQLite installation with a subscription (its secret and a header sealed).
    let (lite, halt) = Stoppable::start(server::config::Config::for_database(file.clone()))
        .await
        .unwrap();
    let lab = lite.signed_in(LAB_USER.0, LAB_USER.1).await;
    let created: Value = create(&lite, &lab, &valid_input(&lite).await)
        .await
        .json()
        .await
        .unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let tables = [
        "organisations",
        "users",
        "devices",
        "channels",
        "subscriptions",
        "audit_log",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(lite.count(table).await);
    }
    halt.halt().await;

    let url = server::harness::postgres::Postgres::for_this_process()
        .create_database("moved")
        .unwrap();
    let migrate = |to: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_labhook"))
            .args([
                "--database",
                file.to_str().unwrap(),
                "migrate-to-postgres",
                "--to",
                to,
            ])
            .output()
            .unwrap()
    };
    let out = migrate(&url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("copied ") && stdout.contains("subscriptions"),
        "{stdout}"
    );

    // Served from Postgres with the same key: the same rows, the secret opens, ids go on.
    let on_postgres = server::config::Config {
        secrets_key_file: Some(key.clone()),
        ..server::config::Config::for_database(server::db::Location::Postgres(url.clone()))
    };
    let (pg, halt) = Stoppable::start(on_postgres.clone()).await.unwrap();
    assert_eq!(pg.state.pool.engine(), server::db::Engine::Postgres);
    for (table, rows) in tables.iter().zip(&before) {
        assert_eq!(pg.count(table).await, *rows, "{table}");
    }
    let stored: String = server::db::with_db!(&pg.state.pool, db => sqlx::query_scalar(
        "SELECT secret FROM subscriptions",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    assert_eq!(pg.state.secrets.open(&stored).unwrap(), secret);
    let lab = pg.signed_in(LAB_USER.0, LAB_USER.1).await;
    let mut second = valid_input(&pg).await;
    second["display_name"] = json!("Second LIMS");
    let res = create(&pg, &lab, &second).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(pg.count("subscriptions").await, before[4] + 1);
    halt.halt().await;

    // Never into a database that holds data; nothing is changed there.
    let out = migrate(&url);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already holds data"), "{stderr}");
    // Another key is refused at start, in words.
    let other = dir.path().join("other.key");
    std::fs::write(
        &other,
        server::domain::sealed::SecretsKey::generate_file_contents().1,
    )
    .unwrap();
    let refused = match Stoppable::start(server::config::Config {
        secrets_key_file: Some(other),
        ..on_postgres
    })
    .await
    {
        Ok(_) => panic!("served with another key"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        refused.contains("is not the key this database's secrets are sealed with"),
        "{refused}"
    );
}
