//! A receiver on loopback that answers 200 at once, counting what arrives.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Instant,
};

use serde_json::Value;

/// A receiver that answers 200 at once and notes when each request arrived, by the data
/// point's value (the bench puts the send time or a sequence number there).
#[derive(Clone, Default)]
pub struct Receiver {
    pub count: Arc<AtomicU64>,
    pub arrivals: Arc<std::sync::Mutex<Vec<(f64, Instant)>>>,
    pub keep_arrivals: bool,
}

impl Receiver {
    pub async fn start(keep_arrivals: bool) -> (Self, String) {
        let r = Receiver {
            keep_arrivals,
            ..Receiver::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let handler = r.clone();
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let r = handler.clone();
            async move {
                r.count.fetch_add(1, Ordering::Relaxed);
                if r.keep_arrivals {
                    let now = Instant::now();
                    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                        if let Some(x) = v["data"]["data_point"]["value"].as_f64() {
                            r.arrivals.lock().unwrap().push((x, now));
                        }
                    }
                }
                "ok"
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }
}

impl Receiver {
    /// Event → receiver times (ms, sorted) of the arrivals whose value `keep` accepts; the
    /// value is the send time in µs since `origin`.
    pub fn latencies_ms(&self, origin: Instant, keep: impl Fn(f64) -> bool) -> Vec<f64> {
        let mut lat: Vec<f64> = self
            .arrivals
            .lock()
            .unwrap()
            .iter()
            .filter(|(v, _)| keep(*v))
            .map(|(sent_us, at)| (at.duration_since(origin).as_micros() as f64 - sent_us) / 1000.0)
            .collect();
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        lat
    }
}

/// The `q` quantile of sorted figures (NaN when there are none).
pub fn pct(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)]
}
