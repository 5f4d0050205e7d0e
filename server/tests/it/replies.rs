//! The receiver's reply written back (issue 15): a scan goes out, the LIMS answers with the
//! sample's information, and it is stored on the scanner's channels — through the real ingest
//! API, the real dispatcher stepped round by round, and real receivers on loopback ports.

use std::time::Duration;

use serde_json::{json, Value};
use server::{
    clock::now_ms,
    devices::{self, ingest::MAX_CHAIN_DEPTH},
    dispatcher::{Round, Stepper},
    domain::channel_definition::ChannelInput,
    subscriptions::{
        self,
        replay::{self, ReplayInput},
        rules::{SubscriptionInput, TriggerChoice},
    },
};

use crate::{
    helpers::{spawn_stepping, TestServer},
    receiver::{Reply, TestReceiver},
};

const SCANNER: &str = "Barcode Scanner Bench 2";
const CREATED: &str = "data_point.created";

/// The scanner with the channels replies may write (the demo's `sample_info` and `method`,
/// and `volume` in mL from 0 to 10) and one they may not (`operator`): channel ids by name.
async fn scanner_with_reply_channels(app: &TestServer) -> (i64, Vec<(String, i64)>) {
    let admin = app.admin().await;
    let device = app.device_id(SCANNER).await;
    for (name, value_type, writable, max) in [
        ("volume", "number", true, Some(10.0)),
        ("operator", "text", false, None),
    ] {
        let input = ChannelInput {
            name: name.into(),
            value_type: value_type.into(),
            unit: if max.is_some() {
                "mL".into()
            } else {
                String::new()
            },
            min: max.map(|_| 0.0),
            max,
            reply_writable: writable,
            ..Default::default()
        };
        devices::channels::add(&app.state, &admin, device, &input)
            .await
            .expect("a valid channel");
    }
    let mut ids = Vec::new();
    for name in ["barcode", "sample_info", "method", "volume", "operator"] {
        ids.push((name.to_owned(), app.channel_id(device, name).await));
    }
    (device, ids)
}

fn id(channels: &[(String, i64)], name: &str) -> i64 {
    channels.iter().find(|(n, _)| n == name).unwrap().1
}

/// A subscription of the demo admin to "data point created" on these channels.
async fn subscribe(
    app: &TestServer,
    receiver: &TestReceiver,
    channels: &[i64],
    use_replies: bool,
) -> i64 {
    app.register(&receiver.origin()).await;
    let input = SubscriptionInput {
        url: receiver.url("/hooks"),
        triggers: channels
            .iter()
            .map(|&channel_id| TriggerChoice {
                channel_id,
                event_type: CREATED.into(),
            })
            .collect(),
        use_replies,
        ..Default::default()
    };
    subscriptions::create(&app.state, &app.admin().await, &input)
        .await
        .expect("a valid subscription")
        .id
}

fn answer(points: Value) -> Reply {
    Reply::Json(200, json!({ "data_points": points }), Duration::ZERO)
}

async fn scan(app: &TestServer, device: i64, token: &str, barcode: &str) {
    let res = app
        .post_points(
            device,
            token,
            &json!([{"channel": "barcode", "value": barcode}]),
        )
        .await;
    assert_eq!(res.status(), 202);
}

async fn step(stepper: &mut Stepper) -> Round {
    stepper.step(now_ms()).await.expect("a dispatcher round")
}

/// The reply notes of a subscription's attempts, oldest first: (outcome, message).
async fn notes(app: &TestServer, subscription: i64) -> Vec<(Option<String>, Option<String>)> {
    server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT a.reply_outcome, a.reply_message FROM delivery_attempts a
         JOIN deliveries d ON d.id = a.delivery_id WHERE d.subscription_id = $1 ORDER BY a.id",
    )
    .bind(subscription)
    .fetch_all(db)
    .await)
    .unwrap()
}

async fn last_text(app: &TestServer, channel: i64) -> Option<String> {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT last_str_value FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_one(db)
        .await)
        .unwrap()
}

async fn points_on(app: &TestServer, channel: i64) -> i64 {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM data_points WHERE channel_id = $1")
        .bind(channel)
        .fetch_one(db)
        .await)
        .unwrap()
}

#[tokio::test]
async fn a_reply_is_stored_on_the_device_and_its_events_go_to_others_but_not_back() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let (device, channels) = scanner_with_reply_channels(&app).await;
    let lims = TestReceiver::start().await;
    let eln = TestReceiver::start().await;
    // The LIMS gets scans and answers with the sample's information; it also chose the
    // sample information channel, which its own reply must not send back to it.
    let uses_reply = subscribe(
        &app,
        &lims,
        &[id(&channels, "barcode"), id(&channels, "sample_info")],
        true,
    )
    .await;
    let listens = subscribe(&app, &eln, &[id(&channels, "sample_info")], false).await;
    lims.always(answer(json!([
        {"channel": "sample_info", "value": "S-1042: river water, pH 7.2"},
        {"channel": "method", "value": "HPLC-17"},
    ])));
    eln.always(answer(json!([{"channel": "method", "value": "ignored"}])));
    let (_, token) = app.token_for(SCANNER).await;

    scan(&app, device, &token, "S-1042").await;
    let round = step(&mut stepper).await;
    assert_eq!(round.recorded.delivered, 1);
    assert_eq!(round.recorded.replies_stored, 1);
    assert_eq!(
        last_text(&app, id(&channels, "sample_info"))
            .await
            .as_deref(),
        Some("S-1042: river water, pH 7.2")
    );
    assert_eq!(
        last_text(&app, id(&channels, "method")).await.as_deref(),
        Some("HPLC-17")
    );
    assert_eq!(
        notes(&app, uses_reply).await,
        vec![(
            Some("stored".into()),
            Some("Stored 2 data points on sample_info and method of the device.".into())
        )]
    );
    // The reply's events remember who caused them, one reply deep.
    let caused: Vec<(Option<i64>, i64)> = server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT caused_by_subscription, chain_depth FROM events WHERE channel_id IN ($1, $2) ORDER BY id",
    )
    .bind(id(&channels, "sample_info"))
    .bind(id(&channels, "method"))
    .fetch_all(db)
    .await)
    .unwrap();
    // A new data point and a changed value on each of the two channels.
    assert_eq!(caused, vec![(Some(uses_reply), 1); 4]);

    // The next round: the ELN gets the sample information; the LIMS does not get its own
    // reply back. The ELN's subscription does not use replies: its answer changes nothing.
    let round = step(&mut stepper).await;
    assert_eq!(round.recorded.delivered, 1);
    let got = eln.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(
        got[0].json()["data"]["data_point"]["value"],
        "S-1042: river water, pH 7.2"
    );
    assert_eq!(step(&mut stepper).await.claimed, 0);
    assert_eq!(lims.received().len(), 1);
    // A replay would not send it back either: of the last minute it counts the scan alone, not
    // the new sample information its reply wrote; the ELN's counts that one.
    let last_minute = ReplayInput {
        since: now_ms() - 60_000,
        until: now_ms() + 1,
        ..ReplayInput::default()
    };
    let admin = app.admin().await;
    assert_eq!(
        replay::preview(&app.state, &admin, uses_reply, &last_minute)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        replay::preview(&app.state, &admin, listens, &last_minute)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        last_text(&app, id(&channels, "method")).await.as_deref(),
        Some("HPLC-17")
    );
    assert_eq!(notes(&app, listens).await, vec![(None, None)]);
}

#[tokio::test]
async fn a_reply_that_does_not_fit_is_noted_stores_nothing_and_the_delivery_still_counts() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let (device, channels) = scanner_with_reply_channels(&app).await;
    let lims = TestReceiver::start().await;
    let subscription = subscribe(&app, &lims, &[id(&channels, "barcode")], true).await;
    let (_, token) = app.token_for(SCANNER).await;
    let cases: Vec<(Reply, &str)> = vec![
        (
            Reply::Status(200),
            "The reply is not JSON (expected value at line 1 column 1); expected {\"data_points\": [{\"channel\": \"…\", \"value\": …}]}.",
        ),
        (
            Reply::Json(200, json!({"ok": true}), Duration::ZERO),
            "no \"data_points\"",
        ),
        // All or nothing: a writable channel beside one that is not stores neither.
        (
            answer(json!([
                {"channel": "method", "value": "HPLC-17"},
                {"channel": "operator", "value": "Ada"},
            ])),
            "Item 1: the channel \"operator\" does not accept replies (an organisation administrator can mark it \"May be written by replies\").",
        ),
        (
            answer(json!([{"channel": "volume", "value": "a lot"}])),
            "Item 0 (volume): the value",
        ),
        (
            answer(json!([{"channel": "colour", "value": "blue"}])),
            "Item 0: the device has no channel named \"colour\".",
        ),
        (
            answer(json!([{"channel": "method"}])),
            "The reply's data points: Item 0 needs a \"value\".",
        ),
    ];
    let n = cases.len();
    for (i, (reply, _)) in cases.iter().enumerate() {
        lims.script([reply.clone()]);
        scan(&app, device, &token, &format!("S-{i}")).await;
        let round = step(&mut stepper).await;
        assert_eq!(round.recorded.delivered, 1, "case {i}");
        assert_eq!(round.recorded.replies_stored, 0, "case {i}");
    }
    let notes = notes(&app, subscription).await;
    assert_eq!(notes.len(), n);
    for ((outcome, message), (_, says)) in notes.iter().zip(&cases) {
        let message = message.as_deref().unwrap_or_default();
        // The plain 200 "answered 200" is not JSON; the note says so (the first message
        // names serde's position, so only its start is compared).
        let says = says.split(" (expected value").next().unwrap();
        assert_eq!(outcome.as_deref(), Some("refused"), "{message}");
        assert!(
            message.contains(says) || message.starts_with(says),
            "{message:?} should say {says:?}"
        );
    }
    for name in ["sample_info", "method", "volume", "operator"] {
        assert_eq!(points_on(&app, id(&channels, name)).await, 0, "{name}");
    }
    let delivered: i64 = app
        .scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'")
        .await;
    assert_eq!(delivered, n as i64);
}

#[tokio::test]
async fn access_is_checked_when_the_reply_comes_not_when_the_subscription_was_saved() {
    // The receiver answers slowly on purpose: wait for it.
    let app = spawn_stepping(|c| c.dispatcher.request_timeout = Duration::from_secs(10)).await;
    let (device, channels) = scanner_with_reply_channels(&app).await;
    let lims = TestReceiver::start().await;
    app.register(&lims.origin()).await;
    // The demo lab user may see the scanner and subscribes with "Use the receiver's reply".
    let lab = app.sign_in("lab@demo.lab", "demo-lab-pass").await;
    let input = SubscriptionInput {
        url: lims.url("/hooks"),
        triggers: vec![TriggerChoice {
            channel_id: id(&channels, "barcode"),
            event_type: CREATED.into(),
        }],
        use_replies: true,
        ..Default::default()
    };
    let subscription = subscriptions::create(&app.state, &lab, &input)
        .await
        .expect("a valid subscription")
        .id;
    // The LIMS takes its time (long enough for a loaded machine); meanwhile the lab user
    // loses access to the scanner.
    lims.always(Reply::Json(
        200,
        json!({"data_points": [{"channel": "method", "value": "HPLC-17"}]}),
        Duration::from_millis(1500),
    ));
    let (_, token) = app.token_for(SCANNER).await;
    scan(&app, device, &token, "S-7").await;
    let state = app.state.clone();
    let stepping = tokio::spawn(async move {
        let mut stepper = Stepper::new(&state);
        stepper.step(now_ms()).await.expect("a dispatcher round")
    });
    lims.wait_for(1, Duration::from_secs(5)).await;
    subscriptions::set_device_access(&app.state, &app.admin().await, device, lab.id, false)
        .await
        .expect("access revoked");
    let round = stepping.await.unwrap();
    assert_eq!(
        (round.recorded.delivered, round.recorded.replies_stored),
        (1, 0)
    );
    assert_eq!(points_on(&app, id(&channels, "method")).await, 0);
    assert_eq!(
        notes(&app, subscription).await,
        vec![(
            Some("refused".into()),
            Some(format!(
                "The subscription's owner has no access to {SCANNER} any more."
            ))
        )]
    );
}

#[tokio::test]
async fn replies_answering_each_other_stop_at_the_fixed_depth_and_say_so() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let (device, channels) = scanner_with_reply_channels(&app).await;
    // Two receivers that answer each other: one hears sample_info and writes method, the
    // other hears method and writes sample_info; a scan starts it by way of the first.
    let first = TestReceiver::start().await;
    let second = TestReceiver::start().await;
    let a = subscribe(
        &app,
        &first,
        &[id(&channels, "barcode"), id(&channels, "sample_info")],
        true,
    )
    .await;
    let b = subscribe(&app, &second, &[id(&channels, "method")], true).await;
    first.always(answer(
        json!([{"channel": "method", "value": "from the first"}]),
    ));
    second.always(answer(
        json!([{"channel": "sample_info", "value": "from the second"}]),
    ));
    let (_, token) = app.token_for(SCANNER).await;
    scan(&app, device, &token, "S-1").await;
    let mut rounds = 0;
    while step(&mut stepper).await.claimed > 0 {
        rounds += 1;
        assert!(rounds < 20, "the chain did not stop");
    }
    // barcode (0) → first writes method (1) → second writes sample_info (2) → first writes
    // method (3) → second's reply would be 4 deep: not stored.
    let deepest: i64 = app.scalar("SELECT MAX(chain_depth) FROM events").await;
    assert_eq!(deepest, MAX_CHAIN_DEPTH);
    assert_eq!(first.received().len(), 2);
    assert_eq!(second.received().len(), 2);
    let last = notes(&app, b).await.pop().unwrap();
    assert_eq!(last.0.as_deref(), Some("refused"));
    assert!(
        last.1.unwrap().contains("caused by 3 replies in a row"),
        "the note says why the chain stopped"
    );
    assert!(notes(&app, a)
        .await
        .iter()
        .all(|n| n.0.as_deref() == Some("stored")));
}

#[tokio::test]
async fn a_test_events_reply_is_checked_but_not_stored() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let (_, channels) = scanner_with_reply_channels(&app).await;
    let lims = TestReceiver::start().await;
    let subscription = subscribe(&app, &lims, &[id(&channels, "barcode")], true).await;
    lims.always(answer(json!([
        {"channel": "sample_info", "value": "S-1: test"},
        {"channel": "method", "value": "HPLC-17"},
    ])));
    subscriptions::send_test_event(
        &app.state,
        &app.admin().await,
        subscription,
        None,
        Some("S-1"),
    )
    .await
    .expect("a test event");
    let round = step(&mut stepper).await;
    assert_eq!(
        (round.recorded.delivered, round.recorded.replies_stored),
        (1, 0)
    );
    assert_eq!(points_on(&app, id(&channels, "sample_info")).await, 0);
    assert_eq!(
        notes(&app, subscription).await,
        vec![(
            Some("checked".into()),
            Some(
                "A test event's reply is checked, not stored: it would store 2 data points on sample_info and method."
                    .into()
            )
        )]
    );
}

/// What one receiver can make Labhook write is bounded: a reply with more data points than one
/// reply may carry stores none, and a subscription whose replies stored their budget for the
/// minute stores no more — each such attempt says which limit it met.
#[tokio::test]
async fn replies_past_their_limits_store_nothing_and_say_why() {
    use server::dispatcher::replies::{MAX_POINTS_PER_REPLY, REPLY_POINTS_PER_MINUTE};
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let (device, channels) = scanner_with_reply_channels(&app).await;
    let lims = TestReceiver::start().await;
    let subscription = subscribe(&app, &lims, &[id(&channels, "barcode")], true).await;
    let (_, token) = app.token_for(SCANNER).await;
    let method = id(&channels, "method");
    let points = |n: usize| -> Value {
        (0..n)
            .map(|i| json!({"channel": "method", "value": format!("M-{i}")}))
            .collect()
    };

    lims.always(answer(points(MAX_POINTS_PER_REPLY + 1)));
    scan(&app, device, &token, "S-1").await;
    assert_eq!(step(&mut stepper).await.recorded.delivered, 1);
    assert_eq!(points_on(&app, method).await, 0);
    let (outcome, message) = notes(&app, subscription).await.remove(0);
    assert_eq!(outcome.as_deref(), Some("refused"));
    assert_eq!(
        message.as_deref(),
        Some("The reply carries 51 data points; Labhook takes at most 50 from one reply, so none were stored.")
    );

    // Full replies until the minute's budget is used up: the next is noted, not stored. (The
    // budget refills slowly — one point every 100 ms — so a slow machine may store one more.)
    lims.always(answer(points(MAX_POINTS_PER_REPLY)));
    let budget = REPLY_POINTS_PER_MINUTE as usize / MAX_POINTS_PER_REPLY;
    let mut refused = None;
    for i in 0..budget + 3 {
        scan(&app, device, &token, &format!("S-{}", i + 2)).await;
        // The reply's own events go to nobody: one round each.
        assert_eq!(step(&mut stepper).await.recorded.delivered, 1);
        let (outcome, message) = notes(&app, subscription).await.pop().unwrap();
        if outcome.as_deref() == Some("refused") {
            refused = Some((i, message.unwrap()));
            break;
        }
    }
    let (at, message) = refused.expect("the minute's budget ends");
    assert!(at >= budget, "refused after {at} full replies");
    assert!(
        message
            .starts_with("This subscription's replies stored 600 data points in the last minute"),
        "{message}"
    );
    assert_eq!(
        points_on(&app, method).await,
        (at * MAX_POINTS_PER_REPLY) as i64
    );
}
