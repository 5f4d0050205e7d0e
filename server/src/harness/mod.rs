//! A throw-away Labhook for tests and benchmarks: a fresh SQLite file in a scratch directory (or,
//! with `LABHOOK_TEST_ENGINE=postgres`, a fresh database on a scratch PostgreSQL), the demo data,
//! the real HTTP router on a loopback port — and the few steps every test and
//! benchmark repeats (sign the demo admin in, find a device, make a token, subscribe), each
//! through the same services a person's request goes through. Nothing here is a stand-in.

pub mod postgres;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

use tokio::sync::OnceCell;

use crate::{
    admin,
    auth::{self, CurrentUser},
    config::Config,
    db, demo,
    domain::{headers::RawHeader, target_url::RegisteredUrl},
    http, settings,
    subscriptions::{
        self,
        rules::{SubscriptionInput, TriggerChoice},
        Created,
    },
    AppState,
};

/// The demo organisation's administrator (see [`demo`]).
pub const DEMO_ADMIN: (&str, &str) = ("admin@demo.lab", "demo-admin-pass");

/// A directory of its own under the system's temporary directory, removed with everything in
/// it when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(prefix: &str) -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{prefix}-{}-{}-{}",
            std::process::id(),
            crate::clock::now_ms(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The engine throw-away instances run on: `LABHOOK_TEST_ENGINE=postgres` puts each on a
/// database of its own in a scratch PostgreSQL (one cluster per test process); SQLite
/// otherwise. `make test` runs the suites both ways.
pub fn engine() -> db::Engine {
    match std::env::var("LABHOOK_TEST_ENGINE").as_deref() {
        Ok("postgres") => db::Engine::Postgres,
        _ => db::Engine::Sqlite,
    }
}

/// A configuration for a throw-away instance on [`engine`]: the SQLite file `sqlite_file`, or
/// a fresh PostgreSQL database with its secrets key beside where that file would be.
pub fn throwaway_config(sqlite_file: PathBuf) -> Config {
    // `LABHOOK_TEST_LOG=1`: the server's log in a failing test's output.
    if std::env::var_os("LABHOOK_TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    }
    match engine() {
        db::Engine::Sqlite => Config::for_database(sqlite_file),
        db::Engine::Postgres => {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let name = format!("labhook_{}", NEXT.fetch_add(1, Ordering::Relaxed));
            let url = postgres::Postgres::for_this_process()
                .create_database(&name)
                .unwrap_or_else(|e| panic!("a scratch database: {e}"));
            // Made by the server at its first start, like the key beside a SQLite file.
            let key = sqlite_file.with_extension("secrets.key");
            let mut config = Config::for_database(db::Location::Postgres(url));
            config.secrets_key_file = Some(key);
            config
        }
    }
}

/// What to pass a `labhook` process for the database `sqlite_file` stands for, on [`engine`]:
/// `--database` (before the command) and, for `serve`, `--secrets-key-file`. On Postgres the
/// same file always names the same database, so that a server restarted on it (the crash loop)
/// finds its data.
pub fn process_database_args(sqlite_file: &Path) -> (Vec<String>, Vec<String>) {
    use std::{collections::HashMap, sync::Mutex};
    static DATABASES: Mutex<Option<HashMap<PathBuf, Config>>> = Mutex::new(None);
    if engine() == db::Engine::Sqlite {
        return (
            vec!["--database".into(), sqlite_file.display().to_string()],
            vec![],
        );
    }
    let mut known = DATABASES.lock().expect("BUG: not poisoned");
    let config = known
        .get_or_insert_with(HashMap::new)
        .entry(sqlite_file.to_path_buf())
        .or_insert_with(|| throwaway_config(sqlite_file.to_path_buf()));
    let db::Location::Postgres(url) = &config.database else {
        unreachable!("BUG: a Postgres throw-away configuration")
    };
    let key = config
        .secrets_key_file
        .as_ref()
        .expect("BUG: a key beside the file");
    (
        vec!["--database".into(), url.clone()],
        vec!["--secrets-key-file".into(), key.display().to_string()],
    )
}

/// A running backend with the demo data (no dispatcher: start one, or step it).
pub struct Instance {
    pub state: AppState,
    pub address: SocketAddr,
    admin: OnceCell<CurrentUser>,
    _scratch: Scratch,
}

impl Instance {
    /// Starts on 127.0.0.1:0 with a configuration `adjust` may change.
    pub async fn start(adjust: impl FnOnce(&mut Config)) -> Self {
        let scratch = Scratch::new("labhook").expect("BUG: a scratch directory can be made");
        let mut config = throwaway_config(scratch.path().join("labhook.db"));
        adjust(&mut config);
        let pool = db::connect(&config.database)
            .await
            .expect("the database opens");
        demo::seed_if_empty(&pool).await.expect("demo data");
        let key = subscriptions::secrets_key(&pool, &config)
            .await
            .expect("the secrets key");
        let state = AppState::new(pool, config, key)
            .await
            .expect("the writer starts");
        subscriptions::seal_open_secrets(&state)
            .await
            .expect("stored secrets sealed");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let address = listener.local_addr().expect("a bound address");
        let router = http::router(state.clone());
        // Served as the binary serves: the same connection limits, the peer's address known.
        tokio::spawn(http::serve::serve(
            listener,
            router,
            http::serve::Serving::of(&state.config),
            std::future::pending(),
        ));
        Self {
            state,
            address,
            admin: OnceCell::new(),
            _scratch: scratch,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.address, path)
    }

    /// The ingest endpoint of a device.
    pub fn ingest_url(&self, device_id: i64) -> String {
        self.url(&format!("/api/v1/devices/{device_id}/data_points"))
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> CurrentUser {
        auth::sign_in(&self.state, email, password, None)
            .await
            .expect("a demo user signs in")
            .0
    }

    /// The demo admin, signed in once (a password check takes a while).
    pub async fn admin(&self) -> CurrentUser {
        self.admin
            .get_or_init(|| self.sign_in(DEMO_ADMIN.0, DEMO_ADMIN.1))
            .await
            .clone()
    }

    pub async fn device_id(&self, name: &str) -> i64 {
        crate::db::with_db!(&self.state.pool, db => sqlx::query_scalar("SELECT id FROM devices WHERE name = $1")
            .bind(name)
            .fetch_one(db)
            .await)
            .unwrap_or_else(|_| panic!("no device {name:?}"))
    }

    pub async fn channel_id(&self, device_id: i64, name: &str) -> i64 {
        crate::db::with_db!(&self.state.pool, db => sqlx::query_scalar("SELECT id FROM channels WHERE device_id = $1 AND name = $2")
            .bind(device_id)
            .bind(name)
            .fetch_one(db)
            .await)
            .unwrap_or_else(|_| panic!("no channel {name:?}"))
    }

    /// A fresh token for a demo device: (device id, token).
    pub async fn token_for(&self, device: &str) -> (i64, String) {
        let id = self.device_id(device).await;
        let admin = self.admin().await;
        let created = crate::devices::tokens::create(&self.state, &admin, id, "harness")
            .await
            .expect("a device token");
        (id, created.token)
    }

    /// Registers `origin` as the demo admin, unless it is registered already.
    pub async fn register(&self, origin: &str) {
        let admin = self.admin().await;
        if let Err(e) = admin::register_url(&self.state, &admin, origin, "harness receiver").await {
            // Only "registered already" is expected (concurrent callers register the same one).
            let wanted = RegisteredUrl::parse(origin).expect("a valid origin");
            let registered = settings::webhook_settings(&self.state.pool, &admin)
                .await
                .expect("the settings");
            assert!(
                registered
                    .registered
                    .iter()
                    .any(|r| r.url == wanted.as_str()),
                "registering {origin} failed: {e}"
            );
        }
    }

    /// Subscribes the demo admin to trigger events of channels, sending to `url` (whose
    /// origin must be registered).
    pub async fn subscribe(
        &self,
        url: &str,
        channels: &[i64],
        events: &[&str],
        headers: Vec<RawHeader>,
    ) -> Created {
        let admin = self.admin().await;
        let input = SubscriptionInput {
            display_name: String::new(),
            url: url.to_owned(),
            headers,
            triggers: channels
                .iter()
                .flat_map(|&channel_id| {
                    events.iter().map(move |e| TriggerChoice {
                        channel_id,
                        event_type: (*e).to_owned(),
                    })
                })
                .collect(),
            use_replies: false,
            trigger_options: vec![],
        };
        subscriptions::create(&self.state, &admin, &input)
            .await
            .expect("a valid subscription")
    }
}
