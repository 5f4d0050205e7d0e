//! One measured run: fresh servers (one, or several instances on one Postgres database) on
//! their own database, wrk against them, and what they did.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use super::{
    database::{postgres_memory_mib, Database, Databases},
    setup::set_up,
    wrk::{peak_rss_mib, WrkReport},
};

pub struct Run {
    /// The instances; the first is the one set up (and SIGTERMed).
    pub servers: Vec<Child>,
    pub wal: PathBuf,
    pub bases: Vec<String>,
    pub script: PathBuf,
    /// The hotplate's ingest path, and the device token that sends to it.
    pub ingest_path: String,
    pub token: String,
    pub database: Database,
    pub _dir: server::harness::Scratch,
}

pub struct Measured {
    pub accepted_per_s: f64,
    pub p99_ms: f64,
    pub delivered_per_s: f64,
    pub drained: Duration,
    /// Of all instances together.
    pub peak_rss_mib: u64,
    /// Of every Postgres process on this machine together (proportional: shared memory once).
    pub peak_postgres_mib: u64,
    pub peak_wal_mib: f64,
    pub errors: u64,
    pub all_delivered: bool,
    pub missing_note: String,
}

impl Run {
    pub async fn start(
        binary: &Path,
        receiver_port: u16,
        subscriptions: usize,
        databases: &Databases,
        instances: usize,
    ) -> Self {
        let dir = server::harness::Scratch::new("labhook-load").unwrap();
        let database = databases.fresh(dir.path()).await;
        let mut servers = Vec::new();
        let mut bases = Vec::new();
        for n in 0..instances.max(1) {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            servers.push(
                Command::new(binary)
                    .args(&database.args)
                    .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                    .args(&database.serve_args)
                    .args(["--demo", "--allow-loopback-targets"])
                    // One token sends the whole load, far above a device's rate (and each
                    // request counts as at least a KiB against the byte rate).
                    .args(["--ingest-requests-per-second", "1000000"])
                    .args(["--ingest-kib-per-second", "1000000"])
                    .args(["--max-pending-per-subscription", "1000000"])
                    .env(
                        "RUST_LOG",
                        std::env::var("LOAD_SERVER_LOG").unwrap_or("warn".into()),
                    )
                    .stdout(Stdio::from(
                        std::fs::File::create(dir.path().join(format!("server{n}.log"))).unwrap(),
                    ))
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("the server starts"),
            );
            let base = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(30);
            // One after the other: the first makes the demo data.
            while reqwest::get(format!("{base}/healthz")).await.is_err() {
                assert!(Instant::now() < deadline, "the server did not come up");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            bases.push(base);
        }
        let base = bases[0].clone();
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
            servers,
            wal: dir.path().join("load.db-wal"),
            bases,
            script,
            ingest_path: format!("/api/v1/devices/{device_id}/data_points"),
            token,
            database,
            _dir: dir,
        }
    }

    /// wrk against one instance.
    pub fn wrk(&self, base: &str, connections: usize, seconds: u64) -> Child {
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
            .arg(base)
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
        // The connections shared out over the instances, a wrk each.
        let share = connections.div_ceil(self.bases.len());
        let outputs: Vec<_> = self
            .bases
            .iter()
            .map(|base| {
                let wrk = self.wrk(base, share, seconds);
                tokio::task::spawn_blocking(move || wrk.wait_with_output())
            })
            .collect();
        // The WAL's size and Postgres' memory, sampled while under load: checkpoints must keep
        // the WAL bounded.
        let wal = self.wal.clone();
        let sampler = tokio::spawn(async move {
            let (mut peak, mut postgres) = (0u64, 0u64);
            loop {
                peak = peak.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
                postgres = postgres.max(postgres_memory_mib());
                tokio::time::sleep(Duration::from_millis(200)).await;
                if Instant::now() > started + Duration::from_secs(seconds) {
                    return (peak, postgres);
                }
            }
        });
        let mut reports = Vec::new();
        for output in outputs {
            let output = output.await.unwrap().expect("wrk finishes");
            reports.push(WrkReport::parse(&String::from_utf8_lossy(&output.stdout)));
        }
        let (peak_wal, peak_postgres) = sampler.await.unwrap();
        let under_load = started.elapsed();
        let during = received.load(Ordering::Relaxed) - before;
        let wrk = WrkReport::combine(&reports);
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
            peak_rss_mib: self.servers.iter().map(|s| peak_rss_mib(s.id())).sum(),
            peak_postgres_mib: peak_postgres,
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

    /// SIGTERM to the first instance while `wrk` keeps sending to it; returns how long it took
    /// to exit.
    pub async fn sigterm_under_load(mut self, connections: usize) -> Duration {
        let mut wrk = self.wrk(&self.bases[0], connections, 30);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let started = Instant::now();
        Command::new("kill")
            .args(["-TERM", &self.servers[0].id().to_string()])
            .status()
            .expect("kill");
        let mut first = self.servers.remove(0);
        let _ = tokio::task::spawn_blocking(move || first.wait())
            .await
            .unwrap();
        let took = started.elapsed();
        let _ = wrk.kill();
        let _ = wrk.wait();
        self.stop().await;
        took
    }

    pub async fn stop(mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
        self.database.drop_made().await;
        for n in 0..self.bases.len() {
            let log = std::fs::read_to_string(self._dir.path().join(format!("server{n}.log")))
                .unwrap_or_default();
            let errors: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("locked"))
                .collect();
            if !errors.is_empty() {
                println!(
                    "      {} error lines in instance {n}'s log, the first:",
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
}

/// A run that ends early (the driver panics: `wrk` missing, a server that did not come up)
/// leaves no server behind.
impl Drop for Run {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}
