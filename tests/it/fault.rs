//! Clients that hang up mid-request, under load, against the real binary: afterwards the
//! server still answers at once, every accepted data point is delivered, and its log has no
//! lock errors. (Before the one-writer design, a request cancelled inside `BEGIN` left a pooled
//! connection holding SQLite's write lock, and the server stopped answering within seconds.)

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use axum::{body::Bytes, Router};
use reqwest::{header, Client};
use serde_json::{json, Value};
use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::{
    helpers::ADMIN,
    process::{
        free_port, start_server, subscribe_receiver, wait_healthy, wait_until_all_seen, Feed,
    },
};

/// Requests each polite client sends; the test is bounded by count, not by time.
const PER_CLIENT: usize = 500;
const POLITE: usize = 8;
const RUDE: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_mid_request_lock_nothing_and_lose_nothing() {
    let _one_at_a_time = crate::process::HEAVY.lock().await;
    let seen: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_port = receiver.local_addr().unwrap().port();
    {
        let seen = seen.clone();
        let app = Router::new().fallback(move |body: Bytes| {
            let seen = seen.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                if let Some(value) = v["data"]["data_point"]["value"].as_f64() {
                    seen.lock().unwrap().insert(value as i64);
                }
                "ok"
            }
        });
        tokio::spawn(async move { axum::serve(receiver, app).await });
    }

    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("fault.db"), dir.path().join("server.log"));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&db, port, Some(&log));
    wait_healthy(&base).await;
    let feed = Arc::new(subscribe_receiver(&base, receiver_port).await);
    let cookie = session_cookie(&base).await;

    // Polite clients: one data point per request, each value unique; remember what was accepted.
    let accepted: Arc<Mutex<Vec<i64>>> = Arc::default();
    let polite_done = Arc::new(AtomicBool::new(false));
    let mut polite = Vec::new();
    for client in 0..POLITE {
        let (feed, accepted, base) = (feed.clone(), accepted.clone(), base.clone());
        polite.push(tokio::spawn(async move {
            let c = Client::new();
            for i in 0..PER_CLIENT {
                let value = (client * 1_000_000 + i) as i64;
                let res = c
                    .post(feed.url(&base))
                    .bearer_auth(&feed.token)
                    .json(&json!([{"channel": "temperature", "value": value}]))
                    .send()
                    .await
                    .expect("the server answers polite clients");
                assert_eq!(res.status(), 202, "{}", res.text().await.unwrap());
                accepted.lock().unwrap().push(value);
            }
        }));
    }
    // Rude clients: the same kind of request (and, every fourth time, a server function that
    // writes), then a reset of the connection 0–30 ms after sending.
    let hang_ups = Arc::new(AtomicUsize::new(0));
    let mut rude = Vec::new();
    for client in 0..RUDE {
        let (feed, done, hang_ups, cookie) = (
            feed.clone(),
            polite_done.clone(),
            hang_ups.clone(),
            cookie.clone(),
        );
        rude.push(tokio::spawn(async move {
            let rng = AtomicU64::new(0x9E37_79B9_7F4A_7C15 ^ client as u64);
            let mut i = 0;
            while !done.load(Ordering::Relaxed) {
                i += 1;
                let request = if i % 4 == 0 {
                    register_url_request(port, &cookie, client, i)
                } else {
                    ingest_request(port, &feed, (50_000_000 + client * 1_000_000 + i) as i64)
                };
                let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
                    continue;
                };
                let _ = stream.write_all(request.as_bytes()).await;
                tokio::time::sleep(Duration::from_millis(next(&rng) % 31)).await;
                // SO_LINGER 0: closing sends RST, as a device that lost its link does. (The
                // deprecation warns of blocking on drop, which a zero linger never does.)
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                drop(stream);
                hang_ups.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for p in polite {
        p.await.unwrap();
    }
    polite_done.store(true, Ordering::Relaxed);
    for r in rude {
        r.await.unwrap();
    }
    let hang_ups = hang_ups.load(Ordering::Relaxed);
    assert!(
        hang_ups > 100,
        "only {hang_ups} hang-ups: the test proved little"
    );

    // The server answers at once afterwards: a read, and a write.
    let quick = Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let health = quick.get(format!("{base}/healthz")).send().await;
    assert!(
        health.is_ok_and(|r| r.status().is_success()),
        "no answer within 2 s"
    );
    let last = quick
        .post(feed.url(&base))
        .bearer_auth(&feed.token)
        .json(&json!([{"channel": "temperature", "value": 99_999_999}]))
        .send()
        .await
        .expect("an ingest request answered within 2 s after the load");
    assert_eq!(last.status(), 202);
    accepted.lock().unwrap().push(99_999_999);

    // Every accepted point arrives.
    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), POLITE * PER_CLIENT + 1);
    wait_until_all_seen(&seen, &accepted, Duration::from_secs(60), &db, Some(&log)).await;
    server.kill().unwrap();
    server.wait().unwrap();

    let log = std::fs::read_to_string(&log).unwrap();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.contains("locked") || l.contains("transaction"))
        .collect();
    assert!(
        bad.is_empty(),
        "the log has lock errors:\n{}",
        bad.join("\n")
    );
    eprintln!(
        "{} accepted, {hang_ups} hang-ups, all delivered; {} log lines",
        accepted.len(),
        log.lines().count()
    );
}

/// xorshift: enough randomness for hang-up times, with no dependency.
fn next(state: &AtomicU64) -> u64 {
    let mut x = state.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.store(x, Ordering::Relaxed);
    x
}

fn ingest_request(port: u16, feed: &Feed, value: i64) -> String {
    let body = json!([{"channel": "temperature", "value": value}]).to_string();
    format!(
        "POST /api/v1/devices/{}/data_points HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Authorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        feed.device_id,
        feed.token,
        body.len()
    )
}

fn register_url_request(port: u16, cookie: &str, client: usize, i: usize) -> String {
    let body = format!("url=https%3A%2F%2Frude-{client}-{i}.example%2F&note=");
    format!(
        "POST /api/admin/register_url HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The admin's session cookie, for requests written by hand.
async fn session_cookie(base: &str) -> String {
    let res = Client::new()
        .post(format!("{base}/api/sign_in"))
        .form(&[("email", ADMIN.0), ("password", ADMIN.1)])
        .send()
        .await
        .unwrap();
    let set_cookie = res.headers()[header::SET_COOKIE].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_owned()
}
