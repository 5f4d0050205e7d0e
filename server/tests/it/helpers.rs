use std::net::SocketAddr;

use reqwest::{Client, Response};
use serde_json::Value;
use server::{auth::CurrentUser, config::Config, AppState};
use tempfile::TempDir;

pub struct TestServer {
    pub address: SocketAddr,
    pub state: AppState,
    pub client: Client,
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
    let state = AppState::new(pool, config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = server::http::router(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    TestServer {
        address,
        state,
        client: Client::new(),
        _dir: dir,
    }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    pub async fn user(&self, email: &str, password: &str) -> CurrentUser {
        server::auth::sign_in(&self.state.pool, &self.state.config, email, password)
            .await
            .expect("demo user signs in")
            .0
    }

    pub async fn admin(&self) -> CurrentUser {
        self.user("admin@demo.lab", "demo-admin-pass").await
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
