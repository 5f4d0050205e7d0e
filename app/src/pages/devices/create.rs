//! The Add device dialog (org admins): a device with its channels, checked by the server's
//! rules (each problem beside its field); once created, its token is one click away.

use leptos::prelude::*;

use crate::components::{change::Change, modal::Modal};

use super::{
    create_device, device_classes, update_device, DeviceDetailsInput, DeviceView, NewChannelInput,
    NewDeviceInput, Target,
};

/// One channel row of the form; `key` keeps rows apart while they are added and removed.
#[derive(Clone)]
struct ChannelRow {
    key: u32,
    name: RwSignal<String>,
    unit: RwSignal<String>,
    value_type: RwSignal<String>,
    min: RwSignal<String>,
    max: RwSignal<String>,
    labels: RwSignal<String>,
}

impl ChannelRow {
    fn new(key: u32) -> Self {
        Self {
            key,
            name: RwSignal::new(String::new()),
            unit: RwSignal::new(String::new()),
            value_type: RwSignal::new("number".into()),
            min: RwSignal::new(String::new()),
            max: RwSignal::new(String::new()),
            labels: RwSignal::new(String::new()),
        }
    }

    /// What was typed; a bound that is not a number is sent as none and the server's rules
    /// are not asked about it — the form says so itself.
    fn input(&self) -> Result<NewChannelInput, String> {
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
        Ok(NewChannelInput {
            name: self.name.get_untracked(),
            unit: self.unit.get_untracked(),
            value_type: self.value_type.get_untracked(),
            min: bound(self.min.get_untracked(), "lowest acceptable value")?,
            max: bound(self.max.get_untracked(), "highest acceptable value")?,
            labels: self
                .labels
                .get_untracked()
                .split(',')
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .collect(),
        })
    }
}

#[component]
pub(super) fn AddDeviceDialog(open: RwSignal<bool>, tokens: Target) -> impl IntoView {
    let details = Details::new();
    let rows = RwSignal::new(vec![ChannelRow::new(0)]);
    let next_key = StoredValue::new(1u32);
    let saving = Change::new();
    let local_error = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<(i64, String)>);

    // Each opening starts with an empty form.
    Effect::new(move |_| {
        if open.get() {
            details.fill("", "", "", "Custom");
            // A fresh key: the list redraws the row instead of keeping the old inputs bound
            // to the old row's signals.
            let key = next_key.get_value();
            next_key.set_value(key + 1);
            rows.set(vec![ChannelRow::new(key)]);
            created.set(None);
            saving.clear();
            local_error.set(None);
        }
    });

    let add_row = move |_| {
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        rows.update(|r| r.push(ChannelRow::new(key)));
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let channels: Result<Vec<_>, _> =
            rows.get_untracked().iter().map(ChannelRow::input).collect();
        let channels = match channels {
            Ok(c) => c,
            Err(e) => {
                local_error.set(Some(e));
                return;
            }
        };
        local_error.set(None);
        let d = details.input();
        let input = NewDeviceInput {
            name: d.name,
            vendor: d.vendor,
            model: d.model,
            device_class: d.device_class,
            channels,
        };
        let typed = input.name.trim().to_owned();
        saving.run(
            create_device(input),
            move |id| created.set(Some((id, typed))),
            || {},
        );
    };
    let field = move |f: String| saving.field(&f);

    view! {
        <Modal open=open title="Add device">
            <Show
                when=move || created.get().is_none()
                fallback=move || {
                    let (id, device) = created.get().unwrap_or_default();
                    let for_token = device.clone();
                    view! {
                        <div class="dialog-body">
                            <div class="notice notice-success" role="status">
                                <strong>{format!("{device} was created.")}</strong>
                                <p>"Its id is " <code data-testid="new-device-id">{id}</code> ". Next, create the token it sends its data with."</p>
                            </div>
                        </div>
                        <div class="dialog-foot">
                            <button type="button" class="button" on:click=move |_| open.set(false)>"Close"</button>
                            <button
                                type="button"
                                class="button primary"
                                on:click=move |_| {
                                    open.set(false);
                                    tokens.set(Some((id, for_token.clone())));
                                }
                            >
                                "Create its token"
                            </button>
                        </div>
                    }
                }
            >
                <form on:submit=submit novalidate>
                    <div class="dialog-body">
                        <DetailsFields prefix="device" details=details saving=saving/>
                        <fieldset class="channels">
                            <legend>"Channels"</legend>
                            <p class="hint">"What the device measures. A number channel may have an acceptable range: values outside it cause the Out of range trigger event."</p>
                            <For each=move || rows.get().into_iter().enumerate() key=|(i, r)| (*i, r.key) let((i, row))>
                                <ChannelFields index=i row=row rows=rows field=field/>
                            </For>
                            <button type="button" class="button small" on:click=add_row>"ADD CHANNEL"</button>
                            <p class="field-error" role="alert">{move || saving.field("channels")}</p>
                        </fieldset>
                        {move || local_error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                        // What is not shown beside a field (vendor, model, the server's refusal).
                        {move || {
                            saving
                                .error()
                                .and_then(|e| e.general(&["name", "device_class", "channels"]))
                                .map(|m| view! { <p class="form-error" role="alert">{m}</p> })
                        }}
                    </div>
                    <div class="dialog-foot">
                        <button type="button" class="button caps" on:click=move |_| open.set(false)>"CANCEL"</button>
                        <button type="submit" class="button primary caps" disabled=move || saving.busy()>
                            {move || if saving.busy() { "CREATING…" } else { "CREATE DEVICE" }}
                        </button>
                    </div>
                </form>
            </Show>
        </Modal>
    }
}

#[component]
fn ChannelFields(
    index: usize,
    row: ChannelRow,
    rows: RwSignal<Vec<ChannelRow>>,
    field: impl Fn(String) -> Option<String> + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let n = index + 1;
    let key = row.key;
    let id = move |what: &str| format!("channel-{key}-{what}");
    let error = move |what: &str| field(format!("channels[{index}].{what}"));
    let value_type = row.value_type;
    let is_number = move || value_type.get() == "number";
    let is_choice = move || value_type.get() == "choice";
    view! {
        <div class="channel-row" role="group" aria-label=format!("Channel {n}")>
            <div class="field">
                <label for=id("name")>{format!("Channel {n} name")}</label>
                <input id=id("name") type="text"
                    prop:value=move || row.name.get()
                    on:input=move |ev| row.name.set(event_target_value(&ev))
                    aria-invalid=move || error("name").is_some().to_string()/>
                <p class="field-error" role="alert">{move || error("name")}</p>
            </div>
            <div class="field narrow">
                <label for=id("unit")>{format!("Channel {n} unit")}</label>
                <input id=id("unit") type="text" placeholder="e.g. °C"
                    prop:value=move || row.unit.get()
                    on:input=move |ev| row.unit.set(event_target_value(&ev))/>
                <p class="field-error" role="alert">{move || error("unit")}</p>
            </div>
            <div class="field narrow">
                <label for=id("type")>{format!("Channel {n} kind of value")}</label>
                <select id=id("type")
                    prop:value=move || value_type.get()
                    on:change=move |ev| value_type.set(event_target_value(&ev))>
                    <option value="number">"Number"</option>
                    <option value="text">"Text"</option>
                    <option value="yes_no">"Yes/no"</option>
                    <option value="choice">"Choice"</option>
                </select>
            </div>
            <Show when=is_number>
                <div class="field narrow">
                    <label for=id("min")>{format!("Channel {n} lowest acceptable value")}</label>
                    <input id=id("min") type="text" inputmode="decimal"
                        prop:value=move || row.min.get()
                        on:input=move |ev| row.min.set(event_target_value(&ev))/>
                    <p class="field-error" role="alert">{move || error("min")}</p>
                </div>
                <div class="field narrow">
                    <label for=id("max")>{format!("Channel {n} highest acceptable value")}</label>
                    <input id=id("max") type="text" inputmode="decimal"
                        prop:value=move || row.max.get()
                        on:input=move |ev| row.max.set(event_target_value(&ev))/>
                    <p class="field-error" role="alert">{move || error("max")}</p>
                </div>
            </Show>
            <Show when=is_choice>
                <div class="field">
                    <label for=id("labels")>{format!("Channel {n} choices, separated by commas")}</label>
                    <input id=id("labels") type="text" placeholder="closed, open"
                        prop:value=move || row.labels.get()
                        on:input=move |ev| row.labels.set(event_target_value(&ev))/>
                    <p class="field-error" role="alert">{move || error("labels")}</p>
                </div>
            </Show>
            <button
                type="button"
                class="button small"
                aria-label=format!("Remove channel {n}")
                on:click=move |_| rows.update(|r| r.retain(|c| c.key != key))
            >
                "Remove"
            </button>
        </div>
    }
}

/// The Edit dialog: a device's name, vendor, model and class (its channels are kept).
#[component]
pub(super) fn EditDeviceDialog(editing: RwSignal<Option<DeviceView>>) -> impl IntoView {
    let open = RwSignal::new(false);
    let details = Details::new();
    let saving = Change::new();
    Effect::new(move |_| {
        if let Some(d) = editing.get() {
            details.fill(&d.name, &d.vendor, &d.model, &d.device_class);
            saving.clear();
            open.set(true);
        }
    });
    Effect::new(move |_| {
        if !open.get() {
            editing.set(None);
        }
    });
    let title = Signal::derive(move || {
        editing
            .get()
            .map(|d| format!("Edit {}", d.name))
            .unwrap_or_else(|| "Edit device".into())
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(device) = editing.get_untracked() else {
            return;
        };
        saving.run(
            update_device(device.id, details.input()),
            move |()| open.set(false),
            || {},
        );
    };
    view! {
        <Modal open=open title=title>
            <form on:submit=submit novalidate>
                <div class="dialog-body">
                    <DetailsFields prefix="edit-device" details=details saving=saving/>
                    {move || {
                        saving
                            .error()
                            .and_then(|e| e.general(&["name", "device_class"]))
                            .map(|m| view! { <p class="form-error" role="alert">{m}</p> })
                    }}
                </div>
                <div class="dialog-foot">
                    <button type="button" class="button caps" on:click=move |_| open.set(false)>"CANCEL"</button>
                    <button type="submit" class="button primary caps" disabled=move || saving.busy()>
                        {move || if saving.busy() { "SAVING…" } else { "SAVE" }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}

/// A device's name, vendor, model and class as typed, shared by the Add and Edit dialogs.
#[derive(Clone, Copy)]
struct Details {
    name: RwSignal<String>,
    vendor: RwSignal<String>,
    model: RwSignal<String>,
    device_class: RwSignal<String>,
}

impl Details {
    fn new() -> Self {
        Self {
            name: RwSignal::new(String::new()),
            vendor: RwSignal::new(String::new()),
            model: RwSignal::new(String::new()),
            device_class: RwSignal::new("Custom".into()),
        }
    }

    fn fill(self, name: &str, vendor: &str, model: &str, device_class: &str) {
        self.name.set(name.into());
        self.vendor.set(vendor.into());
        self.model.set(model.into());
        self.device_class.set(device_class.into());
    }

    fn input(self) -> DeviceDetailsInput {
        DeviceDetailsInput {
            name: self.name.get_untracked(),
            vendor: self.vendor.get_untracked(),
            model: self.model.get_untracked(),
            device_class: self.device_class.get_untracked(),
        }
    }
}

/// The fields of [`Details`], with the server's messages beside them; `prefix` keeps the
/// ids of two dialogs apart.
#[component]
fn DetailsFields(prefix: &'static str, details: Details, saving: Change) -> impl IntoView {
    let classes = Resource::new(|| (), |_| device_classes());
    let id = move |what: &str| format!("{prefix}-{what}");
    let Details {
        name,
        vendor,
        model,
        device_class,
    } = details;
    view! {
        <div class="field">
            <label for=id("name")>"Name"</label>
            <input id=id("name") type="text" required
                prop:value=move || name.get()
                on:input=move |ev| name.set(event_target_value(&ev))
                aria-invalid=move || saving.field("name").is_some().to_string()/>
            <p class="field-error" role="alert">{move || saving.field("name")}</p>
        </div>
        <div class="field-row">
            <div class="field">
                <label for=id("vendor")>"Vendor"</label>
                <input id=id("vendor") type="text"
                    prop:value=move || vendor.get()
                    on:input=move |ev| vendor.set(event_target_value(&ev))/>
            </div>
            <div class="field">
                <label for=id("model")>"Model"</label>
                <input id=id("model") type="text"
                    prop:value=move || model.get()
                    on:input=move |ev| model.set(event_target_value(&ev))/>
            </div>
            <div class="field">
                <label for=id("class")>"Device class"</label>
                <select id=id("class")
                    prop:value=move || device_class.get()
                    on:change=move |ev| device_class.set(event_target_value(&ev))>
                    <Transition fallback=|| view! { <option value="Custom">"Custom"</option> }>
                        {move || Suspend::new(async move {
                            classes.await.unwrap_or_else(|_| vec!["Custom".into()]).into_iter().map(|c| {
                                let selected = c == device_class.get_untracked();
                                view! { <option value=c.clone() selected=selected>{c.clone()}</option> }
                            }).collect_view()
                        })}
                    </Transition>
                </select>
                <p class="field-error" role="alert">{move || saving.field("device_class")}</p>
            </div>
        </div>
    }
}
