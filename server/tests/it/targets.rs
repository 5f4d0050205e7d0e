//! What the dispatcher keeps of a subscription's target between batches
//! (`dispatcher/targets.rs`) never outlives a change: the webhook after a secret's rotation,
//! sent by the same dispatcher, is signed with the new secret (and the previous one beside it).

use server::{clock::now_ms, dispatcher::Stepper, subscriptions};
use standardwebhooks::Webhook;

use crate::{
    helpers::{send_temperature, spawn_stepping},
    receiver::TestReceiver,
};

const HOTPLATE: (&str, &str) = ("Hotplate Stirrer RCT digital", "temperature");

#[tokio::test]
async fn a_rotated_secret_signs_the_next_webhook_of_the_same_dispatcher() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    let (subscription, old) = app
        .subscribe(&receiver, "/", HOTPLATE, &["data_point.created"], vec![])
        .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    send_temperature(&app, &token, 20.0).await;
    stepper.step(now_ms()).await.expect("a dispatcher round");

    let admin = app.admin().await;
    let new = subscriptions::rotate_secret(&app.state, &admin, subscription)
        .await
        .expect("the secret rotates");
    send_temperature(&app, &token, 21.0).await;
    stepper.step(now_ms()).await.expect("a dispatcher round");

    let got = receiver.received();
    assert_eq!(got.len(), 2);
    let verifies = |secret: &str, n: usize| {
        Webhook::new(secret)
            .unwrap()
            .verify(&got[n].body, &got[n].headers)
            .is_ok()
    };
    assert!(verifies(&old, 0) && !verifies(&new, 0));
    assert!(
        verifies(&new, 1),
        "the webhook after the rotation is signed with the new secret"
    );
    assert!(
        verifies(&old, 1),
        "and with the previous one while it still signs"
    );
}
