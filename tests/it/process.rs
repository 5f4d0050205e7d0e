//! The real `labhook` binary in a process of its own, for tests that kill it, load it, or
//! read its log: and the set-up an admin does through the server functions before devices
//! send data.

use std::{
    collections::{HashMap, HashSet},
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{body::Bytes, http::HeaderMap, Router};
use reqwest::Client;
use serde_json::{json, Value};

use crate::helpers::{client, ADMIN};

/// Held by the tests that load real binaries hard (the crash loop, the hang-up test, the
/// instances test): one at a time, so that none waits for deliveries while the others take
/// the machine's cores — on a 2-core runner they would otherwise starve each other.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process that is killed when the test lets go of it — also when the test fails, so
/// that no server outlives its test (and slows down the ones after it).
pub struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `labhook serve` on `db`; its log (warnings and errors) goes to `log` when given.
pub fn start_server(db: &Path, port: u16, log: Option<&Path>) -> Server {
    start_server_with(db, port, log, &[])
}

/// [`start_server`] with more flags (later flags win).
pub fn start_server_with(db: &Path, port: u16, log: Option<&Path>, more: &[&str]) -> Server {
    let stderr = match log {
        Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
        // `LABHOOK_TEST_LOG=1`: the server's log in the test's output.
        None if std::env::var_os("LABHOOK_TEST_LOG").is_some() => Stdio::inherit(),
        None => Stdio::null(),
    };
    let (database, serving) = server::harness::process_database_args(db);
    Server(
        Command::new(env!("CARGO_BIN_EXE_labhook"))
            .args(&database)
            .args(["serve"])
            .args(&serving)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--retry-schedule", "0,200ms,500ms,1s,2s,5s"])
            .args(["--demo", "--allow-loopback-targets"])
            // Load from one token, far above a real device's rate.
            .args(["--ingest-requests-per-second", "1000000"])
            .args(["--max-pending-per-subscription", "1000000"])
            .args(more)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("the labhook binary starts"),
    )
}

pub async fn wait_healthy(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the receiver has seen every accepted value. Fails when `stalled` passes with
/// nothing new arriving — a slow machine may take long, but never stands still — saying how
/// many are missing, what the database `db` says of its deliveries and the end of the server's
/// `log`, when there is one.
pub async fn wait_until_all_seen(
    seen: &Mutex<HashSet<i64>>,
    accepted: &[i64],
    stalled: Duration,
    db: &Path,
    log: Option<&Path>,
) {
    let mut last_progress = (usize::MAX, Instant::now());
    loop {
        let missing = {
            let seen = seen.lock().unwrap();
            accepted.iter().filter(|v| !seen.contains(v)).count()
        };
        if missing == 0 {
            return;
        }
        if missing < last_progress.0 {
            last_progress = (missing, Instant::now());
        }
        if last_progress.1.elapsed() >= stalled {
            panic!(
                "{missing} of {} accepted data points never arrived (nothing new for {stalled:?}); \
                 the database says:\n{}the server's log ends:\n{}",
                accepted.len(),
                deliveries_report(db).await,
                log.map(log_tail).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last 20 lines of a server's log.
fn log_tail(log: &Path) -> String {
    let log = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Deliveries of one status and lease state: how many, the most attempts, a last error.
type DeliveryGroup = (String, bool, i64, i64, Option<String>);

/// The deliveries of the database `db` stands for, by status, lease and last error; and the
/// events not fanned out: what a test that misses webhooks tells, so that a failure far away
/// (on CI) says where they stopped.
pub async fn deliveries_report(db: &Path) -> String {
    let (database, _) = server::harness::process_database_args(db);
    let location: server::db::Location = database[1].parse().expect("a database location");
    let pool = match server::db::connect(&location).await {
        Ok(pool) => pool,
        Err(e) => return format!("(cannot open it: {e})"),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let rows: Result<Vec<DeliveryGroup>, _> = server::db::with_db!(&pool, db => sqlx::query_as(
        "SELECT status, lease_until IS NOT NULL AND lease_until > $1, COUNT(*), CAST(MAX(attempts) AS BIGINT), MAX(last_error)
         FROM deliveries GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(now)
    .fetch_all(db)
    .await);
    let waiting = server::devices::events::fanned_out_below(&pool).await;
    let events: Result<i64, _> = server::db::with_db!(&pool, db => sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events")
        .fetch_one(db)
        .await);
    let mut report = String::new();
    match rows {
        Ok(rows) => {
            for (status, leased, n, attempts, error) in rows {
                let leased = if leased { "leased" } else { "not leased" };
                report += &format!(
                    "  {n} {status}, {leased}, up to {attempts} attempts, {}\n",
                    error.as_deref().unwrap_or("no error")
                );
            }
        }
        Err(e) => report += &format!("  (cannot count deliveries: {e})\n"),
    }
    report += &format!("  events up to {events:?}; fanned out below {waiting:?}\n");
    report
}

pub async fn call(c: &Client, base: &str, f: &str, form: &[(&str, &str)]) -> Value {
    let res = c
        .post(format!("{base}/api/{f}"))
        .form(form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{f}: {}", res.status());
    res.json().await.unwrap()
}

/// A receiver on a loopback port that remembers, per data point value, the `webhook-id`s it
/// came with — slower than a burst (2 ms a request), so that deliveries are pending and in
/// flight whenever a test kills a server.
pub struct Recorder {
    pub port: u16,
    pub got: Arc<Mutex<HashMap<i64, HashSet<String>>>>,
    pub seen: Arc<Mutex<HashSet<i64>>>,
    pub arrivals: Arc<AtomicUsize>,
}

impl Recorder {
    pub async fn start() -> Self {
        let got: Arc<Mutex<HashMap<i64, HashSet<String>>>> = Arc::default();
        let seen: Arc<Mutex<HashSet<i64>>> = Arc::default();
        let arrivals = Arc::new(AtomicUsize::new(0));
        let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = receiver.local_addr().unwrap().port();
        {
            let (got, seen, arrivals) = (got.clone(), seen.clone(), arrivals.clone());
            let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
                let (got, seen, arrivals) = (got.clone(), seen.clone(), arrivals.clone());
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    let value = v["data"]["data_point"]["value"].as_f64().unwrap() as i64;
                    let id = headers["webhook-id"].to_str().unwrap().to_owned();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    got.lock().unwrap().entry(value).or_default().insert(id);
                    seen.lock().unwrap().insert(value);
                    arrivals.fetch_add(1, Ordering::Relaxed);
                    "ok"
                }
            });
            tokio::spawn(async move { axum::serve(receiver, app).await });
        }
        Self {
            port,
            got,
            seen,
            arrivals,
        }
    }

    /// Events that arrived with more than one `webhook-id` (a few, for the message).
    pub fn doubled(&self) -> Vec<(i64, HashSet<String>)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, ids)| ids.len() > 1)
            .take(5)
            .map(|(v, ids)| (*v, ids.clone()))
            .collect()
    }
}

/// A burst of `events` values (0, 1, 2, …) as temperature data points, `per_request` a
/// request, sent by four clients over `bases` in turn, request by request. A request that finds
/// its server down (connection refused: nothing was sent) goes to the next one, or waits for
/// one to come back; a request cut off by a kill may or may not be stored: it is not counted
/// and not sent again. Only what was answered 202 counts as accepted.
pub struct Burst {
    pub accepted: Arc<Mutex<Vec<i64>>>,
    posters: Vec<tokio::task::JoinHandle<()>>,
}

impl Burst {
    pub fn start(bases: &[String], feed: &Feed, events: usize, per_request: usize) -> Self {
        let accepted: Arc<Mutex<Vec<i64>>> = Arc::default();
        let next = Arc::new(AtomicUsize::new(0));
        let urls: Arc<Vec<String>> = Arc::new(bases.iter().map(|b| feed.url(b)).collect());
        let posters = (0..4)
            .map(|_| {
                let (accepted, next, urls, token) = (
                    accepted.clone(),
                    next.clone(),
                    urls.clone(),
                    feed.token.clone(),
                );
                tokio::spawn(async move {
                    let c = Client::builder()
                        .timeout(Duration::from_secs(10))
                        .build()
                        .unwrap();
                    loop {
                        let batch = next.fetch_add(1, Ordering::Relaxed);
                        if batch >= events / per_request {
                            return;
                        }
                        let values: Vec<i64> = (0..per_request)
                            .map(|i| (batch * per_request + i) as i64)
                            .collect();
                        let body: Vec<Value> = values
                            .iter()
                            .map(|v| json!({"channel": "temperature", "value": v}))
                            .collect();
                        'sent: loop {
                            for k in 0..urls.len() {
                                let url = &urls[(batch + k) % urls.len()];
                                let res = c.post(url).bearer_auth(&token).json(&body).send().await;
                                match res {
                                    Ok(r) if r.status() == 202 => {
                                        accepted.lock().unwrap().extend(values);
                                        break 'sent;
                                    }
                                    Err(e) if e.is_connect() => continue,
                                    // Told to come back (a server starting, or busy): nothing
                                    // was stored; a device sends it again, here elsewhere.
                                    Ok(r) if r.status() == 503 || r.status() == 429 => continue,
                                    _ => break 'sent,
                                }
                            }
                            // Every server is down: wait for one to come back.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Self { accepted, posters }
    }

    /// Waits until at least `n` values were accepted; fails after `deadline`.
    pub async fn wait_for(&self, n: usize, deadline: Instant) {
        while self.accepted.lock().unwrap().len() < n {
            assert!(
                Instant::now() < deadline,
                "the burst stalled at {} accepted, waiting for {n}",
                self.accepted.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits for every request to be answered; returns the values accepted.
    pub async fn finish(self) -> Vec<i64> {
        for p in self.posters {
            p.await.unwrap();
        }
        self.accepted.lock().unwrap().clone()
    }
}

/// A client signed in as the demo admin.
pub async fn signed_in_admin(base: &str) -> Client {
    let admin = client();
    call(
        &admin,
        base,
        "sign_in",
        &[("email", ADMIN.0), ("password", ADMIN.1)],
    )
    .await;
    admin
}

/// What a device needs to send data that is delivered.
pub struct Feed {
    pub device_id: i64,
    pub token: String,
}

impl Feed {
    pub fn url(&self, base: &str) -> String {
        format!("{base}/api/v1/devices/{}/data_points", self.device_id)
    }
}

/// As the demo admin: registers the receiver, creates a token for the hotplate, and subscribes
/// to its temperature's new data points.
pub async fn subscribe_receiver(base: &str, receiver_port: u16) -> Feed {
    let admin = signed_in_admin(base).await;
    call(
        &admin,
        base,
        "admin/register_url",
        &[
            ("url", &format!("http://127.0.0.1:{receiver_port}/")),
            ("note", "test receiver"),
        ],
    )
    .await;
    let devices: Vec<Value> =
        serde_json::from_value(call(&admin, base, "devices/list", &[]).await).unwrap();
    let hotplate = devices
        .iter()
        .find(|d| d["name"] == "Hotplate Stirrer RCT digital")
        .unwrap();
    let device_id = hotplate["id"].as_i64().unwrap();
    let channel_id = hotplate["channels"][0]["id"].as_i64().unwrap();
    let token = call(
        &admin,
        base,
        "devices/create_token",
        &[("device_id", &device_id.to_string()), ("label", "test")],
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = admin
        .post(format!("{base}/api/subscriptions/create"))
        .json(&json!({"input": {
            "display_name": "test", "url": format!("http://127.0.0.1:{receiver_port}/hooks"), "headers": [],
            "triggers": [{"channel_id": channel_id, "event_type": "data_point.created"}]
        }}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success());
    Feed { device_id, token }
}
