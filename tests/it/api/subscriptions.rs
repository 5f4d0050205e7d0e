//! `webhook_subscriptions` and `webhook_logs` over the API: the round trip a deployment script
//! makes, the operations of the subscription page as actions, and every refusal.

use std::sync::{Arc, Mutex};

use axum::{http::HeaderMap, routing::post, Router};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{channel_id, new_subscription, token, Api};
use crate::helpers::{spawn_app, TestApp, ADMIN, LAB_USER, OTHER_ADMIN};

const SUBSCRIPTIONS: &str = "/api/v2/webhook_subscriptions";

/// A receiver that keeps the `X-Api-Key` header and body of each request.
async fn receiver() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let key = headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                kept.lock().unwrap().push((key, body));
                "thanks from the LIMS"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, got)
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{what} did not happen");
}

/// The admin registers `origin` through the API's organisation settings.
async fn register(app: &TestApp, admin: &Api, origin: &str) {
    let org: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .fetch_one(db)
        .await)
        .unwrap();
    let path = format!("/api/v2/organisations/{org}");
    let current = admin.get(&path).await;
    let mut urls = current.body["data"]["attributes"]["settings"]["security"]["approvedWebhooks"]
        .as_array()
        .unwrap()
        .clone();
    urls.push(json!(format!("{origin}/")));
    let res = admin
        .patch(&path, &json!({"data": {"type": "organisation", "id": org.to_string(),
            "attributes": {"settings": {"features": ["webhooks"], "security": {"approvedWebhooks": urls}}}}}))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
}

#[tokio::test]
async fn a_script_creates_reads_changes_and_deletes_a_subscription() {
    let app = spawn_app().await;
    let (origin, got) = receiver().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let api = Api::new(&app, &token(&app, &lab, &["read", "write", "delete"]).await);
    let admin_api = Api::new(&app, &token(&app, &admin, &["read", "write"]).await);
    register(&app, &admin_api, &origin).await;
    let channel = channel_id(&app, "Barcode Scanner Bench 2", "barcode").await;

    let mut body = new_subscription(channel, "x");
    body["data"]["attributes"]["url"] = json!(format!("{origin}/hook"));
    let created = api.post(SUBSCRIPTIONS, &body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let data = &created.body["data"];
    assert_eq!(data["type"], "webhook_subscription");
    let id = data["id"].as_str().unwrap().to_owned();
    assert_eq!(data["links"]["self"], format!("{SUBSCRIPTIONS}/{id}"));
    assert_eq!(
        data["attributes"]["triggers"],
        json!([format!("{channel}:data_point.created")])
    );
    assert_eq!(
        data["attributes"]["headers"],
        json!({"X-Api-Key": {"secret": true}, "X-Lab": "QC"})
    );
    assert_eq!(data["attributes"]["active"], true);
    assert!(data["meta"]["signing_secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let lab_id: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(LAB_USER.0)
        .fetch_one(db)
        .await)
        .unwrap();
    assert_eq!(
        data["relationships"]["user"]["data"],
        json!({"id": lab_id.to_string(), "type": "user"})
    );
    let path = format!("{SUBSCRIPTIONS}/{id}");

    // Read back: the list with the reference's meta, the single one without the secret.
    let list = api
        .get(&format!("{SUBSCRIPTIONS}?page[size]=5&sort=-created_at"))
        .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["meta"]["recordsTotal"], 1);
    assert_eq!(list.body["meta"]["pageSize"], 5);
    assert_eq!(
        list.body["meta"]["recordsOrder"],
        json!([id.parse::<i64>().unwrap()])
    );
    let shown = api.get(&path).await;
    assert!(
        shown.body["data"].get("meta").is_none(),
        "the secret is shown only once"
    );
    let sparse = api
        .get(&format!("{path}?fields[webhook_subscription]=url,active"))
        .await;
    assert_eq!(
        sparse.body["data"]["attributes"].as_object().unwrap().len(),
        2
    );

    // What a GET answers can be PATCHed back unchanged: the secret header keeps its value.
    let back = json!({"data": {"type": "webhook_subscription", "id": id,
        "attributes": shown.body["data"]["attributes"].clone()}});
    let patched = api.patch(&path, &back).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(
        patched.body["data"]["attributes"]["headers"],
        shown.body["data"]["attributes"]["headers"]
    );
    let test = api
        .post(
            &format!("{path}/test_event"),
            &json!({"data": {"type": "test_event", "attributes": {"sample": "API-1"}}}),
        )
        .await;
    assert_eq!(test.status, StatusCode::ACCEPTED, "{}", test.body);
    assert_eq!(test.body["data"]["type"], "webhook_log");
    assert_eq!(
        test.body["data"]["attributes"]["trigger"],
        "data_point.created.test"
    );
    wait_for("the test event", || {
        got.lock().unwrap().iter().any(|(_, b)| b.contains("API-1"))
    })
    .await;
    assert!(got
        .lock()
        .unwrap()
        .iter()
        .all(|(key, _)| key == "s3cret-key"));

    // The reference's own PATCH example: headers replaced; a bare channel id is a trigger.
    let reference = api
        .patch(
            &path,
            &json!({"data": {"type": "webhook_subscription",
            "attributes": {"headers": {"a": "b"}, "triggers": [channel.to_string()]}}}),
        )
        .await;
    assert_eq!(reference.status, StatusCode::OK, "{}", reference.body);
    assert_eq!(
        reference.body["data"]["attributes"]["headers"],
        json!({"a": "b"})
    );
    assert_eq!(
        reference.body["data"]["attributes"]["triggers"],
        json!([format!("{channel}:data_point.created")])
    );

    // Switched off and on; the organisation's admin may switch it off but not change it.
    let off = admin_api
        .patch(&path, &json!({"data": {"attributes": {"active": false}}}))
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(off.body["data"]["attributes"]["inactive_reason"], "user");
    let refused = admin_api
        .patch(
            &path,
            &json!({"data": {"attributes": {"url": format!("{origin}/other")}}}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.detail().starts_with("Only Lars Labuser can change"),
        "{}",
        refused.body
    );
    let on = api
        .patch(&path, &json!({"data": {"attributes": {"active": true}}}))
        .await;
    assert_eq!(on.body["data"]["attributes"]["active"], true);

    // The secret rotated: shown once in meta.
    let rotated = api.post(&format!("{path}/rotate_secret"), &json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new_secret = rotated.body["data"]["meta"]["signing_secret"]
        .as_str()
        .unwrap();
    assert_ne!(new_secret, data["meta"]["signing_secret"].as_str().unwrap());

    // The delivery log: the test event's entry, filtered and in full; sent again.
    let logs = api
        .get(&format!(
            "/api/v2/webhook_logs?filter[webhook_logs][container_id]={id}&filter[status]=delivered"
        ))
        .await;
    assert_eq!(logs.status, StatusCode::OK, "{}", logs.body);
    assert_eq!(logs.body["meta"]["recordsTotal"], 1);
    let log_id = logs.body["data"][0]["id"].as_str().unwrap().to_owned();
    let entry = api.get(&format!("/api/v2/webhook_logs/{log_id}")).await;
    let attributes = &entry.body["data"]["attributes"];
    assert_eq!(attributes["status"], "delivered");
    assert_eq!(attributes["container_type"], "WebhookSubscription");
    assert_eq!(attributes["container_id"], id.parse::<i64>().unwrap());
    assert_eq!(attributes["response_body"], "thanks from the LIMS");
    assert_eq!(attributes["response_message"], "HTTP 200 OK");
    assert!(attributes["payload"].as_str().unwrap().contains("API-1"));
    let again = api
        .post(
            &format!("/api/v2/webhook_logs/{log_id}/redeliver"),
            &json!({}),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED, "{}", again.body);
    wait_for("the redelivery", || {
        got.lock()
            .unwrap()
            .iter()
            .filter(|(_, b)| b.contains("API-1"))
            .count()
            == 2
    })
    .await;
    let none = api
        .get(&format!(
            "/api/v2/webhook_logs?filter[container_id]={id}&filter[status]=failed"
        ))
        .await;
    assert_eq!(none.body["data"], json!([]));

    // A scan the device sends; then a replay of it: counted first, started, listed, cancelled.
    let device: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT device_id FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_one(db)
        .await)
        .unwrap();
    let device_token = app.device_token(&admin, device).await;
    let (status, _) = app
        .send_points(
            device,
            &device_token,
            &json!([{"channel": "barcode", "value": "LIVE-1"}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_for("the live scan", || {
        got.lock()
            .unwrap()
            .iter()
            .any(|(_, b)| b.contains("LIVE-1"))
    })
    .await;
    let window = |preview: bool| {
        json!({"data": {"type": "replay", "attributes": {
            "since": server::clock::rfc3339(server::clock::now_ms() - 3_600_000),
            "until": server::clock::rfc3339(server::clock::now_ms() + 60_000),
            "preview": preview,
        }}})
    };
    let counted = api.post(&format!("{path}/replays"), &window(true)).await;
    assert_eq!(counted.status, StatusCode::OK, "{}", counted.body);
    assert_eq!(counted.body["meta"]["events"], 1);
    let started = api.post(&format!("{path}/replays"), &window(false)).await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    assert_eq!(started.body["data"]["type"], "replay");
    let replays = api.get(&format!("{path}/replays")).await;
    assert_eq!(replays.body["data"].as_array().unwrap().len(), 1);
    let replay = started.body["data"]["id"].as_str().unwrap();
    let cancelled = api.delete(&format!("/api/v2/replays/{replay}")).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);

    // Deleted: gone for everyone.
    assert_eq!(api.delete(&path).await.status, StatusCode::OK);
    assert_eq!(api.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("subscriptions WHERE deleted_at IS NULL").await, 0);
    // Its row (and its history) goes in the background, soon.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.count("subscriptions").await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the deleted subscription's row was never purged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn bad_documents_get_the_references_errors_and_change_nothing() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let api = Api::new(&app, &token(&app, &lab, &["read", "write", "delete"]).await);
    let channel = channel_id(&app, "Barcode Scanner Bench 2", "barcode").await;
    let hidden = channel_id(&app, "Centrifuge 5425", "lid").await;

    let missing = api
        .post(SUBSCRIPTIONS, &json!({"url": "http://127.0.0.1:9999/"}))
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.detail(),
        "Missing `data` attribute at document's top level."
    );
    assert_eq!(missing.body["errors"][0]["title"], "Bad Request");
    let wrong_type = api
        .post(
            SUBSCRIPTIONS,
            &json!({"data": {"type": "device", "attributes": {}}}),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::CONFLICT);

    let mut unregistered = new_subscription(channel, "x");
    unregistered["data"]["attributes"]["url"] = json!("https://evil.example/");
    let refused = api.post(SUBSCRIPTIONS, &unregistered).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.body["errors"][0]["source"]["pointer"],
        "/data/attributes/url"
    );

    let mut not_mine = new_subscription(hidden, "x");
    not_mine["data"]["attributes"]["headers"] = json!({"Bad Header": "x"});
    let refused = api.post(SUBSCRIPTIONS, &not_mine).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let pointers: Vec<&str> = refused.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        [
            "/data/attributes/headers/0/name",
            "/data/attributes/triggers"
        ]
    );

    let mut garbled = new_subscription(channel, "x");
    garbled["data"]["attributes"]["triggers"] = json!(["barcode please"]);
    let refused = api.post(SUBSCRIPTIONS, &garbled).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused.body["errors"][0]["source"]["pointer"],
        "/data/attributes/triggers/0"
    );
    let mut no_url = new_subscription(channel, "x");
    no_url["data"]["attributes"]
        .as_object_mut()
        .unwrap()
        .remove("url");
    assert_eq!(
        api.post(SUBSCRIPTIONS, &no_url).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(app.count("subscriptions").await, 0);

    for (query, detail) in [
        ("filter[webhook_subscriptions][hair]=1", "Wrong webhook_subscriptions attributes given for filtering: `hair`."),
        ("fields[webhook_subscription]=invalid,invalid2", "Wrong `fields` value(s) for webhook_subscriptions given: `invalid`, `invalid2`."),
        ("page[size]=1000", "`page[size]` must be a whole number from 1 to 100; `1000` is not."),
        ("sort=hair", "Wrong `sort` value for webhook_subscriptions given: `hair`. Sort by `id`, `created_at`."),
    ] {
        let a = api.get(&format!("{SUBSCRIPTIONS}?{query}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(a.detail(), detail);
    }

    // Another person's subscription: found by its owner and their admin only.
    let created = api
        .post(SUBSCRIPTIONS, &new_subscription(channel, "x"))
        .await;
    let path = format!(
        "{SUBSCRIPTIONS}/{}",
        created.body["data"]["id"].as_str().unwrap()
    );
    let other_org = app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await;
    let other = Api::new(
        &app,
        &token(&app, &other_org, &["read", "write", "delete"]).await,
    );
    // Northwind has webhooks off: its admin is told so, and finds nothing of Demo Lab anyway.
    let off = other.get(SUBSCRIPTIONS).await;
    assert_eq!(off.status, StatusCode::FORBIDDEN);
    assert!(
        off.detail().starts_with("Webhooks are not enabled"),
        "{}",
        off.body
    );
    assert_eq!(other.get(&path).await.status, StatusCode::FORBIDDEN);
    assert_eq!(api.get(&path).await.status, StatusCode::OK);
    for missing in ["abc", "999999"] {
        let a = api.get(&format!("{SUBSCRIPTIONS}/{missing}")).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{missing}");
    }
    let unknown = api.get("/api/v2/colours").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.content_type, "application/vnd.api+json");
    let mismatch = api
        .patch(
            &path,
            &json!({"data": {"id": "424242", "attributes": {"active": false}}}),
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::CONFLICT);
    let shown: Value = api.get(&path).await.body;
    assert_eq!(
        shown["data"]["attributes"]["active"], true,
        "a refused PATCH changes nothing"
    );
}

#[tokio::test]
async fn replies_and_trigger_options_round_trip_and_are_kept_by_other_changes() {
    let app = spawn_app().await;
    let (origin, _) = receiver().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let api = Api::new(&app, &token(&app, &admin, &["read", "write"]).await);
    register(&app, &api, &origin).await;
    let weight = channel_id(&app, "Analytical Balance XPR204", "weight").await;
    let trigger = format!("{weight}:channel.value_changed");

    let mut body = new_subscription(weight, "x");
    body["data"]["attributes"]["url"] = json!(format!("{origin}/hook"));
    body["data"]["attributes"]["triggers"] = json!([trigger]);
    body["data"]["attributes"]["use_replies"] = json!(true);
    body["data"]["attributes"]["trigger_options"] = json!({ &trigger: {"dead_band": 5, "dead_band_percent": true, "min_interval_seconds": 10} });
    let created = api.post(SUBSCRIPTIONS, &body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let attributes = &created.body["data"]["attributes"];
    assert_eq!(attributes["use_replies"], true);
    let options = json!({ &trigger: {"dead_band": 5.0, "dead_band_percent": true,
        "min_interval_seconds": 10.0, "settle_band": null, "settle_seconds": null} });
    assert_eq!(attributes["trigger_options"], options);
    let path = format!(
        "{SUBSCRIPTIONS}/{}",
        created.body["data"]["id"].as_str().unwrap()
    );

    // A change of something else keeps them; the options can be changed alone.
    let renamed = api
        .patch(
            &path,
            &json!({"data": {"type": "webhook_subscription",
            "attributes": {"display_name": "Weighing"}}}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(
        renamed.body["data"]["attributes"]["trigger_options"],
        options
    );
    assert_eq!(renamed.body["data"]["attributes"]["use_replies"], true);
    let cleared = api
        .patch(
            &path,
            &json!({"data": {"type": "webhook_subscription",
            "attributes": {"trigger_options": {}, "use_replies": false}}}),
        )
        .await;
    assert_eq!(
        cleared.body["data"]["attributes"]["trigger_options"],
        json!({})
    );
    assert_eq!(cleared.body["data"]["attributes"]["use_replies"], false);

    // Options that do not fit their trigger, or are not options: 422 with a pointer.
    for (bad, says) in [
        (
            json!({ &trigger: {"settle_band": 0.1} }),
            "for how many seconds",
        ),
        (
            json!({ (format!("{weight}:data_point.created")): {"dead_band": 1} }),
            "not chosen",
        ),
        (
            json!({ &trigger: {"dead_band": "much"} }),
            "is an object such as",
        ),
        (json!(["fast"]), "is an object such as"),
    ] {
        let res = api
            .patch(
                &path,
                &json!({"data": {"type": "webhook_subscription",
                "attributes": {"trigger_options": bad}}}),
            )
            .await;
        assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.body);
        assert!(res.detail().contains(says), "{}", res.body);
    }
}

/// An org admin reads other people's subscriptions as the pages show them: credentials in
/// the target URL's query masked; the owner reads the URL as typed.
#[tokio::test]
async fn others_read_a_target_urls_credentials_masked() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let api = Api::new(&app, &token(&app, &lab, &["read", "write"]).await);
    let admin_api = Api::new(&app, &token(&app, &admin, &["read"]).await);
    let channel = channel_id(&app, "Barcode Scanner Bench 2", "barcode").await;
    let mut body = new_subscription(channel, "x");
    body["data"]["attributes"]["url"] =
        json!("http://127.0.0.1:9999/lims?api_key=abc123&site=basel");
    let created = api.post(SUBSCRIPTIONS, &body).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("{SUBSCRIPTIONS}/{id}");

    let own = api.get(&path).await;
    assert_eq!(
        own.body["data"]["attributes"]["url"],
        "http://127.0.0.1:9999/lims?api_key=abc123&site=basel"
    );
    let theirs = admin_api.get(&path).await;
    assert_eq!(theirs.status, StatusCode::OK, "{}", theirs.body);
    assert_eq!(
        theirs.body["data"]["attributes"]["url"],
        "http://127.0.0.1:9999/lims?api_key=•••••&site=basel"
    );
    let listed = admin_api.get(SUBSCRIPTIONS).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(
        !listed.body.to_string().contains("abc123"),
        "{}",
        listed.body
    );
}
