//! Writes the server need not make — every turn of the writer is one that ingest waits behind.
//! A dispatcher with nothing to do leaves the writer alone: its rounds that find no new events
//! and nothing due ask a reader instead. A device token's last use is noted once a minute, not
//! on every request.

use std::time::{Duration, Instant};

use server::dispatcher::Dispatcher;

use crate::{
    helpers::{send_temperature, spawn_stepping, TestServer},
    receiver::TestReceiver,
};

const HOTPLATE: (&str, &str) = ("Hotplate Stirrer RCT digital", "temperature");

/// Until `n` deliveries are recorded as delivered (the receiver's answer written down).
async fn delivered(app: &TestServer, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got: i64 = app
            .scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'")
            .await;
        if got >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{got} of {n} delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_quiet_dispatcher_takes_no_turn_of_the_writer() {
    let mut app = spawn_stepping(|_| {}).await;
    let receiver = TestReceiver::start().await;
    app.subscribe(
        &receiver,
        "/quiet",
        HOTPLATE,
        &["data_point.created"],
        vec![],
    )
    .await;
    let (_, token) = app.token_for(HOTPLATE.0).await;
    app.dispatcher = Some(Dispatcher::spawn(app.state.clone()));
    send_temperature(&app, &token, 20.0).await;
    delivered(&app, 1).await;

    // The loop wakes at least once a second (and once more when the send above finished):
    // over 2.5 s it looks for new events and due deliveries a few times, and writes nothing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = app.state.write_transactions();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        app.state.write_transactions(),
        before,
        "an idle dispatcher took turns of the writer"
    );

    // And a new event still goes out.
    send_temperature(&app, &token, 21.0).await;
    delivered(&app, 2).await;
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_device_tokens_last_use_is_written_at_most_once_a_minute() {
    let app = spawn_stepping(|_| {}).await;
    let (token_id, token) = {
        let (_, token) = app.token_for(HOTPLATE.0).await;
        let id: i64 = app.scalar("SELECT MAX(id) FROM device_tokens").await;
        (id, token)
    };
    let last_used = || async {
        app.scalar::<Option<i64>>(&format!(
            "SELECT last_used_at FROM device_tokens WHERE id = {token_id}"
        ))
        .await
    };
    assert_eq!(last_used().await, None);

    send_temperature(&app, &token, 20.0).await;
    let first = last_used().await.expect("noted on first use");
    tokio::time::sleep(Duration::from_millis(20)).await;
    send_temperature(&app, &token, 21.0).await;
    assert_eq!(
        last_used().await,
        Some(first),
        "written again within the minute"
    );

    // A minute later it is written again.
    let earlier = first - 61_000;
    server::db::with_db!(&app.state.pool, db => sqlx::query("UPDATE device_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(earlier)
        .bind(token_id)
        .execute(db)
        .await
        .map(server::db::Done::from))
    .unwrap();
    send_temperature(&app, &token, 22.0).await;
    assert!(
        last_used().await.unwrap() > first,
        "not noted after a minute"
    );
}
