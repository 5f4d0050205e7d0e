//! `ingest`: data points per second through the ingest API, no subscriptions.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::{
    args::Args,
    setup::{peak_rss_mib, start, HOTPLATE},
};

pub async fn ingest(args: Args) {
    let instance = start().await;
    let (device, token) = instance.token_for(HOTPLATE).await;
    let endpoint = instance.ingest_url(device);
    let client = reqwest::Client::new();
    let points = Arc::new(AtomicU64::new(0));
    let events = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    println!(
        "ingest: {} clients, {} data points per request, {} s, SQLite file in a temp dir",
        args.concurrency, args.batch, args.seconds
    );
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..args.concurrency {
        let (client, endpoint, token) = (client.clone(), endpoint.clone(), token.clone());
        let (points, events) = (points.clone(), events.clone());
        let batch = args.batch;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0u64;
            while Instant::now() < deadline {
                // Temperatures that wander and now and then leave 0–310 °C: every kind of
                // channel event occurs.
                let body: Vec<Value> = (0..batch)
                    .map(|k| {
                        i += 1;
                        let v = ((i * 7 + worker as u64 * 13 + k as u64) % 400) as f64;
                        json!({"channel": if k % 2 == 0 { "temperature" } else { "rotation" }, "value": v})
                    })
                    .collect();
                let t0 = Instant::now();
                let res = client
                    .post(&endpoint)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("request");
                assert_eq!(res.status(), 202, "{}", res.text().await.unwrap_or_default());
                let receipt: Value = res.json().await.unwrap();
                latencies.push(t0.elapsed());
                points.fetch_add(receipt["accepted"].as_u64().unwrap(), Ordering::Relaxed);
                events.fetch_add(
                    receipt["event_ids"].as_array().unwrap().len() as u64,
                    Ordering::Relaxed,
                );
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let points = points.load(Ordering::Relaxed) as f64;
    let events = events.load(Ordering::Relaxed) as f64;
    println!("requests:     {:>10.0} /s", latencies.len() as f64 / secs);
    println!("data points:  {:>10.0} /s", points / secs);
    println!(
        "events:       {:>10.0} /s ({:.2} per data point)",
        events / secs,
        events / points
    );
    println!("request p50:  {:>10.2} ms", p(0.50).as_secs_f64() * 1e3);
    println!("request p99:  {:>10.2} ms", p(0.99).as_secs_f64() * 1e3);
    println!("peak RSS:     {:>10} MiB", peak_rss_mib());
}
