//! Taking due deliveries from the queue and getting them ready to send: each with its
//! subscription's target (checked again now: active, feature on, target still registered, its
//! owner still allowed to see the event's device) and its event's body. What must not be sent is cancelled here, with the reason in the log.
//! Leases are given back here too: at start what a crash left claimed, on shutdown what this
//! instance did not finish.

use std::{collections::HashMap, sync::Arc};

use super::{
    bodies::Bodies,
    record::Outcome,
    sender::Attempt,
    sender::Target,
    targets::{Skip, Targets},
};
use crate::{
    auth::scope::OWNER_SEES_EVENT_DEVICE,
    deliveries::queue::{self, ClaimLimits, Claimed, FEATURE_OFF},
    error::ResultExt,
    AppState, Result,
};

/// Claims deliveries due at `now`, within `limits`, leased until `lease_until`.
#[tracing::instrument(skip_all, err)]
pub async fn claim_due(
    state: &AppState,
    now: i64,
    lease_until: i64,
    limits: ClaimLimits,
) -> Result<Vec<Claimed>> {
    state
        .write(move |conn| {
            Box::pin(async move { queue::claim(conn, now, lease_until, &limits).await })
        })
        .await
}

/// At start, gives back every claimed delivery, due at `now`: what a crash left claimed. On
/// Postgres only when no other instance serves the database (the first to start again after
/// all stopped); while others run, they may be sending what is claimed, and a dead
/// instance's leases run out instead.
pub async fn release_all(state: &AppState, now: i64) -> Result<u64> {
    if let Some(pool) = state.pool.as_postgres() {
        let others = crate::db::postgres::others_serving(pool)
            .await
            .context("counting the instances serving the database")?;
        if others > 0 {
            return Ok(0);
        }
    }
    state
        .write(move |conn| Box::pin(async move { queue::release_all(conn, now).await }))
        .await
}

/// On shutdown, gives back this instance's claimed deliveries that were not finished.
pub(super) async fn release(state: &AppState, ids: Vec<i64>, now: i64) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    state
        .write(move |conn| Box::pin(async move { queue::release(conn, &ids, now).await }))
        .await
}

/// A claimed delivery with everything needed to send it.
pub struct Ready {
    pub claimed: Claimed,
    pub target: Arc<Target>,
    pub body: Arc<str>,
}

/// What became of a batch of claimed deliveries.
#[derive(Default)]
pub struct Prepared {
    pub ready: Vec<Ready>,
    /// Attempts that were not made (the target lost its registration): to be recorded.
    pub not_sent: Vec<Outcome>,
}

/// Looks up targets and bodies for `claimed`; cancels what must not be sent.
#[tracing::instrument(skip_all, err, fields(claimed = claimed.len()))]
pub(super) async fn prepare(
    state: &AppState,
    bodies: &mut Bodies,
    targets: &mut Targets,
    claimed: Vec<Claimed>,
    now: i64,
) -> Result<Prepared> {
    let targets = targets.of(state, &claimed, now).await?;
    let inaccessible = inaccessible(state, &claimed).await?;
    bodies.load(&state.pool, &claimed).await?;
    let mut prepared = Prepared::default();
    let mut no_access = Vec::new();
    let mut not_active = Vec::new();
    let mut event_gone = Vec::new();
    let mut feature_off = Vec::new();
    for c in claimed {
        match inaccessible.get(&c.id) {
            Some(Unsendable::NoAccess) => {
                no_access.push(c.id);
                continue;
            }
            Some(Unsendable::WaitedWhileOff) => {
                feature_off.push(c.id);
                continue;
            }
            None => {}
        }
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
                // A target that lost its registration gets nothing, and the log says why.
                prepared.not_sent.push(Outcome {
                    delivery_id: c.id,
                    subscription_id: c.subscription_id,
                    number: c.attempts + 1,
                    attempt: Attempt::not_sent(now, &target.url),
                });
                continue;
            }
        };
        let Some(body) = bodies.get(c.event_id) else {
            event_gone.push(c.id);
            continue;
        };
        prepared.ready.push(Ready {
            claimed: c,
            target,
            body,
        });
    }
    if !(not_active.is_empty()
        && event_gone.is_empty()
        && feature_off.is_empty()
        && no_access.is_empty())
    {
        // What can be sent goes out even if this fails: the rows stay leased and are looked
        // at again when the lease ends.
        let cancelled = state
            .write(move |conn| {
                Box::pin(async move {
                    queue::cancel(&mut *conn, &not_active, INACTIVE).await?;
                    queue::cancel(&mut *conn, &no_access, NO_ACCESS).await?;
                    queue::cancel(&mut *conn, &event_gone, EVENT_GONE).await?;
                    queue::cancel(&mut *conn, &feature_off, FEATURE_OFF).await
                })
            })
            .await;
        if let Err(e) = cancelled {
            tracing::warn!(error = ?e, "cancelling deliveries that must not be sent failed");
        }
    }
    Ok(prepared)
}

const INACTIVE: &str = "subscription inactive";
const NO_ACCESS: &str = "no longer accessible: its owner lost access to the device";
const EVENT_GONE: &str = "the event is no longer stored";
const UNREGISTERED: &str = "its target URL is no longer registered";

/// Checks one prepared delivery again just before it is sent (access changed since it was
/// prepared, or it waited long for its turn): why it must not go now, if it must not.
pub(super) async fn recheck(
    state: &AppState,
    claimed: &Claimed,
    now: i64,
) -> Result<Option<&'static str>> {
    let one = std::slice::from_ref(claimed);
    match inaccessible(state, one).await?.get(&claimed.id) {
        Some(Unsendable::NoAccess) => return Ok(Some(NO_ACCESS)),
        Some(Unsendable::WaitedWhileOff) => return Ok(Some(FEATURE_OFF)),
        None => {}
    }
    Ok(
        // Rare (access changed, or a long wait): nothing kept from other batches.
        match Targets::default()
            .of(state, one, now)
            .await?
            .get(&claimed.subscription_id)
        {
            Some(Ok(_)) => None,
            Some(Err(Skip::FeatureOff)) => Some(FEATURE_OFF),
            Some(Err(Skip::Inactive)) | None => Some(INACTIVE),
            Some(Err(Skip::Unregistered(_))) => Some(UNREGISTERED),
        },
    )
}

/// Cancels one claimed delivery that must not be sent after all; a failure is logged (the
/// row stays leased and is looked at again when the lease ends).
pub(super) async fn cancel_one(state: &AppState, id: i64, why: &'static str) {
    let cancelled = state
        .write(move |conn| Box::pin(async move { queue::cancel(conn, &[id], why).await }))
        .await;
    if let Err(e) = cancelled {
        tracing::warn!(error = ?e, delivery = id, "cancelling a delivery that must not be sent failed");
    }
}

/// Why a claimed delivery must not be sent, besides its subscription's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsendable {
    /// The subscription's owner may no longer see the event's device (access revoked while
    /// it waited for a retry).
    NoAccess,
    /// It was waiting when the organisation switched webhooks off, and has not been touched
    /// since webhooks were switched on again: what waited then is never sent later.
    WaitedWhileOff,
}

/// The claimed deliveries that must not be sent, and why.
#[tracing::instrument(level = "debug", skip_all)]
async fn inaccessible(state: &AppState, claimed: &[Claimed]) -> Result<HashMap<i64, Unsendable>> {
    let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
    let rows: Vec<(i64, bool)> =
        crate::db::with_db!(&state.pool, db, engine => sqlx::query_as(&format!(
        "SELECT d.id, d.updated_at < COALESCE(o.webhooks_enabled_since, 0) AS waited_while_off
         FROM deliveries d
         JOIN events e ON e.id = d.event_id
         JOIN subscriptions s ON s.id = d.subscription_id
         JOIN organisations o ON o.id = s.organisation_id
         JOIN users u ON u.id = s.owner_id
         WHERE d.id IN {ids1}
           AND (
             d.updated_at < COALESCE(o.webhooks_enabled_since, 0)
             OR NOT {OWNER_SEES_EVENT_DEVICE}
             OR EXISTS (
                SELECT 1 FROM subscription_triggers t
                WHERE t.subscription_id = s.id AND t.device_id = e.device_id
                  AND t.lost_access_at IS NOT NULL))"
    , ids1 = crate::db::dialect::ids(engine, 1)))
    .bind(serde_json::to_string(&ids).expect("BUG: ids serialise"))
    // Planned for each batch on Postgres: a plan cached while the deliveries table was small
    // went on scanning all of it (16 ms a batch under load, `auto_explain`) once it had grown.
    .persistent(engine == crate::db::Engine::Sqlite)
    .fetch_all(db)
    .await)
        .context("checking access at send time")?;
    Ok(rows
        .into_iter()
        .map(|(id, off)| {
            let why = if off {
                Unsendable::WaitedWhileOff
            } else {
                Unsendable::NoAccess
            };
            (id, why)
        })
        .collect())
}
