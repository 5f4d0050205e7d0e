//! One measured run: a fresh server on its own database, wrk against it, and what it did.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use super::{
    setup::set_up,
    wrk::{peak_rss_mib, WrkReport},
};

pub struct Run {
    pub server: Child,
    pub wal: PathBuf,
    pub base: String,
    pub script: PathBuf,
    pub _dir: server::harness::Scratch,
}

pub struct Measured {
    pub accepted_per_s: f64,
    pub p99_ms: f64,
    pub delivered_per_s: f64,
    pub drained: Duration,
    pub peak_rss_mib: u64,
    pub peak_wal_mib: f64,
    pub errors: u64,
    pub all_delivered: bool,
    pub missing_note: String,
}

impl Run {
    pub async fn start(binary: &Path, receiver_port: u16, subscriptions: usize) -> Self {
        let dir = server::harness::Scratch::new("labhook-load").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `LABHOOK_TEST_ENGINE=postgres`: a database of its own on a scratch PostgreSQL.
        let (database, serving) =
            server::harness::process_database_args(&dir.path().join("load.db"));
        let server = Command::new(binary)
            .args(database)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(serving)
            .args(["--demo", "--allow-loopback-targets"])
            .args(["--ingest-requests-per-second", "1000000"])
            .args(["--max-pending-per-subscription", "1000000"])
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

    pub fn wrk(&self, connections: usize, seconds: u64) -> Child {
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

    pub async fn measure(
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
    pub async fn explain_undelivered(&self) {
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
    pub async fn sigterm_under_load(mut self, connections: usize) -> Duration {
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

    pub fn stop(mut self) {
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
