//! The delivery log a page at a time through the page's own server function: the newest 25,
//! the older ones after them, and back — by keyset, so that a new delivery arriving meanwhile
//! neither shifts a page nor shows twice.

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, ADMIN};

async fn slice(app: &TestApp, admin: &Client, subscription: i64, at: &[(&str, String)]) -> Value {
    let mut form = vec![("subscription_id", subscription.to_string())];
    form.extend(at.iter().cloned());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = app.call_form(admin, "deliveries/list", &form).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn ids(slice: &Value) -> Vec<i64> {
    slice["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_log_goes_older_and_back_newer_a_slice_at_a_time() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    // Nothing listens there: the deliveries wait for their retries, which is all the log needs.
    let origin = "http://127.0.0.1:9";
    let res = app
        .call_form(
            &admin,
            "admin/register_url",
            &[("url", &format!("{origin}/")), ("note", "log")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (device, channel): (i64, i64) = server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT d.id, c.id FROM devices d JOIN channels c ON c.device_id = d.id
         WHERE d.name = 'Hotplate Stirrer RCT digital' AND c.name = 'temperature'",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    let res = app
        .call_json(
            &admin,
            "subscriptions/create",
            &json!({"input": {"display_name": "Log", "url": format!("{origin}/lims"), "headers": [],
                "triggers": [{"channel_id": channel, "event_type": "data_point.created"}]}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let subscription: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT MAX(id) FROM subscriptions",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    let token = app.device_token(&admin, device).await;
    let points: Vec<Value> = (0..30)
        .map(|i| json!({"channel": "temperature", "value": 20 + i}))
        .collect();
    let (status, _) = app.send_points(device, &token, &json!(points)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    app.wait_for_fan_out().await;
    let all: Vec<i64> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT id FROM deliveries WHERE subscription_id = $1 ORDER BY id DESC",
    )
    .bind(subscription)
    .fetch_all(db)
    .await)
    .unwrap();
    assert_eq!(all.len(), 30);

    let first = slice(&app, &admin, subscription, &[]).await;
    assert_eq!(ids(&first), all[..25]);
    assert_eq!(
        (first["newer"].clone(), first["older"].clone()),
        (Value::Null, json!(all[24]))
    );

    let older = slice(
        &app,
        &admin,
        subscription,
        &[("before", all[24].to_string())],
    )
    .await;
    assert_eq!(ids(&older), all[25..]);
    assert_eq!(
        (older["newer"].clone(), older["older"].clone()),
        (json!(all[25]), Value::Null)
    );

    // Back: the 25 after the older slice's first — the first slice again.
    let back = slice(
        &app,
        &admin,
        subscription,
        &[("after", all[25].to_string())],
    )
    .await;
    assert_eq!(ids(&back), all[..25]);
    assert_eq!(back["older"], json!(all[24]));

    // A filter narrows each slice; a caller of the old form (a page number) gets the newest.
    let narrowed = slice(
        &app,
        &admin,
        subscription,
        &[("status", "delivered".into())],
    )
    .await;
    assert_eq!(ids(&narrowed), Vec::<i64>::new());
    let numbered = slice(&app, &admin, subscription, &[("page", "1".into())]).await;
    assert_eq!(ids(&numbered), all[..25]);
}
