//! The subscriptions of a batch of claimed deliveries, each ready to send to — or why not
//! (switched off, the feature off, the target no longer registered), read afresh for every
//! batch.
//!
//! Opening a target — unsealing its signing secrets and secret header values, parsing its URL
//! — costs microseconds that add up: one event to 1,000 subscriptions opened 1,000 of each
//! every time (reading and opening them took 7–9 ms of a fan-out's 70; reading alone, kept,
//! about 5). An opened target is kept while its subscription's
//! stored form is what it was opened from: it is compared on every batch, so a change (a new
//! secret, edited headers, a rotation running out, another instance's edit) is opened anew,
//! and nothing needs telling.

use std::{collections::HashMap, sync::Arc};

use super::sender::Target;
use crate::{
    deliveries::queue::Claimed,
    domain::{
        headers::Headers,
        signature::SigningSecret,
        target_url::{is_allowed, TargetUrl},
    },
    error::ResultExt,
    settings::registered_urls,
    AppState, Result,
};

/// Opened targets kept at most; past that the cache starts afresh.
const CAPACITY: usize = 4096;

/// Why a subscription's deliveries are not sent now.
pub(super) enum Skip {
    Inactive,
    FeatureOff,
    Unregistered(Arc<Target>),
}

/// Opened targets by subscription, each with the stored form it was opened from.
#[derive(Default)]
pub(super) struct Targets {
    opened: HashMap<i64, (Stored, Arc<Target>)>,
}

/// What a target is opened from: equal stored forms open to equal targets.
#[derive(PartialEq, Eq)]
struct Stored {
    organisation_id: i64,
    url: String,
    headers: String,
    secret: String,
    /// The previous secret while it still signs, `None` once its time ran out.
    previous_secret: Option<String>,
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

impl Targets {
    /// The subscriptions of `claimed`, each ready to send to — or why not.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn of(
        &mut self,
        state: &AppState,
        claimed: &[Claimed],
        now: i64,
    ) -> Result<HashMap<i64, std::result::Result<Arc<Target>, Skip>>> {
        let mut ids: Vec<i64> = claimed.iter().map(|c| c.subscription_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let rows: Vec<TargetRow> = crate::db::with_db!(&state.pool, db, engine => sqlx::query_as(
            &format!("SELECT s.id, s.organisation_id, s.url, s.headers, s.secret, s.previous_secret,
                    s.previous_secret_until, s.active, o.webhooks_enabled
             FROM subscriptions s JOIN organisations o ON o.id = s.organisation_id
             WHERE s.id IN {ids1}", ids1 = crate::db::dialect::ids(engine, 1)),
        )
        .bind(serde_json::to_string(&ids).expect("BUG: ids serialise"))
        .fetch_all(db)
        .await)
        .context("reading the targets of claimed deliveries")?;
        if self.opened.len() + rows.len() > CAPACITY {
            self.opened.clear();
        }
        let mut registered = HashMap::new();
        let mut conn = state.pool.acquire().await?;
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
            let id = r.id;
            let stored = Stored {
                organisation_id: r.organisation_id,
                previous_secret: r
                    .previous_secret
                    .filter(|_| r.previous_secret_until.is_some_and(|until| until > now)),
                url: r.url,
                headers: r.headers,
                secret: r.secret,
            };
            let target = match self.opened.get(&id) {
                Some((was, target)) if *was == stored => target.clone(),
                _ => {
                    let Some(target) = open(state, id, &stored) else {
                        self.opened.remove(&id);
                        out.insert(id, Err(Skip::Inactive));
                        continue;
                    };
                    let target = Arc::new(target);
                    self.opened.insert(id, (stored, target.clone()));
                    target
                }
            };
            if let std::collections::hash_map::Entry::Vacant(e) =
                registered.entry(target.organisation_id)
            {
                e.insert(registered_urls(&mut conn, target.organisation_id).await?);
            }
            let allowed = is_allowed(&registered[&target.organisation_id], &target.url);
            out.insert(
                id,
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

/// Opens a subscription's stored target; `None` when its URL or signing secret cannot be read.
fn open(state: &AppState, subscription_id: i64, stored: &Stored) -> Option<Target> {
    let key = &state.secrets;
    let open_secret = |sealed: &str| match key.open(sealed) {
        Ok(secret) => SigningSecret::parse(&secret),
        Err(e) => {
            tracing::error!(subscription = subscription_id, error = ?e, "cannot open a signing secret");
            None
        }
    };
    let (Ok(url), Some(secret)) = (TargetUrl::parse(&stored.url), open_secret(&stored.secret))
    else {
        return None;
    };
    Some(Target {
        subscription_id,
        organisation_id: stored.organisation_id,
        headers: Headers::from_stored(&stored.headers, key),
        secret,
        previous_secret: stored.previous_secret.as_deref().and_then(open_secret),
        url,
    })
}
