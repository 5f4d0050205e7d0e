use std::net::SocketAddr;

use std::time::Duration;

use reqwest::{Client, Response};
use serde_json::Value;
use server::{
    auth::CurrentUser,
    config::Config,
    dispatcher::Dispatcher,
    domain::headers::RawHeader,
    domain::schedule::RetrySchedule,
    subscriptions::rules::{SubscriptionInput, TriggerChoice},
    AppState,
};
use tempfile::TempDir;

use crate::receiver::TestReceiver;

pub struct TestServer {
    pub address: SocketAddr,
    pub state: AppState,
    pub client: Client,
    pub dispatcher: Option<Dispatcher>,
    /// The demo admin, signed in once (a password check takes a while).
    admin: tokio::sync::OnceCell<CurrentUser>,
    _dir: TempDir,
}

/// The backend with demo data, on 127.0.0.1:0.
pub async fn spawn() -> TestServer {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_database(dir.path().join("test.db"));
    adjust(&mut config);
    let pool = server::db::open(&config.database).await.expect("database");
    server::demo::seed_if_empty(&pool).await.expect("demo data");
    let state = AppState::new(pool, config).await.expect("writer");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = server::http::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    TestServer {
        address,
        state,
        client: Client::new(),
        dispatcher: None,
        admin: tokio::sync::OnceCell::new(),
        _dir: dir,
    }
}

/// The backend with a running dispatcher on a fast schedule (attempts 100 ms apart, a 500 ms
/// request timeout): for what only the running loop does (in-flight limits, shutdown).
pub async fn spawn_dispatching(adjust: impl FnOnce(&mut Config)) -> TestServer {
    let mut app = spawn_stepping(adjust).await;
    app.dispatcher = Some(Dispatcher::spawn(app.state.clone()));
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
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn user(&self, email: &str, password: &str) -> CurrentUser {
        server::auth::sign_in(&self.state, email, password)
            .await
            .expect("demo user signs in")
            .0
    }

    pub async fn admin(&self) -> CurrentUser {
        self.admin
            .get_or_init(|| self.user("admin@demo.lab", "demo-admin-pass"))
            .await
            .clone()
    }

    pub async fn device_id(&self, name: &str) -> i64 {
        sqlx::query_scalar("SELECT id FROM devices WHERE name = ?")
            .bind(name)
            .fetch_one(&self.state.pool)
            .await
            .unwrap_or_else(|_| panic!("no device {name:?}"))
    }

    /// A fresh token for a demo device of Demo Lab: (device id, token).
    pub async fn token_for(&self, device: &str) -> (i64, String) {
        let id = self.device_id(device).await;
        let admin = self.admin().await;
        let created = server::devices::tokens::create(&self.state, &admin, id, "test")
            .await
            .expect("token");
        (id, created.token)
    }

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
        let admin = self.admin().await;
        let _ =
            server::admin::register_url(&self.state, &admin, &receiver.origin(), "test receiver")
                .await;
        let device_id = self.device_id(device).await;
        let channel_id = self.channel_id(device_id, channel).await;
        let input = SubscriptionInput {
            display_name: String::new(),
            url: receiver.url(path),
            headers,
            triggers: events
                .iter()
                .map(|e| TriggerChoice {
                    channel_id,
                    event_type: (*e).to_owned(),
                })
                .collect(),
        };
        let created = server::subscriptions::create(&self.state, &admin, &input)
            .await
            .expect("subscription");
        (created.id, created.secret)
    }

    /// A one-shot query for a single value.
    pub async fn scalar<T>(&self, sql: &str) -> T
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite> + Send + Unpin,
    {
        sqlx::query_scalar(sql)
            .fetch_one(&self.state.pool)
            .await
            .unwrap()
    }

    pub async fn post_points(&self, device_id: i64, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(&format!("/api/v1/devices/{device_id}/data_points")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&self.state.pool)
            .await
            .unwrap()
    }

    /// The event types stored for a channel, oldest first.
    pub async fn event_types(&self, channel_id: i64) -> Vec<String> {
        sqlx::query_scalar("SELECT event_type FROM events WHERE channel_id = ? ORDER BY id")
            .bind(channel_id)
            .fetch_all(&self.state.pool)
            .await
            .unwrap()
    }

    pub async fn channel_id(&self, device_id: i64, name: &str) -> i64 {
        sqlx::query_scalar("SELECT id FROM channels WHERE device_id = ? AND name = ?")
            .bind(device_id)
            .bind(name)
            .fetch_one(&self.state.pool)
            .await
            .unwrap()
    }
}

/// The first error object of a JSON:API error document.
pub async fn first_error(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("JSON error document");
    (status, body["errors"][0].clone())
}
