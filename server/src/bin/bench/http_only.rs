//! `http`: the floor under `throughput` — the same client and receiver, no database.

use std::{
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use super::{args::Args, receiver::Receiver};

/// The floor under `throughput`: the same HTTP client and receiver, no database at all.
pub async fn http_only(args: Args) {
    let (receiver, url) = Receiver::start(false).await;
    let sender = server::dispatcher::sender::Sender::new(&server::config::DispatcherConfig {
        outbound: server::domain::outbound::OutboundPolicy {
            allow_loopback: true,
            deny_private: false,
        },
        ..Default::default()
    });
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
