//! The dispatcher, driven round by round with a chosen clock ([`Stepper`]): retries are
//! tested by stepping to a later time instead of waiting. What only the running loop does —
//! in-flight limits, shutdown — runs the loop itself.

use std::time::{Duration, Instant};

use serde_json::json;
use server::{
    clock::now_ms,
    dispatcher::{Round, Stepper},
    domain::headers::RawHeader,
    retention::Cutoffs,
};

use crate::{
    helpers::{send_temperature, spawn_dispatching, spawn_stepping, TestServer},
    receiver::{Reply, TestReceiver},
};

const HOTPLATE: (&str, &str) = ("Hotplate Stirrer RCT digital", "temperature");
const CREATED: &str = "data_point.created";
/// Later than any retry of the tests' schedule (100 ms apart, ±20%).
const LATER: i64 = 1_000;

async fn step(stepper: &mut Stepper, now: i64) -> Round {
    stepper.step(now).await.expect("a dispatcher round")
}

/// Steps a second apart until nothing is due any more; returns how many rounds sent something.
async fn step_until_settled(stepper: &mut Stepper, now: i64) -> usize {
    for round in 0..20 {
        if step(stepper, now + round * LATER).await.claimed == 0 {
            return round as usize;
        }
    }
    panic!("still sending after 20 rounds");
}

async fn status(app: &TestServer, delivery: i64) -> (String, Option<i64>) {
    server::db::with_db!(&app.state.pool, db => sqlx::query_as("SELECT status, next_attempt_at FROM deliveries WHERE id = $1")
        .bind(delivery)
        .fetch_one(db)
        .await)
        .unwrap()
}

async fn only_delivery(app: &TestServer) -> i64 {
    app.scalar("SELECT id FROM deliveries").await
}

#[tokio::test]
async fn a_delivery_is_signed_as_standard_webhooks_says_and_carries_the_custom_headers() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    let (_, secret) = app
        .subscribe(
            &receiver,
            "/lims/hooks",
            HOTPLATE,
            &[CREATED],
            vec![
                RawHeader {
                    name: "X-Lab".into(),
                    value: Some("QC".into()),
                    secret: false,
                },
                RawHeader {
                    name: "Authorization".into(),
                    value: Some("Bearer lims".into()),
                    secret: true,
                },
            ],
        )
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 61.5).await;

    let round = step(&mut stepper, now_ms()).await;
    assert_eq!((round.deliveries, round.recorded.delivered), (1, 1));
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.path, "/lims/hooks");
    // An independent implementation of the specification accepts the signature.
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&r.body, &r.headers)
        .expect("signature verifies");
    assert_eq!(r.header("x-lab"), Some("QC"));
    assert_eq!(r.header("authorization"), Some("Bearer lims"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r
        .header("user-agent")
        .unwrap()
        .starts_with("Labhook-Webhooks/"));
    assert!(r.header("webhook-id").unwrap().starts_with("msg_"));
    let body = r.json();
    assert_eq!(body["type"], CREATED);
    assert_eq!(body["data"]["device"]["name"], HOTPLATE.0);
    assert_eq!(body["data"]["channel"]["name"], "temperature");
    assert_eq!(body["data"]["data_point"]["value"], 61.5);
    assert_eq!(body["data"]["organisation"]["name"], "Demo Lab");

    let delivery = only_delivery(&app).await;
    assert_eq!(status(&app, delivery).await, ("delivered".into(), None));
    let (shown, response): (String, String) =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT request_headers, response_body FROM delivery_attempts WHERE delivery_id = $1",
    )
    .bind(delivery)
    .fetch_one(db)
    .await)
        .unwrap();
    assert_eq!(response, "answered 200");
    // The log keeps what was sent, but not the secret header's value.
    assert!(shown.contains("\"x-lab\":\"QC\"") || shown.contains("\"X-Lab\":\"QC\""));
    assert!(!shown.contains("Bearer lims"));
}

#[tokio::test]
async fn failures_are_retried_with_the_same_webhook_id_until_delivered() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    receiver.script([Reply::Status(500), Reply::Status(502)]);
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 20.0).await;

    let now = now_ms();
    assert_eq!(step(&mut stepper, now).await.recorded.retrying, 1);
    let delivery = only_delivery(&app).await;
    let (retrying, at) = status(&app, delivery).await;
    assert_eq!(retrying, "retrying");
    // 100 ms later, give or take the schedule's 20% jitter.
    assert!(
        (now + 80..=now + 120).contains(&at.unwrap()),
        "{}",
        at.unwrap() - now
    );
    // Not due yet: nothing is sent.
    assert_eq!(step(&mut stepper, now + 50).await.claimed, 0);
    assert_eq!(step(&mut stepper, now + LATER).await.recorded.retrying, 1);
    assert_eq!(
        step(&mut stepper, now + 2 * LATER).await.recorded.delivered,
        1
    );
    let got = receiver.received();
    let ids: Vec<_> = got
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2]);
    assert_eq!(status(&app, delivery).await, ("delivered".into(), None));
    let codes: Vec<Option<i64>> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT response_status FROM delivery_attempts WHERE delivery_id = $1 ORDER BY number",
    )
    .bind(delivery)
    .fetch_all(db)
    .await)
    .unwrap();
    assert_eq!(codes, [Some(500), Some(502), Some(200)]);
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_ends_in_failed_after_the_last_attempt() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    receiver.always(Reply::Status(500));
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 20.0).await;
    // The schedule's four attempts.
    assert_eq!(step_until_settled(&mut stepper, now_ms()).await, 4);
    let delivery = only_delivery(&app).await;
    assert_eq!(status(&app, delivery).await, ("failed".into(), None));
    assert_eq!(receiver.received().len(), 4);
}

#[tokio::test]
async fn a_timeout_is_retried() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    receiver.script([Reply::Hang(Duration::from_secs(2))]);
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 20.0).await;
    assert_eq!(step_until_settled(&mut stepper, now_ms()).await, 2);
    let delivery = only_delivery(&app).await;
    assert_eq!(status(&app, delivery).await, ("delivered".into(), None));
    let kinds: Vec<Option<String>> =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT error_kind FROM delivery_attempts WHERE delivery_id = $1 ORDER BY number",
    )
    .bind(delivery)
    .fetch_all(db)
    .await)
        .unwrap();
    assert_eq!(kinds, [Some("timeout".to_owned()), None]);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    receiver.script([Reply::WithHeader(429, "retry-after", "1".into())]);
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 20.0).await;
    let now = now_ms();
    step(&mut stepper, now).await;
    // The schedule alone would have retried after 100 ms; the receiver asked for a second.
    let delivery = only_delivery(&app).await;
    assert_eq!(
        status(&app, delivery).await,
        ("retrying".into(), Some(now + 1000))
    );
    assert_eq!(step(&mut stepper, now + 999).await.claimed, 0);
    assert_eq!(step(&mut stepper, now + 1000).await.recorded.delivered, 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    receiver.always(Reply::WithHeader(
        302,
        "location",
        receiver.url("/elsewhere"),
    ));
    app.subscribe(&receiver, "/hook", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 20.0).await;
    assert_eq!(step_until_settled(&mut stepper, now_ms()).await, 4);
    let delivery = only_delivery(&app).await;
    assert_eq!(status(&app, delivery).await, ("failed".into(), None));
    let paths: Vec<String> = receiver.received().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/hook", "/hook", "/hook", "/hook"]);
    let kind: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT error_kind FROM delivery_attempts LIMIT 1")
        .fetch_one(db)
        .await)
        .unwrap();
    assert_eq!(kind, "redirect");
}

#[tokio::test]
async fn gone_deactivates_the_subscription() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    receiver.always(Reply::Status(410));
    let (subscription, _) = app
        .subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 20.0).await;
    let round = step(&mut stepper, now_ms()).await;
    assert_eq!((round.recorded.failed, round.recorded.gone), (1, 1));
    let delivery = only_delivery(&app).await;
    assert_eq!(status(&app, delivery).await, ("failed".into(), None));
    let (active, reason): (bool, Option<String>) =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as("SELECT active, inactive_reason FROM subscriptions WHERE id = $1")
            .bind(subscription)
            .fetch_one(db)
            .await)
            .unwrap();
    assert!(!active);
    assert_eq!(reason.as_deref(), Some("gone"));
    assert_eq!(receiver.received().len(), 1);
    let actor: String = app
        .scalar("SELECT actor_name FROM audit_log WHERE action = 'deactivated'")
        .await;
    assert_eq!(actor, "Labhook (dispatcher)");

    // Nothing more is sent.
    send_temperature(&app, &token, 21.0).await;
    assert_eq!(step(&mut stepper, now_ms() + LATER).await.deliveries, 0);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_hanging_receiver_does_not_delay_another_subscription() {
    let app = spawn_dispatching(|c| {
        c.dispatcher.request_timeout = Duration::from_secs(10);
        c.dispatcher.per_subscription_in_flight = 2;
        c.dispatcher.max_in_flight = 8;
    })
    .await;
    let hanging = TestReceiver::start().await;
    hanging.always(Reply::Hang(Duration::from_secs(30)));
    let healthy = TestReceiver::start().await;
    app.subscribe(&hanging, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    app.subscribe(&healthy, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    let start = Instant::now();
    for i in 0..20 {
        send_temperature(&app, &token, f64::from(i)).await;
    }
    let got = healthy.wait_for(20, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 20);
    assert!(start.elapsed() < Duration::from_secs(5));
    // The hanging receiver holds no more than its share.
    assert_eq!(hanging.received().len(), 2);
}

#[tokio::test]
async fn nothing_is_sent_while_the_feature_is_off_and_those_events_are_not_delivered_later() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    let admin = app.admin().await;

    server::admin::set_webhooks_enabled(&app.state, &admin, false)
        .await
        .unwrap();
    send_temperature(&app, &token, 1.0).await;
    assert_eq!(step(&mut stepper, now_ms()).await.deliveries, 0);
    assert_eq!(receiver.received().len(), 0);

    server::admin::set_webhooks_enabled(&app.state, &admin, true)
        .await
        .unwrap();
    send_temperature(&app, &token, 2.0).await;
    assert_eq!(step_until_settled(&mut stepper, now_ms()).await, 1);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["data"]["data_point"]["value"], 2.0);
}

#[tokio::test]
async fn an_inactive_subscription_gets_nothing() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    let (subscription, _) = app
        .subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    let admin = app.admin().await;
    server::subscriptions::set_active(&app.state, &admin, subscription, false)
        .await
        .unwrap();
    send_temperature(&app, &token, 1.0).await;
    let round = step(&mut stepper, now_ms()).await;
    assert!(round.events > 0);
    assert_eq!(round.deliveries, 0);
    assert_eq!(receiver.received().len(), 0);
    assert_eq!(app.count("deliveries").await, 0);
}

#[tokio::test]
async fn a_target_that_lost_its_registration_is_not_sent_to() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    // Behind the service's back, so that the subscription is still active: the send-time
    // check must catch it.
    server::db::with_db!(&app.state.pool, db => sqlx::query("DELETE FROM registered_urls WHERE note = 'harness receiver'")
        .execute(db)
        .await
        .map(server::db::Done::from))
        .unwrap();
    send_temperature(&app, &token, 1.0).await;
    assert_eq!(step(&mut stepper, now_ms()).await.recorded.cancelled, 1);
    let delivery = only_delivery(&app).await;
    assert_eq!(status(&app, delivery).await, ("cancelled".into(), None));
    assert_eq!(receiver.received().len(), 0);
    let kind: String = app.scalar("SELECT error_kind FROM delivery_attempts").await;
    assert_eq!(kind, "unregistered");
}

#[tokio::test]
async fn one_event_reaches_every_matching_subscription_once() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    // Made concurrently: the writer commits them in a few shared transactions.
    let paths: Vec<String> = (0..200).map(|i| format!("/s{i}")).collect();
    futures_util::future::join_all(
        paths
            .iter()
            .map(|path| app.subscribe(&receiver, path, HOTPLATE, &[CREATED], vec![])),
    )
    .await;
    // Subscribed to another event: must not receive this one.
    app.subscribe(
        &receiver,
        "/other",
        HOTPLATE,
        &["channel.out_of_range"],
        vec![],
    )
    .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 20.0).await;
    let round = step(&mut stepper, now_ms()).await;
    assert_eq!((round.deliveries, round.recorded.delivered), (200, 200));
    let got_now = receiver.received();
    assert_eq!(got_now.len(), 200);
    let mut ids: Vec<_> = got_now
        .iter()
        .map(|r| r.header("webhook-id").unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200);
    assert!(got_now.iter().all(|r| r.path != "/other"));
}

#[tokio::test]
async fn on_shutdown_requests_in_flight_finish_and_the_rest_is_handed_back() {
    let mut app =
        spawn_dispatching(|c| c.dispatcher.shutdown_grace = Duration::from_millis(300)).await;
    let receiver = TestReceiver::start().await;
    receiver.always(Reply::Hang(Duration::from_secs(5)));
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 1.0).await;
    receiver.wait_for(1, Duration::from_secs(5)).await;
    let started = Instant::now();
    app.dispatcher.take().unwrap().shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(2));
    // The unfinished delivery is due again, for the next start.
    let (status, lease): (String, Option<i64>) =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as("SELECT status, lease_until FROM deliveries")
            .fetch_one(db)
            .await)
            .unwrap();
    assert_eq!(status, "pending");
    assert_eq!(lease, None);
}

#[tokio::test]
async fn old_finished_deliveries_are_pruned_and_pending_ones_kept() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 1.0).await;
    assert_eq!(step(&mut stepper, now_ms()).await.recorded.delivered, 1);
    let delivered = only_delivery(&app).await;
    // A second one that is still waiting for a retry.
    server::db::with_db!(&app.state.pool, db => sqlx::query(
        "INSERT INTO deliveries (subscription_id, event_id, webhook_id, status, attempts, next_attempt_at, created_at, updated_at)
         SELECT subscription_id, event_id, 'msg_pending', 'retrying', 1, 9999999999999, 0, 0 FROM deliveries WHERE id = $1",
    )
    .bind(delivered)
    .execute(db)
    .await
    .map(server::db::Done::from))
    .unwrap();
    server::db::with_db!(&app.state.pool, db => sqlx::query("UPDATE deliveries SET created_at = 0 WHERE id = $1")
        .bind(delivered)
        .execute(db)
        .await
        .map(server::db::Done::from))
        .unwrap();

    let cutoffs = Cutoffs {
        deliveries: 1,
        data_points: None,
    };
    let pruned = server::retention::prune(&app.state, cutoffs).await.unwrap();
    assert_eq!(pruned.deliveries, 1);
    // Its event is still needed by the pending delivery.
    assert_eq!(pruned.events, 0);
    assert_eq!(app.count("delivery_attempts").await, 0);
    let left: String = app.scalar("SELECT webhook_id FROM deliveries").await;
    assert_eq!(left, "msg_pending");
}

#[tokio::test]
async fn data_points_are_kept_unless_the_operator_sets_a_retention_for_them() {
    let app = spawn_stepping(|_| {}).await;
    let (device, token) = app.token_for(HOTPLATE.0).await;
    let res = app
        .post_points(
            device,
            &token,
            &json!([
                {"channel": "temperature", "timestamp": "2020-01-01T00:00:00Z", "value": 20.0},
                {"channel": "temperature", "value": 21.0}
            ]),
        )
        .await;
    assert_eq!(res.status(), 202);
    // Fan-out reads the events (nobody subscribed): only events behind its cursor may go.
    step(&mut Stepper::new(&app.state), now_ms()).await;
    let events_before = app.count("events").await as u64;
    let now = now_ms() + 1;
    let keep_them = Cutoffs {
        deliveries: now,
        data_points: None,
    };
    let pruned = server::retention::prune(&app.state, keep_them)
        .await
        .unwrap();
    assert_eq!(pruned.data_points, 0);
    assert_eq!(app.count("data_points").await, 2);
    // Events nobody subscribed to go with the delivery log's retention, all but the newest.
    assert_eq!(pruned.events, events_before - 1);

    let a_year = Cutoffs {
        deliveries: now,
        data_points: Some(now - 365 * 86_400_000),
    };
    let pruned = server::retention::prune(&app.state, a_year).await.unwrap();
    assert_eq!(pruned.data_points, 1);
    let left: f64 = app.scalar("SELECT value FROM data_points").await;
    assert_eq!(left, 21.0);
}

/// Without `--allow-loopback-targets`, nothing goes to this machine: neither to an address
/// written in the URL nor to a host name that resolves to it. Each refusal is an attempt
/// with its own kind in the delivery log, and the receiver hears nothing.
#[tokio::test]
async fn the_outbound_policy_is_decided_on_the_address_connected_to() {
    let app = spawn_stepping(|config| {
        config.dispatcher.outbound = server::domain::outbound::OutboundPolicy::default();
    })
    .await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    app.subscribe(&receiver, "/literal", HOTPLATE, &[CREATED], vec![])
        .await;
    let by_name = receiver.url("/by-name").replace("127.0.0.1", "localhost");
    app.register(&receiver.origin().replace("127.0.0.1", "localhost"))
        .await;
    let device = app.device_id(HOTPLATE.0).await;
    let channel = app.channel_id(device, HOTPLATE.1).await;
    server::harness::Instance::subscribe(&app, &by_name, &[channel], &[CREATED], vec![]).await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 20.0).await;

    let round = step(&mut stepper, now_ms()).await;
    assert_eq!(round.deliveries, 2);
    assert!(
        receiver.received().is_empty(),
        "nothing reached the receiver"
    );
    let attempts: Vec<(String, String)> =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT error_kind, error_message FROM delivery_attempts ORDER BY delivery_id",
    )
    .fetch_all(db)
    .await)
        .unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    for (kind, message) in &attempts {
        assert_eq!(kind, "blocked", "{message}");
        assert!(message.contains("loopback"), "{message}");
    }
    assert!(
        attempts
            .iter()
            .any(|(_, m)| m.starts_with("localhost resolves to")),
        "{attempts:?}"
    );
}

/// A panic in the dispatcher's loop does not stop delivery: the supervisor starts it again,
/// and `/readyz` tells the truth about it (ready, with the restart counted).
#[tokio::test]
async fn the_dispatcher_restarts_after_a_panic_and_readiness_says_so() {
    let app = spawn_dispatching(|_| {}).await;
    let receiver = TestReceiver::start().await;
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 1.0).await;
    assert_eq!(receiver.wait_for(1, Duration::from_secs(10)).await.len(), 1);

    let faults = server::dispatcher::Faults::of(&app.state);
    faults
        .panic_in_loop
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // Wait until the loop took the fault (it goes round at least once a second).
    let deadline = Instant::now() + Duration::from_secs(10);
    while faults
        .panic_in_loop
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        assert!(Instant::now() < deadline, "the loop never went round");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    send_temperature(&app, &token, 2.0).await;
    assert_eq!(
        receiver.wait_for(2, Duration::from_secs(10)).await.len(),
        2,
        "delivery goes on after the restart"
    );
    let ready: serde_json::Value = reqwest::get(app.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["dispatcher"], "ok");
    assert_eq!(ready["dispatcher_restarts"], 1);
    assert_eq!(
        reqwest::get(app.url("/healthz")).await.unwrap().status(),
        200
    );
}

/// Send tasks that panic give their in-flight slots back: after as many panics as one
/// subscription may hold claimed, the next delivery still goes out (the panicked ones wait
/// for their leases).
#[tokio::test]
async fn a_panicking_send_does_not_leak_its_in_flight_slot() {
    let app = spawn_dispatching(|c| {
        c.dispatcher.per_subscription_in_flight = 1;
    })
    .await;
    let receiver = TestReceiver::start().await;
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    // One request in flight and three more claimed ahead: four panics fill every slot.
    let panics = 4;
    server::dispatcher::Faults::of(&app.state)
        .panicking_sends
        .store(panics, std::sync::atomic::Ordering::Relaxed);
    for i in 0..=panics {
        send_temperature(&app, &token, f64::from(i)).await;
    }
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        got.len(),
        1,
        "the delivery after the panicked ones went out"
    );
    // Once the delivered one is written down, only the panicked one is still claimed: it
    // falls due again when its lease ends.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (delivered, leased): (i64, i64) =
            server::db::with_db!(&app.state.pool, db => sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE status = 'delivered'),
                    COUNT(*) FILTER (WHERE lease_until IS NOT NULL) FROM deliveries",
        )
        .fetch_one(db)
        .await)
            .unwrap();
        if delivered == 1 {
            assert_eq!(leased, i64::from(panics));
            break;
        }
        assert!(Instant::now() < deadline, "the delivery was never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Without a dispatcher (or with one that stopped), the server is not ready.
#[tokio::test]
async fn readiness_needs_a_dispatcher_going_round() {
    let app = spawn_stepping(|_| {}).await;
    let res = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(res.status(), 503);
    let ready: serde_json::Value = res.json().await.unwrap();
    assert_eq!(ready["dispatcher"], "not running");
    assert_eq!(ready["database"], "ok");
}

/// A subscription whose receiver keeps failing collects pending deliveries only up to its
/// cap: the oldest are kept, newer events are not queued, counted on the subscription (which
/// its owner sees) and recorded once in the audit trail; switching it on again clears it.
#[tokio::test]
async fn pending_deliveries_per_subscription_are_capped_and_the_overflow_recorded() {
    let app = spawn_stepping(|c| c.dispatcher.max_pending_per_subscription = 3).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    receiver.always(Reply::Status(500));
    let (id, _) = app
        .subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    for i in 0..5 {
        send_temperature(&app, &token, f64::from(i)).await;
    }
    step(&mut stepper, now_ms()).await;
    assert_eq!(app.count("deliveries").await, 3);
    let events: Vec<f64> =
        server::db::with_db!(&app.state.pool, db, engine => sqlx::query_scalar(&format!(
        "SELECT CAST({} AS DOUBLE PRECISION) FROM deliveries d
         JOIN events e ON e.id = d.event_id ORDER BY d.id",
        server::db::dialect::json_text_at(engine, "e.payload", "data_point.value")
    ))
    .fetch_all(db)
    .await)
        .unwrap();
    assert_eq!(events, [0.0, 1.0, 2.0], "the oldest are kept");
    send_temperature(&app, &token, 5.0).await;
    step(&mut stepper, now_ms()).await;
    let admin = app.admin().await;
    let shown = server::subscriptions::get(&app.state, &admin, id)
        .await
        .unwrap();
    assert_eq!(shown.overflowed, 3);
    assert!(shown.overflow_since.is_some());
    let audited: i64 = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'deliveries dropped'")
        .await;
    assert_eq!(audited, 1, "recorded once, when it started");

    server::subscriptions::set_active(&app.state, &admin, id, false)
        .await
        .unwrap();
    server::subscriptions::set_active(&app.state, &admin, id, true)
        .await
        .unwrap();
    let shown = server::subscriptions::get(&app.state, &admin, id)
        .await
        .unwrap();
    assert_eq!((shown.overflowed, shown.overflow_since), (0, None));
}

/// A receiver's answer is kept within bounds: its headers like its body (16 KiB, the rest
/// counted), so that one chatty receiver cannot fill the delivery log.
#[tokio::test]
async fn a_receivers_headers_are_kept_up_to_a_limit() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    receiver.always(Reply::ManyHeaders(60));
    app.subscribe(&receiver, "/", HOTPLATE, &[CREATED], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 1.0).await;
    let round = step(&mut stepper, now_ms()).await;
    assert_eq!(round.recorded.delivered, 1);
    let headers: String = app
        .scalar("SELECT response_headers FROM delivery_attempts")
        .await;
    assert!(headers.len() < 18 * 1024, "{} bytes kept", headers.len());
    assert!(headers.contains("more headers cut at 16 KiB"), "{headers}");
}

/// Deliveries already claimed and prepared, waiting for their subscription's turn behind a
/// slow receiver, are checked again before they go: once access is revoked, none of them is
/// sent — only the one already on the wire arrives — and the log says why.
#[tokio::test]
async fn prepared_deliveries_are_not_sent_after_access_is_revoked() {
    let app = spawn_dispatching(|c| {
        c.dispatcher.per_subscription_in_flight = 1;
        c.dispatcher.request_timeout = Duration::from_secs(10);
    })
    .await;
    let receiver = TestReceiver::start().await;
    receiver.always(Reply::Hang(Duration::from_millis(1500)));
    app.register(&receiver.origin()).await;
    let scanner = app.device_id("Barcode Scanner Bench 2").await;
    let lab = app.sign_in("lab@demo.lab", "demo-lab-pass").await;
    let input = server::subscriptions::rules::SubscriptionInput {
        url: receiver.url("/hooks"),
        triggers: vec![server::subscriptions::rules::TriggerChoice {
            channel_id: app.channel_id(scanner, "barcode").await,
            event_type: CREATED.into(),
        }],
        ..Default::default()
    };
    let subscription = server::subscriptions::create(&app.state, &lab, &input)
        .await
        .expect("a valid subscription")
        .id;
    let (_, token) = app.token_for("Barcode Scanner Bench 2").await;
    let scans: Vec<_> = (0..6)
        .map(|i| json!({"channel": "barcode", "value": format!("S-{i}")}))
        .collect();
    let res = app.post_points(scanner, &token, &json!(scans)).await;
    assert_eq!(res.status(), 202);
    // The first is on the wire; the others are claimed and wait for its turn.
    receiver.wait_for(1, Duration::from_secs(10)).await;
    server::subscriptions::set_device_access(
        &app.state,
        &app.admin().await,
        scanner,
        lab.id,
        false,
    )
    .await
    .expect("access revoked");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (open, cancelled): (i64, i64) =
            server::db::with_db!(&app.state.pool, db => sqlx::query_as(
            "SELECT COUNT(*) FILTER (WHERE status NOT IN ('delivered', 'failed', 'cancelled')),
                    COUNT(*) FILTER (WHERE status = 'cancelled')
             FROM deliveries WHERE subscription_id = $1",
        )
        .bind(subscription)
        .fetch_one(db)
        .await)
            .unwrap();
        if open == 0 {
            assert_eq!(cancelled, 5, "all but the one on the wire");
            break;
        }
        assert!(Instant::now() < deadline, "{open} deliveries still open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Longer than one more request would take to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
    let why: Vec<String> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT last_error FROM deliveries WHERE subscription_id = $1 AND status = 'cancelled'",
    )
    .bind(subscription)
    .fetch_all(db)
    .await)
    .unwrap();
    assert!(why.iter().all(|w| w.contains("access")), "{why:?}");
}
