use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{first_error, spawn, spawn_with};

const HOTPLATE: &str = "Hotplate Stirrer RCT digital";
const SCANNER: &str = "Barcode Scanner Bench 2";

#[tokio::test]
async fn accepted_points_are_stored_with_their_events() {
    let app = spawn().await;
    let (device, token) = app.token_for(HOTPLATE).await;
    let res = app
        .post_points(
            device,
            &token,
            &json!([
                {"channel": "temperature", "value": 25.5, "timestamp": 1_795_512_600_000i64},
                {"channel": "rotation", "value": 300}
            ]),
        )
        .await;
    assert_eq!(res.status(), 202);
    let receipt: Value = res.json().await.unwrap();
    assert_eq!(receipt["accepted"], 2);
    // device online + (created, changed) × 2 channels
    assert_eq!(receipt["event_ids"].as_array().unwrap().len(), 5);
    assert_eq!(app.count("data_points").await, 2);

    let (ts, value): (i64, f64) =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as("SELECT timestamp, value FROM data_points WHERE channel_id = $1")
            .bind(app.channel_id(device, "temperature").await)
            .fetch_one(db)
            .await)
            .unwrap();
    assert_eq!((ts, value), (1_795_512_600_000, 25.5));

    let payload: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT payload FROM events WHERE event_type = 'data_point.created' ORDER BY id LIMIT 1",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["organisation"]["name"], "Demo Lab");
    assert_eq!(payload["device"]["vendor"], "IKA");
    assert_eq!(payload["channel"]["unit"], "°C");
    assert_eq!(payload["data_point"]["value"], 25.5);
    assert_eq!(
        payload["data_point"]["timestamp"],
        "2026-11-24T09:30:00.000Z"
    );
}

#[tokio::test]
async fn value_changes_and_range_exits_and_returns_become_events() {
    let app = spawn().await;
    let (device, token) = app.token_for(HOTPLATE).await;
    let temperature = app.channel_id(device, "temperature").await;
    for v in [100.0, 100.0, 320.0, 330.0, 300.0] {
        let res = app
            .post_points(
                device,
                &token,
                &json!([{"channel": "temperature", "value": v}]),
            )
            .await;
        assert_eq!(res.status(), 202);
    }
    assert_eq!(
        app.event_types(temperature).await,
        [
            "data_point.created",
            "channel.value_changed", // 100 (first value)
            "data_point.created",    // 100 again: no change
            "data_point.created",
            "channel.value_changed",
            "channel.out_of_range", // 320 > 310
            "data_point.created",
            "channel.value_changed", // 330: still out, no second out_of_range
            "data_point.created",
            "channel.value_changed",
            "channel.back_in_range", // 300
        ]
    );
    let threshold: String =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT payload FROM events WHERE event_type = 'channel.out_of_range'")
            .fetch_one(db)
            .await)
            .unwrap();
    let threshold: Value = serde_json::from_str(&threshold).unwrap();
    assert_eq!(
        threshold["threshold"],
        json!({"min": 0.0, "max": 310.0, "violated": "max"})
    );
}

#[tokio::test]
async fn text_values_change_only_when_different() {
    let app = spawn().await;
    let (device, token) = app.token_for(SCANNER).await;
    let barcode = app.channel_id(device, "barcode").await;
    let res = app
        .post_points(
            device,
            &token,
            &json!([
                {"channel": "barcode", "value": "LAB-1"},
                {"channel": "barcode", "value": "LAB-1"},
                {"channel": "barcode", "value": "LAB-2"}
            ]),
        )
        .await;
    assert_eq!(res.status(), 202);
    let changes: Vec<Option<String>> =
        server::db::with_db!(&app.state.pool, db, engine => sqlx::query_scalar(&format!(
        "SELECT {} FROM events
         WHERE channel_id = $1 AND event_type = 'channel.value_changed' ORDER BY id",
        server::db::dialect::json_text_at(engine, "payload", "previous_value")
    ))
    .bind(barcode)
    .fetch_all(db)
    .await)
        .unwrap();
    assert_eq!(app.event_types(barcode).await.len(), 5);
    assert_eq!(changes, [None, Some("LAB-1".to_owned())]);
}

#[tokio::test]
async fn silent_devices_go_offline_and_come_back_online() {
    let app = spawn_with(|c| c.offline_after = Duration::from_secs(60)).await;
    let (device, token) = app.token_for(SCANNER).await;
    let status_events = || async {
        server::db::with_db!(&app.state.pool, db, engine => sqlx::query_scalar::<_, String>(&format!(
            "SELECT {} FROM events
             WHERE device_id = $1 AND event_type = 'device.status_changed' ORDER BY id",
            server::db::dialect::json_text_at(engine, "payload", "status.current")
        ))
        .bind(device)
        .fetch_all(db)
        .await)
        .unwrap()
    };
    app.post_points(
        device,
        &token,
        &json!([{"channel": "barcode", "value": "A"}]),
    )
    .await;
    assert_eq!(status_events().await, ["online"]);

    // Not yet silent for long enough.
    let now = server::clock::now_ms();
    let n = server::devices::liveness::mark_silent_devices_offline(
        &app.state,
        now + 30_000,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(n, 0);
    // Two minutes later it is.
    let n = server::devices::liveness::mark_silent_devices_offline(
        &app.state,
        now + 120_000,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(status_events().await, ["online", "offline"]);
    let status: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT status FROM devices WHERE id = $1")
        .bind(device)
        .fetch_one(db)
        .await)
        .unwrap();
    assert_eq!(status, "offline");

    app.post_points(
        device,
        &token,
        &json!([{"channel": "barcode", "value": "B"}]),
    )
    .await;
    assert_eq!(status_events().await, ["online", "offline", "online"]);
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let app = spawn().await;
    let (device, token) = app.token_for(HOTPLATE).await;
    let body = json!([{"channel": "temperature", "value": 20}]);

    let no_auth = app
        .client
        .post(app.url(&format!("/api/v1/devices/{device}/data_points")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(first_error(no_auth).await.0, 401);

    let (status, err) =
        first_error(app.post_points(device, "lhd_not-a-real-token", &body).await).await;
    assert_eq!(status, 401);
    assert_eq!(
        err["detail"],
        "The device token is missing, not valid, or was revoked."
    );

    // Revoked.
    let admin = app.admin().await;
    let token_id: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM device_tokens WHERE device_id = $1")
        .bind(device)
        .fetch_one(db)
        .await)
        .unwrap();
    server::devices::tokens::revoke(&app.state, &admin, device, token_id)
        .await
        .unwrap();
    assert_eq!(
        first_error(app.post_points(device, &token, &body).await)
            .await
            .0,
        401
    );
    assert_eq!(app.count("data_points").await, 0);
}

#[tokio::test]
async fn a_token_only_works_for_its_own_device() {
    let app = spawn().await;
    let (_, scanner_token) = app.token_for(SCANNER).await;
    let hotplate = app.device_id(HOTPLATE).await;
    let body = json!([{"channel": "temperature", "value": 20}]);

    let (status, err) = first_error(app.post_points(hotplate, &scanner_token, &body).await).await;
    assert_eq!(status, 403);
    assert_eq!(err["detail"], "This token belongs to another device.");

    // A device of another organisation, or none at all: not found, nothing revealed.
    let foreign = app.device_id("Ultra-Low Freezer").await;
    assert_eq!(
        first_error(app.post_points(foreign, &scanner_token, &body).await)
            .await
            .0,
        404
    );
    assert_eq!(
        first_error(app.post_points(999_999, &scanner_token, &body).await)
            .await
            .0,
        404
    );
    let res = app
        .client
        .post(app.url("/api/v1/devices/not-a-number/data_points"))
        .bearer_auth(&scanner_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(app.count("data_points").await, 0);
}

#[tokio::test]
async fn bad_bodies_get_precise_errors_and_store_nothing() {
    let app = spawn().await;
    let (device, token) = app.token_for(HOTPLATE).await;
    let url = app.url(&format!("/api/v1/devices/{device}/data_points"));
    let raw = |body: String| {
        let c = app.client.clone();
        let url = url.clone();
        let token = token.clone();
        async move {
            c.post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };

    // Unknown channel: 404 naming the item.
    let (status, err) = first_error(
        app.post_points(
            device,
            &token,
            &json!([{"channel": "temperature", "value": 1}, {"channel": "tempp", "value": 1}]),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        err["detail"],
        "Item 1: the device has no channel named \"tempp\"."
    );

    // Wrong type and non-finite: 422 naming the item and the field.
    let res = app
        .post_points(
            device,
            &token,
            &json!([
                {"channel": "temperature", "value": 1},
                {"channel": "temperature", "value": "hot"},
                {"channel": "rotation", "value": "NaN"}
            ]),
        )
        .await;
    assert_eq!(res.status(), 422);
    let doc: Value = res.json().await.unwrap();
    let errors = doc["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0]["source"]["parameter"], "/1/value");
    assert_eq!(
        errors[0]["detail"],
        "Item 1 (temperature): the value expected a number, got text."
    );
    assert_eq!(
        errors[1]["detail"],
        "Item 2 (rotation): the value is not a finite number."
    );

    // Missing fields and wrong shapes: 422.
    for body in [
        json!({"channel": "temperature", "value": 1}),
        json!([{"value": 1}]),
        json!([{"channel": "temperature"}]),
        json!([42]),
        json!([]),
        json!([{"channel": "temperature", "value": 1, "timestamp": 1_795_512_600}]),
    ] {
        let res = app.post_points(device, &token, &body).await;
        assert_eq!(res.status(), 422, "{body}");
    }

    // Malformed JSON: 400.
    let (status, err) = first_error(raw("[{\"channel\": ".into()).await).await;
    assert_eq!(status, 400);
    assert!(err["detail"]
        .as_str()
        .unwrap()
        .starts_with("The body is not valid JSON"));

    // Too many items, too large a body: 413.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"channel": "rotation", "value": i}))
        .collect();
    assert_eq!(
        app.post_points(device, &token, &Value::Array(many))
            .await
            .status(),
        413
    );
    let huge = format!(
        "[{{\"channel\": \"rotation\", \"value\": 1, \"pad\": \"{}\"}}]",
        "x".repeat(1_100_000)
    );
    assert_eq!(raw(huge).await.status(), 413);

    assert_eq!(app.count("data_points").await, 0);
    assert_eq!(app.count("events").await, 0);
}

#[tokio::test]
async fn concurrent_requests_are_written_together_yet_each_all_or_nothing() {
    let app = std::sync::Arc::new(spawn().await);
    let (hotplate, hotplate_token) = app.token_for(HOTPLATE).await;
    let (scanner, scanner_token) = app.token_for(SCANNER).await;
    // 120 requests at once from two devices; every fifth carries one bad item among good ones.
    let mut tasks = Vec::new();
    for i in 0..120i64 {
        let app = app.clone();
        let (device, token) = if i % 2 == 0 {
            (hotplate, hotplate_token.clone())
        } else {
            (scanner, scanner_token.clone())
        };
        tasks.push(tokio::spawn(async move {
            let good = if device == hotplate {
                json!({"channel": "temperature", "value": 20.0 + i as f64})
            } else {
                json!({"channel": "barcode", "value": format!("S-{i}")})
            };
            let body = if i % 5 == 0 {
                json!([good, {"channel": "temperature", "value": "hot"}])
            } else {
                json!([good])
            };
            let res = app.post_points(device, &token, &body).await;
            (i, res.status().as_u16(), res.json::<Value>().await.unwrap())
        }));
    }
    let mut event_ids = Vec::new();
    for t in tasks {
        let (i, status, body) = t.await.unwrap();
        if i % 5 == 0 {
            assert!(status == 422 || status == 404, "{i}: {status} {body}");
        } else {
            assert_eq!(status, 202, "{i}: {body}");
            assert_eq!(body["accepted"], 1);
            event_ids.extend(
                body["event_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap()),
            );
        }
    }
    // Nothing of a refused request, everything of the others; no event id given twice, and
    // every one of them names a stored event.
    assert_eq!(app.count("data_points").await, 96);
    let n = event_ids.len();
    event_ids.sort_unstable();
    event_ids.dedup();
    assert_eq!(event_ids.len(), n);
    let stored: i64 =
        server::db::with_db!(&app.state.pool, db, engine => sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM events WHERE id IN {}",
        server::db::dialect::ids(engine, 1)
    ))
    .bind(serde_json::to_string(&event_ids).unwrap())
    .fetch_one(db)
    .await)
        .unwrap();
    assert_eq!(stored as usize, n);
    // The channel remembers the newest of the values it was sent.
    let last: Option<String> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT last_str_value FROM channels WHERE device_id = $1 AND name = 'barcode'",
    )
    .bind(scanner)
    .fetch_one(db)
    .await)
    .unwrap();
    assert!(last.is_some_and(|v| v.starts_with("S-")));
}

/// One device token gets a limited rate of ingest requests (a burst of ten times the rate
/// passes); past it the device is told when to come back, and nothing of that request is
/// stored. Other tokens are not affected.
#[tokio::test]
async fn a_device_token_over_its_rate_is_told_to_come_back() {
    let app = spawn_with(|c| c.quotas.ingest_requests_per_second = 1).await;
    let (device, token) = app.token_for(HOTPLATE).await;
    let point = json!([{"channel": "temperature", "value": 20.0}]);
    for _ in 0..10 {
        assert_eq!(app.post_points(device, &token, &point).await.status(), 202);
    }
    let res = app.post_points(device, &token, &point).await;
    assert_eq!(res.status(), 429);
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let (status, error) = first_error(res).await;
    assert_eq!(status, 429);
    assert!(error["detail"]
        .as_str()
        .unwrap()
        .contains("send data points in batches"));
    assert_eq!(app.count("data_points").await, 10);

    let (scanner, other) = app.token_for(SCANNER).await;
    let res = app
        .post_points(
            scanner,
            &other,
            &json!([{"channel": "barcode", "value": "S-1"}]),
        )
        .await;
    assert_eq!(res.status(), 202, "another token has its own allowance");
}

/// A token is held to a rate of body bytes too: a device sending few but large requests is
/// told to come back like one sending many, and that request stores nothing.
#[tokio::test]
async fn a_device_token_over_its_bytes_is_told_to_come_back() {
    let app = spawn_with(|c| c.quotas.ingest_kib_per_second = 1).await;
    let (device, token) = app.token_for(HOTPLATE).await;
    // 4 KiB each (JSON allows the padding): the burst of 10 KiB takes two.
    let body = format!(
        "[{{\"channel\": \"temperature\", \"value\": 20.0}}{}]",
        " ".repeat(4096)
    );
    let post = || {
        app.client
            .post(app.ingest_url(device))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    assert_eq!(post().await.unwrap().status(), 202);
    assert_eq!(post().await.unwrap().status(), 202);
    let res = post().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let (_, error) = first_error(res).await;
    assert!(
        error["detail"].as_str().unwrap().contains("KiB a second"),
        "{error}"
    );
    assert_eq!(app.count("data_points").await, 2);
}

/// A body trickled too slowly is given up on with a clear answer: the connection is not held
/// for ever.
#[tokio::test]
async fn a_body_that_does_not_arrive_is_given_up_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn().await;
    let (device, token) = app.token_for(HOTPLATE).await;
    let url = reqwest::Url::parse(&app.ingest_url(device)).unwrap();
    let mut stream = tokio::net::TcpStream::connect((url.host_str().unwrap(), url.port().unwrap()))
        .await
        .unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[",
        url.path()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("did not arrive"), "{answer}");
}
