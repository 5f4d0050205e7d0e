//! External load against the real `labhook` binary: `wrk` sends one-point ingest requests,
//! the server delivers every point to a receiver in this process, and we report what a lab
//! would see. `scripts/load.sh` builds everything and runs it; by hand:
//!
//!     load --server target/release/labhook [--connections 8,32] [--subscriptions 1,10]
//!          [--seconds 20] [--shutdown] [--database postgres://…] [--instances N]
//!
//! For each combination: a fresh database with the demo data, `--subscriptions` subscriptions
//! to the hotplate's temperature (all to the receiver here), then `wrk` for `--seconds`. The
//! database is a SQLite file, or one on a scratch PostgreSQL with `LABHOOK_TEST_ENGINE=postgres`,
//! or a fresh one on your own PostgreSQL server with `--database postgres://…` (the user needs
//! CREATEDB; the database is dropped after the run). `--instances N` (Postgres) starts N
//! instances on the one database and shares the connections out over them, a wrk each.
//! Printed: accepted requests/s and p99 (from wrk), deliveries/s while under load and as a
//! share of accepted × subscriptions, how long the backlog took to drain, and the server's peak
//! RSS. `--shutdown` also sends SIGTERM in the middle of a second load run and times the exit.
//! Everything runs on loopback and stops by itself.
//!
//!     load --soak [--rate 1000] [--seconds 1800] [--subscriptions 10] [--out target/soak]
//!
//! holds a steady rate instead (no wrk) and samples the server's memory every 10 s: a CSV and
//! a PNG of RSS over time in `--out` (`scripts/soak.sh`).
//!
//!     load --latency [--rate 200,500] [--seconds 30]
//!
//! sends at each fixed rate to one subscription and prints the ingest answer's and event →
//! receiver p50, p99, p99.9 and max (`scripts/load.sh --latency`).

#[path = "load/database.rs"]
mod database;
#[path = "load/latency.rs"]
mod latency;
#[path = "load/plot.rs"]
mod plot;
#[path = "load/run.rs"]
mod run;
#[path = "load/setup.rs"]
mod setup;
#[path = "load/soak.rs"]
mod soak;
#[path = "load/wrk.rs"]
mod wrk;

use std::{
    path::PathBuf,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use axum::{routing::post, Router};

use self::{database::Databases, run::Run};

struct Args {
    server: PathBuf,
    connections: Vec<usize>,
    subscriptions: Vec<usize>,
    /// `--seconds`; each mode has its default.
    seconds: Option<u64>,
    shutdown: bool,
    databases: Databases,
    instances: usize,
    /// `--soak`: `--rate` requests/s for `--seconds`, memory sampled (see `load/soak.rs`).
    soak: bool,
    /// `--latency`: event → receiver at each of `--rate` (see `load/latency.rs`).
    latency: bool,
    rates: Vec<u64>,
    out: PathBuf,
}

fn parse_args() -> Args {
    let mut args = Args {
        server: PathBuf::from("target/release/labhook"),
        connections: vec![8, 32],
        subscriptions: vec![1, 10],
        seconds: None,
        shutdown: false,
        databases: Databases::Harness,
        instances: 1,
        soak: false,
        latency: false,
        rates: vec![],
        out: PathBuf::from("target/soak"),
    };
    let list = |v: Option<String>| -> Vec<usize> {
        v.expect("a comma-separated list")
            .split(',')
            .map(|n| n.trim().parse().expect("numbers"))
            .collect()
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--server" => args.server = PathBuf::from(it.next().expect("--server PATH")),
            "--connections" => args.connections = list(it.next()),
            "--subscriptions" => args.subscriptions = list(it.next()),
            "--seconds" => {
                args.seconds = Some(it.next().and_then(|s| s.parse().ok()).expect("--seconds N"))
            }
            "--shutdown" => args.shutdown = true,
            "--soak" => args.soak = true,
            "--latency" => args.latency = true,
            "--rate" => args.rates = list(it.next()).into_iter().map(|n| n as u64).collect(),
            "--out" => args.out = PathBuf::from(it.next().expect("--out DIRECTORY")),
            "--database" => args.databases = Databases::parse(&it.next().expect("--database URL")),
            "--instances" => {
                args.instances = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--instances N")
            }
            other => panic!("unknown argument {other}"),
        }
    }
    args
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    assert!(
        args.server.exists(),
        "{} does not exist: build it first (scripts/load.sh does)",
        args.server.display()
    );
    assert!(
        args.instances == 1 || args.databases.is_postgres(),
        "--instances needs PostgreSQL (--database postgres://… or LABHOOK_TEST_ENGINE=postgres)"
    );
    let received = Arc::new(AtomicU64::new(0));
    let receiver_port = start_receiver(received.clone(), args.latency).await;
    if args.latency {
        return latency::Latency {
            server: &args.server,
            receiver_port,
            databases: &args.databases,
            rates: if args.rates.is_empty() {
                vec![200, 500]
            } else {
                args.rates.clone()
            },
            seconds: args.seconds.unwrap_or(30),
        }
        .run()
        .await;
    }
    if args.soak {
        return soak::Soak {
            server: &args.server,
            receiver_port,
            received: &received,
            databases: &args.databases,
            subscriptions: args.subscriptions[0],
            rate: args.rates.first().copied().unwrap_or(1_000),
            seconds: args.seconds.unwrap_or(1_800),
            out: &args.out,
        }
        .run()
        .await;
    }
    println!(
        "{:>5} {:>5} {:>12} {:>9} {:>14} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "conns",
        "subs",
        "accepted/s",
        "p99",
        "delivered/s",
        "keeps up",
        "drained",
        "peak RSS",
        "postgres",
        "peak WAL"
    );
    for &subscriptions in &args.subscriptions {
        for &connections in &args.connections {
            let run = Run::start(
                &args.server,
                receiver_port,
                subscriptions,
                &args.databases,
                args.instances,
            )
            .await;
            let r = run
                .measure(
                    &received,
                    connections,
                    args.seconds.unwrap_or(20),
                    subscriptions,
                )
                .await;
            println!(
                "{connections:>5} {subscriptions:>5} {:>12.0} {:>7.1}ms {:>14.0} {:>8.0}% {:>8.1}s {:>6} MiB {:>5} MiB {:>5.1} MiB{}",
                r.accepted_per_s,
                r.p99_ms,
                r.delivered_per_s,
                100.0 * r.delivered_per_s / (r.accepted_per_s * subscriptions as f64),
                r.drained.as_secs_f64(),
                r.peak_rss_mib,
                r.peak_postgres_mib,
                r.peak_wal_mib,
                if r.errors > 0 { format!("  ({} non-2xx)", r.errors) } else { String::new() },
            );
            if !r.all_delivered {
                println!("      NOT every point was delivered: {}", r.missing_note);
                run.explain_undelivered().await;
            }
            run.stop().await;
        }
    }
    if args.shutdown {
        let run = Run::start(&args.server, receiver_port, 1, &args.databases, 1).await;
        let took = run.sigterm_under_load(32).await;
        println!(
            "SIGTERM under load (32 connections): exited after {:.2}s",
            took.as_secs_f64()
        );
    }
}

/// Counts every POST (and with `--latency` notes when each point arrived); answers 204 at once.
async fn start_receiver(received: Arc<AtomicU64>, latency: bool) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route(
        "/hooks/{n}",
        post(move |body: axum::body::Bytes| {
            let received = received.clone();
            async move {
                received.fetch_add(1, Ordering::Relaxed);
                if latency {
                    latency::arrived(&body);
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}
