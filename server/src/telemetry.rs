//! Logging and metrics, set up once at start.

use crate::config::LogFormat;
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`info`).
pub fn init(format: LogFormat) {
    // The OPC UA client warns at every session that its configuration names no endpoints:
    // Labhook gives each session its endpoint itself (`sources::session`).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,sqlx=warn,hyper=warn,tower_http=warn,opcua_client::config=error")
    });
    let builder = fmt().with_env_filter(filter).with_target(false);
    // A second call (several servers in one test binary) is harmless: keep the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// How often recorded histogram values are drained into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The Prometheus recorder behind every `metrics::counter!`/`histogram!`/`gauge!` of the
/// process, installed on first use (several servers in one test binary share it).
pub fn metrics() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            // Attempt latencies as a histogram (buckets in seconds), not a summary: they add
            // up across instances.
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
                ],
            )
            .expect("BUG: the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder installed first (a test harness) keeps its place; ours renders empty.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        // A histogram keeps every value recorded until it is drained into its buckets, which
        // only rendering or upkeep does: with nobody scraping `/metrics`, a server delivering
        // 10,000 webhooks a second grew by 10 MiB a minute (the 30-minute soak).
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            })
            .expect("a thread for the metrics' upkeep");
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "labhook_data_points_total",
        "Data points accepted by the ingest API."
    );
    describe_counter!("labhook_events_total", "Trigger events recorded.");
    describe_counter!(
        "labhook_deliveries_total",
        "Outcomes of delivery attempts, by the delivery's new status (delivered, retrying, failed, cancelled)."
    );
    describe_histogram!(
        "labhook_attempt_duration_seconds",
        Unit::Seconds,
        "How long each webhook request took, answered or not."
    );
    describe_gauge!(
        "labhook_queue_depth",
        "Deliveries waiting to be sent (due or later)."
    );
    describe_gauge!(
        "labhook_oldest_due_seconds",
        Unit::Seconds,
        "How long the oldest due delivery has been waiting (0: none is due)."
    );
    describe_gauge!(
        "labhook_requests_in_flight",
        "Webhook requests being sent right now."
    );
    describe_counter!(
        "labhook_retention_deleted_total",
        "Rows deleted by retention, by table."
    );
}
