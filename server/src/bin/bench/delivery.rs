//! `throughput`, `latency` and `fanout`: the running dispatcher delivering to the receiver.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use super::{
    args::Args,
    receiver::{pct, Receiver},
    setup::{cpu_seconds, delivered, peak_rss_mib, start_dispatching, Setup},
};

/// Durable deliveries per second: `events` events, each to every subscription; the clock runs
/// from the first ingest request until the last outcome is recorded in SQLite.
pub async fn throughput(args: Args) {
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
    let attempts: i64 = server::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM delivery_attempts")
        .fetch_one(db)
        .await)
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
pub async fn latency(args: Args) {
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
    let lat = receiver.latencies_ms(origin, |_| true);
    let p = |q: f64| pct(&lat, q);
    println!("delivered:       {:>10} of {total}", lat.len());
    println!("latency p50:     {:>10.2} ms", p(0.50));
    println!("latency p99:     {:>10.2} ms", p(0.99));
    println!("latency p99.9:   {:>10.2} ms", p(0.999));
    println!(
        "latency max:     {:>10.2} ms",
        lat.last().copied().unwrap_or(0.0)
    );
    println!("peak RSS:        {:>10} MiB", peak_rss_mib());
}

/// One event fanned out to many subscriptions: time until the receiver has them all. The first
/// event also opens the client's connections to the receiver; the ten after it, one at a time,
/// find them open, as a dispatcher that has been sending for a while does.
pub async fn fanout(args: Args) {
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
    let mut times = Vec::new();
    let mut cpu_before_second = 0.0;
    for round in 1..=11u64 {
        if round == 2 {
            cpu_before_second = cpu_seconds();
        }
        let started = Instant::now();
        let res = client
            .post(&endpoint)
            .bearer_auth(&token)
            .json(&json!([{"channel": "temperature", "value": round}]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 202);
        while receiver.count.load(Ordering::Relaxed) < round * subscriptions as u64 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "fan-out did not finish"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(started.elapsed().as_secs_f64() * 1e3);
        // Let the outcomes be recorded before the next event.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let cpu_ms = (cpu_seconds() - cpu_before_second) * 1e3 / 10.0;
    println!(
        "first, all received in:  {:>8.1} ms (connections opened)",
        times[0]
    );
    let mut again = times[1..].to_vec();
    again.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "next 10, all received in: {:>8.1} ms median, {:.1} – {:.1}",
        pct(&again, 0.5),
        again[0],
        again[again.len() - 1]
    );
    println!(
        "CPU per event:            {cpu_ms:>8.1} ms (the process: sending, receiving, recording)"
    );
    dispatcher.shutdown().await;
}
