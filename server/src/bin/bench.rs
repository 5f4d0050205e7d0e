//! Benchmarks against the real backend on this machine: a fresh SQLite file in a temporary
//! directory, the real HTTP router on a loopback port, real HTTP clients.
//!
//!     cargo run --release -p server --features testing --bin bench -- ingest     [--seconds 10] [--concurrency 8] [--batch 100]
//!     cargo run --release -p server --features testing --bin bench -- throughput [--subscriptions 50] [--events 4000]
//!     cargo run --release -p server --features testing --bin bench -- latency    [--rate 500] [--seconds 10]
//!     cargo run --release -p server --features testing --bin bench -- fanout     [--subscriptions 1000]
//!     cargo run --release -p server --features testing --bin bench -- scaling    [--seconds 10]
//!     cargo run --release -p server --features testing --bin bench -- http       [--seconds 10] [--concurrency 512]
//!     cargo run --release -p server --features testing --bin bench -- retention  [--events 4000] (×50 rows)
//!     cargo run --release -p server --features testing --bin bench -- replay     [--rate 500] [--seconds 10]
//!     cargo run --release -p server --features testing --bin bench -- fairness   [--rate 500] [--seconds 10]
//!     cargo run --release -p server --features testing --bin bench -- pages      [--subscriptions 1000] (after make build)
//!     cargo run --release -p server --features testing --bin bench -- all
//!
//! `--in-flight N` sets the dispatcher's limit of requests in flight (default 256).
//!
//! The delivery modes run the real dispatcher against a fast receiver on loopback (in this
//! process). Prints throughput and latency; numbers are this machine's, not promises.

#[path = "bench/args.rs"]
mod args;
#[path = "bench/delivery.rs"]
mod delivery;
#[path = "bench/fairness.rs"]
mod fairness;
#[path = "bench/fairness_b.rs"]
mod fairness_b;
#[path = "bench/http_only.rs"]
mod http_only;
#[path = "bench/ingest.rs"]
mod ingest;
#[path = "bench/pages.rs"]
mod pages;
#[path = "bench/poll_flood.rs"]
mod poll_flood;
#[path = "bench/receiver.rs"]
mod receiver;
#[path = "bench/replay.rs"]
mod replay;
#[path = "bench/retention.rs"]
mod retention;
#[path = "bench/scaling.rs"]
mod scaling;
#[path = "bench/setup.rs"]
mod setup;

use self::args::{parse_args, Args};
use self::{
    delivery::{fanout, latency, throughput},
    fairness::fairness,
    http_only::http_only,
    ingest::ingest,
    pages::pages,
    poll_flood::poll_flood,
    replay::replay,
    retention::retention,
    scaling::scaling,
};

#[tokio::main]
async fn main() {
    // `BENCH_TRACE=server=debug` (any filter): the dispatcher's steps with their times, to see
    // where a mode's time goes.
    if let Ok(filter) = std::env::var("BENCH_TRACE") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(std::io::stderr)
            .init();
    }
    let args = parse_args();
    match args.mode.as_str() {
        "ingest" => ingest(args).await,
        "throughput" => throughput(args).await,
        "latency" => latency(args).await,
        "fanout" => fanout(args).await,
        "scaling" => scaling(args).await,
        "http" => http_only(args).await,
        "retention" => retention(args).await,
        "replay" => replay(args).await,
        "fairness" => fairness(args).await,
        "pages" => pages(args).await,
        // Started by `fairness` as a process of its own.
        "poll-flood" => poll_flood(args).await,
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
                "unknown mode {other:?}; try: ingest, throughput, latency, fanout, scaling, http, retention, replay, fairness, pages, all"
            );
            std::process::exit(2);
        }
    }
}
