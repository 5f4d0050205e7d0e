//! A number channel's recent values as a small chart: the mean of each bucket as a line, the
//! acceptable range as a band, and buckets that left the range marked. Drawn as SVG from the
//! numbers alone, with a text alternative that says what the chart shows.

use leptos::prelude::*;

use super::{ChannelView, TrendPoint};

const W: f64 = 160.0;
const H: f64 = 40.0;
const PAD: f64 = 3.0;

/// What the chart says in words (its accessible name).
fn describe(channel: &ChannelView, points: &[TrendPoint], window: &str, outside: usize) -> String {
    let unit = if channel.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", channel.unit)
    };
    if points.is_empty() {
        return format!("{}: no values in the last {window}", channel.name);
    }
    let lo = points.iter().map(|p| p.min).fold(f64::INFINITY, f64::min);
    let hi = points
        .iter()
        .map(|p| p.max)
        .fold(f64::NEG_INFINITY, f64::max);
    let count: i64 = points.iter().map(|p| p.count).sum();
    let mut s = format!(
        "{}, last {window}: {count} value{} from {} to {}{unit}",
        channel.name,
        if count == 1 { "" } else { "s" },
        round(lo),
        round(hi)
    );
    if outside > 0 {
        s.push_str(&format!(
            "; out of range in {outside} of {} periods",
            points.len()
        ));
    }
    s
}

fn round(v: f64) -> String {
    let r = (v * 100.0).round() / 100.0;
    format!("{r}")
}

#[component]
pub(super) fn Trend(
    channel: ChannelView,
    points: Vec<TrendPoint>,
    since: i64,
    until: i64,
    window: &'static str,
) -> impl IntoView {
    let out = |p: &TrendPoint| {
        channel.min.is_some_and(|m| p.min < m) || channel.max.is_some_and(|m| p.max > m)
    };
    let outside = points.iter().filter(|p| out(p)).count();
    let label = describe(&channel, &points, window, outside);
    let title = label.clone();
    // The y scale holds the values and the range, so the band is always in view.
    let mut lo = points.iter().map(|p| p.min).fold(f64::INFINITY, f64::min);
    let mut hi = points
        .iter()
        .map(|p| p.max)
        .fold(f64::NEG_INFINITY, f64::max);
    for bound in [channel.min, channel.max].into_iter().flatten() {
        lo = lo.min(bound);
        hi = hi.max(bound);
    }
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if (hi - lo).abs() < f64::EPSILON {
        (lo, hi) = (lo - 1.0, hi + 1.0);
    }
    let span = (until - since).max(1) as f64;
    let x = move |at: i64| ((at - since) as f64 / span * W).clamp(0.0, W);
    let y = move |v: f64| PAD + (hi - v) / (hi - lo) * (H - 2.0 * PAD);
    let band = (channel.min.is_some() || channel.max.is_some()).then(|| {
        let top = y(channel.max.unwrap_or(hi));
        let bottom = y(channel.min.unwrap_or(lo));
        view! { <rect class="trend-band" x="0" y=format!("{top:.1}") width=W height=format!("{:.1}", (bottom - top).max(1.0))/> }
    });
    let line = points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.at), y(p.mean)))
        .collect::<Vec<_>>()
        .join(" ");
    let single = (points.len() == 1).then(|| {
        let p = &points[0];
        view! { <circle class="trend-dot" cx=format!("{:.1}", x(p.at)) cy=format!("{:.1}", y(p.mean)) r="2"/> }
    });
    let marks = points
        .iter()
        .filter(|p| out(p))
        .map(|p| {
            let v = if channel.min.is_some_and(|m| p.min < m) {
                p.min
            } else {
                p.max
            };
            view! { <circle class="trend-out" cx=format!("{:.1}", x(p.at)) cy=format!("{:.1}", y(v)) r="2.5"/> }
        })
        .collect_view();
    view! {
        <svg
            class="trend"
            role="img"
            aria-label=label
            viewBox=format!("0 0 {W} {H}")
            width=W
            height=H
            preserveAspectRatio="none"
        >
            <title>{title}</title>
            {band}
            <polyline class="trend-line" points=line/>
            {single}
            {marks}
        </svg>
    }
}
