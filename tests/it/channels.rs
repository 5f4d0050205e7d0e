//! Channels of an existing device: added, changed and removed by org admins through the
//! Devices page's server functions, with the effects seen through ingest and the delivery log.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_of, spawn_app, TestApp, ADMIN, LAB_USER, OTHER_ADMIN};

async fn new_device(app: &TestApp, admin: &Client, name: &str) -> i64 {
    let res = app
        .call_json(
            admin,
            "devices/create",
            &json!({"input": {"name": name, "vendor": "", "model": "", "device_class": "Custom",
                "channels": [{"name": "temperature", "unit": "°C", "value_type": "number",
                              "min": 20.0, "max": 30.0, "labels": []}]}}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    res.json().await.unwrap()
}

fn channel(name: &str, value_type: &str, min: Option<f64>, max: Option<f64>) -> Value {
    json!({"name": name, "unit": "", "value_type": value_type, "min": min, "max": max, "labels": []})
}

async fn channel_id(app: &TestApp, device: i64, name: &str) -> i64 {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM channels WHERE device_id = $1 AND name = $2")
        .bind(device)
        .bind(name)
        .fetch_one(db)
        .await)
        .unwrap()
}

async fn update(
    app: &TestApp,
    c: &Client,
    device: i64,
    id: i64,
    input: Value,
) -> reqwest::Response {
    app.call_json(
        c,
        "devices/update_channel",
        &json!({"device_id": device, "channel_id": id, "input": input}),
    )
    .await
}

async fn events_of(app: &TestApp, channel: i64) -> Vec<String> {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT event_type FROM events WHERE channel_id = $1 ORDER BY id")
        .bind(channel)
        .fetch_all(db)
        .await)
        .unwrap()
}

#[tokio::test]
async fn an_admin_adds_and_changes_channels_and_a_new_range_applies_to_the_next_point() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let bath = new_device(&app, &admin, "Water bath").await;

    let add = |input: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            app.call_json(
                admin,
                "devices/add_channel",
                &json!({"device_id": bath, "input": input}),
            )
            .await
        }
    };
    let res = add(channel("pressure", "number", None, None)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Names are unique on the device whatever their case; the message is beside the name.
    let (status, body) = error_of(add(channel("Temperature", "number", None, None)).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["Invalid"][0]["field"], "name", "{body}");
    assert!(body["Invalid"][0]["message"]
        .as_str()
        .unwrap()
        .contains("has a channel named \"Temperature\" already"));
    // The channel rules of a new device apply.
    let (status, body) =
        error_of(add(channel("level", "number", Some(5.0), Some(1.0))).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["Invalid"][0]["field"], "max");

    let temperature = channel_id(&app, bath, "temperature").await;
    let pressure = channel_id(&app, bath, "pressure").await;
    let token = app.device_token(&admin, bath).await;
    let (status, _) = app
        .send_points(bath, &token, &json!([{"channel": "temperature", "value": 25}, {"channel": "pressure", "value": 1.5}]))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // 25 °C was inside 20–30; the new range 10–20 judges the next point.
    let res = update(
        &app,
        &admin,
        bath,
        temperature,
        channel("temperature", "number", Some(10.0), Some(20.0)),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    assert!(!events_of(&app, temperature)
        .await
        .contains(&"channel.out_of_range".to_owned()));
    app.send_points(
        bath,
        &token,
        &json!([{"channel": "temperature", "value": 25}]),
    )
    .await;
    assert!(events_of(&app, temperature)
        .await
        .contains(&"channel.out_of_range".to_owned()));

    // A type change that would make the stored numbers meaningless is refused, with why.
    let (status, body) = error_of(
        update(
            &app,
            &admin,
            bath,
            temperature,
            channel("temperature", "text", None, None),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["Invalid"][0]["field"], "value_type");
    let message = body["Invalid"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("2 stored data points are numbers"),
        "{message}"
    );
    // Without history, any kind of value may be chosen.
    add(channel("note", "number", None, None)).await;
    let note = channel_id(&app, bath, "note").await;
    let res = update(
        &app,
        &admin,
        bath,
        note,
        channel("note", "text", None, None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, _) = app
        .send_points(
            bath,
            &token,
            &json!([{"channel": "note", "value": "rinsed"}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    // Renaming: devices send by the new name from now on.
    let res = update(
        &app,
        &admin,
        bath,
        pressure,
        channel("Pressure (abs)", "number", None, None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, body) = app
        .send_points(
            bath,
            &token,
            &json!([{"channel": "pressure", "value": 1.0}]),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = app
        .send_points(
            bath,
            &token,
            &json!([{"channel": "Pressure (abs)", "value": 1.0}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // Every change is in the audit trail, with before and after.
    let actions: Vec<String> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE kind = 'device' AND subject = 'Water bath' ORDER BY id",
    )
    .fetch_all(db)
    .await)
    .unwrap();
    assert_eq!(
        actions,
        [
            "created",
            "channel added",
            "token created",
            "channel updated",
            "channel added",
            "channel updated",
            "channel updated"
        ]
    );
}

#[tokio::test]
async fn only_org_admins_of_the_devices_organisation_change_its_channels() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let other = app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await;
    let bath = new_device(&app, &admin, "Water bath").await;
    let temperature = channel_id(&app, bath, "temperature").await;
    let ids = [
        ("device_id", bath.to_string()),
        ("channel_id", temperature.to_string()),
    ];
    let ids: Vec<(&str, &str)> = ids.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (who, expected) in [
        (&lab, StatusCode::FORBIDDEN),
        (&other, StatusCode::NOT_FOUND),
    ] {
        let res = app
            .call_json(
                who,
                "devices/add_channel",
                &json!({"device_id": bath, "input": channel("x", "text", None, None)}),
            )
            .await;
        assert_eq!(res.status(), expected);
        let res = update(
            &app,
            who,
            bath,
            temperature,
            channel("x", "text", None, None),
        )
        .await;
        assert_eq!(res.status(), expected);
        for f in ["devices/channel_uses", "devices/remove_channel"] {
            assert_eq!(app.call_form(who, f, &ids).await.status(), expected, "{f}");
        }
    }
    // Another device's channel is not found through this one.
    let centrifuge: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM devices WHERE name = 'Centrifuge 5425'")
            .fetch_one(db)
            .await)
            .unwrap();
    let res = update(
        &app,
        &admin,
        centrifuge,
        temperature,
        channel("x", "text", None, None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.count("channels WHERE name = 'x'").await, 0);
}

#[tokio::test]
async fn removing_a_channel_names_the_subscriptions_first_and_keeps_the_delivery_log() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let bath = new_device(&app, &admin, "Water bath").await;
    let temperature = channel_id(&app, bath, "temperature").await;
    // The demo's registered URL, where nothing listens: deliveries stay in the log, retrying.
    let res = app
        .call_json(
            &admin,
            "subscriptions/create",
            &json!({"input": {
                "display_name": "Bath log", "url": "http://127.0.0.1:9999/bath", "headers": [],
                "triggers": [{"channel_id": temperature, "event_type": "data_point.created"}]
            }}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let subscription: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT MAX(id) FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    let token = app.device_token(&admin, bath).await;
    app.send_points(
        bath,
        &token,
        &json!([{"channel": "temperature", "value": 22}]),
    )
    .await;
    app.wait_for_fan_out().await;

    let ids = [
        ("device_id", bath.to_string()),
        ("channel_id", temperature.to_string()),
    ];
    let ids: Vec<(&str, &str)> = ids.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let uses: Value = app
        .call_form(&admin, "devices/channel_uses", &ids)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        uses,
        json!({"channel": "temperature", "subscriptions": ["Bath log (Ada Admin)"], "data_points": 1})
    );

    let res = app.call_form(&admin, "devices/remove_channel", &ids).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Gone from sight at once; its rows are removed in the background, a window at a time.
    assert_eq!(
        app.count(&format!(
            "channels WHERE id = {temperature} AND removed_at IS NULL"
        ))
        .await,
        0
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app
        .count(&format!("channels WHERE id = {temperature}"))
        .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the removed channel was not cleaned up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.count(&format!("data_points WHERE channel_id = {temperature}"))
            .await,
        0
    );
    assert_eq!(
        app.count(&format!(
            "subscription_triggers WHERE subscription_id = {subscription}"
        ))
        .await,
        0
    );
    // The delivery stays in the log, still named by its channel.
    let log: Value = app
        .call_form(
            &admin,
            "deliveries/list",
            &[
                ("subscription_id", &subscription.to_string()),
                ("page", "1"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(log["items"].as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log["items"][0]["channel_name"], "temperature");
    // The device cannot send to it any more; the audit trail says what happened.
    let (status, _) = app
        .send_points(
            bath,
            &token,
            &json!([{"channel": "temperature", "value": 22}]),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let audit: Vec<(String, String)> = server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT action, subject FROM audit_log WHERE action LIKE 'channel removed%' ORDER BY id",
    )
    .fetch_all(db)
    .await)
    .unwrap();
    assert_eq!(
        audit,
        [
            (
                "channel removed from triggers".to_owned(),
                format!("Subscription #{subscription} (Bath log)")
            ),
            ("channel removed".to_owned(), "Water bath".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_channels_recent_values_come_in_buckets_that_keep_their_extremes() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let bath = new_device(&app, &admin, "Water bath").await;
    let temperature = channel_id(&app, bath, "temperature").await;
    let token = app.device_token(&admin, bath).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let minute = 60_000;
    let (status, body) = app
        .send_points(
            bath,
            &token,
            &json!([
                // The middle of a one-minute bucket, whatever the server's clock adds.
                {"channel": "temperature", "value": 21.0, "timestamp": now - 30 * minute - 30_000},
                {"channel": "temperature", "value": 23.0, "timestamp": now - 30 * minute - 29_000},
                {"channel": "temperature", "value": 45.0, "timestamp": now - 10 * minute},
                // Two hours ago: outside the last hour, inside the last day.
                {"channel": "temperature", "value": 25.0, "timestamp": now - 120 * minute},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let trends = |window: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let res = app
                .call_form(
                    admin,
                    "devices/trends",
                    &[("device_id", &bath.to_string()), ("window", window)],
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()
        }
    };
    let hour = trends("hour").await;
    let points: Vec<(f64, f64, f64, i64)> = hour["points"]
        .as_array()
        .unwrap()
        .iter()
        .inspect(|p| assert_eq!(p["channel_id"], temperature))
        .map(|p| {
            (
                p["min"].as_f64().unwrap(),
                p["max"].as_f64().unwrap(),
                p["mean"].as_f64().unwrap(),
                p["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(points, [(21.0, 23.0, 22.0, 2), (45.0, 45.0, 45.0, 1)]);
    assert_eq!(trends("day").await["points"].as_array().unwrap().len(), 3);

    // Another window is refused; a device the caller may not see is not found.
    let (status, _) = error_of(
        app.call_form(
            &admin,
            "devices/trends",
            &[("device_id", &bath.to_string()), ("window", "week")],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .call_form(
            &lab,
            "devices/trends",
            &[("device_id", &bath.to_string()), ("window", "hour")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
