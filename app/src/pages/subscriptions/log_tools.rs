//! What sits around the delivery log: its filters (status, event type, channel, time) and a
//! chart of the last day's deliveries per hour by outcome.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::TriggerView;
use crate::{components::time::utc_parts, errors::AppError};

/// The log's filters as chosen; empty strings mean "any".
#[derive(Debug, Clone, Copy)]
pub(super) struct Filters {
    pub status: RwSignal<String>,
    pub event_type: RwSignal<String>,
    pub channel: RwSignal<String>,
    pub hours: RwSignal<String>,
}

impl Filters {
    pub fn new() -> Self {
        Self {
            status: RwSignal::new(String::new()),
            event_type: RwSignal::new(String::new()),
            channel: RwSignal::new(String::new()),
            hours: RwSignal::new(String::new()),
        }
    }

    /// (status, event type, channel id, hours) for the server function; tracked.
    #[allow(clippy::type_complexity)]
    pub fn get(self) -> (Option<String>, Option<String>, Option<i64>, Option<i64>) {
        let some = |s: String| (!s.is_empty()).then_some(s);
        (
            some(self.status.get()),
            some(self.event_type.get()),
            self.channel.get().parse().ok(),
            self.hours.get().parse().ok(),
        )
    }
}

#[component]
pub(super) fn LogFilters(filters: Filters, triggers: Vec<TriggerView>) -> impl IntoView {
    let mut types: Vec<(String, String)> = Vec::new();
    let mut channels: Vec<(i64, String)> = Vec::new();
    for t in &triggers {
        if !types.iter().any(|(ty, _)| *ty == t.event_type) {
            types.push((t.event_type.clone(), t.event_label.clone()));
        }
        if !channels.iter().any(|(id, _)| *id == t.channel_id) {
            channels.push((
                t.channel_id,
                format!("{} › {}", t.device_name, t.channel_name),
            ));
        }
    }
    let select = |id: &'static str,
                  label: &'static str,
                  signal: RwSignal<String>,
                  options: Vec<(String, String)>| {
        view! {
            <div class="field">
                <label for=id>{label}</label>
                <select id=id on:change=move |ev| signal.set(event_target_value(&ev))>
                    <option value="">"Any"</option>
                    {options.into_iter().map(|(value, text)| view! { <option value=value>{text}</option> }).collect_view()}
                </select>
            </div>
        }
    };
    let statuses = ["delivered", "retrying", "failed", "pending", "cancelled"]
        .map(|s| (s.to_owned(), s[..1].to_uppercase() + &s[1..]))
        .to_vec();
    let hours = vec![
        ("1".to_owned(), "Last hour".to_owned()),
        ("24".to_owned(), "Last 24 hours".to_owned()),
        ("168".to_owned(), "Last 7 days".to_owned()),
    ];
    view! {
        <div class="field-row log-filters" role="group" aria-label="Filter deliveries">
            {select("log-status", "Status", filters.status, statuses)}
            {select("log-type", "Event", filters.event_type, types)}
            {select("log-channel", "Channel", filters.channel, channels.into_iter().map(|(id, l)| (id.to_string(), l)).collect())}
            {select("log-time", "Time", filters.hours, hours)}
        </div>
    }
}

/// Deliveries made in one hour, by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourView {
    pub at: i64,
    pub delivered: i64,
    pub failed: i64,
    pub other: i64,
}

/// The last 24 hours of a subscription's deliveries, per hour.
#[server(endpoint = "deliveries/per_hour")]
pub async fn deliveries_per_hour(subscription_id: i64) -> Result<Vec<HourView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let now = server::clock::now_ms();
    let hours = server::deliveries::per_hour(&state.pool, &user, subscription_id, now, 24).await?;
    Ok(hours
        .into_iter()
        .map(|h| HourView {
            at: h.at,
            delivered: h.delivered,
            failed: h.failed,
            other: h.other,
        })
        .collect())
}

/// Stacked bars: succeeded (green), failed (red), still open (grey); a table says the same
/// for screen readers.
#[component]
pub(super) fn HourlyChart(hours: Vec<HourView>) -> impl IntoView {
    const W: f64 = 480.0;
    const H: f64 = 80.0;
    let most = hours
        .iter()
        .map(|h| h.delivered + h.failed + h.other)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let bar = W / hours.len().max(1) as f64;
    let total: i64 = hours.iter().map(|h| h.delivered + h.failed + h.other).sum();
    let failed: i64 = hours.iter().map(|h| h.failed).sum();
    let summary = format!("Deliveries per hour, last 24 hours: {total} in all, {failed} failed.");
    let bars = hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let x = i as f64 * bar + 1.0;
            let mut y = H;
            let mut part = |n: i64, class: &'static str| {
                let height = n as f64 / most * (H - 4.0);
                y -= height;
                (n > 0).then(|| view! {
                    <rect class=class x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{:.1}", bar - 2.0) height=format!("{height:.1}")/>
                })
            };
            let (d, f, o) = (part(h.delivered, "bar-ok"), part(h.failed, "bar-bad"), part(h.other, "bar-other"));
            let (day, time) = utc_parts(h.at);
            view! {
                <g>
                    <title>{format!("{day} {time}: {} succeeded, {} failed, {} open", h.delivered, h.failed, h.other)}</title>
                    {d}{f}{o}
                </g>
            }
        })
        .collect_view();
    view! {
        <figure class="hourly">
            <svg viewBox=format!("0 0 {W} {H}") preserveAspectRatio="none" role="img" aria-label=summary.clone()>
                {bars}
            </svg>
            <figcaption class="muted small-text">
                {summary}
                " "<span class="legend ok">"succeeded"</span>
                " "<span class="legend bad">"failed"</span>
                " "<span class="legend other">"open"</span>
            </figcaption>
        </figure>
    }
}
