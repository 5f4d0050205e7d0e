use std::net::SocketAddr;

use labhook::startup::Application;
use reqwest::{header, redirect, Client, Response, StatusCode};
use serde_json::Value;
use server::AppState;
use tempfile::TempDir;

pub struct TestApp {
    pub address: SocketAddr,
    pub state: AppState,
    _dir: Option<TempDir>,
}

/// Starts the application on 127.0.0.1:0 with a fresh database holding the demo data.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = server::harness::throwaway_config(dir.path().join("test.db"));
    let app = Application::build(config).await.expect("app starts");
    let address = app.address();
    let state = app.state().clone();
    tokio::spawn(app.run(std::future::pending()));
    TestApp {
        address,
        state,
        _dir: Some(dir),
    }
}

/// A browser-like client: keeps cookies, does not follow redirects (tests look at them). A
/// request that gets no answer in two minutes fails with its address instead of hanging the
/// suite (the longest wait a test asks for, a read-back's long poll, is one minute).
pub fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .expect("client")
}

impl TestApp {
    /// An app started by the test itself (its own configuration and directory).
    pub fn at(address: SocketAddr, state: AppState) -> Self {
        TestApp {
            address,
            state,
            _dir: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// Calls a server function the way `ActionForm` does: a url-encoded POST.
    pub async fn call_form(&self, client: &Client, name: &str, form: &[(&str, &str)]) -> Response {
        client
            .post(self.url(&format!("/api/{name}")))
            .header(header::ACCEPT, "application/json")
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// Calls a server function that takes a JSON body.
    pub async fn call_json(&self, client: &Client, name: &str, body: &Value) -> Response {
        client
            .post(self.url(&format!("/api/{name}")))
            .header(header::ACCEPT, "application/json")
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

    /// A new ingest token for a device, made by an org admin through the Tokens dialog's door.
    pub async fn device_token(&self, admin: &Client, device_id: i64) -> String {
        let res = self
            .call_form(
                admin,
                "devices/create_token",
                &[("device_id", &device_id.to_string()), ("label", "test")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "creating a token");
        let token: Value = res.json().await.unwrap();
        token["token"].as_str().unwrap().to_owned()
    }

    /// Sends data points through the ingest API; answers its status and body.
    pub async fn send_points(
        &self,
        device_id: i64,
        token: &str,
        points: &Value,
    ) -> (StatusCode, Value) {
        let res = Client::new()
            .post(self.url(&format!("/api/v1/devices/{device_id}/data_points")))
            .bearer_auth(token)
            .json(points)
            .send()
            .await
            .expect("request");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Waits until the dispatcher has matched every stored event to subscriptions.
    pub async fn wait_for_fan_out(&self) {
        let last: i64 = server::db::with_db!(&self.state.pool, db => sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events")
            .fetch_one(db)
            .await)
            .unwrap();
        for _ in 0..400 {
            let below = server::devices::events::fanned_out_below(&self.state.pool)
                .await
                .unwrap();
            if below > last {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the events were not fanned out");
    }

    /// Signs a fresh client in as a demo user and returns it.
    pub async fn signed_in(&self, email: &str, password: &str) -> Client {
        let c = client();
        let res = self
            .call_form(&c, "sign_in", &[("email", email), ("password", password)])
            .await;
        assert_eq!(res.status(), StatusCode::OK, "sign-in of {email} failed");
        c
    }
}

pub const ADMIN: (&str, &str) = ("admin@demo.lab", "demo-admin-pass");
pub const LAB_USER: (&str, &str) = ("lab@demo.lab", "demo-lab-pass");
pub const OTHER_ADMIN: (&str, &str) = ("admin@northwind.lab", "other-admin-pass");

/// The error a server function answered with: `{"Variant": payload}` or `"Variant"`.
pub async fn error_of(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let body: Value = res.json().await.expect("JSON error body");
    (status, body)
}

/// A server the test starts on its own configuration and stops again: one server at a time on
/// a database, each stopped before the next starts.
pub struct Stoppable {
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Stoppable {
    pub async fn start(config: server::config::Config) -> anyhow::Result<(TestApp, Stoppable)> {
        let app = Application::build(config).await?;
        let state = app.state().clone();
        let address = app.address();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(app.run(async {
            let _ = stopped.await;
        }));
        Ok((TestApp::at(address, state), Stoppable { stop, running }))
    }

    pub async fn halt(self) {
        let _ = self.stop.send(());
        self.running.await.unwrap().unwrap();
    }
}
