//! Noisy channels (issue 15): a trigger's dead band, minimum interval and "settled", through
//! the real ingest API and the dispatcher stepped round by round. The clock is the data
//! points' own timestamps, fixed by the test.

use serde_json::{json, Value};
use server::{
    clock::now_ms,
    dispatcher::Stepper,
    domain::debounce::RawOptions,
    subscriptions::{
        self,
        rules::{SubscriptionInput, TriggerChoice, TriggerOptions},
    },
    Error,
};

use crate::{
    helpers::{spawn_stepping, TestServer},
    receiver::TestReceiver,
};

const BALANCE: (&str, &str) = ("Analytical Balance XPR204", "weight");

async fn subscribe(
    app: &TestServer,
    receiver: &TestReceiver,
    event: &str,
    options: Option<RawOptions>,
) -> Result<i64, Error> {
    app.register(&receiver.origin()).await;
    let device = app.device_id(BALANCE.0).await;
    let channel_id = app.channel_id(device, BALANCE.1).await;
    let input = SubscriptionInput {
        url: receiver.url("/weights"),
        triggers: vec![TriggerChoice {
            channel_id,
            event_type: event.into(),
        }],
        trigger_options: options
            .into_iter()
            .map(|options| TriggerOptions {
                channel_id,
                event_type: event.into(),
                options,
            })
            .collect(),
        ..Default::default()
    };
    subscriptions::create(&app.state, &app.admin().await, &input)
        .await
        .map(|c| c.id)
}

/// Weighs (milliseconds after `t0`, value) in one request, then lets the dispatcher send.
async fn weigh(app: &TestServer, stepper: &mut Stepper, t0: i64, points: &[(i64, f64)]) {
    let (device, token) = app.token_for(BALANCE.0).await;
    let body: Vec<Value> = points
        .iter()
        .map(|(at, v)| json!({"channel": "weight", "value": v, "timestamp": t0 + at}))
        .collect();
    let res = app.post_points(device, &token, &json!(body)).await;
    assert_eq!(res.status(), 202);
    for _ in 0..10 {
        if stepper.step(now_ms()).await.unwrap().claimed == 0 {
            return;
        }
    }
    panic!("still sending");
}

/// The weights a receiver got, in the order of their timestamps.
fn weights(receiver: &TestReceiver) -> Vec<f64> {
    let mut got: Vec<(String, f64)> = receiver
        .received()
        .iter()
        .map(|r| {
            let body = r.json();
            (
                body["data"]["data_point"]["timestamp"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                body["data"]["data_point"]["value"].as_f64().unwrap(),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    got.into_iter().map(|(_, v)| v).collect()
}

#[tokio::test]
async fn a_dead_band_sends_only_changes_that_large() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let banded = TestReceiver::start().await;
    let every = TestReceiver::start().await;
    let options = RawOptions {
        dead_band: Some(0.5),
        ..RawOptions::default()
    };
    subscribe(&app, &banded, "channel.value_changed", Some(options))
        .await
        .unwrap();
    subscribe(&app, &every, "channel.value_changed", None)
        .await
        .unwrap();
    let t0 = now_ms() - 60_000;
    let values = [100.0, 100.2, 100.4, 100.6, 100.3, 99.9];
    let points: Vec<(i64, f64)> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i64 * 1000, *v))
        .collect();
    weigh(&app, &mut stepper, t0, &points).await;
    assert_eq!(weights(&banded), vec![100.0, 100.6, 99.9]);
    // Without options, every change goes out as before.
    assert_eq!(weights(&every), values.to_vec());
}

#[tokio::test]
async fn a_minimum_interval_sends_at_most_one_per_interval_and_remembers_across_batches() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    let options = RawOptions {
        min_interval_seconds: Some(1.0),
        ..RawOptions::default()
    };
    subscribe(&app, &receiver, "data_point.created", Some(options))
        .await
        .unwrap();
    let t0 = now_ms() - 60_000;
    let points: Vec<(i64, f64)> = (0..12).map(|i| (i * 250, 10.0 + i as f64)).collect();
    weigh(&app, &mut stepper, t0, &points).await;
    assert_eq!(weights(&receiver), vec![10.0, 14.0, 18.0]);
    // A later request: 2,900 ms is too soon after 2,000; 3,000 is not.
    weigh(&app, &mut stepper, t0, &[(2900, 50.0), (3000, 51.0)]).await;
    assert_eq!(weights(&receiver), vec![10.0, 14.0, 18.0, 51.0]);
}

#[tokio::test]
async fn settled_sends_once_the_value_stayed_in_the_band_and_again_after_it_moved() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    let options = RawOptions {
        settle_band: Some(0.02),
        settle_seconds: Some(5.0),
        ..RawOptions::default()
    };
    subscribe(&app, &receiver, "data_point.created", Some(options))
        .await
        .unwrap();
    let t0 = now_ms() - 60_000;
    weigh(
        &app,
        &mut stepper,
        t0,
        &[
            (0, 12.0),
            (5000, 12.31),
            (9000, 12.40),
            (14000, 12.41),
            (15000, 12.40),
            (16000, 15.0),
            (21000, 15.01),
        ],
    )
    .await;
    assert_eq!(weights(&receiver), vec![12.41, 15.01]);
}

#[tokio::test]
async fn options_that_do_not_fit_their_trigger_are_refused_with_the_reason() {
    let app = spawn_stepping(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let on_new_points = RawOptions {
        dead_band: Some(0.5),
        ..RawOptions::default()
    };
    let Err(Error::Invalid(problems)) =
        subscribe(&app, &receiver, "data_point.created", Some(on_new_points)).await
    else {
        panic!("a dead band on new data points is refused");
    };
    assert_eq!(problems[0].field, "triggers");
    assert_eq!(
        problems[0].message,
        "weight › New data point: A dead band applies to \"value changed\" of a number channel only."
    );
    let too_long = RawOptions {
        min_interval_seconds: Some(90_000.0),
        ..RawOptions::default()
    };
    let Err(Error::Invalid(problems)) =
        subscribe(&app, &receiver, "channel.value_changed", Some(too_long)).await
    else {
        panic!("an interval over a day is refused");
    };
    assert!(problems[0].message.contains("86,400 seconds"));
    assert_eq!(app.count("subscriptions").await, 0);
}
