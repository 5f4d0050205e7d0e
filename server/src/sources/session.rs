//! One source's OPC UA session: connects (through the outbound policy), subscribes the mapped
//! variables as monitored items, and turns each data change into a data point through the
//! ingest path the API uses — same checks, events, triggers and webhooks. The OPC UA stack
//! reconnects by itself with backoff and carries the subscription over (or makes it again);
//! values already stored (by source timestamp) are not stored twice.

use std::{collections::HashMap, time::Duration};

use futures_util::StreamExt;
use opcua::{
    client::{
        Client, ClientBuilder, DataChangeCallback, IdentityToken, Session, SessionConnectMode,
        SessionPollResult,
    },
    types::{
        DataChangeFilter, DataChangeTrigger, DataValue, DeadbandType, EndpointDescription,
        ExtensionObject, MessageSecurityMode, MonitoredItemCreateRequest, MonitoringMode,
        MonitoringParameters, StatusCode, TimestampsToReturn, UserTokenPolicy, Variant,
    },
};
use serde_json::{json, Value as Json};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};

use super::{record_state, SessionState, Source};
use crate::{
    devices::ingest::{self, RawPoint},
    AppState,
};

/// Data changes waiting for the ingest path; past this they are dropped and said so (the
/// stack's callback cannot wait).
const QUEUE: usize = 10_000;
/// Data points per call of the ingest path: at most what one ingest request may carry.
const BATCH: usize = ingest::MAX_POINTS_PER_REQUEST;
/// Pause before connecting again after the session could not be made at all.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MOST: Duration = Duration::from_secs(30);

/// Keeps the source's session until `stop` turns true.
pub(super) async fn run(state: AppState, source: Source, mut stop: watch::Receiver<bool>) {
    let mut pause = RETRY_FIRST;
    let mut reporter = Reporter::new(&state, source.device_id);
    loop {
        let ended = tokio::select! {
            ended = serve(&state, &source, &mut reporter) => ended,
            _ = stop.changed() => return,
        };
        reporter.report(SessionState::Failed(ended)).await;
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        pause = (pause * 2).min(RETRY_MOST);
    }
}

/// Writes the session's state when it changes (not at every notification).
struct Reporter {
    state: AppState,
    device_id: i64,
    last: Option<SessionState>,
}

impl Reporter {
    fn new(state: &AppState, device_id: i64) -> Self {
        Self {
            state: state.clone(),
            device_id,
            last: None,
        }
    }

    async fn report(&mut self, seen: SessionState) {
        if self.last.as_ref() == Some(&seen) {
            return;
        }
        if let SessionState::Failed(why) = &seen {
            tracing::warn!(device_id = self.device_id, error = why, "OPC UA source");
        }
        match record_state(&self.state, self.device_id, seen.clone()).await {
            Ok(()) => self.last = Some(seen),
            Err(e) => tracing::warn!(error = ?e, "the OPC UA source's state was not stored"),
        }
    }
}

/// The stack's event loop, stopped when the session is dropped.
struct Driver(JoinHandle<()>);

impl Drop for Driver {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Link {
    /// Connected; `new_session`: the server does not know the session before (it restarted,
    /// or the session timed out), so neither does it know its subscription.
    Up {
        new_session: bool,
    },
    Down(String),
}

/// Runs one session; answers why it ended (it ends only on a failure).
async fn serve(state: &AppState, source: &Source, reporter: &mut Reporter) -> String {
    if let Err(refused) = check_outbound(state, source).await {
        return refused;
    }
    let mut client = match client(state, source.device_id) {
        Ok(c) => c,
        Err(errors) => return format!("The OPC UA client could not be set up: {errors}"),
    };
    let endpoint: EndpointDescription = (
        source.endpoint.to_string().as_str(),
        "None",
        MessageSecurityMode::None,
        UserTokenPolicy::anonymous(),
    )
        .into();
    let (session, event_loop) =
        match client.connect_to_endpoint_directly(endpoint, IdentityToken::Anonymous) {
            Ok(s) => s,
            Err(e) => return format!("Cannot connect to {}: {e}", source.endpoint),
        };
    let (links, mut link) = mpsc::unbounded_channel();
    let _driver = Driver(tokio::spawn(async move {
        let events = event_loop.enter();
        futures_util::pin_mut!(events);
        while let Some(event) = events.next().await {
            let news = match event {
                Ok(SessionPollResult::Reconnected(mode)) => Link::Up {
                    new_session: matches!(mode, SessionConnectMode::NewSession(_)),
                },
                Ok(SessionPollResult::ConnectionLost(code)) => {
                    Link::Down(format!("The connection was lost ({})", describe(code)))
                }
                Ok(SessionPollResult::ReconnectFailed(code)) => {
                    Link::Down(format!("Cannot connect ({})", describe(code)))
                }
                Err(code) => Link::Down(format!("The session ended ({})", describe(code))),
                Ok(_) => continue,
            };
            if links.send(news).is_err() {
                return;
            }
        }
    }));
    let (changes, mut changed) = mpsc::channel::<(u32, DataValue)>(QUEUE);
    let mut subscription = None;
    let mut seen = match last_stored(state, source).await {
        Ok(seen) => seen,
        Err(e) => return format!("The stored values could not be read: {e}"),
    };
    loop {
        tokio::select! {
            news = link.recv() => match news {
                None => return format!("The session with {} ended", source.endpoint),
                Some(Link::Down(why)) => reporter.report(SessionState::Failed(why)).await,
                Some(Link::Up { new_session }) => {
                    // A session the server kept has its subscription still; a new one has none.
                    if subscription.is_none() || new_session {
                        if let Some(old) = subscription.take() {
                            // Forgets it on this side; the server no longer knows it anyway.
                            let _ = session.delete_subscription(old).await;
                        }
                        match subscribe(&session, source, changes.clone()).await {
                            Ok((id, problems)) => {
                                subscription = Some(id);
                                reporter.report(SessionState::Connected(problems)).await;
                            }
                            Err(why) => return why,
                        }
                    } else {
                        reporter.report(SessionState::Connected(None)).await;
                    }
                }
            },
            Some(first) = changed.recv() => {
                let mut batch = vec![first];
                while batch.len() < BATCH {
                    match changed.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let points = to_points(source, &mut seen, batch);
                if points.is_empty() {
                    continue;
                }
                if let Err(e) = ingest::record(state, source.device_id, None, points).await {
                    reporter
                        .report(SessionState::Connected(Some(format!("A value was refused: {e}"))))
                        .await;
                }
            }
        }
    }
}

/// The OPC UA client of one session. Its application instance certificate (and key) is the
/// installation's, made on first use in a folder beside the secrets key (`*.opcua-pki`), where
/// the instrument's administrator will find it to trust.
pub(super) fn client(state: &AppState, device_id: i64) -> Result<Client, String> {
    let pki = pki_dir(state);
    // The stack writes the private key with the process' umask: the folder is the owner's
    // alone, like the secrets key.
    let mut folder = std::fs::DirBuilder::new();
    std::os::unix::fs::DirBuilderExt::mode(folder.recursive(true), 0o700);
    folder
        .create(&pki)
        .map_err(|e| format!("cannot make {}: {e}", pki.display()))?;
    ClientBuilder::new()
        .application_name("Labhook")
        .application_uri("urn:labhook")
        .product_uri("urn:labhook")
        .pki_dir(pki)
        .create_sample_keypair(true)
        .session_retry_limit(-1)
        .session_retry_initial(RETRY_FIRST)
        .session_retry_max(RETRY_MOST)
        .session_name(format!("Labhook device {device_id}"))
        // The stack's own remaking of subscriptions for a new session left them silent (seen
        // with asyncua's server after a restart): the subscription is made here instead.
        .recreate_subscriptions(false)
        .client()
        .map_err(|errors| errors.join("; "))
}

fn pki_dir(state: &AppState) -> std::path::PathBuf {
    crate::subscriptions::key_file(&state.config).with_extension("opcua-pki")
}

/// The addresses the endpoint resolves to, each allowed by the outbound policy.
async fn check_outbound(state: &AppState, source: &Source) -> Result<(), String> {
    let addresses = tokio::net::lookup_host(source.endpoint.authority())
        .await
        .map_err(|e| format!("Cannot resolve {}: {e}", source.endpoint.host()))?;
    for address in addresses {
        if let Err(refused) = state.config.dispatcher.outbound.check(address.ip()) {
            return Err(format!(
                "{} resolves to {}, {}.",
                source.endpoint,
                address.ip(),
                refused.describe()
            ));
        }
    }
    Ok(())
}

/// Subscribes the mapped variables; answers the subscription and what could not be subscribed
/// (in words), or why nothing could.
async fn subscribe(
    session: &Session,
    source: &Source,
    changes: mpsc::Sender<(u32, DataValue)>,
) -> Result<(u32, Option<String>), String> {
    let fastest = source
        .mappings
        .iter()
        .map(|m| m.sampling)
        .min()
        .unwrap_or(super::mapping::DEFAULT_SAMPLING);
    let subscription = session
        .create_subscription(
            fastest,
            60,
            10,
            0,
            0,
            true,
            DataChangeCallback::new(move |value, item| {
                if changes.try_send((item.client_handle(), value)).is_err() {
                    tracing::warn!(
                        "OPC UA data changes come faster than they are stored; one was dropped"
                    );
                }
            }),
        )
        .await
        .map_err(|e| format!("The subscription could not be made: {e}"))?;
    let items: Vec<MonitoredItemCreateRequest> = source
        .mappings
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let filter = match m.deadband {
                Some(deadband) => ExtensionObject::from_message(DataChangeFilter {
                    trigger: DataChangeTrigger::StatusValue,
                    deadband_type: DeadbandType::Absolute as u32,
                    deadband_value: deadband,
                }),
                None => ExtensionObject::null(),
            };
            MonitoredItemCreateRequest::new(
                m.node.node_id().into(),
                MonitoringMode::Reporting,
                MonitoringParameters {
                    client_handle: handle(i),
                    sampling_interval: m.sampling.as_millis() as f64,
                    filter,
                    queue_size: 10,
                    discard_oldest: true,
                },
            )
        })
        .collect();
    let created = session
        .create_monitored_items(subscription, TimestampsToReturn::Both, items)
        .await
        .map_err(|e| format!("The variables could not be subscribed: {e}"))?;
    let problems: Vec<String> = created
        .iter()
        .zip(&source.mappings)
        .filter(|(c, _)| c.result.status_code.is_bad())
        .map(|(c, m)| {
            format!(
                "{} ({}): {}",
                m.channel,
                m.node.as_str(),
                describe(c.result.status_code)
            )
        })
        .collect();
    let problems =
        (!problems.is_empty()).then(|| format!("Not subscribed: {}", problems.join("; ")));
    Ok((subscription, problems))
}

fn handle(mapping: usize) -> u32 {
    mapping as u32 + 1
}

/// Each channel's newest stored time: a change no newer than it (a value the server sends
/// again after a reconnect) is not stored twice. Without it no session starts.
async fn last_stored(state: &AppState, source: &Source) -> crate::Result<HashMap<i64, i64>> {
    let mut conn = state.pool.acquire().await?;
    Ok(crate::devices::channels_of(&mut conn, source.device_id)
        .await?
        .into_iter()
        .filter_map(|c| Some((c.id, c.state.last_timestamp?)))
        .collect())
}

fn to_points(
    source: &Source,
    seen: &mut HashMap<i64, i64>,
    batch: Vec<(u32, DataValue)>,
) -> Vec<RawPoint> {
    let mut points = Vec::with_capacity(batch.len());
    for (handle, value) in batch {
        let Some(mapping) = source.mappings.get((handle as usize).wrapping_sub(1)) else {
            continue;
        };
        if value.status.is_some_and(|s| !s.is_good()) {
            continue;
        }
        let Some(at) = value
            .source_timestamp
            .or(value.server_timestamp)
            .map(|t| t.as_chrono().timestamp_millis())
        else {
            continue;
        };
        if seen
            .get(&mapping.channel_id)
            .is_some_and(|last| at <= *last)
        {
            continue;
        }
        let Some(json) = value.value.as_ref().and_then(to_json) else {
            continue;
        };
        seen.insert(mapping.channel_id, at);
        points.push(RawPoint {
            channel: mapping.channel.clone(),
            timestamp: Some(json!(at)),
            value: json,
        });
    }
    points
}

/// A variable's value as the ingest API takes it: numbers, true/false, text.
fn to_json(value: &Variant) -> Option<Json> {
    match value {
        Variant::Boolean(b) => Some(Json::Bool(*b)),
        Variant::String(s) => s.value().as_ref().map(|s| Json::String(s.clone())),
        Variant::LocalizedText(t) => t.text.value().as_ref().map(|s| Json::String(s.clone())),
        v if v.is_numeric() => v.as_f64().filter(|f| f.is_finite()).map(|f| json!(f)),
        _ => None,
    }
}

fn describe(code: StatusCode) -> String {
    format!("{code}")
}
