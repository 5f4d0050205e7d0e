//! A backend to measure: the harness instance, and with a running dispatcher and subscriptions.

use server::{harness::Instance, AppState};

pub const HOTPLATE: &str = "Hotplate Stirrer RCT digital";

/// `--in-flight N`, read where the configuration is made.
fn in_flight_flag() -> Option<usize> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--in-flight")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

/// A backend on a loopback port with the demo data, in a scratch directory.
pub async fn start() -> Instance {
    Instance::start(|config| {
        if let Some(n) = in_flight_flag() {
            config.dispatcher.max_in_flight = n;
        }
    })
    .await
}

/// A backend with demo data and a running dispatcher, ready to be fed through the ingest API.
pub struct Setup {
    /// The hotplate's ingest endpoint.
    pub endpoint: String,
    pub token: String,
    pub device: i64,
    pub dispatcher: server::dispatcher::Dispatcher,
    pub instance: Instance,
}

/// `n` subscriptions on the hotplate's temperature (data_point.created), all pointing at the
/// receiver; made concurrently, so that the writer commits them together.
pub async fn start_dispatching(subscriptions: usize, receiver_url: &str) -> Setup {
    let instance = start().await;
    instance.register(receiver_url).await;
    let (device, token) = instance.token_for(HOTPLATE).await;
    let channel = instance.channel_id(device, "temperature").await;
    let urls: Vec<String> = (0..subscriptions)
        .map(|i| format!("{receiver_url}s{i}"))
        .collect();
    let shared = &instance;
    for chunk in urls.chunks(256) {
        futures_util::future::join_all(chunk.iter().map(|url| async move {
            shared
                .subscribe(url, &[channel], &["data_point.created"], vec![])
                .await
        }))
        .await;
    }
    Setup {
        endpoint: instance.ingest_url(device),
        token,
        device,
        dispatcher: server::dispatcher::Dispatcher::spawn(instance.state.clone()),
        instance,
    }
}

pub async fn delivered(state: &AppState) -> i64 {
    server::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM deliveries WHERE status = 'delivered'")
        .fetch_one(db)
        .await)
        .unwrap()
}

/// The process's peak resident set size (Linux), in MiB.
pub fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
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

/// CPU time this process has used (user and system, all threads), in seconds; 10 ms steps.
pub fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command's closing parenthesis: utime and stime are the
            // 12th and 13th of them.
            let rest = &s[s.rfind(')')? + 2..];
            let mut f = rest.split_whitespace().skip(11);
            let user: f64 = f.next()?.parse().ok()?;
            let system: f64 = f.next()?.parse().ok()?;
            Some((user + system) / 100.0)
        })
        .unwrap_or(0.0)
}
