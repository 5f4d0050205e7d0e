//! `fairness`: one organisation's steady work while another does everything heavy it may.
//!
//! Organisation A (the demo lab) ingests one data point per request at `--rate` (500/s) into
//! the hotplate's temperature, with a subscription to a local receiver. Organisation B
//! (Northwind) meanwhile runs, one phase after the other, each for `--seconds`:
//!
//! 1. a replay over 1,000,000 stored events;
//! 2. a "settled" trigger on a fast channel (1,000 points/s, in batches of 50);
//! 3. two reply-using subscriptions whose receivers answer each other with 50 points a reply;
//! 4. 5,000 long polls of one device token at once;
//! 5. 600 set-password requests with made-up links at once, from 600 addresses, again and
//!    again (the service the `/api/password/set` door calls).
//!
//! For each phase it prints A's ingest answer p50/p99 and event → receiver p50/p99, each
//! against the quiet run, and at the end the process's peak RSS (the bench's clients
//! included). Numbers are this machine's, not promises.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde_json::json;
use server::{
    devices,
    domain::{channel_definition::ChannelInput, debounce::RawOptions},
    people,
    subscriptions::{
        self,
        replay::{self, ReplayInput},
    },
    AppState,
};

use super::{
    args::Args,
    fairness_b::{in_background, organisation_b, replying_receiver, subscribe_b},
    receiver::{pct, Receiver},
    setup::{peak_rss_mib, start_dispatching, Setup},
};

const REPLAYED_EVENTS: i64 = 1_000_000;

/// A's figures for one phase, in ms.
struct Figures {
    ingest: Vec<f64>,
    delivery: Vec<f64>,
    /// The writer's longest transaction meanwhile.
    longest_write_ms: f64,
    /// A's requests that were not accepted (202): a fair server has none.
    failed: usize,
}

/// A sends `rate` points a second for `seconds`: its ingest answers' and deliveries' times.
async fn organisation_a(
    state: &AppState,
    endpoint: &str,
    token: &str,
    rate: u64,
    seconds: u64,
    receiver: &Receiver,
    origin: Instant,
) -> Figures {
    receiver.arrivals.lock().unwrap().clear();
    state.longest_write_since_asked();
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
            let started = Instant::now();
            let res = client
                .post(&endpoint)
                .bearer_auth(&token)
                .json(&json!([{"channel": "temperature", "value": sent_at}]))
                .send()
                .await;
            let ok = res.is_ok_and(|r| r.status() == 202);
            ok.then(|| started.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let mut ingest = Vec::with_capacity(total as usize);
    while let Some(done) = requests.join_next().await {
        if let Ok(Some(ms)) = done {
            ingest.push(ms);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (receiver.arrivals.lock().unwrap().len() as u64) < ingest.len() as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivery = receiver.latencies_ms(origin, |_| true);
    ingest.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let failed = total as usize - ingest.len();
    let longest_write_ms = state.longest_write_since_asked().as_secs_f64() * 1000.0;
    Figures {
        ingest,
        delivery,
        longest_write_ms,
        failed,
    }
}

pub async fn fairness(args: Args) {
    let (receiver, receiver_url) = Receiver::start(true).await;
    let Setup {
        endpoint,
        token,
        dispatcher,
        instance,
        ..
    } = start_dispatching(1, &receiver_url).await;
    let housekeeping = server::housekeeping::Housekeeping::spawn(instance.state.clone());
    let state = instance.state.clone();
    let (sink, sink_url) = Receiver::start(false).await;
    let reply_to_b = replying_receiver("reply_b", 50).await;
    let reply_to_a = replying_receiver("reply_a", 50).await;
    let b = organisation_b(&state, &instance, &[&sink_url, &reply_to_b, &reply_to_a]).await;
    let absorbance = instance.channel_id(b.device, "absorbance").await;
    for name in ["reply_a", "reply_b"] {
        let input = ChannelInput {
            name: name.into(),
            value_type: "text".into(),
            reply_writable: true,
            ..Default::default()
        };
        devices::channels::add(&state, &b.admin, b.device, &input)
            .await
            .expect("a reply channel");
    }
    let reply_a = instance.channel_id(b.device, "reply_a").await;
    let reply_b = instance.channel_id(b.device, "reply_b").await;
    let b_endpoint = instance.ingest_url(b.device);
    let origin = Instant::now();
    let (rate, seconds) = (args.rate, args.seconds);
    println!(
        "fairness: A ingests {rate} points/s with one subscription; B's heavy work beside it, {seconds} s a phase"
    );
    // B's million old events, stored before anything is measured: fan-out passes them by
    // (they are older than every subscription) during the warm-up.
    let old_until = server::clock::now_ms() - 3_600_000;
    let since = old_until - REPLAYED_EVENTS * 3;
    let org_b: i64 = server::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT organisation_id FROM devices WHERE id = $1")
        .bind(b.device)
        .fetch_one(db)
        .await)
        .unwrap();
    for chunk in 0..(REPLAYED_EVENTS / 100_000) {
        let (device, channel) = (b.device, absorbance);
        state
            .write(move |conn| {
                Box::pin(async move {
                    server::db::with_db!(conn, db => sqlx::query(
                        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
                         INSERT INTO events (organisation_id, device_id, channel_id, event_type, occurred_at, created_at, payload)
                         SELECT $1, $2, $3, 'data_point.created', $4 + ($5 + i) * 3, $4 + ($5 + i) * 3,
                                json_object('data_point', json_object('value', i)) FROM n",
                    )
                    .bind(org_b)
                    .bind(device)
                    .bind(channel)
                    .bind(since)
                    .bind(chunk * 100_000)
                    .execute(db)
                    .await
                    .map(drop))?;
                    Ok(())
                })
            })
            .await
            .expect("old events for B");
    }
    organisation_a(&state, &endpoint, &token, rate, 2, &receiver, origin).await;
    let quiet = organisation_a(&state, &endpoint, &token, rate, seconds, &receiver, origin).await;
    let mut rows = vec![("quiet".to_owned(), quiet, String::new())];

    // 1. A replay over a million events (stored before the quiet run).
    let replayed_sub = subscribe_b(
        &state,
        &b,
        format!("{sink_url}replay"),
        absorbance,
        false,
        None,
    )
    .await;
    let before = sink.count.load(Ordering::Relaxed);
    replay::start(
        &state,
        &b.admin,
        replayed_sub,
        &ReplayInput {
            since,
            until: old_until,
            channel_id: None,
            event_type: None,
        },
    )
    .await
    .expect("B's replay starts");
    let figures = organisation_a(&state, &endpoint, &token, rate, seconds, &receiver, origin).await;
    let replayed = sink.count.load(Ordering::Relaxed) - before;
    rows.push((
        "replay of 1M events".into(),
        figures,
        format!("{replayed} replayed meanwhile"),
    ));
    subscriptions::set_active(&state, &b.admin, replayed_sub, false)
        .await
        .expect("the replay's subscription off");

    // 2. A settled trigger on a fast channel.
    let settled = subscribe_b(
        &state,
        &b,
        format!("{sink_url}settled"),
        absorbance,
        false,
        Some(RawOptions {
            settle_band: Some(0.5),
            settle_seconds: Some(3600.0),
            ..Default::default()
        }),
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (endpoint, token) = (b_endpoint.clone(), b.token.clone());
        in_background(&stop, move |stop, done| async move {
            let client = reqwest::Client::new();
            let batch: Vec<_> = (0..50)
                .map(|i| json!({"channel": "absorbance", "value": 1.0 + (i % 5) as f64 * 0.01}))
                .collect();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let ok = client
                    .post(&endpoint)
                    .bearer_auth(&token)
                    .json(&batch)
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 202);
                if ok {
                    done.fetch_add(50, Ordering::Relaxed);
                }
            }
        })
    };
    let figures = organisation_a(&state, &endpoint, &token, rate, seconds, &receiver, origin).await;
    stop.store(true, Ordering::Relaxed);
    let points = load.await.unwrap();
    rows.push((
        "settled, fast channel".into(),
        figures,
        format!("{points} points into a 1-hour settle window"),
    ));
    subscriptions::set_active(&state, &b.admin, settled, false)
        .await
        .expect("off");

    // 3. Reply-using subscriptions that answer each other.
    let first = subscribe_b(&state, &b, format!("{reply_to_b}a"), reply_a, true, None).await;
    let second = subscribe_b(&state, &b, format!("{reply_to_a}b"), reply_b, true, None).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (endpoint, token) = (b_endpoint.clone(), b.token.clone());
        in_background(&stop, move |stop, done| async move {
            let client = reqwest::Client::new();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let ok = client
                    .post(&endpoint)
                    .bearer_auth(&token)
                    .json(&json!([{"channel": "reply_a", "value": "start"}]))
                    .send()
                    .await
                    .is_ok_and(|r| r.status() == 202);
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let points_before: i64 =
        server::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM data_points")
        .fetch_one(db)
        .await)
        .unwrap();
    let figures = organisation_a(&state, &endpoint, &token, rate, seconds, &receiver, origin).await;
    stop.store(true, Ordering::Relaxed);
    let starts = load.await.unwrap();
    let points_after: i64 =
        server::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM data_points")
        .fetch_one(db)
        .await)
        .unwrap();
    rows.push((
        "replies answering each other".into(),
        figures,
        format!(
            "{starts} chains started; {} points stored in all (A's included)",
            points_after - points_before
        ),
    ));
    for id in [first, second] {
        subscriptions::set_active(&state, &b.admin, id, false)
            .await
            .expect("off");
    }

    // 4. 5,000 long polls of one device token, from a process of their own (poll_flood.rs).
    let poll = format!(
        "{}/api/v1/devices/{}/channels/absorbance?after={}&wait=15",
        instance.url(""),
        b.device,
        server::clock::now_ms() + 3_600_000
    );
    let flood = tokio::process::Command::new(std::env::current_exe().expect("the bench binary"))
        .args(["poll-flood", "--concurrency", "5000", "--seconds"])
        .arg(seconds.to_string())
        .env("LABHOOK_BENCH_POLL_URL", &poll)
        .env("LABHOOK_BENCH_POLL_TOKEN", &b.token)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the poll flood starts");
    let figures = organisation_a(&state, &endpoint, &token, rate, seconds, &receiver, origin).await;
    let flood = flood.wait_with_output().await.expect("the poll flood ends");
    let refused = String::from_utf8_lossy(&flood.stdout).trim().to_owned();
    rows.push((
        "5,000 long polls".into(),
        figures,
        format!(
            "{refused} refused at once (429, or closed past the connection cap); token {}",
            b.token_id
        ),
    ));

    // 5. 600 set-password requests at once, again and again.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let state = state.clone();
        in_background(&stop, move |stop, done| async move {
            while !stop.load(Ordering::Relaxed) {
                let mut requests = tokio::task::JoinSet::new();
                for i in 0..600u32 {
                    let state = state.clone();
                    let address = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i));
                    requests.spawn(async move {
                        let _ = people::links::set_password(
                            &state,
                            "lhs_made-up-link-0000000000000000000000000",
                            "a perfectly good passphrase",
                            Some(address),
                        )
                        .await;
                    });
                }
                while requests.join_next().await.is_some() {}
                done.fetch_add(600, Ordering::Relaxed);
            }
        })
    };
    let figures = organisation_a(&state, &endpoint, &token, rate, seconds, &receiver, origin).await;
    stop.store(true, Ordering::Relaxed);
    let attempts = load.await.unwrap();
    rows.push((
        "600 set-password at once".into(),
        figures,
        format!("{attempts} made-up links tried"),
    ));

    dispatcher.shutdown().await;
    housekeeping.shutdown().await;
    let (q_ingest, q_delivery) = (pct(&rows[0].1.ingest, 0.99), pct(&rows[0].1.delivery, 0.99));
    println!(
        "{:<30} {:>28} {:>28} {:>14} {:>8}   B's work",
        "phase (A's figures)",
        "ingest p50 / p99 (×quiet)",
        "delivery p50 / p99 (×quiet)",
        "longest write",
        "A failed"
    );
    for (name, f, note) in &rows {
        println!(
            "{name:<30} {:>7.2} / {:>7.2} ms ({:>4.1}×) {:>7.2} / {:>7.2} ms ({:>4.1}×) {:>11.1} ms {:>8}   {note}",
            pct(&f.ingest, 0.5),
            pct(&f.ingest, 0.99),
            pct(&f.ingest, 0.99) / q_ingest.max(0.001),
            pct(&f.delivery, 0.5),
            pct(&f.delivery, 0.99),
            pct(&f.delivery, 0.99) / q_delivery.max(0.001),
            f.longest_write_ms,
            f.failed,
        );
    }
    println!("peak RSS (bench and server): {} MiB", peak_rss_mib());
}
