//! External load against the real `labhook` binary: `wrk` sends one-point ingest requests,
//! the server delivers every point to a receiver in this process, and we report what a lab
//! would see. `scripts/load.sh` builds everything and runs it; by hand:
//!
//!     load --server target/release/labhook [--connections 8,32] [--subscriptions 1,10]
//!          [--seconds 20] [--shutdown]
//!
//! For each combination: a fresh database with the demo data, `--subscriptions` subscriptions
//! to the hotplate's temperature (all to the receiver here), then `wrk` for `--seconds`.
//! Printed: accepted requests/s and p99 (from wrk), deliveries/s while under load and as a
//! share of accepted × subscriptions, how long the backlog took to drain, and the server's peak
//! RSS. `--shutdown` also sends SIGTERM in the middle of a second load run and times the exit.
//! Everything runs on loopback and stops by itself.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use axum::{routing::post, Router};
use serde_json::{json, Value};

struct Args {
    server: PathBuf,
    connections: Vec<usize>,
    subscriptions: Vec<usize>,
    seconds: u64,
    shutdown: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        server: PathBuf::from("target/release/labhook"),
        connections: vec![8, 32],
        subscriptions: vec![1, 10],
        seconds: 20,
        shutdown: false,
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
                args.seconds = it.next().and_then(|s| s.parse().ok()).expect("--seconds N")
            }
            "--shutdown" => args.shutdown = true,
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
    let received = Arc::new(AtomicU64::new(0));
    let receiver_port = start_receiver(received.clone()).await;
    println!(
        "{:>5} {:>5} {:>12} {:>9} {:>14} {:>9} {:>9} {:>9} {:>9}",
        "conns",
        "subs",
        "accepted/s",
        "p99",
        "delivered/s",
        "keeps up",
        "drained",
        "peak RSS",
        "peak WAL"
    );
    for &subscriptions in &args.subscriptions {
        for &connections in &args.connections {
            let run = Run::start(&args.server, receiver_port, subscriptions).await;
            let r = run
                .measure(&received, connections, args.seconds, subscriptions)
                .await;
            println!(
                "{connections:>5} {subscriptions:>5} {:>12.0} {:>7.1}ms {:>14.0} {:>8.0}% {:>8.1}s {:>6} MiB {:>5.1} MiB{}",
                r.accepted_per_s,
                r.p99_ms,
                r.delivered_per_s,
                100.0 * r.delivered_per_s / (r.accepted_per_s * subscriptions as f64),
                r.drained.as_secs_f64(),
                r.peak_rss_mib,
                r.peak_wal_mib,
                if r.errors > 0 { format!("  ({} non-2xx)", r.errors) } else { String::new() },
            );
            if !r.all_delivered {
                println!("      NOT every point was delivered: {}", r.missing_note);
                run.explain_undelivered().await;
            }
            run.stop();
        }
    }
    if args.shutdown {
        let run = Run::start(&args.server, receiver_port, 1).await;
        let took = run.sigterm_under_load(32).await;
        println!(
            "SIGTERM under load (32 connections): exited after {:.2}s",
            took.as_secs_f64()
        );
    }
}

/// Counts every POST; answers 204 at once.
async fn start_receiver(received: Arc<AtomicU64>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route(
        "/hooks/{n}",
        post(move || {
            let received = received.clone();
            async move {
                received.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

struct Run {
    server: Child,
    wal: PathBuf,
    base: String,
    script: PathBuf,
    _dir: server::harness::Scratch,
}

struct Measured {
    accepted_per_s: f64,
    p99_ms: f64,
    delivered_per_s: f64,
    drained: Duration,
    peak_rss_mib: u64,
    peak_wal_mib: f64,
    errors: u64,
    all_delivered: bool,
    missing_note: String,
}

impl Run {
    async fn start(binary: &Path, receiver_port: u16, subscriptions: usize) -> Self {
        let dir = server::harness::Scratch::new("labhook-load").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Command::new(binary)
            .args(["--database"])
            .arg(dir.path().join("load.db"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(
                std::fs::File::create(dir.path().join("server.log")).unwrap(),
            ))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{base}/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (device_id, token) = set_up(&base, receiver_port, subscriptions).await;
        let script = dir.path().join("ingest.lua");
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"POST\"\n\
                 wrk.path = \"/api/v1/devices/{device_id}/data_points\"\n\
                 wrk.body = '[{{\"channel\":\"temperature\",\"value\":21.5}}]'\n\
                 wrk.headers[\"Content-Type\"] = \"application/json\"\n\
                 wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n"
            ),
        )
        .unwrap();
        Self {
            server,
            wal: dir.path().join("load.db-wal"),
            base,
            script,
            _dir: dir,
        }
    }

    fn wrk(&self, connections: usize, seconds: u64) -> Child {
        Command::new("wrk")
            .args(["-t", "2", "-c", &connections.to_string()])
            .args([
                "-d",
                &format!("{seconds}s"),
                "--latency",
                "--timeout",
                "10s",
                "-s",
            ])
            .arg(&self.script)
            .arg(&self.base)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("wrk runs (scripts/load.sh installs it)")
    }

    async fn measure(
        &self,
        received: &AtomicU64,
        connections: usize,
        seconds: u64,
        subscriptions: usize,
    ) -> Measured {
        let before = received.load(Ordering::Relaxed);
        let started = Instant::now();
        let wrk = self.wrk(connections, seconds);
        let output = tokio::task::spawn_blocking(move || wrk.wait_with_output());
        // The WAL's size, sampled while under load: checkpoints must keep it bounded.
        let wal = self.wal.clone();
        let sampler = tokio::spawn(async move {
            let mut peak = 0u64;
            loop {
                peak = peak.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(200)).await;
                if Instant::now() > started + Duration::from_secs(seconds) {
                    return peak;
                }
            }
        });
        let output = output.await.unwrap().expect("wrk finishes");
        let peak_wal = sampler.await.unwrap();
        let under_load = started.elapsed();
        let during = received.load(Ordering::Relaxed) - before;
        let report = String::from_utf8_lossy(&output.stdout).into_owned();
        let wrk = WrkReport::parse(&report);
        let accepted = wrk.requests - wrk.errors;
        let expected = before + accepted * subscriptions as u64;
        let drain_deadline = Instant::now() + Duration::from_secs(180);
        let drain_started = Instant::now();
        while received.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let got = received.load(Ordering::Relaxed);
        Measured {
            accepted_per_s: accepted as f64 / wrk.seconds,
            p99_ms: wrk.p99_ms,
            delivered_per_s: during as f64 / under_load.as_secs_f64(),
            drained: drain_started.elapsed(),
            peak_rss_mib: peak_rss_mib(self.server.id()),
            peak_wal_mib: peak_wal as f64 / (1024.0 * 1024.0),
            errors: wrk.errors,
            all_delivered: got >= expected,
            missing_note: format!(
                "{} of {} deliveries arrived",
                got - before,
                expected - before
            ),
        }
    }

    /// What the deliveries that did not arrive are waiting for, from the database.
    async fn explain_undelivered(&self) {
        let db = self._dir.path().join("load.db");
        let Ok(pool) =
            sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await
        else {
            return;
        };
        let rows: Vec<(String, Option<String>, i64, i64)> = sqlx::query_as(
            "SELECT status, last_error, attempts, COUNT(*) FROM deliveries
             WHERE status != 'delivered' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 10",
        )
        .fetch_all(&pool)
        .await
        .unwrap_or_default();
        for (status, error, attempts, n) in rows {
            println!(
                "      {n} {status} after {attempts} attempts: {}",
                error.unwrap_or_default()
            );
        }
    }

    /// SIGTERM while `wrk` keeps sending; returns how long the server took to exit.
    async fn sigterm_under_load(mut self, connections: usize) -> Duration {
        let mut wrk = self.wrk(connections, 30);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.server.id().to_string()])
            .status()
            .expect("kill");
        let status = tokio::task::spawn_blocking(move || {
            let status = self.server.wait();
            (status, self)
        })
        .await
        .unwrap();
        let took = started.elapsed();
        let _ = wrk.kill();
        let _ = wrk.wait();
        drop(status);
        took
    }

    fn stop(mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
        let log = std::fs::read_to_string(self._dir.path().join("server.log")).unwrap_or_default();
        let errors: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("locked"))
            .collect();
        if !errors.is_empty() {
            println!(
                "      {} error lines in the server's log, the first:",
                errors.len()
            );
            for line in errors.iter().take(3) {
                println!("      {line}");
            }
        }
        if std::env::var_os("LOAD_SHOW_LOG").is_some() {
            print!("{log}");
        }
    }
}

/// As the demo admin: register the receiver, create a device token, subscribe.
async fn set_up(base: &str, receiver_port: u16, subscriptions: usize) -> (i64, String) {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let call = |f: &str, form: Vec<(&str, String)>| {
        let req = c.post(format!("{base}/api/{f}")).form(&form);
        async move {
            let res = req.send().await.unwrap();
            assert!(res.status().is_success(), "{}", res.text().await.unwrap());
            res.json::<Value>().await.unwrap()
        }
    };
    call(
        "sign_in",
        vec![
            ("email", "admin@demo.lab".into()),
            ("password", "demo-admin-pass".into()),
        ],
    )
    .await;
    call(
        "admin/register_url",
        vec![
            ("url", format!("http://127.0.0.1:{receiver_port}/")),
            ("note", "load receiver".into()),
        ],
    )
    .await;
    let devices = call("devices/list", vec![]).await;
    let hotplate = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Hotplate Stirrer RCT digital")
        .unwrap();
    let device_id = hotplate["id"].as_i64().unwrap();
    let channel_id = hotplate["channels"][0]["id"].as_i64().unwrap();
    let token = call(
        "devices/create_token",
        vec![
            ("device_id", device_id.to_string()),
            ("label", "load".into()),
        ],
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..subscriptions {
        let res = c
            .post(format!("{base}/api/subscriptions/create"))
            .json(&json!({"input": {
                "display_name": format!("load {n}"),
                "url": format!("http://127.0.0.1:{receiver_port}/hooks/{n}"), "headers": [],
                "triggers": [{"channel_id": channel_id, "event_type": "data_point.created"}]
            }}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }
    (device_id, token)
}

/// The numbers we need from wrk's report.
struct WrkReport {
    requests: u64,
    errors: u64,
    seconds: f64,
    p99_ms: f64,
}

impl WrkReport {
    fn parse(report: &str) -> Self {
        let mut r = WrkReport {
            requests: 0,
            errors: 0,
            seconds: 1.0,
            p99_ms: f64::NAN,
        };
        for line in report.lines().map(str::trim) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                // "12345 requests in 20.00s, 2.00MB read"
                [n, "requests", "in", t, ..] => {
                    r.requests = n.parse().unwrap_or(0);
                    r.seconds = duration_ms(t.trim_end_matches(',')) / 1000.0;
                }
                ["99%", t] => r.p99_ms = duration_ms(t),
                ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse().unwrap_or(0),
                ["Socket", "errors:", rest @ ..] => {
                    // "connect 0, read 0, write 0, timeout 3"
                    r.errors += rest
                        .iter()
                        .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                        .sum::<u64>();
                }
                _ => {}
            }
        }
        if r.requests == 0 {
            eprintln!("wrk said:\n{report}");
        }
        r
    }
}

/// "850.00us", "12.05ms", "1.20s", "2.00m" in milliseconds.
fn duration_ms(t: &str) -> f64 {
    let (number, unit) = t.split_at(t.find(|c: char| c.is_alphabetic()).unwrap_or(t.len()));
    let n: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

fn peak_rss_mib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb / 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_reports() {
        let report = "Running 20s test @ http://127.0.0.1:3000\n  2 threads and 8 connections\n\
            \x20 Latency Distribution\n     50%  640.00us\n     75%    1.02ms\n     90%    2.10ms\n     99%   12.05ms\n\
            \x20 240000 requests in 20.00s, 30.00MB read\n  Socket errors: connect 0, read 2, write 0, timeout 1\n\
            \x20 Non-2xx or 3xx responses: 4\nRequests/sec:  12000.00\n";
        let r = WrkReport::parse(report);
        assert_eq!((r.requests, r.errors), (240_000, 7));
        assert_eq!(r.seconds, 20.0);
        assert_eq!(r.p99_ms, 12.05);
        assert_eq!(duration_ms("850.00us"), 0.85);
        assert_eq!(duration_ms("1.20s"), 1200.0);
    }
}
