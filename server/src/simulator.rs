//! `--simulate`: plausible values for the demo devices every few seconds — drifting readings,
//! an occasional excursion out of range, a new sample ID now and then, a device that goes
//! silent (and so offline) and comes back. Everything goes through [`ingest::record`], the
//! same code path as the ingest API.

use std::{collections::HashMap, time::Duration};

use rand::{rngs::StdRng, Rng, SeedableRng};
use serde_json::{json, Value as Json};

use crate::{
    devices::{
        channels_of,
        ingest::{self, RawPoint},
        Channel,
    },
    domain::channel::ValueType,
    AppState, Result,
};

const TICK: Duration = Duration::from_secs(3);

/// Per channel: where the value is heading and whether it is on an excursion.
#[derive(Default)]
struct Walk {
    value: f64,
    target: f64,
    excursion_ticks: u32,
    counter: u32,
}

pub async fn run(state: AppState) {
    let mut rng = StdRng::from_entropy();
    let mut walks: HashMap<i64, Walk> = HashMap::new();
    // One device at a time goes quiet for a while, to show offline/online.
    let mut silent: Option<(i64, u32)> = None;
    let silent_ticks = (state.config.offline_after.as_secs() as u32 / TICK.as_secs() as u32) + 6;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tick.tick().await;
        let devices = match simulated_devices(&state).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = ?e, "simulator cannot read the demo devices");
                continue;
            }
        };
        silent = match silent {
            Some((id, left)) if left > 0 => Some((id, left - 1)),
            _ if !devices.is_empty() && rng.gen_ratio(1, 60) => {
                Some((devices[rng.gen_range(0..devices.len())].0, silent_ticks))
            }
            _ => None,
        };
        for (device_id, channels) in &devices {
            if silent.is_some_and(|(id, _)| id == *device_id) {
                continue;
            }
            let points: Vec<RawPoint> = channels
                .iter()
                // Those are written by receivers' replies, not by the device.
                .filter(|c| !c.reply_writable)
                .filter_map(|c| {
                    let walk = walks.entry(c.id).or_insert_with(|| start(c, &mut rng));
                    next_value(c, walk, &mut rng).map(|value| RawPoint {
                        channel: c.name.clone(),
                        timestamp: None,
                        value,
                    })
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            if let Err(e) = ingest::record(&state, *device_id, None, points).await {
                tracing::warn!(error = ?e, device_id, "simulated data was refused");
            }
        }
    }
}

async fn simulated_devices(state: &AppState) -> Result<Vec<(i64, Vec<Channel>)>> {
    let ids: Vec<i64> = crate::db::with_db!(&state.pool, db => sqlx::query_scalar(
        // A demo device given an OPC UA source is fed by its instrument, not made up.
        "SELECT id FROM devices d WHERE simulated AND archived_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM device_sources s WHERE s.device_id = d.id)
         ORDER BY id",
    )
    .fetch_all(db)
    .await)?;
    let mut conn = state.pool.acquire().await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push((id, channels_of(&mut conn, id).await?));
    }
    Ok(out)
}

fn start(c: &Channel, rng: &mut StdRng) -> Walk {
    let (lo, hi) = band(c);
    let v = rng.gen_range(lo..=hi);
    Walk {
        value: v,
        target: v,
        ..Walk::default()
    }
}

/// The comfortable middle of a channel's range, where the walk normally stays.
fn band(c: &Channel) -> (f64, f64) {
    match (c.spec.min, c.spec.max) {
        (Some(min), Some(max)) => {
            let span = max - min;
            (min + span * 0.3, min + span * 0.7)
        }
        (Some(min), None) => (min + 1.0, min + 100.0),
        (None, Some(max)) => (max - 100.0, max - 1.0),
        (None, None) => (0.0, 100.0),
    }
}

fn next_value(c: &Channel, w: &mut Walk, rng: &mut StdRng) -> Option<Json> {
    match c.spec.value_type {
        ValueType::Float => {
            let (lo, hi) = band(c);
            let span = (hi - lo).max(1e-6);
            if w.excursion_ticks > 0 {
                w.excursion_ticks -= 1;
                if w.excursion_ticks == 0 {
                    w.target = rng.gen_range(lo..=hi);
                }
            } else if c.spec.has_range() && rng.gen_ratio(1, 80) {
                // Leave the safe range for a few ticks.
                let over = c.spec.max.map(|m| m + span * 0.3);
                let under = c.spec.min.map(|m| m - span * 0.3);
                w.target = match (over, under) {
                    (Some(o), _) if rng.gen_bool(0.6) => o,
                    (_, Some(u)) => u,
                    (Some(o), None) => o,
                    (None, None) => w.target,
                };
                w.excursion_ticks = rng.gen_range(3..8);
            } else if rng.gen_ratio(1, 10) {
                w.target = rng.gen_range(lo..=hi);
            }
            w.value += (w.target - w.value) * 0.35 + rng.gen_range(-0.01..0.01) * span;
            let decimals = if span < 5.0 { 3 } else { 1 };
            let factor = 10f64.powi(decimals);
            Some(json!((w.value * factor).round() / factor))
        }
        ValueType::Enum => {
            let n = c.spec.enum_labels.len() as u32;
            (w.counter == 0 || rng.gen_ratio(1, 12)).then(|| {
                w.counter += 1;
                json!(rng.gen_range(0..n.max(1)))
            })
        }
        ValueType::Boolean => {
            // Mostly false (a door is mostly closed), briefly true.
            let open = w.value > 0.5;
            let flip = if open {
                rng.gen_ratio(1, 2)
            } else {
                rng.gen_ratio(1, 25)
            };
            (w.counter == 0 || flip).then(|| {
                w.counter += 1;
                w.value = if open != flip { 1.0 } else { 0.0 };
                json!(w.value > 0.5)
            })
        }
        ValueType::String => (w.counter == 0 || rng.gen_ratio(1, 8)).then(|| {
            w.counter += 1;
            if c.name.contains("barcode") {
                json!(format!("LAB-{:08}", rng.gen_range(0..100_000_000u32)))
            } else {
                json!(format!("S-2026-{:04}", w.counter))
            }
        }),
    }
}
