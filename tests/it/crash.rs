//! The crash loop: the real binary is killed (SIGKILL) five times during a burst of 20,000
//! events and started again on the same database each time. After the last restart every
//! event it accepted arrives at the receiver; an event that arrives more than once carries
//! the same `webhook-id` each time (receivers drop duplicates by it); none is lost.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use reqwest::Client;
use serde_json::{json, Value};

use crate::process::{
    free_port, start_server, subscribe_receiver, wait_healthy, wait_until_all_seen, Recorder,
};

const EVENTS: usize = 20_000;
const PER_REQUEST: usize = 50;
const KILLS: usize = 5;

#[tokio::test]
async fn no_accepted_event_is_lost_when_the_server_is_killed_five_times_during_a_burst() {
    let _one_at_a_time = crate::process::HEAVY.lock().await;
    let receiver = Recorder::start().await;
    let (seen, receiver_port) = (receiver.seen.clone(), receiver.port);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&db, port, None);
    wait_healthy(&base).await;
    let feed = subscribe_receiver(&base, receiver_port).await;
    let (device_id, token) = (feed.device_id, feed.token);

    // Four connections send the burst, 50 points a request, and keep going across restarts.
    // A request answered 202 was accepted; one cut off by a kill may or may not be stored,
    // and is not counted (its points are not sent again); a refused connection is retried.
    let accepted: Arc<Mutex<Vec<i64>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let mut posters = Vec::new();
    for _ in 0..4 {
        let (accepted, next, token, base, done) = (
            accepted.clone(),
            next.clone(),
            token.clone(),
            base.clone(),
            done.clone(),
        );
        posters.push(tokio::spawn(async move {
            let c = Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch >= EVENTS / PER_REQUEST || done.load(Ordering::Relaxed) {
                    return;
                }
                let values: Vec<i64> = (0..PER_REQUEST)
                    .map(|i| (batch * PER_REQUEST + i) as i64)
                    .collect();
                let body: Vec<Value> = values
                    .iter()
                    .map(|v| json!({"channel": "temperature", "value": v}))
                    .collect();
                // Resent while the server is down (a refused connection sent nothing);
                // a request cut off by a kill may or may not be stored: not counted, not resent.
                loop {
                    let res = c
                        .post(format!("{base}/api/v1/devices/{device_id}/data_points"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await;
                    match res {
                        Ok(res) if res.status() == 202 => {
                            accepted.lock().unwrap().extend(values);
                            break;
                        }
                        Err(e) if e.is_connect() => {
                            tokio::time::sleep(Duration::from_millis(20)).await
                        }
                        _ => break,
                    }
                }
            }
        }));
    }

    // Kill it each time another sixth of the burst was accepted, and start it again.
    let deadline = Instant::now() + Duration::from_secs(300);
    for kill in 1..=KILLS {
        let target = EVENTS * kill / (KILLS + 1);
        while accepted.lock().unwrap().len() < target {
            assert!(
                Instant::now() < deadline,
                "the burst stalled at {} accepted before kill {kill}",
                accepted.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.kill().expect("SIGKILL");
        server.wait().unwrap();
        server = start_server(&db, port, None);
        wait_healthy(&base).await;
    }
    for p in posters {
        p.await.unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let accepted: Vec<i64> = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() >= EVENTS - KILLS * 4 * PER_REQUEST,
        "only {} of {EVENTS} accepted",
        accepted.len()
    );

    wait_until_all_seen(&seen, &accepted, Duration::from_secs(240)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    let doubled = receiver.doubled();
    assert!(
        doubled.is_empty(),
        "every copy of one event carries the same webhook-id: {doubled:?}"
    );
    eprintln!(
        "crash loop: {} of {EVENTS} data points accepted across {KILLS} kills, all delivered; \
         {} requests arrived for {} distinct events (duplicates by the same webhook-id)",
        accepted.len(),
        receiver.arrivals.load(Ordering::Relaxed),
        receiver.got.lock().unwrap().len()
    );
}
