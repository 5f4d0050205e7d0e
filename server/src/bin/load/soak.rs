//! `--soak`: a steady rate for a long time, the server's memory sampled as it goes. One-point
//! ingest requests at `--rate` per second (paced here, not as fast as possible as with wrk, at
//! most 256 in flight: a server that falls behind is not buried), each delivered to the
//! `--subscriptions`; every 10 s the server's resident memory, what it accepted and what the
//! receiver got. At the end: the samples as CSV, a plot of RSS over time as PNG, and whether
//! RSS stayed within ±10% of its median after the first two minutes (the warm-up: caches and
//! the pool filling).

use std::{
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use super::{database::Databases, run::Run};

/// One sample.
pub struct Sample {
    pub at_s: f64,
    pub rss_mib: f64,
    pub accepted: u64,
    pub received: u64,
}

const WARM_UP_S: f64 = 120.0;
const EVERY: Duration = Duration::from_secs(10);

pub struct Soak<'a> {
    pub server: &'a Path,
    pub receiver_port: u16,
    pub received: &'a AtomicU64,
    pub databases: &'a Databases,
    pub subscriptions: usize,
    pub rate: u64,
    pub seconds: u64,
    /// Where the CSV and the PNG go (`soak-rss.csv`, `soak-rss.png`).
    pub out: &'a Path,
}

impl Soak<'_> {
    pub async fn run(self) {
        let run = Run::start(
            self.server,
            self.receiver_port,
            self.subscriptions,
            self.databases,
            1,
        )
        .await;
        let pid = run.servers[0].id();
        let url = format!("{}{}", run.bases[0], run.ingest_path);
        let client = reqwest::Client::new();
        let accepted = Arc::new(AtomicU64::new(0));
        let refused = Arc::new(AtomicU64::new(0));
        let room = Arc::new(tokio::sync::Semaphore::new(256));
        let skipped = AtomicU64::new(0);
        let base_received = self.received.load(Ordering::Relaxed);
        let started = Instant::now();
        let end = started + Duration::from_secs(self.seconds);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut next_sample = started;
        let mut samples = Vec::new();
        println!(
            "soak: {} requests/s of one point for {} s, {} subscriptions (server pid {pid})",
            self.rate, self.seconds, self.subscriptions
        );
        println!(
            "{:>7} {:>9} {:>11} {:>11}",
            "s", "RSS", "accepted/s", "delivered/s"
        );
        while Instant::now() < end {
            tick.tick().await;
            if Instant::now() >= next_sample {
                let s = Sample {
                    at_s: started.elapsed().as_secs_f64(),
                    rss_mib: rss_mib(pid),
                    accepted: accepted.load(Ordering::Relaxed),
                    received: self.received.load(Ordering::Relaxed) - base_received,
                };
                if let Some(last) = samples.last() {
                    let last: &Sample = last;
                    let dt = s.at_s - last.at_s;
                    println!(
                        "{:>7.0} {:>5.1} MiB {:>11.0} {:>11.0}",
                        s.at_s,
                        s.rss_mib,
                        (s.accepted - last.accepted) as f64 / dt,
                        (s.received - last.received) as f64 / dt
                    );
                }
                samples.push(s);
                next_sample += EVERY;
            }
            let Ok(permit) = room.clone().try_acquire_owned() else {
                skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (client, url, token) = (client.clone(), url.clone(), run.token.clone());
            let (accepted, refused) = (accepted.clone(), refused.clone());
            tokio::spawn(async move {
                let answer = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(r#"[{"channel":"temperature","value":21.5}]"#)
                    .send()
                    .await;
                match answer {
                    Ok(r) if r.status().is_success() => accepted.fetch_add(1, Ordering::Relaxed),
                    _ => refused.fetch_add(1, Ordering::Relaxed),
                };
                drop(permit);
            });
        }
        let _ = room.acquire_many(256).await;
        run.stop().await;
        let kept: Vec<f64> = samples
            .iter()
            .filter(|s| s.at_s >= WARM_UP_S)
            .map(|s| s.rss_mib)
            .collect();
        let verdict = flatness(&kept);
        println!(
            "accepted {} ({:.0}/s), refused {}, not sent (256 in flight) {}; {}",
            accepted.load(Ordering::Relaxed),
            accepted.load(Ordering::Relaxed) as f64 / self.seconds as f64,
            refused.load(Ordering::Relaxed),
            skipped.load(Ordering::Relaxed),
            verdict.words()
        );
        std::fs::create_dir_all(self.out).unwrap();
        let csv = self.out.join("soak-rss.csv");
        std::fs::write(
            &csv,
            std::iter::once("seconds,rss_mib,accepted,delivered".to_owned())
                .chain(samples.iter().map(|s| {
                    format!(
                        "{:.0},{:.1},{},{}",
                        s.at_s, s.rss_mib, s.accepted, s.received
                    )
                }))
                .collect::<Vec<_>>()
                .join("\n")
                + "\n",
        )
        .unwrap();
        let png = self.out.join("soak-rss.png");
        let title = format!(
            "labhook's RSS at {} events/s × {} subscriptions: median {:.0} MiB, {:+.1}% to {:+.1}%",
            self.rate, self.subscriptions, verdict.median, verdict.below, verdict.above
        );
        match super::plot::rss_over_time(&png, &title, &samples, verdict.median) {
            Ok(()) => println!("wrote {} and {}", csv.display(), png.display()),
            Err(e) => println!("wrote {}; no plot: {e}", csv.display()),
        }
    }
}

/// How far RSS strayed from its median.
pub struct Flatness {
    pub median: f64,
    pub below: f64,
    pub above: f64,
}

impl Flatness {
    pub fn words(&self) -> String {
        format!(
            "RSS median {:.1} MiB after the first {WARM_UP_S:.0} s, from {:+.1}% to {:+.1}% — {}",
            self.median,
            self.below,
            self.above,
            if self.below >= -10.0 && self.above <= 10.0 {
                "flat within ±10%"
            } else {
                "NOT within ±10%"
            }
        )
    }
}

pub fn flatness(values: &[f64]) -> Flatness {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let pct = |v: f64| {
        if median > 0.0 {
            100.0 * (v / median - 1.0)
        } else {
            0.0
        }
    };
    Flatness {
        median,
        below: pct(sorted.first().copied().unwrap_or(0.0)),
        above: pct(sorted.last().copied().unwrap_or(0.0)),
    }
}

/// The process's resident memory now (VmRSS), in MiB.
fn rss_mib(pid: u32) -> f64 {
    super::wrk::status_kib(pid, "VmRSS:").map_or(0.0, |kb| kb as f64 / 1024.0)
}
