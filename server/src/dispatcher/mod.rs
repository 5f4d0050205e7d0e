//! The dispatcher: "every time a selected event is triggered the webhook will be delivered".
//!
//! The steps, one file each: [`fanout`] turns new events into deliveries, [`claim`] takes due
//! ones from the queue ([`crate::deliveries::queue`]) and checks their targets, [`sender`]
//! makes one signed attempt, [`decide`] says what its outcome means and [`record`] writes it
//! down. The loop here only decides when to run them and keeps the global and
//! per-subscription in-flight limits; [`Stepper`] runs one round of them with the caller's
//! clock (tests, benchmarks). Everything durable lives in SQLite, so a crash at any moment
//! loses nothing: claimed rows fall due again, and each attempt of a delivery carries the same
//! `webhook-id` for receivers to drop duplicates.
//!
//! On SQLite one dispatcher serves the database: at start it takes back every lease, which is
//! only right when no other process is sending from the same file. On Postgres each instance
//! runs one: they claim past each other's rows, take turns at fan-out, and a dead instance's
//! leases run out; each gives back only its own on shutdown.

mod bodies;
pub mod claim;
mod debounce;
pub mod decide;
pub mod fanout;
#[cfg(feature = "testing")]
mod faults;
pub mod record;
pub mod replies;
pub mod sender;
mod step;
mod supervise;
mod targets;

#[cfg(feature = "testing")]
pub use faults::Faults;
pub use step::{Round, Stepper};
pub use supervise::Dispatcher;

use self::supervise::Exit;

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{
    sync::{mpsc, watch, Notify, Semaphore},
    task::JoinSet,
};

use self::{
    bodies::Bodies,
    claim::{claim_due, prepare, release, release_all, Ready},
    fanout::{fan_out_due, Budget},
    record::{record, Outcome},
    sender::Sender,
    targets::Targets,
};
use crate::{
    clock::now_ms,
    config::DispatcherConfig,
    deliveries::queue::{self, ClaimLimits, Claimed},
    domain::schedule::RetrySchedule,
    health, AppState, Result,
};

/// A prepared delivery that waited longer than this for its turn is checked again before it
/// is sent, even when nothing told the dispatcher that access changed.
const RECHECK_AFTER: Duration = Duration::from_secs(5);

/// Tells the loop that a send task ended, whichever way it ended: dropped when the task
/// returns, is aborted or panics, so an in-flight slot is never lost.
struct SlotGuard {
    ended: Ended,
    done_tx: mpsc::UnboundedSender<Ended>,
}

/// A send task that ended: its subscription, and its delivery while no outcome went to the
/// recorder (not started, aborted, checked again and not sent) — to give back on shutdown.
#[derive(Debug, Clone, Copy)]
struct Ended {
    subscription_id: i64,
    unfinished: Option<i64>,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let _ = self.done_tx.send(self.ended);
    }
}

/// How often the dispatcher looks for new events that no signal announced.
const FAN_OUT_AT_LEAST_EVERY: Duration = Duration::from_secs(1);
/// Events fanned out per transaction.
pub const FAN_OUT_BATCH: i64 = 2000;
/// Deliveries claimed ahead of sending, as a multiple of the in-flight limits: when a request
/// finishes, the next one of that subscription starts at once from memory instead of waiting
/// for a claim to pass through the database writer. Their leases must outlast the wait:
/// PREFETCH request timeouts in a row stay well inside the default lease.
const PREFETCH: usize = 4;
const CLAIM_BATCH: usize = 1000;

/// The running loop's bookkeeping: the steps are in [`fanout`], [`claim`], [`sender`] and
/// [`record`]; this only decides when to run them and keeps the in-flight limits.
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
    done_tx: mpsc::UnboundedSender<Ended>,
    outcome_tx: mpsc::UnboundedSender<Outcome>,
    bodies: Bodies,
    targets: Targets,
    /// Shutting down: what ends without an outcome now was not started, or was cut short.
    stopping: bool,
    /// This instance's claimed deliveries that ended without an outcome while shutting down
    /// (see [`Ended`]): given back at the end. (One that ends so while running — checked again
    /// and not sent — keeps its lease until it runs out.)
    unfinished: Vec<i64>,
    /// The count of [`AppState::events_added`] read before the last fan-out that went through,
    /// and when it ran (or a reader last found nothing new).
    fanned_out: Option<(u64, Instant)>,
}

async fn run(state: AppState, mut stop: watch::Receiver<bool>) -> Exit {
    let config = state.config.dispatcher.clone();
    match release_all(&state, now_ms()).await {
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
        sender: Sender::new(&config),
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
        targets: Targets::default(),
        stopping: false,
        unfinished: Vec::new(),
        fanned_out: None,
    };

    let mut exit = Exit::Stopped;
    while !*stop.borrow() {
        health::beat(&state);
        #[cfg(feature = "testing")]
        Faults::of(&state).at_loop_round();
        if recorder.is_finished() {
            exit = Exit::RecorderGone;
            break;
        }
        while let Ok(subscription) = done_rx.try_recv() {
            this.finished(subscription);
        }
        while this.sends.try_join_next().is_some() {}
        if this.may_have_new_events().await {
            let heard = state.events_added.count();
            match this.fan_out().await {
                Ok(()) => this.fanned_out = Some((heard, Instant::now())),
                Err(e) => tracing::error!(error = ?e, "fan-out failed"),
            }
        }
        if let Err(e) = crate::subscriptions::replay::feed(&state, now_ms()).await {
            tracing::error!(error = ?e, "feeding replays failed");
        }
        // Whether anything unclaimed is due is asked of a reader first: most rounds (a send
        // that finished, a fan-out that claimed all it made) find nothing, and a claim that
        // finds nothing still takes a turn of the writer that ingest waits behind.
        // (A reader that failed says nothing: the claim is tried all the same.)
        let mut next_due = queue::next_due(&state.pool, now_ms()).await;
        let nothing_due = match next_due {
            Ok(None) => true,
            Ok(Some(at)) => at > now_ms(),
            Err(_) => false,
        };
        if !nothing_due {
            match this.claim_and_send().await {
                // Got all it asked for: there may be more right away.
                Ok((claimed, asked)) if claimed > 0 && claimed == asked => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = ?e, "claiming deliveries failed"),
            }
            next_due = queue::next_due(&state.pool, now_ms()).await;
        }
        // Nothing more to claim now. Sleep until the next delivery falls due — or, when what is
        // due waits for its subscription's requests in flight, until one of those finishes.
        let now = now_ms();
        let wait = match next_due {
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
    this.stopping = true;
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
    while let Ok(ended) = done_rx.try_recv() {
        this.finished(ended);
    }
    let unfinished = std::mem::take(&mut this.unfinished);
    drop(this.outcome_tx);
    let _ = recorder.await;
    if let Err(e) = release(&state, unfinished, now_ms()).await {
        tracing::error!(error = ?e, "cannot give back unfinished deliveries");
    }
    exit
}

impl Loop {
    fn lease(&self) -> Duration {
        lease(&self.config)
    }

    /// How many deliveries may be claimed and not finished at once.
    fn claim_limit(&self) -> usize {
        self.config.max_in_flight * PREFETCH
    }

    /// Whether a fan-out may find something: new events were signalled since the last one —
    /// or, a second after it, a reader sees some (an event whose signal was missed: another
    /// process's, or another instance's said while this one was not listening).
    async fn may_have_new_events(&mut self) -> bool {
        let Some((heard, at)) = self.fanned_out else {
            return true;
        };
        if heard != self.state.events_added.count() {
            return true;
        }
        if at.elapsed() < FAN_OUT_AT_LEAST_EVERY {
            return false;
        }
        match fanout::anything_new(&self.state.pool).await {
            Ok(true) => true,
            Ok(false) => {
                self.fanned_out = Some((heard, Instant::now()));
                false
            }
            Err(e) => {
                tracing::warn!(error = ?e, "looking for new events failed; fanning out");
                true
            }
        }
    }

    fn finished(&mut self, ended: Ended) {
        let subscription = ended.subscription_id;
        if self.stopping {
            self.unfinished.extend(ended.unfinished);
        }
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
            health::beat(&self.state);
            let now = now_ms();
            let budget = Budget {
                lease_until: now + self.lease().as_millis() as i64,
                free: self.claim_limit().saturating_sub(self.in_flight),
                per_subscription: self.config.per_subscription_in_flight * PREFETCH,
                held: self.held.clone(),
                max_pending: self.config.max_pending_per_subscription,
            };
            let done = fan_out_due(&self.state, now, FAN_OUT_BATCH, budget).await?;
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
        let now = now_ms();
        let limits = ClaimLimits {
            limit: asked,
            per_subscription: self.config.per_subscription_in_flight * PREFETCH,
            held: self.held.clone(),
        };
        let claimed = claim_due(
            &self.state,
            now,
            now + self.lease().as_millis() as i64,
            limits,
        )
        .await?;
        let n = claimed.len();
        if n > 0 {
            self.send(claimed).await?;
        }
        Ok((n, asked))
    }

    async fn send(&mut self, claimed: Vec<Claimed>) -> Result<()> {
        // What access allowed when these were checked: if it changes before one is sent, that
        // one is checked again first.
        let generation = self.state.access_generation();
        let prepared_at = Instant::now();
        let prepared = prepare(
            &self.state,
            &mut self.bodies,
            &mut self.targets,
            claimed,
            now_ms(),
        )
        .await?;
        for outcome in prepared.not_sent {
            let _ = self.outcome_tx.send(outcome);
        }
        for Ready {
            claimed: c,
            target,
            body,
        } in prepared.ready
        {
            self.in_flight += 1;
            *self.held.entry(c.subscription_id).or_default() += 1;
            let per_subscription = self.config.per_subscription_in_flight;
            let turns = self
                .turns
                .entry(c.subscription_id)
                .or_insert_with(|| Arc::new(Semaphore::new(per_subscription)))
                .clone();
            let (sender, outcome_tx, global_turns, state) = (
                self.sender.clone(),
                self.outcome_tx.clone(),
                self.global_turns.clone(),
                self.state.clone(),
            );
            let mut slot = SlotGuard {
                ended: Ended {
                    subscription_id: c.subscription_id,
                    unfinished: Some(c.id),
                },
                done_tx: self.done_tx.clone(),
            };
            self.sends.spawn(async move {
                let slot = &mut slot;
                // Closed on shutdown: not started, and the lease is given back.
                let (Ok(_turn), Ok(_global_turn)) = (
                    turns.acquire_owned().await,
                    global_turns.acquire_owned().await,
                ) else {
                    return;
                };
                #[cfg(feature = "testing")]
                Faults::of(&state).at_send();
                // Access changed since it was prepared, or it waited long: checked again, so
                // that nothing prepared goes out after its owner lost the right to send it.
                if state.access_generation() != generation
                    || prepared_at.elapsed() >= RECHECK_AFTER
                {
                    match claim::recheck(&state, &c, now_ms()).await {
                        Ok(None) => {}
                        Ok(Some(why)) => {
                            claim::cancel_one(&state, c.id, why).await;
                            return;
                        }
                        Err(e) => {
                            // Not sent: it falls due again when its lease ends.
                            tracing::warn!(error = ?e, "checking a delivery again before sending failed");
                            return;
                        }
                    }
                }
                let attempt = {
                    // Counted down however the send ends (a panic or a cancelled task too).
                    let _in_flight = sender::InFlight::start();
                    sender.send(&target, &c.webhook_id, body).await
                };
                let _ = outcome_tx.send(Outcome {
                    delivery_id: c.id,
                    subscription_id: c.subscription_id,
                    number: c.attempts + 1,
                    attempt,
                });
                // The recorder finishes it (and gives its lease back).
                slot.ended.unfinished = None;
            });
        }
        Ok(())
    }
}

/// How long a claim is reserved: long enough for a delivery to wait for its turn behind
/// PREFETCH rounds of requests that all run into their timeouts, and then to be sent.
fn lease(config: &DispatcherConfig) -> Duration {
    let round = config.connect_timeout + config.request_timeout;
    config.lease.max(round * (PREFETCH as u32 + 1))
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
        match record(&state, &schedule, outcomes, now_ms()).await {
            Ok(r) if r.retrying > 0 => recorded.notify_one(),
            Ok(_) => {}
            // The rows stay leased and fall due again when the lease ends: at least once holds.
            Err(e) => {
                tracing::error!(error = ?e, outcomes = n, "recording delivery outcomes failed")
            }
        }
    }
}
