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
