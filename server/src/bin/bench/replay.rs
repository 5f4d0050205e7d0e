//! `replay`: live latency with and without a large replay behind it. One subscription on the
//! hotplate's temperature; 100,000 older events (stored before the subscription's start, so
//! live fan-out passes them by) are replayed to it while the ingest API feeds it live events
//! at `--rate`. Prints live p50/p99 without and with the replay, and how far the replay got.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use serde_json::json;
use server::subscriptions::replay::{self, ReplayInput};

use super::{
    args::Args,
    receiver::{pct, Receiver},
    setup::{peak_rss_mib, start_dispatching, Setup},
};

const OLD_EVENTS: i64 = 100_000;

/// Sends `rate` events a second for `seconds` and answers the live latencies (ms).
async fn live(
    endpoint: &str,
    token: &str,
    rate: u64,
    seconds: u64,
    receiver: &Receiver,
    origin: Instant,
) -> Vec<f64> {
    receiver.arrivals.lock().unwrap().clear();
    let client = reqwest::Client::new();
    let total = rate * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..total {
        tick.tick().await;
        let (client, endpoint, token) = (client.clone(), endpoint.to_owned(), token.to_owned());
        let sent_at = origin.elapsed().as_micros() as f64;
        requests.spawn(async move {
            let res = client
                .post(&endpoint)
                .bearer_auth(&token)
                .json(&json!([{"channel": "temperature", "value": sent_at}]))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
        });
    }
    while requests.join_next().await.is_some() {}
    // Live values are send times (≥ 0); replayed ones are negative.
    let arrived = || {
        receiver
            .arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|(v, _)| *v >= 0.0)
            .count() as u64
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrived() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    receiver.latencies_ms(origin, |v| v >= 0.0)
}

pub async fn replay(args: Args) {
    let (receiver, receiver_url) = Receiver::start(true).await;
    let Setup {
        endpoint,
        token,
        device,
        dispatcher,
        instance,
    } = start_dispatching(1, &receiver_url).await;
    let state = instance.state.clone();
    let channel = instance.channel_id(device, "temperature").await;
    let subscription: i64 =
        server::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT MAX(id) FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    // The outage's events: an hour before the subscription started, values negative.
    let now = server::clock::now_ms();
    let start = now - 3_600_000;
    state
        .write(move |conn| {
            Box::pin(async move {
                server::db::with_db!(conn, db => sqlx::query(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
                     INSERT INTO events (organisation_id, device_id, channel_id, event_type, occurred_at, created_at, payload)
                     SELECT 1, $2, $3, 'data_point.created', $4 + i * 30, $4 + i * 30,
                            json_object('data_point', json_object('value', -i)) FROM n",
                )
                .bind(OLD_EVENTS)
                .bind(device)
                .bind(channel)
                .bind(start - 3_600_000)
                .execute(db)
                .await
                .map(drop))?;
                server::db::with_db!(conn, db => sqlx::query("UPDATE subscriptions SET active_since = $1 WHERE id = $2")
                    .bind(start)
                    .bind(subscription)
                    .execute(db)
                    .await
                    .map(drop))?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let origin = Instant::now();
    println!(
        "replay: {OLD_EVENTS} old events replayed behind {} live events/s for {} s, one subscription",
        args.rate, args.seconds
    );
    // Warm up (connections, caches), then measure without a replay.
    live(&endpoint, &token, args.rate, 2, &receiver, origin).await;
    let quiet = live(
        &endpoint,
        &token,
        args.rate,
        args.seconds,
        &receiver,
        origin,
    )
    .await;
    let admin = instance.admin().await;
    let input = ReplayInput {
        since: start - 3_600_000,
        // Only the outage: the live events of the first phase were delivered already.
        until: start,
        channel_id: None,
        event_type: None,
    };
    let replay_id = replay::start(&state, &admin, subscription, &input)
        .await
        .expect("the replay starts");
    let before = receiver.count.load(Ordering::Relaxed);
    let busy_started = Instant::now();
    let busy = live(
        &endpoint,
        &token,
        args.rate,
        args.seconds,
        &receiver,
        origin,
    )
    .await;
    let replayed = receiver.count.load(Ordering::Relaxed) - before - busy.len() as u64;
    let elapsed = busy_started.elapsed().as_secs_f64();
    let (queued, total): (i64, i64) =
        server::db::with_db!(&state.pool, db => sqlx::query_as("SELECT queued, total FROM replays WHERE id = $1")
            .bind(replay_id)
            .fetch_one(db)
            .await)
            .unwrap();
    dispatcher.shutdown().await;
    println!("replay events:   {total:>10} (queued {queued} so far)");
    println!(
        "live, no replay: p50 {:>8.2} ms   p99 {:>8.2} ms   ({} delivered)",
        pct(&quiet, 0.5),
        pct(&quiet, 0.99),
        quiet.len()
    );
    println!(
        "live + replay:   p50 {:>8.2} ms   p99 {:>8.2} ms   ({} delivered)",
        pct(&busy, 0.5),
        pct(&busy, 0.99),
        busy.len()
    );
    println!(
        "p99 ratio:       {:>10.2}×",
        pct(&busy, 0.99) / pct(&quiet, 0.99).max(0.001)
    );
    println!(
        "replayed:        {replayed:>10} in {elapsed:.1} s ({:.0}/s alongside live)",
        replayed as f64 / elapsed
    );
    println!("peak RSS:        {:>10} MiB", peak_rss_mib());
}
