//! Operating a subscription from its page: sending a delivery again, and the delivery log's
//! words for what went wrong — against a real receiver on a loopback port.

use std::sync::{Arc, Mutex};

use axum::{http::HeaderMap, routing::post, Router};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{error_of, spawn_app, TestApp, ADMIN};

/// A receiver that answers 200 and keeps each request's `webhook-id` and body.
async fn receiver() -> (String, Arc<Mutex<Vec<(String, String)>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    let app = Router::new()
        // A receiver that never answers (until the request times out).
        .route(
            "/hang",
            post(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                "late"
            }),
        )
        .route(
            "/hook",
            post(move |headers: HeaderMap, body: String| {
                let kept = kept.clone();
                async move {
                    let id = headers
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    kept.lock().unwrap().push((id, body));
                    "thanks"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, got)
}

async fn subscribe(app: &TestApp, admin: &Client, url: &str, channel: i64) -> i64 {
    let res = app
        .call_json(
            admin,
            "subscriptions/create",
            &json!({"input": {"display_name": "Ops", "url": url, "headers": [],
                "triggers": [{"channel_id": channel, "event_type": "data_point.created"}]}}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT MAX(id) FROM subscriptions")
        .fetch_one(db)
        .await)
    .unwrap()
}

/// The hotplate's temperature channel and a token for the hotplate.
async fn hotplate(app: &TestApp, admin: &Client) -> (i64, i64, String) {
    let (device, channel): (i64, i64) = server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT d.id, c.id FROM devices d JOIN channels c ON c.device_id = d.id
         WHERE d.name = 'Hotplate Stirrer RCT digital' AND c.name = 'temperature'",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    let token = app.device_token(admin, device).await;
    (device, channel, token)
}

async fn log(app: &TestApp, c: &Client, subscription: i64) -> Vec<Value> {
    let page: Value = app
        .call_form(
            c,
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
    page["items"].as_array().unwrap().clone()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test]
async fn a_delivery_is_sent_again_with_the_same_webhook_id() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let (origin, got) = receiver().await;
    let res = app
        .call_form(
            &admin,
            "admin/register_url",
            &[("url", &format!("{origin}/")), ("note", "ops")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (device, channel, token) = hotplate(&app, &admin).await;
    let subscription = subscribe(&app, &admin, &format!("{origin}/hook"), channel).await;
    app.send_points(
        device,
        &token,
        &json!([{"channel": "temperature", "value": 60}]),
    )
    .await;
    wait_until("the first delivery", || got.lock().unwrap().len() == 1).await;
    let mut delivery = Value::Null;
    for _ in 0..400 {
        delivery = log(&app, &admin, subscription).await[0].clone();
        if delivery["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(delivery["status"], "delivered");
    let id = delivery["id"].as_i64().unwrap().to_string();

    let res = app
        .call_form(&admin, "deliveries/redeliver", &[("id", &id)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    wait_until("the second attempt", || got.lock().unwrap().len() == 2).await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got[0], got[1], "the same webhook-id and body");
    let actions: Vec<String> =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT action FROM audit_log WHERE action = 'delivery sent again'")
            .fetch_all(db)
            .await)
            .unwrap();
    assert_eq!(actions.len(), 1);

    // Switched off, nothing is sent again; the answer says why.
    let res = app
        .call_form(
            &admin,
            "subscriptions/set_active",
            &[("id", &subscription.to_string()), ("active", "false")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, body) = error_of(
        app.call_form(&admin, "deliveries/redeliver", &[("id", &id)])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.to_string().contains("switched off"), "{body}");
}

#[tokio::test]
async fn the_log_says_what_went_wrong_in_plain_words_and_keeps_the_technical_text() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let (device, channel, token) = hotplate(&app, &admin).await;
    // The demo's registered URL, where nothing listens.
    let subscription = subscribe(&app, &admin, "http://127.0.0.1:9999/lims", channel).await;
    app.send_points(
        device,
        &token,
        &json!([{"channel": "temperature", "value": 60}]),
    )
    .await;
    let mut entry = Value::Null;
    for _ in 0..400 {
        entry = log(&app, &admin, subscription)
            .await
            .first()
            .cloned()
            .unwrap_or_default();
        if entry["attempts"].as_i64().unwrap_or(0) >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(
        entry["last_error"],
        "nothing is listening at 127.0.0.1:9999 — connection refused"
    );
    // Still queued: sending it again now is refused, it is tried on its own.
    let id = entry["id"].as_i64().unwrap().to_string();
    let (status, _) = error_of(
        app.call_form(&admin, "deliveries/redeliver", &[("id", &id)])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let detail: Value = app
        .call_form(&admin, "deliveries/detail", &[("id", &id)])
        .await
        .json()
        .await
        .unwrap();
    let technical = detail["attempts"][0]["error_message"].as_str().unwrap();
    assert!(technical.contains("127.0.0.1:9999"), "{technical}");

    // The log's filters narrow it; a status that does not exist is refused.
    let filtered = |extra: Vec<(&'static str, String)>| {
        let (app, admin) = (&app, &admin);
        async move {
            let mut form = vec![
                ("subscription_id", subscription.to_string()),
                ("page", "1".to_owned()),
            ];
            form.extend(extra);
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call_form(admin, "deliveries/list", &form).await
        }
    };
    for (extra, expected) in [
        (vec![("status", "retrying".to_owned())], 1),
        (vec![("status", "delivered".to_owned())], 0),
        (vec![("event_type", "data_point.created".to_owned())], 1),
        (vec![("event_type", "channel.out_of_range".to_owned())], 0),
        (vec![("channel_id", channel.to_string())], 1),
        (vec![("channel_id", (channel + 1).to_string())], 0),
        (vec![("hours", "1".to_owned())], 1),
    ] {
        let what = format!("{extra:?}");
        let page: Value = filtered(extra).await.json().await.unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), expected, "{what}");
    }
    let (status, _) = error_of(filtered(vec![("status", "lost".to_owned())]).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The chart: 24 hours, this one's delivery still open; the overview: failing for now.
    let hours: Vec<Value> = app
        .call_form(
            &admin,
            "deliveries/per_hour",
            &[("subscription_id", &subscription.to_string())],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hours.len(), 24);
    let open: i64 = hours.iter().map(|h| h["other"].as_i64().unwrap()).sum();
    assert_eq!(open, 1);
    let overview: Value = app
        .call_form(&admin, "subscriptions/list", &[("page", "1")])
        .await
        .json()
        .await
        .unwrap();
    let ours = overview["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == subscription)
        .unwrap()
        .clone();
    assert_eq!(ours["health"]["failing"], 1, "{ours}");
    assert_eq!(ours["health"]["delivered"], 0);
}

#[tokio::test]
async fn metrics_are_served_in_prometheus_format_to_the_operators_token_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = server::config::Config {
        metrics_token: Some("scrape-me-please".into()),
        ..server::harness::throwaway_config(dir.path().join("t.db"))
    };
    let built = labhook::startup::Application::build(config).await.unwrap();
    let app = TestApp::at(built.address(), built.state().clone());
    tokio::spawn(built.run(std::future::pending()));
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let (device, channel, token) = hotplate(&app, &admin).await;
    subscribe(&app, &admin, "http://127.0.0.1:9999/lims", channel).await;
    app.send_points(
        device,
        &token,
        &json!([{"channel": "temperature", "value": 60}]),
    )
    .await;
    app.wait_for_fan_out().await;

    // A session is not enough, nor a wrong token.
    assert_eq!(
        admin
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let wrong = Client::new()
        .get(app.url("/metrics"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let mut text = String::new();
    for _ in 0..400 {
        let res = Client::new()
            .get(app.url("/metrics"))
            .bearer_auth("scrape-me-please")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        text = res.text().await.unwrap();
        if text.contains("labhook_deliveries_total{outcome=\"retrying\"}") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    for metric in [
        "# TYPE labhook_data_points_total counter",
        "# TYPE labhook_events_total counter",
        "labhook_deliveries_total{outcome=\"retrying\"}",
        "# TYPE labhook_attempt_duration_seconds histogram",
        "labhook_attempt_duration_seconds_bucket{le=\"0.005\"}",
        "# TYPE labhook_queue_depth gauge",
        "labhook_oldest_due_seconds",
        "labhook_requests_in_flight",
    ] {
        assert!(text.contains(metric), "{metric} missing from:\n{text}");
    }
    // This server's queue holds the retrying delivery.
    let depth = text
        .lines()
        .find(|l| l.starts_with("labhook_queue_depth "))
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap();
    assert!(depth >= 1.0, "{text}");
}

#[tokio::test]
async fn a_subscription_failing_for_days_is_switched_off_and_its_people_are_told() {
    use server::config::{AutoDisable, Config, DispatcherConfig};
    use server::domain::schedule::RetrySchedule;
    let dir = tempfile::tempdir().unwrap();
    let base = server::harness::throwaway_config(dir.path().join("t.db"));
    let config = Config {
        // One attempt per delivery: each fails at once.
        dispatcher: DispatcherConfig {
            schedule: RetrySchedule::parse("0").unwrap(),
            ..base.dispatcher.clone()
        },
        ..base
    };
    let built = labhook::startup::Application::build(config).await.unwrap();
    let app = TestApp::at(built.address(), built.state().clone());
    tokio::spawn(built.run(std::future::pending()));
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app
        .signed_in(crate::helpers::LAB_USER.0, crate::helpers::LAB_USER.1)
        .await;
    let (device, channel, token) = hotplate(&app, &admin).await;
    let subscription = subscribe(&app, &lab, "http://127.0.0.1:9999/lims", channel).await;
    for v in 0..10 {
        app.send_points(
            device,
            &token,
            &json!([{"channel": "temperature", "value": 50 + v}]),
        )
        .await;
    }
    let failed = || async {
        app.count(&format!(
            "deliveries WHERE subscription_id = {subscription} AND status = 'failed'"
        ))
        .await
    };
    for _ in 0..400 {
        if failed().await == 10 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(failed().await, 10);

    let rule = AutoDisable::default();
    let now = server::clock::now_ms();
    let sweep = |at: i64, rule: AutoDisable| {
        let state = app.state.clone();
        async move {
            server::subscriptions::auto_disable::sweep(&state, rule, at)
                .await
                .unwrap()
        }
    };
    let day = 86_400_000;
    // Not for long enough, or not enough failures: nothing happens.
    assert!(sweep(now + 4 * day, rule).await.is_empty());
    let more = AutoDisable {
        min_failures: 11,
        ..rule
    };
    assert!(sweep(now + 6 * day, more).await.is_empty());
    // Five days of nothing but failures: switched off, marked, told.
    assert_eq!(sweep(now + 6 * day, rule).await, [subscription]);
    let (active, reason, since): (bool, String, Option<i64>) =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT active, inactive_reason, failing_since FROM subscriptions WHERE id = $1",
    )
    .bind(subscription)
    .fetch_one(db)
    .await)
        .unwrap();
    assert!(!active);
    assert_eq!(reason, "failing");
    assert!(since.is_some_and(|s| s <= server::clock::now_ms()));
    let audit: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT after FROM audit_log WHERE action = 'deactivated' AND actor_name LIKE 'Labhook%'",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    assert!(audit.contains("every delivery failed for days"), "{audit}");

    let notices = |c: &Client| {
        let (app, c) = (&app, c.clone());
        async move {
            let list: Vec<Value> = app
                .call_form(&c, "notifications/list", &[])
                .await
                .json()
                .await
                .unwrap();
            list
        }
    };
    for who in [&lab, &admin] {
        let list = notices(who).await;
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["read"], false);
        assert!(list[0]["message"]
            .as_str()
            .unwrap()
            .contains("its 10 deliveries since"));
    }
    // Read per person.
    let res = app.call_form(&lab, "notifications/mark_read", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(notices(&lab).await[0]["read"], true);
    assert_eq!(notices(&admin).await[0]["read"], false);

    // Switched on again, it starts afresh: the old failures do not count.
    let res = app
        .call_form(
            &lab,
            "subscriptions/set_active",
            &[("id", &subscription.to_string()), ("active", "true")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.count(&format!(
            "subscriptions WHERE id = {subscription} AND failing_since IS NULL"
        ))
        .await,
        1
    );
    assert!(sweep(now + 6 * day, rule).await.is_empty());
}

#[tokio::test]
async fn a_test_event_goes_through_the_real_path_marked_as_a_test() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let (origin, got) = receiver().await;
    app.call_form(
        &admin,
        "admin/register_url",
        &[("url", &format!("{origin}/")), ("note", "ops")],
    )
    .await;
    let (device, channel, token) = hotplate(&app, &admin).await;
    let subscription = subscribe(&app, &admin, &format!("{origin}/hook"), channel).await;
    let send = |channel: Option<i64>, sample: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let mut form = vec![("id", subscription.to_string())];
            if let Some(c) = channel {
                form.push(("channel_id", c.to_string()));
            }
            if !sample.is_empty() {
                form.push(("sample", sample.to_owned()));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call_form(admin, "subscriptions/send_test_event", &form)
                .await
        }
    };
    // No value yet and no sample: told to type one; a sample of the wrong kind is refused.
    let (status, body) = error_of(send(None, "").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["Invalid"][0]["field"], "sample", "{body}");
    let (status, _) = error_of(send(None, "warm").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // A channel the subscription did not choose.
    let (status, body) = error_of(send(Some(channel + 1000), "1").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["Invalid"][0]["field"], "channel_id");

    let res = send(Some(channel), "21.5").await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    wait_until("the test webhook", || got.lock().unwrap().len() == 1).await;
    let body: Value = serde_json::from_str(&got.lock().unwrap()[0].1).unwrap();
    assert_eq!(body["type"], "data_point.created.test");
    assert_eq!(body["data"]["test"], true);
    assert_eq!(body["data"]["data_point"]["value"], 21.5);
    assert_eq!(body["data"]["channel"]["name"], "temperature");
    assert_eq!(log(&app, &admin, subscription).await[0]["test"], true);

    // With a real value, the test carries it.
    app.send_points(
        device,
        &token,
        &json!([{"channel": "temperature", "value": 64.0}]),
    )
    .await;
    wait_until("the real webhook", || got.lock().unwrap().len() == 2).await;
    let res = send(None, "").await;
    assert_eq!(res.status(), StatusCode::OK);
    wait_until("the second test", || got.lock().unwrap().len() == 3).await;
    let body: Value = serde_json::from_str(&got.lock().unwrap()[2].1).unwrap();
    assert_eq!(body["data"]["data_point"]["value"], 64.0);
    assert_eq!(body["type"], "data_point.created.test");
    // Nobody else's subscription got the test event.
    assert_eq!(app.count("deliveries WHERE test").await, 2);
}

/// "2026-12-01T17:30", as a datetime-local field sends it (UTC).
fn minute(ms: i64) -> String {
    server::clock::rfc3339(ms)[..16].to_owned()
}

#[tokio::test]
async fn a_replay_sends_a_time_range_again_behind_live_traffic_and_can_be_cancelled() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let (origin, got) = receiver().await;
    app.call_form(
        &admin,
        "admin/register_url",
        &[("url", &format!("{origin}/")), ("note", "ops")],
    )
    .await;
    let (device, channel, token) = hotplate(&app, &admin).await;
    let subscription = subscribe(&app, &admin, &format!("{origin}/hook"), channel).await;
    for v in [60, 61, 62] {
        app.send_points(
            device,
            &token,
            &json!([{"channel": "temperature", "value": v}]),
        )
        .await;
    }
    wait_until("the live deliveries", || got.lock().unwrap().len() == 3).await;
    let now = server::clock::now_ms();
    let range = |since: i64, until: i64, extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("id", subscription.to_string()),
            ("since", minute(since)),
            ("until", minute(until)),
        ];
        form.extend(extra);
        form
    };
    let call = |name: &'static str, form: Vec<(&'static str, String)>| {
        let (app, admin) = (&app, &admin);
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call_form(admin, name, &form).await
        }
    };
    let hour = 3_600_000;
    let preview: i64 = call(
        "subscriptions/replay_preview",
        range(now - hour, now + 120_000, vec![]),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(preview, 3);
    let narrowed: i64 = call(
        "subscriptions/replay_preview",
        range(
            now - hour,
            now + 120_000,
            vec![("event_type", "channel.out_of_range".into())],
        ),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(narrowed, 0);
    // Older than the retention, or backwards: refused with the reason.
    let (status, body) = error_of(
        call(
            "subscriptions/replay_preview",
            range(now - 31 * 24 * hour, now, vec![]),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("no longer kept"), "{body}");
    let (status, body) = error_of(
        call(
            "subscriptions/replay_preview",
            range(now, now - hour, vec![]),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["Invalid"][0]["field"], "until");

    let res = call(
        "subscriptions/replay_start",
        range(now - hour, now + 120_000, vec![]),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    wait_until("the replayed deliveries", || got.lock().unwrap().len() == 6).await;
    let got_now = got.lock().unwrap().clone();
    let (live, replayed) = got_now.split_at(3);
    // Order is not guaranteed (parallel requests): compare as sets.
    let bodies = |part: &[(String, String)]| {
        let mut b: Vec<String> = part.iter().map(|(_, body)| body.clone()).collect();
        b.sort();
        b
    };
    assert_eq!(bodies(replayed), bodies(live), "the same webhook bodies");
    for (id, _) in replayed {
        assert!(
            live.iter().all(|(l, _)| l != id),
            "a new webhook-id: a new delivery"
        );
    }
    let list: Vec<Value> = call(
        "subscriptions/replays",
        vec![("id", subscription.to_string())],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        (list[0]["status"].as_str(), list[0]["queued"].as_i64()),
        (Some("done"), Some(3))
    );

    // A replay to a receiver that hangs waits behind the live deliveries; cancelled, it stops.
    let hanging = subscribe(&app, &admin, &format!("{origin}/hang"), channel).await;
    for v in 0..40 {
        app.send_points(
            device,
            &token,
            &json!([{"channel": "temperature", "value": v}]),
        )
        .await;
    }
    app.wait_for_fan_out().await;
    let form = vec![
        ("id", hanging.to_string()),
        ("since", minute(now - hour)),
        ("until", minute(now + 120_000)),
    ];
    let replay: i64 = call("subscriptions/replay_start", form)
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let res = call(
        "subscriptions/replay_cancel",
        vec![("replay_id", replay.to_string())],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (status, queued): (String, i64) =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as("SELECT status, queued FROM replays WHERE id = $1")
            .bind(replay)
            .fetch_one(db)
            .await)
            .unwrap();
    assert_eq!(status, "cancelled");
    assert_eq!(
        queued, 0,
        "40 live deliveries were waiting: the replay queued none ahead of them"
    );
}

/// Replays are bounded per caller: one at a time per subscription, a few at once per
/// organisation, and a limited number of counts or starts a minute — each count reads the
/// whole range, so nobody may ask for them in a loop.
#[tokio::test]
async fn replays_run_one_at_a_time_per_subscription_and_a_few_per_organisation() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let (origin, _) = receiver().await;
    app.call_form(
        &admin,
        "admin/register_url",
        &[("url", &format!("{origin}/")), ("note", "ops")],
    )
    .await;
    let (device, channel, token) = hotplate(&app, &admin).await;
    // Receivers that hang: the live deliveries keep every replay waiting (running).
    let mut hanging = Vec::new();
    for _ in 0..4 {
        hanging.push(subscribe(&app, &admin, &format!("{origin}/hang"), channel).await);
    }
    for v in 0..40 {
        app.send_points(
            device,
            &token,
            &json!([{"channel": "temperature", "value": v}]),
        )
        .await;
    }
    app.wait_for_fan_out().await;
    let now = server::clock::now_ms();
    let start = |subscription: i64, name: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let form = [
                ("id", subscription.to_string()),
                ("since", minute(now - 3_600_000)),
                ("until", minute(now + 120_000)),
            ];
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call_form(admin, name, &form).await
        }
    };
    assert_eq!(
        start(hanging[0], "subscriptions/replay_start")
            .await
            .status(),
        StatusCode::OK
    );
    let (status, body) = error_of(start(hanging[0], "subscriptions/replay_start").await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body
        .to_string()
        .contains("A replay of this subscription is running"));
    for &s in &hanging[1..3] {
        assert_eq!(
            start(s, "subscriptions/replay_start").await.status(),
            StatusCode::OK
        );
    }
    let (status, body) = error_of(start(hanging[3], "subscriptions/replay_start").await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("3 replays running"), "{body}");
    // Counting in a loop is refused after a while, saying when to come back.
    let mut refused = None;
    for _ in 0..30 {
        let res = start(hanging[3], "subscriptions/replay_preview").await;
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(res);
            break;
        }
    }
    let refused = refused.expect("counting replays in a loop is limited");
    assert!(refused.headers().contains_key("retry-after"));
}
