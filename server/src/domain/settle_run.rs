//! "Settled" as a running state: the stretch of a channel's latest values that fit in a
//! band, moved on by each event ([`Run::after`]), so that deciding "settled" never needs the
//! channel's history (see [`super::debounce`]).

/// The channel's latest values that fit together in a settle band — all of them lie within
/// `band` of each other — as a running state: since when, their lowest and highest, and the
/// last value. Kept per trigger and moved on by each event, so that deciding "settled" costs
/// the same whether the band's time is a second or a day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// The time of the run's first value.
    pub since: i64,
    pub low: f64,
    pub high: f64,
    pub last_at: i64,
    pub last_value: f64,
}

impl Run {
    /// The run after `value` came at `at`. A value that does not fit with the whole run starts
    /// a new one: from the value before it when the two fit in the band (the step into the
    /// band), else from itself. So a run may start a little later than the longest stretch of
    /// values that would fit — "settled" is then said a little later, never too early.
    pub fn after(run: Option<Run>, at: i64, value: f64, band: f64) -> Run {
        let fits = |low: f64, high: f64| high - low <= band + f64::EPSILON * high.abs().max(1.0);
        let start = |since: i64, low: f64, high: f64| Run {
            since,
            low,
            high,
            last_at: at,
            last_value: value,
        };
        let Some(run) = run else {
            return start(at, value, value);
        };
        let (low, high) = (run.low.min(value), run.high.max(value));
        if fits(low, high) {
            return start(run.since, low, high);
        }
        let (low, high) = (run.last_value.min(value), run.last_value.max(value));
        if fits(low, high) {
            start(run.last_at, low, high)
        } else {
            start(at, value, value)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_keeps_what_fits_and_restarts_at_the_step_into_the_band() {
        let band = 0.05;
        let mut run = None;
        for (at, value) in [(0, 10.0), (1, 10.02), (2, 10.05), (3, 10.01)] {
            run = Some(Run::after(run, at, value, band));
        }
        let r = run.unwrap();
        assert_eq!((r.since, r.low, r.high), (0, 10.0, 10.05));
        // 10.08 does not fit with 10.0, nor with the value before it (10.01, 0.07 apart).
        let r = Run::after(Some(r), 4, 10.08, band);
        assert_eq!((r.since, r.low, r.high), (4, 10.08, 10.08));
        // 10.11 fits with 10.08: the run goes on; 10.14 does not fit with 10.08 but with
        // 10.11: the run starts again at the step into the band, 10.11's time.
        let r = Run::after(Some(r), 5, 10.11, band);
        assert_eq!((r.since, r.low, r.high), (4, 10.08, 10.11));
        let r = Run::after(Some(r), 6, 10.14, band);
        assert_eq!((r.since, r.low, r.high), (5, 10.11, 10.14));
    }
}
