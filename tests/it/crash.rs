//! Kill the server (SIGKILL) in the middle of a burst of events, start it again on the same
//! database, and every event it accepted still arrives at the receiver at least once.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{body::Bytes, Router};
use reqwest::Client;
use serde_json::{json, Value};

use crate::process::{
    free_port, start_server, subscribe_receiver, wait_healthy, wait_until_all_seen,
};

#[tokio::test]
async fn every_accepted_event_arrives_after_a_kill_in_the_middle_of_a_burst() {
    // The receiver remembers which data point values it got.
    let seen: Arc<Mutex<HashSet<i64>>> = Arc::default();
    let deliveries = Arc::new(AtomicUsize::new(0));
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver_port = receiver.local_addr().unwrap().port();
    {
        let (seen, deliveries) = (seen.clone(), deliveries.clone());
        let app = Router::new().fallback(move |body: Bytes| {
            let (seen, deliveries) = (seen.clone(), deliveries.clone());
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap();
                let value = v["data"]["data_point"]["value"].as_f64().unwrap() as i64;
                // A receiver slower than the burst, so that deliveries are still pending (and
                // in flight) when the server is killed.
                tokio::time::sleep(Duration::from_millis(10)).await;
                seen.lock().unwrap().insert(value);
                deliveries.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        });
        tokio::spawn(async move { axum::serve(receiver, app).await });
    }

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start_server(&db, port, None);
    wait_healthy(&base).await;

    // Set up as an admin would, through the server functions.
    let feed = subscribe_receiver(&base, receiver_port).await;
    let (device_id, token) = (feed.device_id, feed.token);

    // A burst of 3000 data points, 50 per request, from four devices-worth of connections;
    // the server is killed once about a third is accepted.
    let accepted: Arc<Mutex<Vec<i64>>> = Arc::default();
    let next = Arc::new(AtomicUsize::new(0));
    let mut posters = Vec::new();
    for _ in 0..4 {
        let (accepted, next, token, base) =
            (accepted.clone(), next.clone(), token.clone(), base.clone());
        posters.push(tokio::spawn(async move {
            let c = Client::new();
            loop {
                let batch = next.fetch_add(1, Ordering::Relaxed);
                if batch >= 60 {
                    return;
                }
                let values: Vec<i64> = (0..50).map(|i| (batch * 50 + i) as i64).collect();
                let body: Vec<Value> = values
                    .iter()
                    .map(|v| json!({"channel": "temperature", "value": v}))
                    .collect();
                match c
                    .post(format!("{base}/api/v1/devices/{device_id}/data_points"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(res) if res.status() == 202 => accepted.lock().unwrap().extend(values),
                    // Killed: whatever had no answer may or may not be stored.
                    _ => return,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.lock().unwrap().len() < 1000 {
        assert!(Instant::now() < deadline, "the burst did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    for p in posters {
        p.await.unwrap();
    }
    let accepted: Vec<i64> = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() >= 1000 && accepted.len() < 3000,
        "{} accepted",
        accepted.len()
    );
    let before_restart = seen.lock().unwrap().len();
    assert!(
        before_restart < accepted.len(),
        "everything arrived before the kill: the test proved nothing"
    );

    // Start again on the same database: the rest is delivered.
    let mut server = start_server(&db, port, None);
    wait_healthy(&base).await;
    wait_until_all_seen(&seen, &accepted, Duration::from_secs(120)).await;
    server.kill().unwrap();
    server.wait().unwrap();
    eprintln!(
        "accepted {} data points before the kill, {} had arrived by then; {} deliveries in all (duplicates allowed)",
        accepted.len(),
        before_restart,
        deliveries.load(Ordering::Relaxed)
    );
}
