//! `poll-flood`: the fairness bench's 5,000 long polls, sent by a process of their own (the
//! fairness mode starts it), from 127.0.0.2 — as another site's program would send them, so
//! that the server's per-client caps meet them as they would meet a real flood, and the
//! kernel, not one shared tokio runtime, shares the CPU between the flood and the bench.
//!
//! Reads the poll URL and token from `LABHOOK_BENCH_POLL_URL` and `LABHOOK_BENCH_POLL_TOKEN`,
//! opens `--concurrency` polls at once, lets them wait `--seconds`, and prints how many were
//! refused at once: `429` past the waiter caps, or closed past the connection cap.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use crate::args::Args;

pub async fn poll_flood(args: Args) {
    let url = std::env::var("LABHOOK_BENCH_POLL_URL").expect("LABHOOK_BENCH_POLL_URL");
    let token = std::env::var("LABHOOK_BENCH_POLL_TOKEN").expect("LABHOOK_BENCH_POLL_TOKEN");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let refused = Arc::new(AtomicU64::new(0));
    let mut polls = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (client, url, token, refused) =
            (client.clone(), url.clone(), token.clone(), refused.clone());
        polls.spawn(async move {
            match client.get(&url).bearer_auth(&token).send().await {
                Ok(res) if res.status() == 429 => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {}
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    polls.abort_all();
    println!("{}", refused.load(Ordering::Relaxed));
}
