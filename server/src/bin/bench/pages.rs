//! `pages`: the pages a lab with real volume opens, rendered by the release binary and asked for
//! over HTTP as a browser would — the overview with 1,000 subscriptions and the subscription
//! whose delivery log holds 1,000,000 deliveries (another 999,000 spread over the rest).
//!
//! The database is made here (the harness' demo data, subscriptions through the service, the
//! history in bulk straight into the file: twenty days of delivered and failed deliveries, nothing
//! due), then `target/release/labhook serve` (or `$LABHOOK_BIN`) opens it. SQLite only.

use std::time::{Duration, Instant};

use server::{config::Config, harness::Scratch};

use super::args::Args;

/// The log that holds the million.
const BIG_LOG: i64 = 1_000_000;
/// Deliveries of each of the other subscriptions.
const EACH: i64 = 1_000;
const DAY: i64 = 86_400_000;

pub async fn pages(args: Args) {
    let subscriptions = if args.subscriptions == 0 {
        1_000
    } else {
        args.subscriptions
    };
    let binary = std::env::var("LABHOOK_BIN").unwrap_or_else(|_| "target/release/labhook".into());
    let scratch = Scratch::new("labhook-pages").expect("a scratch directory");
    let file = scratch.path().join("labhook.db");
    let started = Instant::now();
    let big = seed(&file, subscriptions).await;
    println!(
        "pages: {subscriptions} subscriptions, {} deliveries ({BIG_LOG} in subscription {big}'s log), made in {:.1} s",
        BIG_LOG + EACH * (subscriptions as i64 - 1),
        started.elapsed().as_secs_f64()
    );
    // `LABHOOK_PAGES_DB=FILE`: a copy of the database to study the queries with.
    if let Some(copy) = std::env::var_os("LABHOOK_PAGES_DB") {
        let copy = std::path::PathBuf::from(copy);
        std::fs::copy(&file, &copy).expect("the copy is written");
        let key = |db: &std::path::Path| db.with_extension("secrets.key");
        std::fs::copy(key(&file), key(&copy)).expect("the key is copied");
    }
    let server = Server::start(&binary, &file).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = server.sign_in(&client).await;
    let requests = 50;
    for (what, path) in [
        ("overview, first page", "/subscriptions".to_owned()),
        ("overview, page 20", "/subscriptions?page=20".to_owned()),
        (
            "subscription with 1,000,000 deliveries",
            format!("/subscriptions/{big}"),
        ),
        ("audit trail", "/admin/audit".to_owned()),
    ] {
        let url = format!("{}{path}", server.origin);
        let mut times = Vec::with_capacity(requests);
        for i in 0..requests + 5 {
            let t = Instant::now();
            let response = client
                .get(&url)
                .header("cookie", &cookie)
                .send()
                .await
                .expect("the page answers");
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            let body = response.text().await.expect("the page's body");
            // The first five warm the caches; the pages must have rendered their lists.
            if i >= 5 {
                times.push(t.elapsed());
            }
            assert!(body.len() > 1_000, "{path} rendered {} bytes", body.len());
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "  {what:<40} p50 {:>6.1} ms   p95 {:>6.1} ms   max {:>6.1} ms   ({requests} requests, {path})",
            ms(times[requests / 2]),
            ms(times[requests * 95 / 100 - 1]),
            ms(times[requests - 1]),
        );
    }
}

/// The database: demo data, `subscriptions` subscriptions of the demo admin, and the
/// deliveries' history. Returns the subscription with the big log.
async fn seed(file: &std::path::Path, subscriptions: usize) -> i64 {
    let instance =
        server::harness::Instance::start(|c| *c = Config::for_database(file.to_path_buf())).await;
    let receiver = "http://127.0.0.1:9";
    instance.register(receiver).await;
    let device = instance.device_id(super::setup::HOTPLATE).await;
    let channel = instance.channel_id(device, "temperature").await;
    let urls: Vec<String> = (0..subscriptions)
        .map(|i| format!("{receiver}/lims/{i}"))
        .collect();
    let mut ids = Vec::with_capacity(subscriptions);
    let channels = [channel];
    for chunk in urls.chunks(100) {
        let made = futures_util::future::join_all(
            chunk
                .iter()
                .map(|url| instance.subscribe(url, &channels, &["data_point.created"], vec![])),
        )
        .await;
        ids.extend(made.into_iter().map(|c| c.id));
    }
    ids.sort();
    let big = ids[0];
    let pool = &instance.state.pool;
    let server::db::Pool::Sqlite(db) = pool else {
        panic!("bench pages runs on SQLite")
    };
    let org: i64 = sqlx::query_scalar("SELECT organisation_id FROM devices WHERE id = $1")
        .bind(device)
        .fetch_one(db)
        .await
        .unwrap();
    // Twenty days up to now (retention keeps thirty), one event per delivery of the big log.
    let end = server::clock::now_ms();
    let step = 20 * DAY / BIG_LOG;
    let first = end - BIG_LOG * step;
    let mut tx = db.begin().await.unwrap();
    let before: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
         INSERT INTO events (organisation_id, device_id, channel_id, event_type, occurred_at, created_at, payload)
         SELECT $2, $3, $4, 'data_point.created', $5 + i * $6, $5 + i * $6,
                json_object('device', json_object('id', $3, 'name', 'Hotplate'),
                            'channel', json_object('id', $4, 'name', 'temperature', 'unit', '°C'),
                            'data_point', json_object('value', 20 + (i % 100) / 10.0, 'timestamp', $5 + i * $6))
         FROM n",
    )
    .bind(BIG_LOG)
    .bind(org)
    .bind(device)
    .bind(channel)
    .bind(first)
    .bind(step)
    .execute(&mut *tx)
    .await
    .unwrap();
    // One in fifty failed for good after five attempts; the rest delivered at the first.
    const DELIVERY: &str =
        "INSERT INTO deliveries (subscription_id, event_id, webhook_id, status, attempts,
            last_http_status, last_duration_ms, created_at, updated_at)
         SELECT s.id, e.id, 'msg_' || s.id || '_' || e.id,
                CASE WHEN e.id % 50 = 0 THEN 'failed' ELSE 'delivered' END,
                CASE WHEN e.id % 50 = 0 THEN 5 ELSE 1 END,
                CASE WHEN e.id % 50 = 0 THEN 503 ELSE 200 END, 12, e.created_at, e.created_at + 12";
    sqlx::query(&format!(
        "{DELIVERY} FROM events e JOIN subscriptions s ON s.id = $1 WHERE e.id > $2 ORDER BY e.id"
    ))
    .bind(big)
    .bind(before)
    .execute(&mut *tx)
    .await
    .unwrap();
    // The others: the last thousand events each, subscription by subscription.
    sqlx::query(&format!(
        "{DELIVERY} FROM subscriptions s JOIN events e ON e.id > $2
         WHERE s.id IN (SELECT value FROM json_each($1)) AND s.id <> $3 ORDER BY s.id, e.id"
    ))
    .bind(serde_json::to_string(&ids).unwrap())
    .bind(before + BIG_LOG - EACH)
    .bind(big)
    .execute(&mut *tx)
    .await
    .unwrap();
    // Fanned out already: the server must not send a million webhooks when it opens the file.
    sqlx::query("UPDATE dispatcher_cursor SET last_event_id = (SELECT MAX(id) FROM events)")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(db).await.unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(db)
        .await
        .unwrap();
    drop(instance);
    big
}

/// The release binary serving the file on a loopback port.
struct Server {
    child: std::process::Child,
    origin: String,
}

impl Server {
    async fn start(binary: &str, file: &std::path::Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(binary)
            .args([
                "--database",
                &file.display().to_string(),
                "serve",
                "--listen",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts (make build first): {e}"));
        // Owned at once: a server that never answers is killed (and waited for) by `Drop`.
        let server = Self {
            child,
            origin: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if client
                .get(format!("{}/healthz", server.origin))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{binary} did not answer on {}", server.origin);
    }

    /// The demo admin's session cookie.
    async fn sign_in(&self, client: &reqwest::Client) -> String {
        let (email, password) = server::harness::DEMO_ADMIN;
        let response = client
            .post(format!("{}/api/sign_in", self.origin))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .expect("sign-in answers");
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
            .find(|c| !c.ends_with('='))
            .unwrap_or_else(|| panic!("no session cookie: {}", response.status()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
