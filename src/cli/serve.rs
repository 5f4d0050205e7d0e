//! `labhook serve`: its flags (with environment-variable fallbacks) and the server they start.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser};
use labhook::startup::Application;
use server::{
    config::{AutoDisable, Config, ConnectionLimits, DispatcherConfig, LogFormat, Quotas},
    domain::{outbound::OutboundPolicy, schedule::RetrySchedule, signature::SigningSecret},
};

use super::LogFormatArg;

#[derive(Args, Clone)]
pub(super) struct ServeArgs {
    /// The key file that seals stored secrets (default: beside the database,
    /// `<database>.secrets.key`, created with mode 0600 on first start).
    #[arg(long, env = "LABHOOK_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,

    /// Address and port to listen on.
    #[arg(long, env = "LABHOOK_LISTEN", default_value = "127.0.0.1:3000")]
    listen: SocketAddr,

    /// The folder with the compiled site (cargo-leptos output).
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site")]
    site_root: PathBuf,

    /// Mark the session cookie Secure (serve over HTTPS).
    #[arg(long, env = "LABHOOK_SECURE_COOKIES")]
    secure_cookies: bool,

    /// A reverse proxy is in front: believe its X-Forwarded-Proto and X-Forwarded-For.
    #[arg(long, env = "LABHOOK_BEHIND_PROXY")]
    behind_proxy: bool,

    /// Create demo organisations, users and devices in an empty database (`make run` does).
    #[arg(long, env = "LABHOOK_DEMO", conflicts_with = "no_demo")]
    demo: bool,

    /// With --demo: subscribe the demo LIMS stand-in (`labhook demo-lims`) to the scanner's
    /// scans, using its reply (`make run` does).
    #[arg(long, env = "LABHOOK_DEMO_LIMS", requires = "demo")]
    demo_lims: bool,

    /// Create no demo data (the default; kept for scripts that say so).
    #[arg(long, env = "LABHOOK_NO_DEMO")]
    no_demo: bool,

    /// Allow --demo on an address other machines can reach (its passwords are published).
    #[arg(long, env = "LABHOOK_DEMO_ON_PUBLIC_ADDRESS")]
    demo_on_public_address: bool,

    /// Allow webhooks to loopback addresses (a receiver on this machine).
    #[arg(long, env = "LABHOOK_ALLOW_LOOPBACK_TARGETS")]
    allow_loopback_targets: bool,

    /// Refuse webhooks to private network addresses (RFC 1918, fc00::/7): for hosted installs.
    #[arg(long, env = "LABHOOK_DENY_PRIVATE_TARGETS")]
    deny_private_targets: bool,

    /// Sign-in attempts one client address may make per minute.
    #[arg(long, env = "LABHOOK_SIGN_INS_PER_MINUTE", default_value_t = 30)]
    sign_ins_per_minute: u32,

    /// HTTP connections served at once; more wait until one closes.
    #[arg(long, env = "LABHOOK_MAX_CONNECTIONS", default_value_t = 2048)]
    max_connections: usize,

    /// HTTP connections one client address may hold at once (an IPv6 /64 four times as
    /// many); more are closed at once. Not applied with --behind-proxy.
    #[arg(
        long,
        env = "LABHOOK_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 256
    )]
    max_connections_per_address: usize,

    /// Serve Prometheus metrics at /metrics to requests with `Authorization: Bearer <this>`
    /// (without it /metrics is not served).
    #[arg(long, env = "LABHOOK_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,

    /// How long a sign-in lasts, in hours.
    #[arg(long, env = "LABHOOK_SESSION_HOURS", default_value_t = 168)]
    session_hours: u64,

    /// Feed the demo devices with plausible values every few seconds.
    #[arg(long, env = "LABHOOK_SIMULATE")]
    simulate: bool,

    /// A device that has sent nothing for this many seconds is marked offline.
    #[arg(long, env = "LABHOOK_OFFLINE_AFTER_SECS", default_value_t = 60)]
    offline_after_secs: u64,

    /// Delays before each delivery attempt (the Standard Webhooks schedule by default).
    #[arg(
        long,
        env = "LABHOOK_RETRY_SCHEDULE",
        default_value = "0,5s,5m,30m,2h,5h,10h,14h,20h,24h"
    )]
    retry_schedule: String,

    /// Webhook requests in flight at once, over all subscriptions.
    #[arg(long, env = "LABHOOK_MAX_IN_FLIGHT", default_value_t = 256)]
    max_in_flight: usize,

    /// Webhook requests in flight at once to one subscription.
    #[arg(long, env = "LABHOOK_PER_SUBSCRIPTION_IN_FLIGHT", default_value_t = 16)]
    per_subscription_in_flight: usize,

    /// Subscriptions one user may have.
    #[arg(
        long,
        env = "LABHOOK_MAX_SUBSCRIPTIONS_PER_USER",
        default_value_t = 100
    )]
    max_subscriptions_per_user: u32,

    /// Subscriptions one organisation may have.
    #[arg(
        long,
        env = "LABHOOK_MAX_SUBSCRIPTIONS_PER_ORGANISATION",
        default_value_t = 1000
    )]
    max_subscriptions_per_organisation: u32,

    /// Deliveries one subscription may have waiting; newer events are not queued past it.
    #[arg(
        long,
        env = "LABHOOK_MAX_PENDING_PER_SUBSCRIPTION",
        default_value_t = 10_000
    )]
    max_pending_per_subscription: usize,

    /// Seconds a receiver has to answer a webhook (connecting takes at most 5 of them); an
    /// attempt past it fails and is retried.
    #[arg(long, env = "LABHOOK_DELIVERY_TIMEOUT_SECS", default_value_t = 15)]
    delivery_timeout_secs: u64,

    /// Seconds a claimed delivery is reserved for the instance sending it, at least five times
    /// --delivery-timeout-secs: with several instances on Postgres, how soon another one sends
    /// what a dead instance had claimed.
    #[arg(long, env = "LABHOOK_DELIVERY_LEASE_SECS", default_value_t = 120)]
    delivery_lease_secs: u64,

    /// Switch a subscription off when all its deliveries have failed for this many days (and
    /// at least --auto-disable-min-failures of them); 0: never.
    #[arg(long, env = "LABHOOK_AUTO_DISABLE_AFTER_DAYS", default_value_t = 5)]
    auto_disable_after_days: u64,

    /// Failed deliveries needed, besides the days, to switch a subscription off.
    #[arg(long, env = "LABHOOK_AUTO_DISABLE_MIN_FAILURES", default_value_t = 10)]
    auto_disable_min_failures: i64,

    /// Ingest requests a second per device token (bursts of ten times as many pass).
    #[arg(
        long,
        env = "LABHOOK_INGEST_REQUESTS_PER_SECOND",
        default_value_t = 100
    )]
    ingest_requests_per_second: u32,

    /// Ingest request body KiB a second per device token (bursts of ten times as many pass).
    #[arg(long, env = "LABHOOK_INGEST_KIB_PER_SECOND", default_value_t = 1024)]
    ingest_kib_per_second: u32,

    /// Days the delivery log keeps finished deliveries.
    #[arg(long, env = "LABHOOK_RETENTION_DAYS", default_value_t = 30)]
    retention_days: u64,

    /// Days data points are kept; without it they are kept for good (they are lab records).
    #[arg(long, env = "LABHOOK_DATA_POINT_RETENTION_DAYS")]
    data_point_retention_days: Option<u64>,
}

impl Default for ServeArgs {
    fn default() -> Self {
        // Parsing no arguments yields the documented defaults (and the environment's values).
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: ServeArgs,
        }
        Only::parse_from(["labhook"]).args
    }
}

pub(super) async fn serve(
    database: server::db::Location,
    log_format: LogFormatArg,
    args: ServeArgs,
) -> anyhow::Result<()> {
    if args.demo && !args.listen.ip().is_loopback() && !args.demo_on_public_address {
        anyhow::bail!(
            "--demo creates users whose passwords are published, and {} can be reached from \
             other machines; listen on 127.0.0.1, or add --demo-on-public-address if you mean it",
            args.listen
        );
    }
    let config = Config {
        listen: args.listen,
        database,
        secrets_key_file: args.secrets_key_file,
        site_root: args.site_root,
        log_format: match log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        },
        secure_cookies: args.secure_cookies,
        behind_proxy: args.behind_proxy,
        sign_ins_per_minute: args.sign_ins_per_minute.max(1),
        metrics_token: args.metrics_token.clone().filter(|t| !t.trim().is_empty()),
        password_checks: None,
        password_check_wait: Duration::from_secs(2),
        session_ttl: Duration::from_secs(args.session_hours.max(1) * 3600),
        seed_demo: args.demo,
        demo_lims: args.demo && args.demo_lims,
        simulate: args.simulate,
        offline_after: Duration::from_secs(args.offline_after_secs.max(1)),
        write_turn_wait: Duration::from_secs(10),
        header_read_timeout: Duration::from_secs(10),
        connections: ConnectionLimits {
            total: args.max_connections.max(1),
            per_address: args.max_connections_per_address.max(1),
        },
        quotas: Quotas {
            subscriptions_per_user: args.max_subscriptions_per_user.max(1),
            subscriptions_per_organisation: args.max_subscriptions_per_organisation.max(1),
            ingest_requests_per_second: args.ingest_requests_per_second.max(1),
            ingest_kib_per_second: args.ingest_kib_per_second.max(1),
        },
        dispatcher: DispatcherConfig {
            schedule: RetrySchedule::parse(&args.retry_schedule)
                .map_err(|e| anyhow::anyhow!("--retry-schedule: {e}"))?,
            max_in_flight: args.max_in_flight.max(1),
            per_subscription_in_flight: args.per_subscription_in_flight.max(1),
            max_pending_per_subscription: args.max_pending_per_subscription.max(1),
            request_timeout: Duration::from_secs(args.delivery_timeout_secs.max(1)),
            connect_timeout: Duration::from_secs(args.delivery_timeout_secs.clamp(1, 5)),
            lease: Duration::from_secs(args.delivery_lease_secs.max(1)),
            auto_disable: (args.auto_disable_after_days > 0).then(|| AutoDisable {
                after: Duration::from_secs(args.auto_disable_after_days * 86_400),
                min_failures: args.auto_disable_min_failures.max(1),
            }),
            retention: Duration::from_secs(args.retention_days.max(1) * 86_400),
            outbound: OutboundPolicy {
                allow_loopback: args.allow_loopback_targets,
                deny_private: args.deny_private_targets,
            },
            data_point_retention: args
                .data_point_retention_days
                .map(|days| Duration::from_secs(days.max(1) * 86_400)),
            ..DispatcherConfig::default()
        },
    };
    if !config.site_root.join("pkg").exists() {
        tracing::warn!(
            site_root = %config.site_root.display(),
            "no compiled site found: pages will load without styles and scripts (build with `cargo leptos build`)"
        );
    }
    let app = Application::build(config).await?;
    tracing::info!("Labhook is listening on http://{}", app.address());
    app.run(shutdown_signal()).await
}

pub(super) async fn demo_lims(listen: SocketAddr, secret: &str) -> anyhow::Result<()> {
    let secret = SigningSecret::parse(secret)
        .ok_or_else(|| anyhow::anyhow!("--secret must be a signing secret: whsec_ and base64"))?;
    println!("The demo LIMS answers webhooks at http://{listen}/ (Ctrl-C stops it).");
    tokio::select! {
        served = server::demo_lims::serve(listen, secret) => {
            served.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))
        }
        _ = shutdown_signal() => Ok(()),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
