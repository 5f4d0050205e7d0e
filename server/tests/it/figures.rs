//! The overview's "24 h success" and the subscription's hourly chart agree with the deliveries
//! themselves through every change a delivery goes through — a failed attempt, retries, failing
//! for good, a redelivery, a cancellation, retention — and leave test events out. On SQLite they
//! are counts that triggers keep (migrations/0025); on Postgres they are counted each time.

use serde_json::json;
use server::{
    clock::now_ms,
    deliveries::{health_of, per_hour, Health},
    dispatcher::Stepper,
    retention::Cutoffs,
};

use crate::{
    helpers::{spawn_stepping, TestServer},
    receiver::{Reply, TestReceiver},
};

const HOUR: i64 = 3_600_000;

/// The figures as read, and as counted from the deliveries: (delivered, failing, per hour as
/// (delivered, failed, other)).
async fn figures(app: &TestServer, subscription: i64) -> [(i64, i64, Vec<(i64, i64, i64)>); 2] {
    let now = now_ms();
    let since = now - 24 * HOUR;
    let mut conn = app.state.pool.acquire().await.unwrap();
    let health = health_of(&mut conn, &[subscription], since).await.unwrap();
    let Health {
        delivered, failing, ..
    } = health.into_iter().next().unwrap_or(Health {
        subscription_id: subscription,
        delivered: 0,
        failing: 0,
        last_failure_at: None,
    });
    let admin = app.admin().await;
    let hours = per_hour(&app.state.pool, &admin, subscription, now, 24)
        .await
        .unwrap();
    let read = (
        delivered,
        failing,
        hours
            .iter()
            .map(|h| (h.delivered, h.failed, h.other))
            .collect(),
    );
    // The truth: every delivery of the subscription, its status now.
    let first = (since + HOUR - 1).div_euclid(HOUR) * HOUR;
    let rows: Vec<(String, i64, i64, bool)> =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT status, attempts, created_at, test FROM deliveries WHERE subscription_id = $1",
    )
    .bind(subscription)
    .fetch_all(db)
    .await)
        .unwrap();
    let counted: Vec<_> = rows
        .into_iter()
        .filter(|(_, _, at, test)| !test && *at >= first)
        .collect();
    let count = |f: &dyn Fn(&str, i64) -> bool| {
        counted.iter().filter(|(s, a, _, _)| f(s, *a)).count() as i64
    };
    let truth = (
        count(&|s, _| s == "delivered"),
        count(&|s, a| s == "failed" || (s == "retrying" && a > 0)),
        hours
            .iter()
            .map(|h| {
                let of_hour: Vec<_> = counted
                    .iter()
                    .filter(|(_, _, at, _)| at.div_euclid(HOUR) * HOUR == h.at)
                    .collect();
                let n =
                    |f: &dyn Fn(&str) -> bool| of_hour.iter().filter(|r| f(&r.0)).count() as i64;
                (
                    n(&|s| s == "delivered"),
                    n(&|s| s == "failed"),
                    n(&|s| s != "delivered" && s != "failed"),
                )
            })
            .collect(),
    );
    [read, truth]
}

async fn assert_figures(
    app: &TestServer,
    subscription: i64,
    when: &str,
    delivered: i64,
    failing: i64,
) {
    let [read, truth] = figures(app, subscription).await;
    assert_eq!(read, truth, "{when}: the figures as read, then as counted");
    assert_eq!((read.0, read.1), (delivered, failing), "{when}");
}

async fn send(app: &TestServer, device: i64, token: &str, value: f64) {
    let res = app
        .post_points(
            device,
            token,
            &json!([{"channel": "temperature", "value": value}]),
        )
        .await;
    assert_eq!(res.status(), 202);
}

#[tokio::test]
async fn the_figures_follow_every_change_of_a_delivery() {
    let app = spawn_stepping(|_| {}).await;
    let mut stepper = Stepper::new(&app.state);
    let receiver = TestReceiver::start().await;
    receiver.always(Reply::Status(500));
    let hotplate = ("Hotplate Stirrer RCT digital", "temperature");
    let (subscription, _) = app
        .subscribe(&receiver, "/", hotplate, &["data_point.created"], vec![])
        .await;
    let (device, token) = app.token_for(hotplate.0).await;
    let send = |value: f64| send(&app, device, &token, value);
    for v in [20.0, 21.0, 22.0] {
        send(v).await;
    }
    let now = now_ms();
    stepper.step(now).await.unwrap();
    // A test event's delivery is left out of the figures.
    let admin = app.admin().await;
    server::subscriptions::send_test_event(&app.state, &admin, subscription, None, None)
        .await
        .unwrap();
    assert_figures(&app, subscription, "after a failed first attempt", 0, 3).await;

    for round in 1..10 {
        stepper.step(now + round * 1_000).await.unwrap();
    }
    assert_figures(&app, subscription, "failed for good", 0, 3).await;

    receiver.always(Reply::Status(200));
    let failed: i64 = app
        .scalar("SELECT MIN(id) FROM deliveries WHERE status = 'failed' AND test = FALSE")
        .await;
    server::subscriptions::redeliver(&app.state, &admin, failed)
        .await
        .unwrap();
    assert_figures(&app, subscription, "sent again", 0, 2).await;
    stepper.step(now + 20_000).await.unwrap();
    assert_figures(&app, subscription, "delivered at last", 1, 2).await;

    send(23.0).await;
    stepper.step(now + 21_000).await.unwrap();
    send(24.0).await;
    // Switched off before it is sent: its pending delivery is cancelled (counted as neither).
    server::subscriptions::set_active(&app.state, &admin, subscription, false)
        .await
        .unwrap();
    assert_figures(
        &app,
        subscription,
        "one more delivered, one cancelled",
        2,
        2,
    )
    .await;

    let everything = Cutoffs {
        deliveries: now_ms() + 60_000,
        data_points: None,
    };
    server::retention::prune(&app.state, everything)
        .await
        .unwrap();
    assert_figures(&app, subscription, "removed by retention", 0, 0).await;
}
