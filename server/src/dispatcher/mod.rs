//! The dispatcher: "every time a selected event is triggered the webhook will be delivered".
//!
//! One loop fans new events out into deliveries, claims due deliveries within the global and
//! per-subscription in-flight limits, and starts one task per HTTP attempt; a recorder task
//! writes the outcomes in batches. Everything durable lives in SQLite (see [`outbox`]), so a
//! crash at any moment loses nothing: claimed rows fall due again, and each attempt of a
//! delivery carries the same `webhook-id` for receivers to drop duplicates.
//!
//! One dispatcher per database: at start it takes back every lease, which is only right when
//! no other process is sending from the same file.

mod bodies;
pub mod fanout;
pub mod outbox;
pub mod schedule;
pub mod sender;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    sync::{mpsc, watch, Notify, Semaphore},
    task::{JoinHandle, JoinSet},
};

use self::{
    bodies::Bodies,
    outbox::{Claimed, Outcome},
    schedule::RetrySchedule,
    sender::{Attempt, ErrorKind, Sender, Target},
};
use crate::{
    clock::now_ms,
    domain::{
        headers::Headers,
        signature::SigningSecret,
        target_url::{is_allowed, TargetUrl},
    },
    settings::registered_urls,
    AppState, Result,
};

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
    /// On shutdown, how long requests in flight may still finish.
    pub shutdown_grace: Duration,
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
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A running dispatcher.
pub struct Dispatcher {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Dispatcher {
    pub fn spawn(state: AppState) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(state, stopped));
        Self { stop, task }
    }

    /// Stops claiming, lets requests in flight finish (up to the grace time), records their
    /// outcomes and gives back whatever was not finished.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

const FAN_OUT_BATCH: i64 = 2000;
/// Deliveries claimed ahead of sending, as a multiple of the in-flight limits: when a request
/// finishes, the next one of that subscription starts at once from memory instead of waiting
/// for a claim to pass through the database writer. Their leases must outlast the wait:
/// PREFETCH request timeouts in a row stay well inside the default lease.
const PREFETCH: usize = 4;
const CLAIM_BATCH: usize = 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

struct Loop {
    state: AppState,
    config: DispatcherConfig,
    sender: Sender,
    sends: JoinSet<()>,
    /// Deliveries claimed and not yet finished: sending, or waiting for their turn.
    in_flight: usize,
    held: HashMap<i64, usize>,
    /// Per subscription: the turns to send (its in-flight limit), handed out in claim order.
    turns: HashMap<i64, Arc<Semaphore>>,
    /// Over all subscriptions: the global in-flight limit.
    global_turns: Arc<Semaphore>,
    done_tx: mpsc::UnboundedSender<i64>,
    outcome_tx: mpsc::UnboundedSender<Outcome>,
    bodies: Bodies,
}

async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let config = state.config.dispatcher.clone();
    match outbox::release_all(&state).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            deliveries = n,
            "took back deliveries that were in flight when the server stopped"
        ),
        Err(e) => tracing::error!(error = ?e, "cannot take back deliveries in flight"),
    }
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let (outcome_tx, outcome_rx) = mpsc::unbounded_channel();
    let recorded = Arc::new(Notify::new());
    let recorder = tokio::spawn(record_outcomes(
        state.clone(),
        config.schedule.clone(),
        outcome_rx,
        recorded.clone(),
    ));
    let global_turns = Arc::new(Semaphore::new(config.max_in_flight));
    let mut this = Loop {
        sender: Sender::new(config.connect_timeout, config.request_timeout),
        state: state.clone(),
        config,
        sends: JoinSet::new(),
        in_flight: 0,
        held: HashMap::new(),
        turns: HashMap::new(),
        global_turns,
        done_tx,
        outcome_tx,
        bodies: Bodies::default(),
    };
    let mut last_prune = Instant::now();

    while !*stop.borrow() {
        while let Ok(subscription) = done_rx.try_recv() {
            this.finished(subscription);
        }
        while this.sends.try_join_next().is_some() {}
        if let Err(e) = this.fan_out().await {
            tracing::error!(error = ?e, "fan-out failed");
        }
        match this.claim_and_send().await {
            // Got all it asked for: there may be more right away.
            Ok((claimed, asked)) if claimed > 0 && claimed == asked => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = ?e, "claiming deliveries failed"),
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            let cutoff = now_ms() - this.config.retention.as_millis() as i64;
            match outbox::prune(&this.state, cutoff).await {
                Ok(n) if n > 0 => tracing::info!(deliveries = n, "pruned old delivery log entries"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = ?e, "pruning the delivery log failed"),
            }
        }

        // Nothing more to claim now. Sleep until the next delivery falls due — or, when what is
        // due waits for its subscription's requests in flight, until one of those finishes.
        let now = now_ms();
        let wait = match outbox::next_due(&state, now).await {
            Ok(Some(at)) if at > now => Duration::from_millis((at - now).min(1000) as u64),
            _ => Duration::from_secs(1),
        };
        tokio::select! {
            _ = state.events_added.notified() => {}
            Some(subscription) = done_rx.recv() => {
                this.finished(subscription);
                while let Ok(subscription) = done_rx.try_recv() {
                    this.finished(subscription);
                }
            }
            _ = recorded.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }

    // Shutting down: no more claims, and what waits for its turn is not started (its lease is
    // given back below); let what is in flight finish, within the grace time.
    for turns in this.turns.values() {
        turns.close();
    }
    this.global_turns.close();
    let deadline = tokio::time::Instant::now() + this.config.shutdown_grace;
    while this.in_flight > 0 {
        tokio::select! {
            Some(subscription) = done_rx.recv() => this.finished(subscription),
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    this.sends.abort_all();
    while this.sends.join_next().await.is_some() {}
    drop(this.outcome_tx);
    let _ = recorder.await;
    if let Err(e) = outbox::release_all(&state).await {
        tracing::error!(error = ?e, "cannot give back unfinished deliveries");
    }
}

impl Loop {
    /// How long a claim is reserved: long enough for a delivery to wait for its turn behind
    /// PREFETCH rounds of requests that all run into their timeouts, and then to be sent.
    fn lease(&self) -> Duration {
        let round = self.config.connect_timeout + self.config.request_timeout;
        self.config.lease.max(round * (PREFETCH as u32 + 1))
    }

    /// How many deliveries may be claimed and not finished at once.
    fn claim_limit(&self) -> usize {
        self.config.max_in_flight * PREFETCH
    }

    fn finished(&mut self, subscription: i64) {
        self.in_flight -= 1;
        if let Some(n) = self.held.get_mut(&subscription) {
            *n -= 1;
            if *n == 0 {
                self.held.remove(&subscription);
                self.turns.remove(&subscription);
            }
        }
    }

    /// Fans out everything new, and starts sending what it could claim on the spot.
    async fn fan_out(&mut self) -> Result<()> {
        loop {
            let budget = fanout::Budget {
                lease_until: now_ms() + self.lease().as_millis() as i64,
                free: self.claim_limit().saturating_sub(self.in_flight),
                per_subscription: self.config.per_subscription_in_flight * PREFETCH,
                held: self.held.clone(),
            };
            let done = fanout::fan_out(&self.state, FAN_OUT_BATCH, budget).await?;
            if !done.claimed.is_empty() {
                self.send(done.claimed).await?;
            }
            if done.events < FAN_OUT_BATCH as usize {
                return Ok(());
            }
        }
    }

    /// Claims what may be sent now and starts sending it; returns how many were claimed and
    /// how many it asked for.
    async fn claim_and_send(&mut self) -> Result<(usize, usize)> {
        let limit = self.claim_limit();
        let free = limit.saturating_sub(self.in_flight);
        // Under load, top up in batches rather than after every finished request: each claim is
        // a write transaction. With little in flight, claim at once (latency).
        if free == 0 || (self.in_flight > limit / 4 && free < limit / 4) {
            return Ok((0, 0));
        }
        let asked = free.min(CLAIM_BATCH);
        let claimed = outbox::claim(
            &self.state,
            now_ms(),
            self.lease(),
            asked,
            self.config.per_subscription_in_flight * PREFETCH,
            &self.held,
        )
        .await?;
        let n = claimed.len();
        if n > 0 {
            self.send(claimed).await?;
        }
        Ok((n, asked))
    }

    async fn send(&mut self, claimed: Vec<Claimed>) -> Result<()> {
        let targets = self.targets(&claimed).await?;
        self.bodies.load(&self.state.pool, &claimed).await?;
        let mut not_active = Vec::new();
        let mut event_gone = Vec::new();
        let mut feature_off = Vec::new();
        for c in claimed {
            let target = match targets.get(&c.subscription_id) {
                Some(Ok(t)) => t.clone(),
                Some(Err(Skip::FeatureOff)) => {
                    feature_off.push(c.id);
                    continue;
                }
                Some(Err(Skip::Inactive)) | None => {
                    not_active.push(c.id);
                    continue;
                }
                Some(Err(Skip::Unregistered(target))) => {
                    // Checked again at send time: a target that lost its registration gets
                    // nothing, and the log says why.
                    let _ = self.outcome_tx.send(Outcome {
                        delivery_id: c.id,
                        subscription_id: c.subscription_id,
                        organisation_id: target.organisation_id,
                        number: c.attempts + 1,
                        attempt: Attempt {
                            started_at: now_ms(),
                            duration: Duration::ZERO,
                            request_headers: "{}".into(),
                            response: None,
                            error: Some((
                                ErrorKind::Unregistered,
                                format!(
                                    "{} is not a registered target URL any more",
                                    target.url.host()
                                ),
                            )),
                        },
                        cancelled: true,
                    });
                    continue;
                }
            };
            let Some(body) = self.bodies.get(c.event_id) else {
                event_gone.push(c.id);
                continue;
            };
            self.in_flight += 1;
            *self.held.entry(c.subscription_id).or_default() += 1;
            let per_subscription = self.config.per_subscription_in_flight;
            let turns = self
                .turns
                .entry(c.subscription_id)
                .or_insert_with(|| Arc::new(Semaphore::new(per_subscription)))
                .clone();
            let (sender, outcome_tx, done_tx, global_turns) = (
                self.sender.clone(),
                self.outcome_tx.clone(),
                self.done_tx.clone(),
                self.global_turns.clone(),
            );
            self.sends.spawn(async move {
                // Closed on shutdown: not started, and the lease is given back.
                let (Ok(_turn), Ok(_global_turn)) = (
                    turns.acquire_owned().await,
                    global_turns.acquire_owned().await,
                ) else {
                    let _ = done_tx.send(c.subscription_id);
                    return;
                };
                let attempt = sender.send(&target, &c.webhook_id, body).await;
                let _ = outcome_tx.send(Outcome {
                    delivery_id: c.id,
                    subscription_id: c.subscription_id,
                    organisation_id: target.organisation_id,
                    number: c.attempts + 1,
                    attempt,
                    cancelled: false,
                });
                let _ = done_tx.send(c.subscription_id);
            });
        }
        outbox::cancel(&self.state, &not_active, "subscription inactive").await?;
        outbox::cancel(&self.state, &event_gone, "the event is no longer stored").await?;
        outbox::cancel(
            &self.state,
            &feature_off,
            "webhooks switched off for the organisation",
        )
        .await
    }

    /// The subscriptions of a batch, each ready to send to — or why not.
    async fn targets(
        &self,
        claimed: &[Claimed],
    ) -> Result<HashMap<i64, std::result::Result<Arc<Target>, Skip>>> {
        let mut ids: Vec<i64> = claimed.iter().map(|c| c.subscription_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let rows: Vec<TargetRow> = sqlx::query_as(
            "SELECT s.id, s.organisation_id, s.url, s.headers, s.secret, s.previous_secret,
                    s.previous_secret_until, s.active, o.webhooks_enabled
             FROM subscriptions s JOIN organisations o ON o.id = s.organisation_id
             WHERE s.id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(&ids).expect("BUG: ids serialise"))
        .fetch_all(&self.state.pool)
        .await?;
        let mut registered = HashMap::new();
        let mut conn = self.state.pool.acquire().await?;
        let now = now_ms();
        let mut out = HashMap::new();
        for r in rows {
            if !r.webhooks_enabled {
                out.insert(r.id, Err(Skip::FeatureOff));
                continue;
            }
            if !r.active {
                out.insert(r.id, Err(Skip::Inactive));
                continue;
            }
            let (Ok(url), Some(secret)) =
                (TargetUrl::parse(&r.url), SigningSecret::parse(&r.secret))
            else {
                out.insert(r.id, Err(Skip::Inactive));
                continue;
            };
            if let std::collections::hash_map::Entry::Vacant(e) =
                registered.entry(r.organisation_id)
            {
                e.insert(registered_urls(&mut conn, r.organisation_id).await?);
            }
            let target = Arc::new(Target {
                subscription_id: r.id,
                organisation_id: r.organisation_id,
                headers: Headers::from_json(&r.headers),
                secret,
                previous_secret: r
                    .previous_secret
                    .filter(|_| r.previous_secret_until.is_some_and(|until| until > now))
                    .and_then(|p| SigningSecret::parse(&p)),
                url,
            });
            let allowed = is_allowed(&registered[&r.organisation_id], &target.url);
            out.insert(
                r.id,
                if allowed {
                    Ok(target)
                } else {
                    Err(Skip::Unregistered(target))
                },
            );
        }
        Ok(out)
    }
}

enum Skip {
    Inactive,
    FeatureOff,
    Unregistered(Arc<Target>),
}

#[derive(sqlx::FromRow)]
struct TargetRow {
    id: i64,
    organisation_id: i64,
    url: String,
    headers: String,
    secret: String,
    previous_secret: Option<String>,
    previous_secret_until: Option<i64>,
    active: bool,
    webhooks_enabled: bool,
}

/// Writes outcomes as they come, in batches when they come quickly.
async fn record_outcomes(
    state: AppState,
    schedule: RetrySchedule,
    mut outcomes: mpsc::UnboundedReceiver<Outcome>,
    recorded: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(512);
    while outcomes.recv_many(&mut batch, 512).await > 0 {
        let outcomes = std::mem::replace(&mut batch, Vec::with_capacity(512));
        let n = outcomes.len();
        match outbox::record(&state, &schedule, outcomes).await {
            Ok(r) if r.retrying > 0 => recorded.notify_one(),
            Ok(_) => {}
            // The rows stay leased and fall due again when the lease ends: at least once holds.
            Err(e) => {
                tracing::error!(error = ?e, outcomes = n, "recording delivery outcomes failed")
            }
        }
    }
}
