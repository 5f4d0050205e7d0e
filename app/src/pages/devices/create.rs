//! The Add device dialog (org admins): a device with its channels, checked by the server's
//! rules (each problem beside its field); once created, its token is one click away.

use leptos::prelude::*;

use crate::components::{change::Change, modal::Modal};

use super::{
    channel_form::{ChannelFields, ChannelRow},
    create_device, device_classes, update_device, DeviceDetailsInput, DeviceView, NewDeviceInput,
    Target,
};

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
            move |reason| create_device(input, reason),
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
                                <ChannelFields
                                    row=row
                                    label=format!("Channel {} ", i + 1)
                                    errors_at=format!("channels[{i}].")
                                    field=field
                                    on_remove=Callback::new(move |key| rows.update(|r| r.retain(|c: &ChannelRow| c.key != key)))
                                />
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
            move |reason| update_device(device.id, details.input(), reason),
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
