//! Any number of instances on one Postgres database, through the real binaries (Postgres only:
//! on SQLite a second server is refused — `cli.rs`). Three instances share the work while a
//! 20,000-event burst goes in through all of them and one is killed (SIGKILL) twice and started
//! again: every accepted event arrives, each with one `webhook-id` (one delivery per event,
//! however many instances and copies); a subscription switched off on one instance gets nothing
//! more from the others; the delivery log reads the same on every instance; a device token
//! revoked on one instance is refused by another at once; a read-back waiting on one instance
//! wakes on another's commit.

use std::{
    collections::HashSet,
    sync::{atomic::Ordering, Mutex},
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::process::{
    call, free_port, signed_in_admin, start_server_with, subscribe_receiver, wait_healthy,
    wait_until_all_seen, Burst, Recorder, Server,
};

const EVENTS: usize = 20_000;
const PER_REQUEST: usize = 50;
const KILLS: usize = 2;
/// Short timeouts, so that the killed instance's leases run out within seconds.
const FLAGS: &[&str] = &[
    "--delivery-timeout-secs",
    "1",
    "--delivery-lease-secs",
    "10",
    "--metrics-token",
    METRICS,
];
const METRICS: &str = "scrape-the-instances";

fn start(db: &std::path::Path, port: u16) -> Server {
    start_server_with(db, port, None, FLAGS)
}

#[tokio::test]
async fn three_instances_share_one_postgres_and_lose_or_double_nothing_when_one_is_killed() {
    if server::harness::engine() != server::db::Engine::Postgres {
        return;
    }
    let _one_at_a_time = crate::process::HEAVY.lock().await;
    let receiver = Recorder::start().await;
    let (seen, receiver_port) = (receiver.seen.clone(), receiver.port);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let ports = [free_port(), free_port(), free_port()];
    let bases: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    // The first makes the demo data; then the two others join it.
    let mut servers = vec![start(&db, ports[0])];
    wait_healthy(&bases[0]).await;
    for &port in &ports[1..] {
        servers.push(start(&db, port));
    }
    for base in &bases[1..] {
        wait_healthy(base).await;
    }
    let feed = subscribe_receiver(&bases[0], receiver_port).await;

    // Four clients spread the burst over the instances; a request to a killed one goes to the
    // next.
    let burst = Burst::start(&bases, &feed, EVENTS, PER_REQUEST);

    // Kill the third instance each time another third of the burst is in, and start it again.
    let deadline = Instant::now() + Duration::from_secs(300);
    for kill in 1..=KILLS {
        burst.wait_for(EVENTS * kill / (KILLS + 1), deadline).await;
        servers[2].kill().expect("SIGKILL");
        servers[2].wait().unwrap();
        servers[2] = start(&db, ports[2]);
        wait_healthy(&bases[2]).await;
    }
    let accepted = burst.finish().await;
    assert!(
        accepted.len() >= EVENTS - KILLS * 4 * PER_REQUEST,
        "only {} of {EVENTS} accepted",
        accepted.len()
    );
    // What a killed instance had claimed is sent by another once its lease runs out.
    wait_until_all_seen(&seen, &accepted, Duration::from_secs(60), &db, None).await;
    let doubled = receiver.doubled();
    assert!(
        doubled.is_empty(),
        "one delivery per event: these arrived with more than one webhook-id: {doubled:?}"
    );
    eprintln!(
        "three instances: {} of {EVENTS} data points accepted, one instance killed {KILLS} \
         times, all delivered; {} requests arrived for {} distinct events",
        accepted.len(),
        receiver.arrivals.load(Ordering::Relaxed),
        receiver.got.lock().unwrap().len()
    );
    // Every instance sent deliveries: the work is shared, not left to one.
    for base in &bases {
        let metrics = Client::new()
            .get(format!("{base}/metrics"))
            .bearer_auth(METRICS)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let delivered: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("labhook_deliveries_total") && l.contains("delivered"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        eprintln!("{base} delivered {delivered} since it (last) started");
    }

    switched_off_on_one_instance_gets_nothing_from_the_others(
        &bases,
        feed.device_id,
        &feed.token,
        &seen,
    )
    .await;
    the_delivery_log_reads_the_same_on_every_instance(&bases).await;
    revoked_on_one_instance_is_refused_by_another(&bases[0], &bases[1], feed.device_id).await;
    a_read_back_waiting_on_one_instance_wakes_on_another_s_commit(
        &bases[0],
        &bases[1],
        feed.device_id,
        &feed.token,
    )
    .await;
}

async fn revoked_on_one_instance_is_refused_by_another(a: &str, b: &str, device_id: i64) {
    let admin = signed_in_admin(a).await;
    let created = call(
        &admin,
        a,
        "devices/create_token",
        &[
            ("device_id", &device_id.to_string()),
            ("label", "to revoke"),
        ],
    )
    .await;
    let (token_id, token) = (
        created["id"].as_i64().unwrap(),
        created["token"].as_str().unwrap().to_owned(),
    );
    let send = |base: &str| {
        Client::new()
            .post(format!("{base}/api/v1/devices/{device_id}/data_points"))
            .bearer_auth(&token)
            .json(&json!([{"channel": "temperature", "value": 21.5}]))
            .send()
    };
    // B knows the token (and keeps it in its cache) …
    assert_eq!(send(b).await.unwrap().status(), StatusCode::ACCEPTED);
    call(
        &admin,
        a,
        "devices/revoke_token",
        &[
            ("device_id", &device_id.to_string()),
            ("token_id", &token_id.to_string()),
        ],
    )
    .await;
    // … and refuses it on the very next request after A revoked it.
    assert_eq!(send(b).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}

async fn a_read_back_waiting_on_one_instance_wakes_on_another_s_commit(
    a: &str,
    b: &str,
    device_id: i64,
    token: &str,
) {
    let latest: Value = Client::new()
        .get(format!(
            "{b}/api/v1/devices/{device_id}/channels/temperature"
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let after = latest["timestamp_ms"].as_i64().unwrap();
    let waiting = {
        let (b, token) = (b.to_owned(), token.to_owned());
        tokio::spawn(async move {
            let started = Instant::now();
            let res = Client::new()
                .get(format!(
                    "{b}/api/v1/devices/{device_id}/channels/temperature?after={after}&wait=30"
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            (
                res.status(),
                res.json::<Value>().await.ok(),
                started.elapsed(),
            )
        })
    };
    // Let the poll start waiting on B, then write on A.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let res = Client::new()
        .post(format!("{a}/api/v1/devices/{device_id}/data_points"))
        .bearer_auth(token)
        .json(&json!([{"channel": "temperature", "value": 99.25, "timestamp": after + 1000}]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let (status, body, took) = waiting.await.unwrap();
    assert_eq!(
        status,
        StatusCode::OK,
        "woken with the new value, not timed out"
    );
    assert_eq!(body.unwrap()["value"], 99.25);
    eprintln!("a read-back on B woke {took:?} after it started, on A's commit");
}

async fn the_subscription(admin: &Client, base: &str) -> i64 {
    let list = call(admin, base, "subscriptions/list", &[("page", "1")]).await;
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["display_name"] == "test")
        .unwrap_or_else(|| panic!("the test's subscription in {list}"))["id"]
        .as_i64()
        .unwrap()
}

async fn switched_off_on_one_instance_gets_nothing_from_the_others(
    bases: &[String],
    device_id: i64,
    token: &str,
    seen: &Mutex<HashSet<i64>>,
) {
    let admin = signed_in_admin(&bases[0]).await;
    let id = the_subscription(&admin, &bases[0]).await;
    call(
        &admin,
        &bases[0],
        "subscriptions/set_active",
        &[("id", &id.to_string()), ("active", "false")],
    )
    .await;
    // Values after the switch, stored through the two other instances.
    let after: Vec<i64> = (1_000_000..1_000_040).collect();
    for (n, chunk) in after.chunks(10).enumerate() {
        let base = &bases[1 + n % 2];
        let body: Vec<Value> = chunk
            .iter()
            .map(|v| json!({"channel": "temperature", "value": v}))
            .collect();
        let res = Client::new()
            .post(format!("{base}/api/v1/devices/{device_id}/data_points"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    // Time enough for any instance to fan out and send (they do within milliseconds).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = seen.lock().unwrap();
    let sent: Vec<_> = after.iter().filter(|v| seen.contains(v)).collect();
    assert!(
        sent.is_empty(),
        "switched off on one instance, yet delivered by another: {sent:?}"
    );
}

async fn the_delivery_log_reads_the_same_on_every_instance(bases: &[String]) {
    let mut logs = Vec::new();
    for base in bases {
        let admin = signed_in_admin(base).await;
        let id = the_subscription(&admin, base).await;
        logs.push(
            call(
                &admin,
                base,
                "deliveries/list",
                &[("subscription_id", &id.to_string()), ("page", "1")],
            )
            .await,
        );
    }
    assert!(
        !logs[0]["items"].as_array().unwrap().is_empty(),
        "{}",
        logs[0]
    );
    assert_eq!(logs[0], logs[1], "the delivery log on A and on B");
    assert_eq!(logs[0], logs[2], "the delivery log on A and on C");
}
