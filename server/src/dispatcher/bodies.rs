//! The webhook bodies of recent events, built once per event and shared by all its deliveries
//! (one per matching subscription, and every retry).

use std::{collections::HashMap, sync::Arc};

use crate::db::Pool;

use crate::{deliveries::queue::Claimed, domain::webhook::webhook_body, Result};

/// Bodies kept at most (about 1 KiB each); past that the cache starts afresh.
const CAPACITY: usize = 4096;

#[derive(Default)]
pub(super) struct Bodies {
    by_event: HashMap<i64, Arc<str>>,
}

impl Bodies {
    /// Makes sure the bodies of `claimed` are at hand: those not cached are read in one query.
    #[tracing::instrument(level = "debug", skip_all)]
    pub(super) async fn load(&mut self, pool: &Pool, claimed: &[Claimed]) -> Result<()> {
        let mut wanted: Vec<i64> = claimed.iter().map(|c| c.event_id).collect();
        wanted.sort_unstable();
        wanted.dedup();
        // Make room first, then look at what is missing: a body cached a moment ago may be
        // among what the room was made from.
        let uncached = wanted
            .iter()
            .filter(|id| !self.by_event.contains_key(id))
            .count();
        if self.by_event.len() + uncached > CAPACITY {
            self.by_event.clear();
        }
        let missing: Vec<i64> = wanted
            .into_iter()
            .filter(|id| !self.by_event.contains_key(id))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let rows: Vec<(i64, String, i64, String)> = crate::db::with_db!(pool, db, engine => sqlx::query_as(
            &format!("SELECT id, event_type, occurred_at, payload FROM events WHERE id IN {ids1}", ids1 = crate::db::dialect::ids(engine, 1)),
        )
        .bind(serde_json::to_string(&missing).expect("BUG: ids serialise"))
        .fetch_all(db)
        .await)?;
        for (id, event_type, occurred_at, payload) in rows {
            self.by_event.insert(
                id,
                Arc::from(webhook_body(&event_type, occurred_at, &payload)),
            );
        }
        Ok(())
    }

    /// The body of an event loaded by [`Bodies::load`]; `None` when the event is gone.
    pub(super) fn get(&self, event_id: i64) -> Option<Arc<str>> {
        self.by_event.get(&event_id).cloned()
    }
}
