//! Noisy channels: balances and sensors report many times a second, and a receiver wants a
//! few meaningful webhooks, not all of them. A trigger of a subscription may ask for
//! - a **dead band** on "value changed": only a change of at least this much (absolute, or a
//!   percentage of the value last sent) since the value last sent counts;
//! - a **minimum interval**: at most one webhook per this many seconds (the rest are not sent);
//! - **settled**: send once the value has stayed within a band for this many seconds, and not
//!   again until it has moved out of the band and settled again.
//!
//! Without options a trigger fires on every event, as before. The clock is the event's own
//! time (the data point's timestamp), so the same data always gives the same webhooks.

use serde::{Deserialize, Serialize};

pub use super::settle_run::Run;
use super::EventType;

/// Longest minimum interval and settling time: a day.
pub const MAX_SECONDS: f64 = 86_400.0;

/// A trigger's options as typed (the form, the API), not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RawOptions {
    /// "Value changed" only: the smallest change that counts.
    #[serde(default)]
    pub dead_band: Option<f64>,
    /// The dead band is a percentage of the value last sent, not an absolute amount.
    #[serde(default)]
    pub dead_band_percent: bool,
    #[serde(default)]
    pub min_interval_seconds: Option<f64>,
    /// Settled: the band the value must stay within…
    #[serde(default)]
    pub settle_band: Option<f64>,
    /// …for this long.
    #[serde(default)]
    pub settle_seconds: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DeadBand {
    Absolute(f64),
    Percent(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settle {
    pub band: f64,
    pub for_ms: i64,
}

/// Checked options of one trigger. `Options::default()` fires on every event.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Options {
    pub dead_band: Option<DeadBand>,
    pub min_interval_ms: Option<i64>,
    pub settle: Option<Settle>,
}

impl Options {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// Checks what was typed for a trigger of `event` on a channel that holds numbers or not;
    /// every problem is said in words for the field it concerns.
    pub fn parse(
        raw: &RawOptions,
        event: EventType,
        numeric: bool,
    ) -> Result<Self, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let dead_band = match raw.dead_band {
            None => None,
            Some(_) if event != EventType::ValueChanged || !numeric => {
                problems.push((
                    "dead_band",
                    "A dead band applies to \"value changed\" of a number channel only.".into(),
                ));
                None
            }
            Some(v) if !positive(v) => {
                problems.push((
                    "dead_band",
                    "The dead band must be a number above 0.".into(),
                ));
                None
            }
            Some(v) if raw.dead_band_percent => Some(DeadBand::Percent(v)),
            Some(v) => Some(DeadBand::Absolute(v)),
        };
        let seconds = |field: &'static str, v: Option<f64>, problems: &mut Vec<_>| match v {
            None => None,
            Some(s) if (0.001..=MAX_SECONDS).contains(&s) => Some((s * 1000.0).round() as i64),
            Some(_) => {
                problems.push((
                    field,
                    "Give a time between 0.001 and 86,400 seconds (a day).".to_owned(),
                ));
                None
            }
        };
        let min_interval_ms = seconds(
            "min_interval_seconds",
            raw.min_interval_seconds,
            &mut problems,
        );
        let settle = match (raw.settle_band, raw.settle_seconds) {
            (None, None) => None,
            (Some(band), Some(secs)) => {
                if !numeric
                    || !matches!(event, EventType::DataPointCreated | EventType::ValueChanged)
                {
                    problems.push((
                        "settle_band",
                        "\"Settled\" applies to new data points or value changes of a number channel only."
                            .into(),
                    ));
                    None
                } else if !(band.is_finite() && band >= 0.0) {
                    problems.push((
                        "settle_band",
                        "The band must be a number, 0 or more.".into(),
                    ));
                    None
                } else {
                    seconds("settle_seconds", Some(secs), &mut problems)
                        .map(|for_ms| Settle { band, for_ms })
                }
            }
            (Some(_), None) => {
                problems.push((
                    "settle_seconds",
                    "Say for how many seconds the value must stay in the band.".into(),
                ));
                None
            }
            (None, Some(_)) => {
                problems.push((
                    "settle_band",
                    "Say how far the value may move while settling.".into(),
                ));
                None
            }
        };
        if problems.is_empty() {
            Ok(Self {
                dead_band,
                min_interval_ms,
                settle,
            })
        } else {
            Err(problems)
        }
    }

    /// Options stored after [`Options::parse`] accepted them (read back without the checks
    /// that need the trigger's channel).
    pub fn from_checked(raw: &RawOptions) -> Self {
        Self {
            dead_band: raw.dead_band.map(|v| {
                if raw.dead_band_percent {
                    DeadBand::Percent(v)
                } else {
                    DeadBand::Absolute(v)
                }
            }),
            min_interval_ms: raw
                .min_interval_seconds
                .map(|s| (s * 1000.0).round() as i64),
            settle: raw
                .settle_band
                .zip(raw.settle_seconds)
                .map(|(band, s)| Settle {
                    band,
                    for_ms: (s * 1000.0).round() as i64,
                }),
        }
    }

    /// How it is stored: JSON of the typed form; `None` for the defaults.
    pub fn to_stored(&self) -> Option<String> {
        (!self.is_default())
            .then(|| serde_json::to_string(&self.to_raw()).expect("BUG: options serialise"))
    }

    /// Read back from [`Options::to_stored`]; anything unreadable is the defaults.
    pub fn from_stored(stored: Option<&str>) -> Self {
        stored
            .and_then(|s| serde_json::from_str::<RawOptions>(s).ok())
            .map(|raw| Self::from_checked(&raw))
            .unwrap_or_default()
    }

    /// Back to the typed form (to show and edit).
    pub fn to_raw(&self) -> RawOptions {
        RawOptions {
            dead_band: self.dead_band.map(|d| match d {
                DeadBand::Absolute(v) | DeadBand::Percent(v) => v,
            }),
            dead_band_percent: matches!(self.dead_band, Some(DeadBand::Percent(_))),
            min_interval_seconds: self.min_interval_ms.map(|ms| ms as f64 / 1000.0),
            settle_band: self.settle.map(|s| s.band),
            settle_seconds: self.settle.map(|s| s.for_ms as f64 / 1000.0),
        }
    }

    /// "changes of at least 0.5 · at most one every 10 s · once settled within 0.02 for 5 s".
    pub fn describe(&self, unit: &str) -> String {
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        let mut parts = Vec::new();
        match self.dead_band {
            Some(DeadBand::Absolute(v)) => parts.push(format!("changes of at least {v}{unit}")),
            Some(DeadBand::Percent(v)) => parts.push(format!("changes of at least {v}%")),
            None => {}
        }
        if let Some(ms) = self.min_interval_ms {
            parts.push(format!("at most one every {} s", ms as f64 / 1000.0));
        }
        if let Some(s) = self.settle {
            parts.push(format!(
                "once settled within {}{unit} for {} s",
                s.band,
                s.for_ms as f64 / 1000.0
            ));
        }
        parts.join(" · ")
    }
}

/// What a trigger remembers between events.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct State {
    pub last_sent_at: Option<i64>,
    pub last_sent_value: Option<f64>,
    /// Settled and sent: not again until the value leaves the band.
    pub settled_sent: bool,
    /// "Settled" only: the run of the channel's latest values that fit in the band.
    pub run: Option<Run>,
}

/// One event as the options see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// The event's time (the data point's timestamp).
    pub at: i64,
    /// The channel's number value, if it has one.
    pub value: Option<f64>,
}

/// Whether the trigger sends this event, and what it remembers afterwards.
pub fn decide(options: &Options, state: &State, seen: &Seen) -> (bool, State) {
    let mut next = *state;
    if let Some(settle) = options.settle {
        let Some(value) = seen.value else {
            return (false, next);
        };
        let run = Run::after(state.run, seen.at, value, settle.band);
        next.run = Some(run);
        // Steady when the run already held the value the channel had `for_ms` ago.
        let steady = seen.at - run.since >= settle.for_ms;
        if !steady {
            next.settled_sent = false;
            return (false, next);
        }
        if state.settled_sent {
            return (false, next);
        }
    }
    if let (Some(min), Some(last)) = (options.min_interval_ms, state.last_sent_at) {
        if seen.at - last < min {
            return (false, next);
        }
    }
    if let (Some(band), Some(value), Some(reference)) =
        (options.dead_band, seen.value, state.last_sent_value)
    {
        let needed = match band {
            DeadBand::Absolute(v) => v,
            DeadBand::Percent(p) => reference.abs() * p / 100.0,
        };
        if (value - reference).abs() < needed {
            return (false, next);
        }
    }
    next.last_sent_at = Some(seen.at);
    if seen.value.is_some() {
        next.last_sent_value = seen.value;
    }
    if options.settle.is_some() {
        next.settled_sent = true;
    }
    (true, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (time in ms, value)
    type Event = (i64, f64);

    /// Feeds events through the options; answers the times of those sent.
    fn run(options: Options, events: &[Event]) -> Vec<i64> {
        let mut state = State::default();
        let mut sent = Vec::new();
        for &(at, value) in events {
            let (send, next) = decide(
                &options,
                &state,
                &Seen {
                    at,
                    value: Some(value),
                },
            );
            state = next;
            if send {
                sent.push(at);
            }
        }
        sent
    }

    #[test]
    fn without_options_every_event_is_sent() {
        let events: Vec<_> = (0..5).map(|i| (i * 10, i as f64)).collect();
        assert_eq!(run(Options::default(), &events), vec![0, 10, 20, 30, 40]);
    }

    #[test]
    fn a_dead_band_sends_only_changes_that_large_since_the_value_last_sent() {
        let options = Options {
            dead_band: Some(DeadBand::Absolute(0.5)),
            ..Options::default()
        };
        // 10.0 sent; 10.2, 10.4 too close to 10.0; 10.6 sent; 10.3 is 0.3 from 10.6; 9.9 sent.
        let events = [
            (0, 10.0),
            (1, 10.2),
            (2, 10.4),
            (3, 10.6),
            (4, 10.3),
            (5, 9.9),
        ];
        assert_eq!(run(options, &events), vec![0, 3, 5]);
        let percent = Options {
            dead_band: Some(DeadBand::Percent(10.0)),
            ..Options::default()
        };
        // 10 % of 200 is 20: 215 no, 221 yes; 10 % of 221 is 22.1: 200 no (21 away).
        let events = [(0, 200.0), (1, 215.0), (2, 221.0), (3, 200.0)];
        assert_eq!(run(percent, &events), vec![0, 2]);
    }

    #[test]
    fn a_minimum_interval_sends_at_most_one_per_interval() {
        let options = Options {
            min_interval_ms: Some(1000),
            ..Options::default()
        };
        let events: Vec<_> = (0..12).map(|i| (i * 250, i as f64)).collect();
        assert_eq!(run(options, &events), vec![0, 1000, 2000]);
    }

    #[test]
    fn settled_sends_once_per_steady_period() {
        let options = Options {
            settle: Some(Settle {
                band: 0.02,
                for_ms: 5000,
            }),
            ..Options::default()
        };
        let events = [
            (0, 12.0),      // no history five seconds back yet
            (5000, 12.31),  // still moving
            (9000, 12.40),  // still moving
            (14000, 12.41), // settled: sent
            (15000, 12.40), // still settled: not again
            (16000, 15.00), // moved off
            (21000, 15.01), // settled again: sent
        ];
        assert_eq!(run(options, &events), vec![14000, 21000]);
    }

    /// However long the settling time, deciding an event costs the same: a day at 50 values a
    /// second settles once, at the end of the steady day.
    #[test]
    fn settling_over_a_day_of_values_needs_no_history() {
        let options = Options {
            settle: Some(Settle {
                band: 0.1,
                for_ms: 86_400_000,
            }),
            ..Options::default()
        };
        let events: Vec<Event> = (0..=86_400 * 50)
            .map(|i| (i * 20, 5.0 + (i % 3) as f64 * 0.01))
            .collect();
        assert_eq!(run(options, &events), vec![86_400_000]);
    }

    #[test]
    fn options_are_checked_for_their_trigger() {
        let ok = Options::parse(
            &RawOptions {
                dead_band: Some(5.0),
                dead_band_percent: true,
                min_interval_seconds: Some(2.5),
                ..RawOptions::default()
            },
            EventType::ValueChanged,
            true,
        )
        .unwrap();
        assert_eq!(ok.dead_band, Some(DeadBand::Percent(5.0)));
        assert_eq!(ok.min_interval_ms, Some(2500));
        assert_eq!(
            Options::parse(&ok.to_raw(), EventType::ValueChanged, true),
            Ok(ok)
        );
        assert_eq!(
            ok.describe("mg"),
            "changes of at least 5% · at most one every 2.5 s"
        );

        let fields = |raw: RawOptions, event, numeric| {
            Options::parse(&raw, event, numeric)
                .unwrap_err()
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
        };
        let band = RawOptions {
            dead_band: Some(1.0),
            ..RawOptions::default()
        };
        assert_eq!(
            fields(band.clone(), EventType::DataPointCreated, true),
            ["dead_band"]
        );
        assert_eq!(fields(band, EventType::ValueChanged, false), ["dead_band"]);
        let bad = RawOptions {
            dead_band: Some(-1.0),
            min_interval_seconds: Some(100_000.0),
            settle_band: Some(0.1),
            ..RawOptions::default()
        };
        assert_eq!(
            fields(bad, EventType::ValueChanged, true),
            ["dead_band", "min_interval_seconds", "settle_seconds"]
        );
    }
}
