//! Organisation B of the fairness bench: its admin, device and token, its subscriptions, a
//! receiver whose replies write back, and loads that run in the background.

use std::sync::{
    atomic::{AtomicBool, AtomicU64, Ordering},
    Arc,
};

use serde_json::json;
use server::{
    admin,
    auth::CurrentUser,
    devices,
    domain::debounce::RawOptions,
    subscriptions::{
        self,
        rules::{SubscriptionInput, TriggerChoice, TriggerOptions},
    },
    AppState,
};

const B_DEVICE: &str = "UV-Vis Spectrophotometer";

/// Organisation B's admin, its device and a token for it, with webhooks on and `urls`
/// registered.
pub struct OrganisationB {
    pub admin: CurrentUser,
    pub device: i64,
    pub token: String,
    pub token_id: i64,
}

pub async fn organisation_b(
    state: &AppState,
    instance: &server::harness::Instance,
    urls: &[&str],
) -> OrganisationB {
    let admin = instance
        .sign_in("admin@northwind.lab", "other-admin-pass")
        .await;
    admin::set_webhooks_enabled(state, &admin, true)
        .await
        .expect("webhooks on for B");
    for url in urls {
        admin::register_url(state, &admin, url, "bench")
            .await
            .expect("B registers its receiver");
    }
    let device = instance.device_id(B_DEVICE).await;
    let created = devices::tokens::create(state, &admin, device, "bench")
        .await
        .expect("a device token for B");
    let token_id: i64 =
        server::db::with_db!(&state.pool, db => sqlx::query_scalar("SELECT MAX(id) FROM device_tokens WHERE device_id = $1")
            .bind(device)
            .fetch_one(db)
            .await)
            .unwrap();
    OrganisationB {
        admin,
        device,
        token: created.token,
        token_id,
    }
}

pub async fn subscribe_b(
    state: &AppState,
    b: &OrganisationB,
    url: String,
    channel: i64,
    use_replies: bool,
    options: Option<RawOptions>,
) -> i64 {
    let event_type = "data_point.created".to_owned();
    let input = SubscriptionInput {
        url,
        triggers: vec![TriggerChoice {
            channel_id: channel,
            event_type: event_type.clone(),
        }],
        use_replies,
        trigger_options: options
            .map(|options| {
                vec![TriggerOptions {
                    channel_id: channel,
                    event_type,
                    options,
                }]
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    subscriptions::create(state, &b.admin, &input)
        .await
        .expect("B's subscription")
        .id
}

/// A receiver that answers every webhook with `points` data points on `channel`.
pub async fn replying_receiver(channel: &'static str, points: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let reply: serde_json::Value = json!({
        "data_points": (0..points)
            .map(|i| json!({"channel": channel, "value": format!("reply {i}")}))
            .collect::<Vec<_>>()
    });
    let app = axum::Router::new().fallback(move || {
        let reply = reply.clone();
        async move { axum::Json(reply) }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Runs `load` until `stop` is set; answers how many units of work it did.
pub fn in_background<F, Fut>(stop: &Arc<AtomicBool>, load: F) -> tokio::task::JoinHandle<u64>
where
    F: FnOnce(Arc<AtomicBool>, Arc<AtomicU64>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = stop.clone();
    tokio::spawn(async move {
        let done = Arc::new(AtomicU64::new(0));
        load(stop, done.clone()).await;
        done.load(Ordering::Relaxed)
    })
}
