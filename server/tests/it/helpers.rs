use std::{ops::Deref, time::Duration};

use reqwest::{Client, Response};
use serde_json::Value;
use server::{
    config::Config, dispatcher::Dispatcher, domain::headers::RawHeader,
    domain::schedule::RetrySchedule, harness::Instance, housekeeping::Housekeeping,
};

use crate::receiver::TestReceiver;

/// The backend (see [`server::harness::Instance`]) with an HTTP client, and a dispatcher
/// when the test runs one.
pub struct TestServer {
    instance: Instance,
    pub client: Client,
    pub dispatcher: Option<Dispatcher>,
    /// Runs beside the dispatcher (readiness asks for both).
    pub housekeeping: Option<Housekeeping>,
}

impl Deref for TestServer {
    type Target = Instance;
    fn deref(&self) -> &Instance {
        &self.instance
    }
}

/// The backend with demo data, on 127.0.0.1:0.
pub async fn spawn() -> TestServer {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer {
        instance: Instance::start(adjust).await,
        client: Client::new(),
        dispatcher: None,
        housekeeping: None,
    }
}

/// The backend with a running dispatcher on a fast schedule (attempts 100 ms apart, a 500 ms
/// request timeout): for what only the running loop does (in-flight limits, shutdown).
pub async fn spawn_dispatching(adjust: impl FnOnce(&mut Config)) -> TestServer {
    let mut app = spawn_stepping(adjust).await;
    app.dispatcher = Some(Dispatcher::spawn(app.state.clone()));
    app.housekeeping = Some(Housekeeping::spawn(app.state.clone()));
    app
}

/// The backend on the same fast schedule without a running dispatcher: tests drive it round by
/// round with a [`server::dispatcher::Stepper`] and a clock of their choosing.
pub async fn spawn_stepping(adjust: impl FnOnce(&mut Config)) -> TestServer {
    spawn_with(|c| {
        c.dispatcher.schedule = RetrySchedule::parse("0,100ms,100ms,100ms").unwrap();
        c.dispatcher.request_timeout = Duration::from_millis(500);
        c.dispatcher.connect_timeout = Duration::from_millis(500);
        c.dispatcher.lease = Duration::from_secs(10);
        c.dispatcher.shutdown_grace = Duration::from_millis(200);
        adjust(c);
    })
    .await
}

impl TestServer {
    /// Registers the receiver's origin (once) and subscribes to trigger events of one channel
    /// as the demo admin: (subscription id, signing secret).
    pub async fn subscribe(
        &self,
        receiver: &TestReceiver,
        path: &str,
        (device, channel): (&str, &str),
        events: &[&str],
        headers: Vec<RawHeader>,
    ) -> (i64, String) {
        self.register(&receiver.origin()).await;
        let device_id = self.device_id(device).await;
        let channel_id = self.channel_id(device_id, channel).await;
        let created = self
            .instance
            .subscribe(&receiver.url(path), &[channel_id], events, headers)
            .await;
        (created.id, created.secret)
    }

    /// A one-shot query for a single value.
    pub async fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + Unpin,
    {
        server::db::with_db!(&self.state.pool, db => sqlx::query_scalar(sql)
            .fetch_one(db)
            .await)
        .unwrap()
    }

    pub async fn post_points(&self, device_id: i64, token: &str, body: &Value) -> Response {
        self.client
            .post(self.ingest_url(device_id))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn count(&self, table: &str) -> i64 {
        server::db::with_db!(&self.state.pool, db => sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(db)
            .await)
            .unwrap()
    }

    /// The event types stored for a channel, oldest first.
    pub async fn event_types(&self, channel_id: i64) -> Vec<String> {
        server::db::with_db!(&self.state.pool, db => sqlx::query_scalar("SELECT event_type FROM events WHERE channel_id = $1 ORDER BY id")
            .bind(channel_id)
            .fetch_all(db)
            .await)
            .unwrap()
    }
}

/// The first error object of a JSON:API error document.
pub async fn first_error(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("JSON error document");
    (status, body["errors"][0].clone())
}

/// One reading of the demo hotplate's temperature with the device's `token`, accepted.
pub async fn send_temperature(app: &TestServer, token: &str, value: f64) {
    let device = app.device_id("Hotplate Stirrer RCT digital").await;
    let res = app
        .post_points(
            device,
            token,
            &serde_json::json!([{"channel": "temperature", "value": value}]),
        )
        .await;
    assert_eq!(res.status(), 202);
}
