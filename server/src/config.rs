//! Run-time configuration. The binary fills it from command-line flags and environment
//! variables; tests build it directly.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::domain::{outbound::OutboundPolicy, schedule::RetrySchedule};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the web server listens.
    pub listen: SocketAddr,
    /// The database: a SQLite file (created with its directory when missing) or a PostgreSQL
    /// database.
    pub database: crate::domain::database::Location,
    /// The key that seals stored secrets; `None`: beside the database, created when missing.
    pub secrets_key_file: Option<PathBuf>,
    /// Where cargo-leptos put the compiled site (the `pkg/` folder and static assets).
    pub site_root: PathBuf,
    pub log_format: LogFormat,
    /// Mark the session cookie `Secure`: on when the app is served over HTTPS.
    pub secure_cookies: bool,
    /// A proxy the operator runs is in front: believe its `X-Forwarded-Proto` (HTTPS) and
    /// `X-Forwarded-For` (the client's address).
    pub behind_proxy: bool,
    /// Sign-in attempts one client address may make per minute.
    pub sign_ins_per_minute: u32,
    /// The bearer token `/metrics` asks for; `None`: metrics are not served.
    pub metrics_token: Option<String>,
    /// Password checks that may run at once (`None`: one per core), and how long a sign-in
    /// waits for one before it is told to come back.
    pub password_checks: Option<usize>,
    pub password_check_wait: Duration,
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
    /// Create the demo organisations and users when the database is empty (`--demo`).
    pub seed_demo: bool,
    /// With the demo data: subscribe the demo LIMS stand-in to the scanner (`--demo-lims`).
    pub demo_lims: bool,
    /// Feed the demo devices with plausible values.
    pub simulate: bool,
    /// A device that has sent nothing for this long is offline.
    pub offline_after: Duration,
    pub dispatcher: DispatcherConfig,
    /// How long a change waits for its turn at the database before it is answered "busy"
    /// (503) instead: no request hangs on an overloaded writer.
    pub write_turn_wait: Duration,
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    pub connections: ConnectionLimits,
    pub quotas: Quotas,
}

/// How many HTTP connections are served at once (see `http::serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// In all: past it, new connections wait in the listen backlog.
    pub total: usize,
    /// Per client address (an IPv6 /64 network gets four times as many); past it, a client's
    /// new connections are closed at once. Not applied behind a proxy.
    pub per_address: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            total: 2048,
            per_address: 256,
        }
    }
}

/// What one user, organisation or device may use, so that nobody floods the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub subscriptions_per_user: u32,
    pub subscriptions_per_organisation: u32,
    /// Ingest requests a second per device token (bursts of ten times as many pass).
    pub ingest_requests_per_second: u32,
    /// Request body KiB a second per device token (bursts of ten times as many pass): a
    /// device that sends few but full requests is held to it too.
    pub ingest_kib_per_second: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            subscriptions_per_user: 100,
            subscriptions_per_organisation: 1000,
            ingest_requests_per_second: 100,
            ingest_kib_per_second: 1024,
        }
    }
}

impl Config {
    /// A configuration for a throw-away instance: tests and benchmarks.
    pub fn for_database(database: impl Into<crate::domain::database::Location>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: database.into(),
            secrets_key_file: None,
            site_root: PathBuf::from("target/site"),
            log_format: LogFormat::Text,
            secure_cookies: false,
            behind_proxy: false,
            session_ttl: Duration::from_secs(7 * 24 * 3600),
            sign_ins_per_minute: 30,
            metrics_token: None,
            password_checks: None,
            password_check_wait: Duration::from_secs(2),
            seed_demo: true,
            demo_lims: false,
            simulate: false,
            offline_after: Duration::from_secs(60),
            write_turn_wait: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            connections: ConnectionLimits::default(),
            // Benchmarks and load tests use far more than a real lab.
            quotas: Quotas {
                subscriptions_per_user: 1_000_000,
                subscriptions_per_organisation: 1_000_000,
                ingest_requests_per_second: 1_000_000,
                ingest_kib_per_second: 1_000_000,
            },
            // Tests and benchmarks run their receivers on this machine.
            dispatcher: DispatcherConfig {
                outbound: OutboundPolicy {
                    allow_loopback: true,
                    deny_private: false,
                },
                ..DispatcherConfig::default()
            },
        }
    }
}

/// How the dispatcher delivers: retries, in-flight limits, timeouts, retention.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    pub schedule: RetrySchedule,
    /// HTTP requests in flight at once, over all subscriptions.
    pub max_in_flight: usize,
    /// HTTP requests in flight at once to one subscription: a slow or hanging receiver can take
    /// no more than this from everyone else.
    pub per_subscription_in_flight: usize,
    /// How long a claimed delivery stays reserved before it falls due again.
    pub lease: Duration,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Finished deliveries (and their attempts) older than this are deleted.
    pub retention: Duration,
    /// Data points measured longer ago than this are deleted; `None` (the default) keeps them:
    /// they are lab records.
    pub data_point_retention: Option<Duration>,
    /// On shutdown, how long requests in flight may still finish.
    pub shutdown_grace: Duration,
    /// Which addresses webhooks may be sent to.
    pub outbound: OutboundPolicy,
    /// Most deliveries one subscription may have waiting; events past it are not queued for
    /// it (the oldest waiting are kept), and its owner is told.
    pub max_pending_per_subscription: usize,
    /// When a subscription whose deliveries all fail is switched off; `None`: never.
    pub auto_disable: Option<AutoDisable>,
}

/// A subscription is switched off when its deliveries have failed for `after`, at least
/// `min_failures` of them, with no success in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoDisable {
    pub after: Duration,
    pub min_failures: i64,
}

impl Default for AutoDisable {
    fn default() -> Self {
        Self {
            after: Duration::from_secs(5 * 86_400),
            min_failures: 10,
        }
    }
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            schedule: RetrySchedule::default(),
            max_in_flight: 256,
            per_subscription_in_flight: 16,
            lease: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            retention: Duration::from_secs(30 * 86_400),
            data_point_retention: None,
            shutdown_grace: Duration::from_secs(10),
            outbound: OutboundPolicy::default(),
            max_pending_per_subscription: 10_000,
            auto_disable: Some(AutoDisable::default()),
        }
    }
}
