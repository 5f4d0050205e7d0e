//! Benchmarks against the real backend on this machine: a fresh SQLite file in a temporary
//! directory, the real HTTP router on a loopback port, real HTTP clients.
//!
//!     cargo run --release -p server --bin bench -- ingest [--seconds 10] [--concurrency 8] [--batch 100]
//!
//! Prints throughput and latency; numbers are this machine's, not promises.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use server::{config::Config, AppState};

struct Args {
    mode: String,
    seconds: u64,
    concurrency: usize,
    batch: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        mode: "ingest".into(),
        seconds: 10,
        concurrency: 8,
        batch: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut num = |name: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--seconds" => args.seconds = num("--seconds"),
            "--concurrency" => args.concurrency = num("--concurrency") as usize,
            "--batch" => args.batch = num("--batch") as usize,
            m if !m.starts_with('-') => args.mode = m.to_owned(),
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    match args.mode.as_str() {
        "ingest" => ingest(args).await,
        other => {
            eprintln!("unknown mode {other:?}; try: ingest");
            std::process::exit(2);
        }
    }
}

/// A backend on a loopback port with the demo data: (base URL, state, temp dir guard).
async fn start() -> (String, AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::for_database(dir.path().join("bench.db"));
    let pool = server::db::open(&config.database).await.expect("database");
    server::demo::seed_if_empty(&pool).await.expect("demo data");
    let state = AppState::new(pool, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = server::http::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, state, dir)
}

async fn token_for(state: &AppState, device: &str) -> (i64, String) {
    let admin = server::auth::sign_in(
        &state.pool,
        &state.config,
        "admin@demo.lab",
        "demo-admin-pass",
    )
    .await
    .expect("admin")
    .0;
    let id: i64 = sqlx::query_scalar("SELECT id FROM devices WHERE name = ?")
        .bind(device)
        .fetch_one(&state.pool)
        .await
        .unwrap();
    let t = server::devices::tokens::create(state, &admin, id, "bench")
        .await
        .unwrap();
    (id, t.token)
}

async fn ingest(args: Args) {
    let (url, state, _dir) = start().await;
    let (device, token) = token_for(&state, "Hotplate Stirrer RCT digital").await;
    let endpoint = format!("{url}/api/v1/devices/{device}/data_points");
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

/// The process's peak resident set size (Linux), in MiB.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}
