//! Devices reading back their own channels through the real HTTP door: the latest value,
//! waiting for the next one (long poll), and the refusals.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, ADMIN};

async fn device(app: &TestApp, name: &str) -> i64 {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM devices WHERE name = $1")
        .bind(name)
        .fetch_one(db)
        .await)
        .unwrap()
}

async fn read(app: &TestApp, device: i64, token: &str, rest: &str) -> (StatusCode, Value) {
    let res = Client::new()
        .get(app.url(&format!("/api/v1/devices/{device}/channels/{rest}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_device_reads_its_latest_values_in_their_own_kinds() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let incubator = device(&app, "CO2 Incubator Heracell").await;
    let token = app.device_token(&admin, incubator).await;

    let (status, body) = read(&app, incubator, &token, "temperature").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"channel": "temperature", "unit": "°C", "value": null, "timestamp": null, "timestamp_ms": null})
    );

    let at = 1_795_512_600_000_i64;
    let (status, _) = app
        .send_points(
            incubator,
            &token,
            &json!([
                {"channel": "temperature", "value": 37.1, "timestamp": at},
                {"channel": "door_open", "value": true, "timestamp": at},
            ]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, body) = read(&app, incubator, &token, "temperature").await;
    assert_eq!(body["value"], 37.1);
    assert_eq!(body["timestamp_ms"], at);
    assert_eq!(body["timestamp"], "2026-11-24T09:30:00.000Z");
    let (_, body) = read(&app, incubator, &token, "door_open").await;
    assert_eq!(body["value"], true);
    // A value already newer than `after` is answered at once, waiting or not.
    let (status, body) = read(
        &app,
        incubator,
        &token,
        &format!("temperature?after={}&wait=30", at - 1),
    )
    .await;
    assert_eq!(
        (status, body["value"].clone()),
        (StatusCode::OK, json!(37.1))
    );

    // The refusals: unknown channel, another device's channel, no token, bad parameters.
    let (status, body) = read(&app, incubator, &token, "colour").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["errors"][0]["detail"],
        "This device has no channel named \"colour\"."
    );
    let balance = device(&app, "Analytical Balance XPR204").await;
    assert_eq!(
        read(&app, balance, &token, "weight").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        read(&app, incubator, "lhd_nope", "temperature").await.0,
        StatusCode::UNAUTHORIZED
    );
    for bad in [
        "temperature?wait=5",
        "temperature?after=yesterday",
        "temperature?after=1&wait=61",
        "temperature?after=1&wait=-1",
    ] {
        let (status, body) = read(&app, incubator, &token, bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            body["errors"][0]["detail"].as_str().unwrap().contains('`'),
            "{bad}: {body}"
        );
    }
}

#[tokio::test]
async fn a_device_waits_for_the_next_value_and_is_told_when_none_came() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let scanner = device(&app, "Barcode Scanner Bench 2").await;
    let token = app.device_token(&admin, scanner).await;
    let (_, body) = read(&app, scanner, &token, "barcode").await;
    assert_eq!(body["value"], Value::Null);

    // Nothing comes: 204 after the wait, not before.
    let started = Instant::now();
    let (status, _) = read(&app, scanner, &token, "barcode?after=0&wait=1").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "answered after {:?}",
        started.elapsed()
    );

    // A value sent while the device waits is its answer.
    let waiting = {
        let (app_url, token) = (
            app.url(&format!(
                "/api/v1/devices/{scanner}/channels/barcode?after=0&wait=30"
            )),
            token.clone(),
        );
        tokio::spawn(async move {
            let res = Client::new()
                .get(app_url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<Value>().await.unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "answered before any value came");
    let (status, _) = app
        .send_points(
            scanner,
            &token,
            &json!([{"channel": "barcode", "value": "S-0042"}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("woken")
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["value"], "S-0042");

    // Many waiting requests cost no connection each: 50 wait (two tokens, each within its
    // limit) while data keeps flowing.
    let second = app.device_token(&admin, scanner).await;
    let mut waiters = tokio::task::JoinSet::new();
    let after = body["timestamp_ms"].as_i64().unwrap();
    for i in 0..50 {
        let (url, token) = (
            app.url(&format!(
                "/api/v1/devices/{scanner}/channels/barcode?after={after}&wait=30"
            )),
            if i % 2 == 0 {
                token.clone()
            } else {
                second.clone()
            },
        );
        waiters.spawn(async move {
            Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        });
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = app
        .send_points(
            scanner,
            &token,
            &json!([{"channel": "barcode", "value": "S-0043", "timestamp": after + 1}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut answered = 0;
    while let Some(status) = tokio::time::timeout(Duration::from_secs(5), waiters.join_next())
        .await
        .expect("all woken")
    {
        assert_eq!(status.unwrap(), StatusCode::OK);
        answered += 1;
    }
    assert_eq!(answered, 50);
}

/// Waiting costs the server little and nobody can hold much of it: a commit wakes only the
/// requests waiting on the channels it wrote, and one token may have only so many requests
/// waiting (429 beyond, saying why).
#[tokio::test]
async fn a_commit_wakes_only_its_channels_waiters_and_one_token_waits_only_so_often() {
    use server::devices::readback::{wakeups, MAX_WAITING_PER_TOKEN};
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let scanner = device(&app, "Barcode Scanner Bench 2").await;
    let hotplate = device(&app, "Hotplate Stirrer RCT digital").await;
    let token = app.device_token(&admin, scanner).await;
    let hot_token = app.device_token(&admin, hotplate).await;
    let wait = |n: usize| {
        let mut waiters = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (url, token) = (
                app.url(&format!(
                    "/api/v1/devices/{scanner}/channels/barcode?after=0&wait=20"
                )),
                token.clone(),
            );
            waiters.spawn(async move {
                let res = Client::new()
                    .get(url)
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                let status = res.status();
                (status, res.text().await.unwrap())
            });
        }
        waiters
    };
    let mut waiting = wait(MAX_WAITING_PER_TOKEN);
    tokio::time::sleep(Duration::from_millis(500)).await;
    // One more of the same token is refused at once, saying why.
    let mut extra = wait(1);
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), extra.join_next())
        .await
        .expect("refused at once")
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(
        body.contains("requests waiting for a value already"),
        "{body}"
    );

    // Data for other channels and devices wakes none of them.
    let before = wakeups(&app.state);
    for v in 0..20 {
        let (status, _) = app
            .send_points(
                hotplate,
                &hot_token,
                &json!([{"channel": "temperature", "value": v}]),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let (status, _) = app
            .send_points(
                scanner,
                &token,
                &json!([{"channel": "sample_info", "value": format!("S-{v}")}]),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    assert_eq!(
        wakeups(&app.state),
        before,
        "nobody woken by other channels"
    );
    assert!(!waiting.is_empty());
    let (status, _) = app
        .send_points(
            scanner,
            &token,
            &json!([{"channel": "barcode", "value": "S-1"}]),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mut answered = 0;
    while let Some(done) = tokio::time::timeout(Duration::from_secs(5), waiting.join_next())
        .await
        .expect("all woken")
    {
        assert_eq!(done.unwrap().0, StatusCode::OK);
        answered += 1;
    }
    assert_eq!(answered, MAX_WAITING_PER_TOKEN);
    assert_eq!(wakeups(&app.state) - before, MAX_WAITING_PER_TOKEN as u64);
    // Their turn is over: the token may wait again.
    let (status, _) = read(&app, scanner, &token, "barcode?after=0&wait=1").await;
    assert_eq!(status, StatusCode::OK);
}
