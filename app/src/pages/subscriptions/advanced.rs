//! A chosen channel's "Advanced" options, for noisy channels: at most one webhook per
//! interval, a dead band for "Value changed", and "settled" for new data points. Hidden until
//! asked for; empty fields keep the default (every event is sent). The server checks them.

use std::collections::BTreeMap;

use leptos::prelude::*;

use super::{AdvancedText, TriggerOptionsInput, TriggerView};

/// Advanced options by channel id.
pub type Advanced = BTreeMap<i64, AdvancedText>;

pub const VALUE_CHANGED: &str = "channel.value_changed";
pub const NEW_DATA_POINT: &str = "data_point.created";

/// The options saved with a subscription, by channel.
pub fn from_saved(triggers: &[TriggerView]) -> Advanced {
    let mut advanced = Advanced::new();
    for t in triggers {
        let Some(o) = &t.options else { continue };
        let a = advanced.entry(t.channel_id).or_default();
        let keep = |mine: &mut String, theirs: &str| {
            if mine.is_empty() {
                *mine = theirs.to_owned();
            }
        };
        keep(&mut a.min_interval_seconds, &o.min_interval_seconds);
        keep(&mut a.dead_band, &o.dead_band);
        a.dead_band_percent |= o.dead_band_percent;
        keep(&mut a.settle_band, &o.settle_band);
        keep(&mut a.settle_seconds, &o.settle_seconds);
    }
    advanced
}

/// The options of one chosen trigger event from its channel's fields: `None` when they are
/// all empty for it, or the name of what is not a number.
pub fn for_event(
    a: &AdvancedText,
    channel_id: i64,
    channel: &str,
    event: &str,
) -> Result<Option<TriggerOptionsInput>, String> {
    let number = |raw: &str, what: &str| -> Result<Option<f64>, String> {
        let raw = raw.trim().replace(',', ".");
        if raw.is_empty() {
            return Ok(None);
        }
        raw.parse()
            .map(Some)
            .map_err(|_| format!("The {what} of {channel} is not a number."))
    };
    let min_interval_seconds = number(&a.min_interval_seconds, "minimum interval")?;
    let dead_band = if event == VALUE_CHANGED {
        number(&a.dead_band, "dead band")?
    } else {
        None
    };
    let (settle_band, settle_seconds) = if event == NEW_DATA_POINT {
        (
            number(&a.settle_band, "settling band")?,
            number(&a.settle_seconds, "settling time")?,
        )
    } else {
        (None, None)
    };
    let any = min_interval_seconds.is_some()
        || dead_band.is_some()
        || settle_band.is_some()
        || settle_seconds.is_some();
    Ok(any.then(|| TriggerOptionsInput {
        channel_id,
        event_type: event.to_owned(),
        dead_band,
        dead_band_percent: a.dead_band_percent,
        min_interval_seconds,
        settle_band,
        settle_seconds,
    }))
}

/// The "Advanced" disclosure of one chosen channel; which fields show depends on the chosen
/// events and whether the channel holds numbers.
#[component]
pub fn AdvancedOptions(
    channel_id: i64,
    #[prop(into)] channel: String,
    #[prop(into)] unit: String,
    numeric: bool,
    events: Vec<String>,
    advanced: RwSignal<Advanced>,
) -> impl IntoView {
    let field = move |get: fn(&AdvancedText) -> String| {
        move || advanced.with(|a| a.get(&channel_id).map(get).unwrap_or_default())
    };
    let set = move |apply: fn(&mut AdvancedText, String)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            advanced.update(|a| apply(a.entry(channel_id).or_default(), value));
        }
    };
    let open = advanced.with_untracked(|a| {
        a.get(&channel_id)
            .is_some_and(|t| *t != AdvancedText::default())
    });
    let id = move |what: &str| format!("advanced-{channel_id}-{what}");
    let value_changed = numeric && events.iter().any(|e| e == VALUE_CHANGED);
    let settles = numeric && events.iter().any(|e| e == NEW_DATA_POINT);
    let unit_word = if unit.is_empty() {
        "absolute".to_owned()
    } else {
        unit.clone()
    };
    view! {
        <details class="advanced" open=open>
            <summary aria-label=format!("Advanced options for {channel}")>"Advanced"</summary>
            <p class="hint">"For channels that report many times a second. Leave empty to send every event."</p>
            <div class="advanced-fields">
                <div class="field narrow">
                    <label for=id("interval")>"At most one webhook every (seconds)"</label>
                    <input id=id("interval") type="text" inputmode="decimal" placeholder="e.g. 10"
                        aria-label=format!("Minimum seconds between webhooks for {channel}")
                        prop:value=field(|a| a.min_interval_seconds.clone())
                        on:input=set(|a, v| a.min_interval_seconds = v)/>
                </div>
                {value_changed.then(|| view! {
                    <div class="field narrow">
                        <label for=id("band")>"Value changed: only changes of at least"</label>
                        <span class="inline-fields">
                            <input id=id("band") type="text" inputmode="decimal" placeholder="e.g. 0.5"
                                aria-label=format!("Dead band for {channel}")
                                prop:value=field(|a| a.dead_band.clone())
                                on:input=set(|a, v| a.dead_band = v)/>
                            <select
                                aria-label=format!("Dead band unit for {channel}")
                                on:change=move |ev| {
                                    let percent = event_target_value(&ev) == "percent";
                                    advanced.update(|a| a.entry(channel_id).or_default().dead_band_percent = percent);
                                }
                            >
                                <option value="absolute" selected=move || !advanced.with(|a| a.get(&channel_id).is_some_and(|t| t.dead_band_percent))>{unit_word.clone()}</option>
                                <option value="percent" selected=move || advanced.with(|a| a.get(&channel_id).is_some_and(|t| t.dead_band_percent))>"% of the value last sent"</option>
                            </select>
                        </span>
                    </div>
                })}
                {settles.then(|| view! {
                    <div class="field narrow">
                        <label for=id("settle-band")>"New data point: only once settled within"</label>
                        <input id=id("settle-band") type="text" inputmode="decimal" placeholder="e.g. 0.02"
                            aria-label=format!("Settling band for {channel}")
                            prop:value=field(|a| a.settle_band.clone())
                            on:input=set(|a, v| a.settle_band = v)/>
                    </div>
                    <div class="field narrow">
                        <label for=id("settle-seconds")>"for (seconds)"</label>
                        <input id=id("settle-seconds") type="text" inputmode="decimal" placeholder="e.g. 5"
                            aria-label=format!("Settling seconds for {channel}")
                            prop:value=field(|a| a.settle_seconds.clone())
                            on:input=set(|a, v| a.settle_seconds = v)/>
                    </div>
                })}
            </div>
        </details>
    }
}
