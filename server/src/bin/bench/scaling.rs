//! `scaling`: ingest cost with 100 and with 100,000 subscriptions in the organisation.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use server::harness::Instance;

use super::{
    args::Args,
    receiver::Receiver,
    setup::{start_dispatching, Setup},
};

/// Ingest cost with 100 and with 100,000 subscriptions in the organisation: the same 100 on
/// the measured channel, the rest on other channels. Fan-out looks subscriptions up by
/// (channel, event type), so the rest should cost nothing.
pub async fn scaling(args: Args) {
    let mut results = Vec::new();
    for others in [0usize, 99_900] {
        let (_receiver, receiver_url) = Receiver::start(false).await;
        let Setup {
            endpoint,
            token,
            device,
            dispatcher,
            instance,
        } = start_dispatching(100, &receiver_url).await;
        let state = &instance.state;
        if others > 0 {
            add_subscriptions_elsewhere(&instance, device, others, &receiver_url).await;
        }
        let total: i64 = server::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions")
            .fetch_one(db)
            .await)
            .unwrap();
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let started = Instant::now();
        let mut points = 0u64;
        let mut latencies = Vec::new();
        let mut i = 0u64;
        while Instant::now() < deadline {
            let body: Vec<Value> = (0..10)
                .map(|k| json!({"channel": "temperature", "value": (i * 10 + k) as f64}))
                .collect();
            i += 1;
            let t0 = Instant::now();
            let res = client
                .post(&endpoint)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
            latencies.push(t0.elapsed());
            points += 10;
        }
        let secs = started.elapsed().as_secs_f64();
        latencies.sort();
        let p99 = latencies[(latencies.len() as f64 * 0.99) as usize].as_secs_f64() * 1e3;
        let p50 = latencies[latencies.len() / 2].as_secs_f64() * 1e3;
        println!(
            "scaling: {total:>6} subscriptions: {:>8.0} data points/s ingested (100 deliveries each), request p50 {p50:.2} ms, p99 {p99:.2} ms",
            points as f64 / secs
        );
        results.push(points as f64 / secs);
        dispatcher.shutdown().await;
    }
    println!(
        "ingest cost ratio (100,000 vs 100 subscriptions): {:.2}",
        results[0] / results[1]
    );
}

/// Subscriptions on the other channels of the demo organisation, made through the service
/// like any other, 256 at a time (the writer commits each group together).
async fn add_subscriptions_elsewhere(
    instance: &Instance,
    measured_device: i64,
    n: usize,
    receiver_url: &str,
) {
    let channels: Vec<i64> = server::db::with_db!(&instance.state.pool, db => sqlx::query_scalar(
        "SELECT c.id FROM channels c JOIN devices d ON d.id = c.device_id
         WHERE d.organisation_id = (SELECT organisation_id FROM devices WHERE id = $1) AND c.device_id != $2",
    )
    .bind(measured_device)
    .bind(measured_device)
    .fetch_all(db)
    .await)
    .unwrap();
    let events = [
        "data_point.created",
        "channel.value_changed",
        "device.status_changed",
    ];
    let started = Instant::now();
    let urls: Vec<(String, i64)> = (0..n)
        .map(|i| {
            (
                format!("{receiver_url}other{i}"),
                channels[i % channels.len()],
            )
        })
        .collect();
    for chunk in urls.chunks(256) {
        futures_util::future::join_all(chunk.iter().map(|(url, channel)| async move {
            instance.subscribe(url, &[*channel], &events, vec![]).await
        }))
        .await;
    }
    println!(
        "scaling: {n} more subscriptions made through the service in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
