//! The HTTP API v2 over real HTTP: personal tokens made through the "My API tokens" page's
//! door, every endpoint's answers and refusals, and its answers checked against the served
//! OpenAPI document and against Laboperator's reference schemas.

mod corpus;
mod exports;
mod matrix;
mod reasons;
mod resources;
mod schemas;
mod subscriptions;
mod tokens;

use reqwest::{header, Client, Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// A program using the API with one token.
pub struct Api {
    base: String,
    token: String,
    http: Client,
}

/// An answer: status, body (`Null` when empty) and `Retry-After`.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
    pub retry_after: Option<String>,
}

impl Answer {
    /// The first error's `detail`.
    pub fn detail(&self) -> &str {
        self.body["errors"][0]["detail"]
            .as_str()
            .unwrap_or_default()
    }
}

impl Api {
    pub fn new(app: &TestApp, token: &str) -> Self {
        Self {
            base: app.url(""),
            token: token.to_owned(),
            http: Client::new(),
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header(header::ACCEPT, "application/vnd.api+json");
        if let Some(body) = body {
            req = req
                .header(header::CONTENT_TYPE, "application/vnd.api+json")
                .body(body.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let header = |name| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
        let retry_after = header(header::RETRY_AFTER);
        let text = res.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        Answer {
            status,
            body,
            content_type,
            retry_after,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.call(Method::DELETE, path, None).await
    }
}

/// A personal token made on "My API tokens" by whoever `client` is signed in as.
pub async fn token(app: &TestApp, client: &Client, scopes: &[&str]) -> String {
    let res = app
        .call_json(
            client,
            "api_tokens/create",
            &json!({"input": {"label": "test script", "scopes": scopes, "expires_in_days": 30}}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let created: Value = res.json().await.unwrap();
    created["token"].as_str().unwrap().to_owned()
}

/// The id of a demo channel, by device and channel name.
pub async fn channel_id(app: &TestApp, device: &str, channel: &str) -> i64 {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT c.id FROM channels c JOIN devices d ON d.id = c.device_id
         WHERE d.name = $1 AND c.name = $2",
    )
    .bind(device)
    .bind(channel)
    .fetch_one(db)
    .await)
    .unwrap()
}

/// A subscription as the reference's example creates one, on a channel the lab user may see.
pub fn new_subscription(channel: i64, path: &str) -> Value {
    json!({"data": {"type": "webhook_subscription", "attributes": {
        "display_name": "From the API",
        "url": format!("http://127.0.0.1:9999/{path}"),
        "triggers": [format!("{channel}:data_point.created")],
        "headers": {"X-Lab": "QC", "X-Api-Key": {"value": "s3cret-key", "secret": true}},
    }}})
}
