//! Adding, editing and removing one channel of an existing device (org admins). A change
//! takes effect for the next data point; removing asks first and names the subscriptions that
//! chose the channel.

use leptos::{either::Either, prelude::*};

use crate::components::{change::Change, modal::Modal, status::Loading};

use super::{
    add_channel,
    channel_form::{ChannelFields, ChannelRow},
    channel_uses, list_devices, remove_channel, update_channel, ChannelView, DeviceView,
};

/// Which channel a dialog is about: a device, and one of its channels (none: a new one).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChannelTarget {
    pub device_id: i64,
    pub device_name: String,
    pub channel: Option<ChannelView>,
}

/// Shows what the server has now, without waiting for the next poll.
fn refresh(list: RwSignal<Vec<DeviceView>>) {
    leptos::task::spawn_local(async move {
        if let Ok(devices) = list_devices().await {
            list.set(devices);
        }
    });
}

/// The Add channel / Edit channel dialog.
#[component]
pub(super) fn ChannelDialog(
    target: RwSignal<Option<ChannelTarget>>,
    list: RwSignal<Vec<DeviceView>>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let saving = Change::new();
    let next_key = StoredValue::new(1000u32);
    let row = RwSignal::new(None::<ChannelRow>);
    let local_error = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Some(t) = target.get() {
            // A fresh key each time: the fields are drawn again for the new row.
            let key = next_key.get_value();
            next_key.set_value(key + 1);
            row.set(Some(match &t.channel {
                Some(c) => ChannelRow::filled(key, c),
                None => ChannelRow::new(key),
            }));
            saving.clear();
            local_error.set(None);
            open.set(true);
        }
    });
    Effect::new(move |_| {
        if !open.get() {
            target.set(None);
        }
    });
    let title = Signal::derive(move || match target.get() {
        Some(ChannelTarget {
            device_name,
            channel: Some(c),
            ..
        }) => format!("Edit channel {} of {device_name}", c.name),
        Some(t) => format!("Add channel to {}", t.device_name),
        None => "Channel".into(),
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (Some(t), Some(r)) = (target.get_untracked(), row.get_untracked()) else {
            return;
        };
        let input = match r.input() {
            Ok(i) => i,
            Err(e) => {
                local_error.set(Some(e));
                return;
            }
        };
        local_error.set(None);
        let done = move || {
            open.set(false);
            refresh(list);
        };
        match t.channel {
            Some(c) => saving.run(
                move |reason| update_channel(t.device_id, c.id, input, reason),
                move |()| done(),
                || {},
            ),
            None => saving.run(
                move |reason| add_channel(t.device_id, input, reason),
                move |_| done(),
                || {},
            ),
        }
    };
    let field = move |f: String| saving.field(&f);
    let editing = move || target.with(|t| t.as_ref().is_some_and(|t| t.channel.is_some()));
    view! {
        <Modal open=open title=title>
            <form on:submit=submit novalidate>
                <div class="dialog-body">
                    {move || row.get().map(|r| view! {
                        <ChannelFields row=r label="Channel " errors_at="" field=field/>
                    })}
                    <Show when=editing>
                        <p class="hint">
                            "A new range or kind of value applies from the next data point. Devices send data by the channel's name: renaming it means changing what the device sends."
                        </p>
                    </Show>
                    {move || local_error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                    {move || {
                        saving
                            .error()
                            .and_then(|e| e.general(&["name", "unit", "value_type", "min", "max", "labels"]))
                            .map(|m| view! { <p class="form-error" role="alert">{m}</p> })
                    }}
                </div>
                <div class="dialog-foot">
                    <button type="button" class="button caps" on:click=move |_| open.set(false)>"CANCEL"</button>
                    <button type="submit" class="button primary caps" disabled=move || saving.busy()>
                        {move || match (saving.busy(), editing()) {
                            (true, _) => "SAVING…",
                            (false, true) => "SAVE CHANNEL",
                            (false, false) => "ADD CHANNEL",
                        }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}

/// Asks before removing a channel, naming the subscriptions that chose it and the data that
/// goes with it.
#[component]
pub(super) fn RemoveChannelDialog(
    target: RwSignal<Option<ChannelTarget>>,
    list: RwSignal<Vec<DeviceView>>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let removing = Change::new();
    Effect::new(move |_| {
        if target.with(|t| t.is_some()) {
            removing.clear();
            open.set(true);
        }
    });
    Effect::new(move |_| {
        if !open.get() {
            target.set(None);
        }
    });
    let which = move || {
        target.with(|t| {
            t.as_ref()
                .and_then(|t| t.channel.as_ref().map(|c| (t.device_id, c.id)))
        })
    };
    let uses = Resource::new(which, |which| async move {
        match which {
            Some((device, channel)) => channel_uses(device, channel).await.map(Some),
            None => Ok(None),
        }
    });
    let title = Signal::derive(move || {
        target
            .get()
            .and_then(|t| t.channel.map(|c| format!("Remove channel {}?", c.name)))
            .unwrap_or_else(|| "Remove channel?".into())
    });
    let remove = move |_| {
        if let Some((device, channel)) = which() {
            removing.run(
                move |reason| remove_channel(device, channel, reason),
                move |()| {
                    open.set(false);
                    refresh(list);
                },
                || {},
            );
        }
    };
    view! {
        <Modal open=open title=title small=true>
            <div class="dialog-body">
                <Transition fallback=|| view! { <Loading what="Checking what uses this channel…"/> }>
                    {move || Suspend::new(async move {
                        match uses.await {
                            Ok(Some(u)) => Either::Left(view! {
                                {if u.subscriptions.is_empty() {
                                    Either::Left(view! { <p>"No subscription uses this channel."</p> })
                                } else {
                                    Either::Right(view! {
                                        <p>{format!(
                                            "{} subscription{} chose this channel; {} trigger events on it will be removed:",
                                            u.subscriptions.len(),
                                            if u.subscriptions.len() == 1 { "" } else { "s" },
                                            if u.subscriptions.len() == 1 { "its" } else { "their" },
                                        )}</p>
                                        <ul class="uses">
                                            {u.subscriptions.into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}
                                        </ul>
                                    })
                                }}
                                <p>{format!(
                                    "Its {} stored data point{} will be deleted. Past deliveries stay in the delivery log.",
                                    u.data_points,
                                    if u.data_points == 1 { "" } else { "s" },
                                )}</p>
                            }),
                            Ok(None) => Either::Right(None),
                            Err(e) => Either::Right(Some(view! { <p class="form-error" role="alert">{e.to_string()}</p> })),
                        }
                    })}
                </Transition>
                {removing.reason_field()}
                {removing.alert()}
            </div>
            <div class="dialog-foot">
                <button type="button" class="button" on:click=move |_| open.set(false)>"Keep channel"</button>
                <button type="button" class="button danger" disabled=move || removing.busy() on:click=remove>
                    {move || if removing.busy() { "Removing…" } else { "Remove channel" }}
                </button>
            </div>
        </Modal>
    }
}
