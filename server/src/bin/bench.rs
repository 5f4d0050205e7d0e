//! Benchmarks against the real backend on this machine: a fresh SQLite file in a temporary
//! directory, the real HTTP router on a loopback port, real HTTP clients.
//!
//!     cargo run --release -p server --bin bench -- ingest     [--seconds 10] [--concurrency 8] [--batch 100]
//!     cargo run --release -p server --bin bench -- throughput [--subscriptions 50] [--events 4000]
//!     cargo run --release -p server --bin bench -- latency    [--rate 500] [--seconds 10]
//!     cargo run --release -p server --bin bench -- fanout     [--subscriptions 1000]
//!     cargo run --release -p server --bin bench -- scaling    [--seconds 10]
//!     cargo run --release -p server --bin bench -- http       [--seconds 10] [--concurrency 512]
//!     cargo run --release -p server --bin bench -- all
//!
//! `--in-flight N` sets the dispatcher's limit of requests in flight (default 256).
//!
//! The delivery modes run the real dispatcher against a fast receiver on loopback (in this
//! process). Prints throughput and latency; numbers are this machine's, not promises.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use server::{harness::Instance, AppState};

const HOTPLATE: &str = "Hotplate Stirrer RCT digital";

struct Args {
    mode: String,
    seconds: u64,
    concurrency: usize,
    batch: usize,
    subscriptions: usize,
    events: usize,
    rate: u64,
}

fn parse_args() -> Args {
    let mut args = Args {
        mode: "ingest".into(),
        seconds: 10,
        concurrency: 8,
        batch: 100,
        subscriptions: 0,
        events: 4000,
        rate: 500,
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
            "--subscriptions" => args.subscriptions = num("--subscriptions") as usize,
            "--events" => args.events = num("--events") as usize,
            "--rate" => args.rate = num("--rate"),
            "--in-flight" => {
                num("--in-flight");
            }
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
        "throughput" => throughput(args).await,
        "latency" => latency(args).await,
        "fanout" => fanout(args).await,
        "scaling" => scaling(args).await,
        "http" => http_only(args).await,
        "all" => {
            ingest(Args {
                mode: "ingest".into(),
                ..args
            })
            .await;
            println!();
            throughput(parse_args()).await;
            println!();
            latency(parse_args()).await;
            println!();
            fanout(parse_args()).await;
            println!();
            scaling(parse_args()).await;
        }
        other => {
            eprintln!(
                "unknown mode {other:?}; try: ingest, throughput, latency, fanout, scaling, all"
            );
            std::process::exit(2);
        }
    }
}

/// `--in-flight N`, read where the configuration is made.
fn in_flight_flag() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--in-flight")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// A backend on a loopback port with the demo data, in a scratch directory.
async fn start() -> Instance {
    Instance::start(|config| {
        if let Some(n) = in_flight_flag() {
            config.dispatcher.max_in_flight = n;
        }
    })
    .await
}

async fn ingest(args: Args) {
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

/// A receiver that answers 200 at once and notes when each request arrived, by the data
/// point's value (the bench puts the send time or a sequence number there).
#[derive(Clone, Default)]
struct Receiver {
    count: Arc<AtomicU64>,
    arrivals: Arc<std::sync::Mutex<Vec<(f64, Instant)>>>,
    keep_arrivals: bool,
}

impl Receiver {
    async fn start(keep_arrivals: bool) -> (Self, String) {
        let r = Receiver {
            keep_arrivals,
            ..Receiver::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let handler = r.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let r = handler.clone();
            async move {
                r.count.fetch_add(1, Ordering::Relaxed);
                if r.keep_arrivals {
                    let now = Instant::now();
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        if let Some(x) = v["data"]["data_point"]["value"].as_f64() {
                            r.arrivals.lock().unwrap().push((x, now));
                        }
                    }
                }
                "ok"
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }
}

/// A backend with demo data and a running dispatcher, ready to be fed through the ingest API.
struct Setup {
    /// The hotplate's ingest endpoint.
    endpoint: String,
    token: String,
    device: i64,
    dispatcher: server::dispatcher::Dispatcher,
    instance: Instance,
}

/// `n` subscriptions on the hotplate's temperature (data_point.created), all pointing at the
/// receiver; made concurrently, so that the writer commits them together.
async fn start_dispatching(subscriptions: usize, receiver_url: &str) -> Setup {
    let instance = start().await;
    instance.register(receiver_url).await;
    let (device, token) = instance.token_for(HOTPLATE).await;
    let channel = instance.channel_id(device, "temperature").await;
    let urls: Vec<String> = (0..subscriptions)
        .map(|i| format!("{receiver_url}s{i}"))
        .collect();
    let shared = &instance;
    for chunk in urls.chunks(256) {
        futures_util::future::join_all(chunk.iter().map(|url| async move {
            shared
                .subscribe(url, &[channel], &["data_point.created"], vec![])
                .await
        }))
        .await;
    }
    Setup {
        endpoint: instance.ingest_url(device),
        token,
        device,
        dispatcher: server::dispatcher::Dispatcher::spawn(instance.state.clone()),
        instance,
    }
}

async fn delivered(state: &AppState) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'")
        .fetch_one(&state.pool)
        .await
        .unwrap()
}

/// Durable deliveries per second: `events` events, each to every subscription; the clock runs
/// from the first ingest request until the last outcome is recorded in SQLite.
async fn throughput(args: Args) {
    let subscriptions = if args.subscriptions == 0 {
        50
    } else {
        args.subscriptions
    };
    let (receiver, receiver_url) = Receiver::start(false).await;
    let Setup {
        endpoint,
        token,
        dispatcher,
        instance,
        ..
    } = start_dispatching(subscriptions, &receiver_url).await;
    let state = &instance.state;
    let total = (subscriptions * args.events) as i64;
    println!(
        "throughput: {} events × {subscriptions} subscriptions = {total} deliveries to a loopback receiver",
        args.events
    );
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut sent = 0;
    while sent < args.events {
        let n = 100.min(args.events - sent);
        let body: Vec<Value> = (0..n)
            .map(|k| json!({"channel": "temperature", "value": (sent + k) as f64}))
            .collect();
        let res = client
            .post(&endpoint)
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        sent += n;
    }
    let ingested = started.elapsed();
    loop {
        if delivered(state).await >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let attempts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM delivery_attempts")
        .fetch_one(&state.pool)
        .await
        .unwrap();
    dispatcher.shutdown().await;
    println!("ingest took:     {:>10.2} s", ingested.as_secs_f64());
    println!("all recorded in: {:>10.2} s", secs);
    println!(
        "deliveries:      {:>10.0} /s (durable: delivery and attempt rows written)",
        total as f64 / secs
    );
    println!("attempt rows:    {attempts:>10}");
    println!(
        "receiver got:    {:>10}",
        receiver.count.load(Ordering::Relaxed)
    );
    println!("peak RSS:        {:>10} MiB", peak_rss_mib());
}

/// Ingest → receiver latency at a steady rate of single-point requests, one subscription.
async fn latency(args: Args) {
    let (receiver, receiver_url) = Receiver::start(true).await;
    let Setup {
        endpoint,
        token,
        dispatcher,
        instance: _instance,
        ..
    } = start_dispatching(1, &receiver_url).await;
    let origin = Instant::now();
    println!(
        "latency: {} events/s for {} s, one subscription, ingest API → receiver",
        args.rate, args.seconds
    );
    let client = reqwest::Client::new();
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let total = args.rate * args.seconds;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..total {
        tick.tick().await;
        let (client, endpoint, token) = (client.clone(), endpoint.clone(), token.clone());
        // The value is the send time (µs since the start), so the receiver can tell latency.
        let sent_at = origin.elapsed().as_micros() as f64;
        requests.spawn(async move {
            let body = json!([{"channel": "temperature", "value": sent_at}]);
            let res = client
                .post(&endpoint)
                .bearer_auth(&token)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 202);
        });
    }
    while requests.join_next().await.is_some() {}
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.count.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dispatcher.shutdown().await;
    let mut lat: Vec<f64> = receiver
        .arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|(sent_us, at)| (at.duration_since(origin).as_micros() as f64 - sent_us) / 1000.0)
        .collect();
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!("delivered:       {:>10} of {total}", lat.len());
    println!("latency p50:     {:>10.2} ms", p(0.50));
    println!("latency p99:     {:>10.2} ms", p(0.99));
    println!(
        "latency max:     {:>10.2} ms",
        lat.last().copied().unwrap_or(0.0)
    );
    println!("peak RSS:        {:>10} MiB", peak_rss_mib());
}

/// One event fanned out to many subscriptions: time until the receiver has them all.
async fn fanout(args: Args) {
    let subscriptions = if args.subscriptions == 0 {
        1000
    } else {
        args.subscriptions
    };
    let (receiver, receiver_url) = Receiver::start(false).await;
    let Setup {
        endpoint,
        token,
        dispatcher,
        instance: _instance,
        ..
    } = start_dispatching(subscriptions, &receiver_url).await;
    println!("fanout: one event to {subscriptions} subscriptions");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let res = client
        .post(&endpoint)
        .bearer_auth(&token)
        .json(&json!([{"channel": "temperature", "value": 1}]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    while receiver.count.load(Ordering::Relaxed) < subscriptions as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "fan-out did not finish"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!(
        "all received in: {:>10.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    dispatcher.shutdown().await;
}

/// Ingest cost with 100 and with 100,000 subscriptions in the organisation: the same 100 on
/// the measured channel, the rest on other channels. Fan-out looks subscriptions up by
/// (channel, event type), so the rest should cost nothing.
async fn scaling(args: Args) {
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
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions")
            .fetch_one(&state.pool)
            .await
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
    let channels: Vec<i64> = sqlx::query_scalar(
        "SELECT c.id FROM channels c JOIN devices d ON d.id = c.device_id
         WHERE d.organisation_id = (SELECT organisation_id FROM devices WHERE id = ?) AND c.device_id != ?",
    )
    .bind(measured_device)
    .bind(measured_device)
    .fetch_all(&instance.state.pool)
    .await
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

/// The floor under `throughput`: the same HTTP client and receiver, no database at all.
async fn http_only(args: Args) {
    let (receiver, url) = Receiver::start(false).await;
    let sender =
        server::dispatcher::sender::Sender::new(Duration::from_secs(5), Duration::from_secs(15));
    let target = Arc::new(server::dispatcher::sender::Target {
        subscription_id: 1,
        organisation_id: 1,
        url: server::domain::target_url::TargetUrl::parse(&url).unwrap(),
        headers: Default::default(),
        secret: server::domain::signature::SigningSecret::parse(
            &server::domain::signature::generate_secret(),
        )
        .unwrap(),
        previous_secret: None,
    });
    let body: Arc<str> = Arc::from(
        r#"{"type":"data_point.created","timestamp":"2026-11-24T09:30:00.000Z","data":{"value":1}}"#,
    );
    let concurrency = if args.concurrency == 8 {
        512
    } else {
        args.concurrency
    };
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (sender, target, body) = (sender.clone(), target.clone(), body.clone());
        tasks.spawn(async move {
            while Instant::now() < deadline {
                let a = sender.send(&target, "msg_bench", body.clone()).await;
                assert!(a.succeeded());
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let n = receiver.count.load(Ordering::Relaxed);
    println!("http only: {concurrency} concurrent signed POSTs, no database");
    println!(
        "requests:        {:>10.0} /s",
        n as f64 / started.elapsed().as_secs_f64()
    );
}
