//! A webhook receiver on a loopback port whose answers a test scripts: status codes, headers,
//! hanging. It records every request it gets.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    body::Bytes,
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};

#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    WithHeader(u16, &'static str, String),
    Hang(Duration),
    /// 200 with this many extra headers of a kibibyte each.
    ManyHeaders(usize),
    /// This status with a JSON body (a reply to be written back), after a pause.
    Json(u16, serde_json::Value, Duration),
}

#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone)]
pub struct TestReceiver {
    pub address: SocketAddr,
    script: Arc<Mutex<VecDeque<Reply>>>,
    default: Arc<Mutex<Reply>>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl TestReceiver {
    /// Answers 200 "ok" unless told otherwise.
    pub async fn start() -> Self {
        let r = TestReceiver {
            address: "127.0.0.1:0".parse().unwrap(),
            script: Arc::default(),
            default: Arc::new(Mutex::new(Reply::Status(200))),
            received: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let handler = r.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let handler = handler.clone();
            async move { handler.answer(uri, headers, body).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        TestReceiver { address, ..r }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// The origin to register: `http://127.0.0.1:port/`.
    pub fn origin(&self) -> String {
        self.url("/")
    }

    /// Answers the next requests like this, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// How to answer once the script has run out.
    pub fn always(&self, reply: Reply) {
        *self.default.lock().unwrap() = reply;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests arrived (or fails the test after `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests within {within:?}, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn answer(&self, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        self.received.lock().unwrap().push(Received {
            path: uri.path().to_owned(),
            headers,
            body,
        });
        let reply = {
            let next = self.script.lock().unwrap().pop_front();
            next.unwrap_or_else(|| self.default.lock().unwrap().clone())
        };
        match reply {
            Reply::Status(code) => (
                StatusCode::from_u16(code).unwrap(),
                format!("answered {code}"),
            )
                .into_response(),
            Reply::WithHeader(code, name, value) => (
                StatusCode::from_u16(code).unwrap(),
                [(name, value)],
                format!("answered {code}"),
            )
                .into_response(),
            Reply::ManyHeaders(n) => {
                let mut headers = HeaderMap::new();
                for i in 0..n {
                    headers.insert(
                        axum::http::HeaderName::try_from(format!("x-big-{i}")).unwrap(),
                        "v".repeat(1024).parse().unwrap(),
                    );
                }
                (StatusCode::OK, headers, "ok").into_response()
            }
            Reply::Json(code, body, pause) => {
                tokio::time::sleep(pause).await;
                (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
            }
            Reply::Hang(d) => {
                tokio::time::sleep(d).await;
                (StatusCode::OK, "late").into_response()
            }
        }
    }
}
