//! `--latency`: how long an event takes from the sender to the receiver, seen from outside.
//! One-point ingest requests at a fixed `--rate` (each on its own task, paced here — not as
//! fast as possible), one subscription, the receiver in this process. Each point's value is its
//! sequence number (hundredths, to stay inside the demo channel's range), so the receiver knows
//! when it was sent. Printed per rate: the ingest answer's and event → receiver p50, p99, p99.9
//! and max. With `LATENCY_DUMP=PREFIX` it also writes each webhook's (sequence, sent, arrived)
//! in µs to `PREFIX.<rate>.csv` and the server's log to `PREFIX.<rate>.log` (with, say,
//! `LOAD_SERVER_LOG=warn,sqlx::query=debug`: every statement) — how the tail was found.

use std::{
    path::Path,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use super::{database::Databases, run::Run};

/// What the receiver saw: the arrival time of each sequence number (µs since [`origin`]).
pub static ARRIVALS: Mutex<Vec<(u32, u64)>> = Mutex::new(Vec::new());
static ORIGIN: OnceLock<Instant> = OnceLock::new();

pub fn origin() -> Instant {
    *ORIGIN.get_or_init(Instant::now)
}

/// Noted by the receiver for every webhook whose point carries a sequence number.
pub fn arrived(body: &[u8]) {
    let at = origin().elapsed().as_micros() as u64;
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    if let Some(x) = v["data"]["data_point"]["value"].as_f64() {
        ARRIVALS
            .lock()
            .unwrap()
            .push(((x * 100.0).round() as u32, at));
    }
}

/// Sequence numbers fit the hotplate's 0–310 °C as hundredths.
const MOST: u64 = 31_000;

pub struct Latency<'a> {
    pub server: &'a Path,
    pub receiver_port: u16,
    pub databases: &'a Databases,
    pub rates: Vec<u64>,
    pub seconds: u64,
}

impl Latency<'_> {
    pub async fn run(self) {
        println!(
            "{:>6} {:>9} | {:>8} {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} {:>8}",
            "rate",
            "delivered",
            "ingest50",
            "p99",
            "p99.9",
            "max",
            "event50",
            "p99",
            "p99.9",
            "max"
        );
        for &rate in &self.rates {
            let total = rate * self.seconds;
            assert!(
                total <= MOST,
                "--rate × --seconds at most {MOST} (the values must fit the channel's range)"
            );
            let run = Run::start(self.server, self.receiver_port, 1, self.databases, 1).await;
            let url = format!("{}{}", run.bases[0], run.ingest_path);
            let client = reqwest::Client::new();
            // Warm the connection pool and the server's caches first; not counted.
            for _ in 0..20 {
                let _ = client
                    .post(&url)
                    .bearer_auth(&run.token)
                    .header("content-type", "application/json")
                    .body(r#"[{"channel":"temperature","value":309.99}]"#)
                    .send()
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            ARRIVALS.lock().unwrap().clear();
            let sent: Arc<Vec<OnceLock<u64>>> =
                Arc::new((0..total).map(|_| OnceLock::new()).collect());
            let answers = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut tasks = tokio::task::JoinSet::new();
            for seq in 0..total {
                tick.tick().await;
                let (client, url, token) = (client.clone(), url.clone(), run.token.clone());
                let (sent, answers) = (sent.clone(), answers.clone());
                tasks.spawn(async move {
                    let body = format!(
                        r#"[{{"channel":"temperature","value":{}}}]"#,
                        seq as f64 / 100.0
                    );
                    let start = origin().elapsed().as_micros() as u64;
                    let _ = sent[seq as usize].set(start);
                    let answer = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await;
                    let took = origin().elapsed().as_micros() as u64 - start;
                    if matches!(answer, Ok(ref r) if r.status().is_success()) {
                        answers.lock().unwrap().push(took as f64 / 1000.0);
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
            let deadline = Instant::now() + Duration::from_secs(10);
            while (ARRIVALS.lock().unwrap().len() as u64) < total && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if let Ok(path) = std::env::var("LATENCY_DUMP") {
                let _ = std::fs::copy(
                    run._dir.path().join("server0.log"),
                    format!("{path}.{rate}.log"),
                );
            }
            run.stop().await;
            if let Ok(path) = std::env::var("LATENCY_DUMP") {
                let rows: Vec<String> = ARRIVALS
                    .lock()
                    .unwrap()
                    .iter()
                    .filter_map(|&(seq, at)| {
                        let start = *sent.get(seq as usize)?.get()?;
                        Some(format!("{seq},{start},{at}"))
                    })
                    .collect();
                std::fs::write(format!("{path}.{rate}.csv"), rows.join("\n")).unwrap();
            }
            let mut events: Vec<f64> = ARRIVALS
                .lock()
                .unwrap()
                .iter()
                .filter_map(|&(seq, at)| {
                    let start = *sent.get(seq as usize)?.get()?;
                    Some(at.saturating_sub(start) as f64 / 1000.0)
                })
                .collect();
            let mut answers = std::mem::take(&mut *answers.lock().unwrap());
            events.sort_by(f64::total_cmp);
            answers.sort_by(f64::total_cmp);
            let q = |v: &[f64], q: f64| {
                v.get(((v.len() as f64 - 1.0) * q).round() as usize)
                    .copied()
                    .unwrap_or(f64::NAN)
            };
            println!(
                "{rate:>6} {:>9} | {:>6.1}ms {:>6.1}ms {:>6.1}ms {:>6.1}ms | {:>6.1}ms {:>6.1}ms {:>6.1}ms {:>6.1}ms",
                events.len(),
                q(&answers, 0.5),
                q(&answers, 0.99),
                q(&answers, 0.999),
                q(&answers, 1.0),
                q(&events, 0.5),
                q(&events, 0.99),
                q(&events, 0.999),
                q(&events, 1.0),
            );
        }
    }
}
