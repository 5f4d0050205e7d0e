//! The dispatcher one round at a time, with the clock in the caller's hand: what tests and the
//! benchmark drive instead of waiting for the running loop. A round fans out what is new,
//! claims what is due at `now`, sends it all and records the outcomes as of `now` — the same
//! steps the loop runs, without its in-flight bookkeeping.

use futures_util::future::join_all;

use super::{
    bodies::Bodies,
    claim::{claim_due, prepare, Ready},
    fanout::{fan_out_due, Budget},
    lease,
    record::{record, Recorded},
    sender::Sender,
    targets::Targets,
    FAN_OUT_BATCH,
};
use crate::{deliveries::queue::ClaimLimits, AppState, Result};

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Events fanned out.
    pub events: usize,
    /// Deliveries those events made.
    pub deliveries: usize,
    /// Deliveries claimed (sent, or stopped before sending).
    pub claimed: usize,
    pub recorded: Recorded,
}

pub struct Stepper {
    state: AppState,
    sender: Sender,
    bodies: Bodies,
    targets: Targets,
}

impl Stepper {
    pub fn new(state: &AppState) -> Self {
        let config = &state.config.dispatcher;
        Self {
            sender: Sender::new(config),
            state: state.clone(),
            bodies: Bodies::default(),
            targets: Targets::default(),
        }
    }

    /// One round as of `now`. Every request of the round runs at once; the round ends when the
    /// last has been answered (or timed out).
    pub async fn step(&mut self, now: i64) -> Result<Round> {
        let config = self.state.config.dispatcher.clone();
        let lease_until = now + lease(&config).as_millis() as i64;
        let mut round = Round::default();
        loop {
            // Nothing is claimed on the way in: the claim below takes it all.
            let budget = Budget {
                lease_until,
                free: 0,
                per_subscription: 0,
                held: Default::default(),
                max_pending: config.max_pending_per_subscription,
            };
            let done = fan_out_due(&self.state, now, FAN_OUT_BATCH, budget).await?;
            round.events += done.events;
            round.deliveries += done.deliveries;
            if done.events < FAN_OUT_BATCH as usize {
                break;
            }
        }
        let limits = ClaimLimits {
            limit: config.max_in_flight,
            per_subscription: config.per_subscription_in_flight,
            held: Default::default(),
        };
        let claimed = claim_due(&self.state, now, lease_until, limits).await?;
        round.claimed = claimed.len();
        let prepared = prepare(
            &self.state,
            &mut self.bodies,
            &mut self.targets,
            claimed,
            now,
        )
        .await?;
        let sender = &self.sender;
        let mut outcomes = join_all(prepared.ready.into_iter().map(
            |Ready {
                 claimed: c,
                 target,
                 body,
             }| async move {
                let attempt = sender.send(&target, &c.webhook_id, body).await;
                super::record::Outcome {
                    delivery_id: c.id,
                    subscription_id: c.subscription_id,
                    number: c.attempts + 1,
                    attempt,
                }
            },
        ))
        .await;
        outcomes.extend(prepared.not_sent);
        if !outcomes.is_empty() {
            round.recorded = record(&self.state, &config.schedule, outcomes, now).await?;
        }
        Ok(round)
    }
}
