//! A channel's fields as typed — name, unit, kind of value, acceptable range, choices — shared
//! by the Add device dialog (one row per channel) and the Add/Edit channel dialog.

use leptos::prelude::*;

use super::{ChannelView, NewChannelInput};

/// One channel of a form; `key` keeps rows apart while they are added and removed.
#[derive(Clone)]
pub(super) struct ChannelRow {
    pub key: u32,
    name: RwSignal<String>,
    unit: RwSignal<String>,
    value_type: RwSignal<String>,
    min: RwSignal<String>,
    max: RwSignal<String>,
    labels: RwSignal<String>,
    reply_writable: RwSignal<bool>,
}

impl ChannelRow {
    pub fn new(key: u32) -> Self {
        Self {
            key,
            name: RwSignal::new(String::new()),
            unit: RwSignal::new(String::new()),
            value_type: RwSignal::new("number".into()),
            min: RwSignal::new(String::new()),
            max: RwSignal::new(String::new()),
            labels: RwSignal::new(String::new()),
            reply_writable: RwSignal::new(false),
        }
    }

    /// The row with a channel's current definition, to edit it.
    pub fn filled(key: u32, c: &ChannelView) -> Self {
        let row = Self::new(key);
        let bound = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
        row.name.set(c.name.clone());
        row.unit.set(c.unit.clone());
        row.value_type.set(c.value_type.clone());
        row.min.set(bound(c.min));
        row.max.set(bound(c.max));
        row.labels.set(c.labels.join(", "));
        row.reply_writable.set(c.reply_writable);
        row
    }

    /// What was typed; a bound that is not a number is sent as none and the server's rules
    /// are not asked about it — the form says so itself.
    pub fn input(&self) -> Result<NewChannelInput, String> {
        let bound = |raw: String, what: &str| -> Result<Option<f64>, String> {
            let raw = raw.trim().replace(',', ".");
            if raw.is_empty() {
                return Ok(None);
            }
            raw.parse().map(Some).map_err(|_| {
                format!(
                    "The {what} of {:?} is not a number.",
                    self.name.get_untracked()
                )
            })
        };
        let is_number = self.value_type.get_untracked() == "number";
        let is_choice = self.value_type.get_untracked() == "choice";
        Ok(NewChannelInput {
            name: self.name.get_untracked(),
            unit: self.unit.get_untracked(),
            value_type: self.value_type.get_untracked(),
            // Hidden fields are not sent: a range typed before switching to text is dropped.
            min: if is_number {
                bound(self.min.get_untracked(), "lowest acceptable value")?
            } else {
                None
            },
            max: if is_number {
                bound(self.max.get_untracked(), "highest acceptable value")?
            } else {
                None
            },
            labels: if is_choice {
                self.labels
                    .get_untracked()
                    .split(',')
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect()
            } else {
                vec![]
            },
            reply_writable: self.reply_writable.get_untracked(),
        })
    }
}

/// A channel's fields. `label` starts every field's label ("Channel 2 " in a list of rows),
/// `errors_at` names where the server's messages about it are ("channels[1]."), and
/// `on_remove`, when given, adds a Remove button that hands back the row's key.
#[component]
pub(super) fn ChannelFields(
    row: ChannelRow,
    #[prop(into)] label: String,
    #[prop(into)] errors_at: String,
    field: impl Fn(String) -> Option<String> + Copy + Send + Sync + 'static,
    #[prop(optional)] on_remove: Option<Callback<u32>>,
) -> impl IntoView {
    let key = row.key;
    let id = move |what: &str| format!("channel-{key}-{what}");
    let errors_at = StoredValue::new(errors_at);
    let error = move |what: &str| field(format!("{}{what}", errors_at.get_value()));
    let group = label.trim().to_owned();
    let label = StoredValue::new(label);
    let l = move |what: &str| format!("{}{what}", label.get_value());
    let value_type = row.value_type;
    let is_number = move || value_type.get() == "number";
    let is_choice = move || value_type.get() == "choice";
    view! {
        <div class="channel-row" role="group" aria-label=group.clone()>
            <div class="field">
                <label for=id("name")>{l("name")}</label>
                <input id=id("name") type="text"
                    prop:value=move || row.name.get()
                    on:input=move |ev| row.name.set(event_target_value(&ev))
                    aria-invalid=move || error("name").is_some().to_string()/>
                <p class="field-error" role="alert">{move || error("name")}</p>
            </div>
            <div class="field narrow">
                <label for=id("unit")>{l("unit")}</label>
                <input id=id("unit") type="text" placeholder="e.g. °C"
                    prop:value=move || row.unit.get()
                    on:input=move |ev| row.unit.set(event_target_value(&ev))/>
                <p class="field-error" role="alert">{move || error("unit")}</p>
            </div>
            <div class="field narrow">
                <label for=id("type")>{l("kind of value")}</label>
                <select id=id("type")
                    prop:value=move || value_type.get()
                    on:change=move |ev| value_type.set(event_target_value(&ev))
                    aria-invalid=move || error("value_type").is_some().to_string()>
                    <option value="number" selected=move || value_type.get() == "number">"Number"</option>
                    <option value="text" selected=move || value_type.get() == "text">"Text"</option>
                    <option value="yes_no" selected=move || value_type.get() == "yes_no">"Yes/no"</option>
                    <option value="choice" selected=move || value_type.get() == "choice">"Choice"</option>
                </select>
                <p class="field-error" role="alert">{move || error("value_type")}</p>
            </div>
            <Show when=is_number>
                <div class="field narrow">
                    <label for=id("min")>{l("lowest acceptable value")}</label>
                    <input id=id("min") type="text" inputmode="decimal"
                        prop:value=move || row.min.get()
                        on:input=move |ev| row.min.set(event_target_value(&ev))/>
                    <p class="field-error" role="alert">{move || error("min")}</p>
                </div>
                <div class="field narrow">
                    <label for=id("max")>{l("highest acceptable value")}</label>
                    <input id=id("max") type="text" inputmode="decimal"
                        prop:value=move || row.max.get()
                        on:input=move |ev| row.max.set(event_target_value(&ev))/>
                    <p class="field-error" role="alert">{move || error("max")}</p>
                </div>
            </Show>
            <Show when=is_choice>
                <div class="field">
                    <label for=id("labels")>{l("choices, separated by commas")}</label>
                    <input id=id("labels") type="text" placeholder="closed, open"
                        prop:value=move || row.labels.get()
                        on:input=move |ev| row.labels.set(event_target_value(&ev))/>
                    <p class="field-error" role="alert">{move || error("labels")}</p>
                </div>
            </Show>
            <div class="field">
                <label class="checkbox">
                    <input type="checkbox"
                        prop:checked=move || row.reply_writable.get()
                        on:change=move |ev| row.reply_writable.set(event_target_checked(&ev))
                        aria-describedby=id("reply-hint")/>
                    {if group.is_empty() { "May be written by replies".to_owned() } else { format!("{group} may be written by replies") }}
                </label>
                <p id=id("reply-hint") class="hint">"Receivers of subscriptions that use the reply may store values here."</p>
            </div>
            {on_remove.map(|remove| view! {
                <button
                    type="button"
                    class="button small"
                    aria-label=format!("Remove {}", group.to_lowercase())
                    on:click=move |_| remove.run(key)
                >
                    "Remove"
                </button>
            })}
        </div>
    }
}
