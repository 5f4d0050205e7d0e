//! The form's header rows: Key, Value, Secret and a trash bin per row, and ADD HEADER. A
//! stored secret's value never comes back to the browser; its row says so.

use leptos::prelude::*;

use super::{HeaderInput, HeaderView};
use crate::components::{change::Change, hydration::use_hydrated, icons::TrashIcon};

/// One header row of the form. `stored` marks a secret whose value stays on the server until
/// the user types a new one.
#[derive(Clone, Copy)]
pub(super) struct HeaderRow {
    pub(super) key: u32,
    name: RwSignal<String>,
    value: RwSignal<String>,
    secret: RwSignal<bool>,
    stored: bool,
}

impl HeaderRow {
    fn new(key: u32, name: &str, value: &str, secret: bool, stored: bool) -> Self {
        Self {
            key,
            name: RwSignal::new(name.to_owned()),
            value: RwSignal::new(value.to_owned()),
            secret: RwSignal::new(secret),
            stored,
        }
    }

    fn is_blank(&self) -> bool {
        !self.stored
            && self.name.with(|n| n.trim().is_empty())
            && self.value.with(|v| v.trim().is_empty())
    }

    pub(super) fn input(&self) -> HeaderInput {
        let value = self.value.get_untracked();
        HeaderInput {
            name: self.name.get_untracked(),
            // An untouched stored secret keeps its value on the server.
            value: if self.stored && value.is_empty() {
                None
            } else {
                Some(value)
            },
            secret: self.secret.get_untracked(),
        }
    }
}

/// The rows being edited, each with a key of its own (stable across deletions).
#[derive(Clone, Copy)]
pub(super) struct HeaderRows {
    rows: RwSignal<Vec<HeaderRow>>,
    next_key: StoredValue<u32>,
}

impl HeaderRows {
    /// The saved headers, or one empty row to start with.
    pub(super) fn new(saved: &[HeaderView]) -> Self {
        let this = Self {
            rows: RwSignal::new(vec![]),
            next_key: StoredValue::new(0),
        };
        let rows: Vec<HeaderRow> = if saved.is_empty() {
            vec![HeaderRow::new(this.fresh_key(), "", "", false, false)]
        } else {
            saved
                .iter()
                .map(|h| {
                    HeaderRow::new(
                        this.fresh_key(),
                        &h.name,
                        h.value.as_deref().unwrap_or(""),
                        h.secret,
                        h.value.is_none(),
                    )
                })
                .collect()
        };
        this.rows.set(rows);
        this
    }

    fn fresh_key(self) -> u32 {
        let k = self.next_key.get_value();
        self.next_key.set_value(k + 1);
        k
    }

    pub(super) fn add_blank(self) {
        let k = self.fresh_key();
        self.rows
            .update(|r| r.push(HeaderRow::new(k, "", "", false, false)));
    }

    pub(super) fn remove(self, key: u32) {
        self.rows.update(|r| r.retain(|x| x.key != key));
    }

    /// The rows to submit: blank ones are dropped.
    pub(super) fn kept(self) -> Vec<HeaderRow> {
        self.rows
            .get_untracked()
            .into_iter()
            .filter(|r| !r.is_blank())
            .collect()
    }

    /// Rows are numbered for their accessible names ("Key of header 2").
    fn numbered(self) -> Vec<(usize, HeaderRow)> {
        self.rows.get().into_iter().enumerate().collect()
    }
}

#[component]
pub(super) fn HeaderFields(
    rows: HeaderRows,
    saving: Change,
    /// The keys of the rows as last submitted: the server names rows by their index then.
    submitted_keys: RwSignal<Vec<u32>>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let field_error = move |field: &str| saving.field(field);
    let row_error = move |key: u32, part: &str| {
        let index = submitted_keys.with(|k| k.iter().position(|k| *k == key))?;
        field_error(&format!("headers.{index}.{part}"))
    };
    view! {
        <fieldset class="headers">
            <legend>"Headers"</legend>
            <p class="hint">
                "Sent with every webhook, e.g. an API key of your LIMS. Mark a header secret to hide its value after saving."
            </p>
            <p class="field-error" role="alert">{move || field_error("headers")}</p>
            <div class="header-rows">
                <div class="header-row header-labels" aria-hidden="true">
                    <span>"Key"</span>
                    <span>"Value"</span>
                    <span></span>
                    <span></span>
                </div>
                <For each=move || rows.numbered() key=|(i, r): &(usize, HeaderRow)| (*i, r.key) let:item>
                    {
                        let (index, row) = item;
                        let n = index + 1;
                        view! {
                            <div class="header-row">
                                <div>
                                    <input
                                        type="text"
                                        aria-label=format!("Key of header {n}")
                                        placeholder="Key, e.g. X-Api-Key"
                                        autocomplete="off"
                                        prop:value=move || row.name.get()
                                        on:input=move |ev| row.name.set(event_target_value(&ev))
                                        aria-invalid=move || row_error(row.key, "name").is_some().to_string()
                                    />
                                    <p class="field-error" role="alert">{move || row_error(row.key, "name")}</p>
                                </div>
                                <div>
                                    <input
                                        type=move || if row.secret.get() { "password" } else { "text" }
                                        aria-label=format!("Value of header {n}")
                                        placeholder=if row.stored { "••••• (stored — type to replace)" } else { "Value" }
                                        autocomplete="off"
                                        prop:value=move || row.value.get()
                                        on:input=move |ev| row.value.set(event_target_value(&ev))
                                        aria-invalid=move || row_error(row.key, "value").is_some().to_string()
                                    />
                                    <p class="field-error" role="alert">{move || row_error(row.key, "value")}</p>
                                </div>
                                <label class="checkbox">
                                    <input
                                        type="checkbox"
                                        aria-label=format!("Secret header {n}")
                                        prop:checked=move || row.secret.get()
                                        on:change=move |ev| row.secret.set(event_target_checked(&ev))
                                    />
                                    <span aria-hidden="true">"Secret"</span>
                                </label>
                                <button
                                    type="button"
                                    class="icon-button"
                                    aria-label=format!("Delete header {n}")
                                    title="Delete header"
                                    on:click=move |_| rows.remove(row.key)
                                >
                                    <TrashIcon/>
                                </button>
                            </div>
                        }
                    }
                </For>
            </div>
            <button
                type="button"
                class="button caps"
                disabled=move || !hydrated.get()
                on:click=move |_| rows.add_blank()
            >
                "+ ADD HEADER"
            </button>
        </fieldset>
    }
}
