//! The crash loop: the real binary is killed (SIGKILL) five times during a burst of 20,000
//! events and started again on the same database each time. After the last restart every
//! event it accepted arrives at the receiver; an event that arrives more than once carries
//! the same `webhook-id` each time (receivers drop duplicates by it); none is lost.

use std::{
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use crate::process::{
    free_port, start_server_with, subscribe_receiver, wait_healthy, wait_until_all_seen, Burst,
    Recorder, Server,
};

const EVENTS: usize = 20_000;
const PER_REQUEST: usize = 50;
const KILLS: usize = 5;

/// On Postgres what the killed server had claimed stays leased across its restart (another
/// instance might hold it): short leases, so that it is sent again within seconds.
fn start(db: &std::path::Path, port: u16) -> Server {
    start_server_with(
        db,
        port,
        None,
        &[
            "--delivery-timeout-secs",
            "1",
            "--delivery-lease-secs",
            "10",
        ],
    )
}

#[tokio::test]
async fn no_accepted_event_is_lost_when_the_server_is_killed_five_times_during_a_burst() {
    let _one_at_a_time = crate::process::HEAVY.lock().await;
    let receiver = Recorder::start().await;
    let (seen, receiver_port) = (receiver.seen.clone(), receiver.port);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = start(&db, port);
    wait_healthy(&base).await;
    let feed = subscribe_receiver(&base, receiver_port).await;

    // Four connections send the burst, 50 points a request, and keep going across restarts.
    let burst = Burst::start(std::slice::from_ref(&base), &feed, EVENTS, PER_REQUEST);

    // Kill it each time another sixth of the burst was accepted, and start it again.
    let deadline = Instant::now() + Duration::from_secs(300);
    for kill in 1..=KILLS {
        burst.wait_for(EVENTS * kill / (KILLS + 1), deadline).await;
        server.kill().expect("SIGKILL");
        server.wait().unwrap();
        server = start(&db, port);
        wait_healthy(&base).await;
    }
    let accepted = burst.finish().await;
    assert!(
        accepted.len() >= EVENTS - KILLS * 4 * PER_REQUEST,
        "only {} of {EVENTS} accepted",
        accepted.len()
    );

    wait_until_all_seen(&seen, &accepted, Duration::from_secs(60), &db, None).await;
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
