//! The "Selected Channels" pop-up: type the name of a device, then tick the trigger events of
//! its channels. Changes are a draft until CONFIRM; Cancel and Escape leave the form as it was.

use std::collections::BTreeSet;

use leptos::{either::Either, prelude::*};

use super::{Catalogue, PickerChannel, PickerDevice};
use crate::components::modal::Modal;

/// The chosen trigger events: (channel id, event type).
pub type Selection = BTreeSet<(i64, String)>;

#[component]
pub fn ChannelPicker(
    open: RwSignal<bool>,
    #[prop(into)] catalogue: Signal<Catalogue>,
    selection: RwSignal<Selection>,
) -> impl IntoView {
    let draft = RwSignal::new(Selection::new());
    let query = RwSignal::new(String::new());
    let current = RwSignal::new(None::<i64>);

    // Each opening starts from what the form holds.
    Effect::new(move |was_open: Option<bool>| {
        let is_open = open.get();
        if is_open && was_open != Some(true) {
            draft.set(selection.get_untracked());
            query.set(String::new());
            current.set(None);
        }
        is_open
    });

    let matches = Memo::new(move |_| {
        let q = query.get().trim().to_lowercase();
        catalogue.with(|c| {
            c.devices
                .iter()
                .filter(|d| q.is_empty() || d.name.to_lowercase().contains(&q))
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    // One match is the device the user means. The query is tracked too: with a single device
    // the matches do not change while its name is typed.
    Effect::new(move |_| {
        let m = matches.get();
        if m.len() == 1 && !query.get().trim().is_empty() {
            current.set(Some(m[0].id));
        }
    });
    let selected_in = move |d: &PickerDevice| {
        draft.with(|s| {
            d.channels
                .iter()
                .map(|c| s.iter().filter(|(id, _)| *id == c.id).count())
                .sum::<usize>()
        })
    };
    let confirm = move |_| {
        selection.set(draft.get_untracked());
        open.set(false);
    };

    view! {
        <Modal open=open title="Selected Channels">
            <div class="dialog-body picker">
                <div class="field">
                    <label for="device-search">"Device name"</label>
                    <input
                        id="device-search"
                        type="search"
                        autofocus
                        autocomplete="off"
                        placeholder="Type the name of the device"
                        prop:value=move || query.get()
                        on:input=move |ev| query.set(event_target_value(&ev))
                    />
                </div>
                <div class="picker-grid">
                    <div class="device-results">
                        <h3 class="visually-hidden">"Devices"</h3>
                        {move || {
                            let list = matches.get();
                            if list.is_empty() {
                                let q = query.get();
                                Either::Left(view! {
                                    <p class="muted">
                                        {if q.trim().is_empty() {
                                            "You have no access to any device yet. Ask an organisation administrator to grant you access.".to_owned()
                                        } else {
                                            format!("No device you have access to matches “{}”.", q.trim())
                                        }}
                                    </p>
                                })
                            } else {
                                Either::Right(view! {
                                    <ul class="plain-list">
                                        {list.into_iter().map(|d| {
                                            let id = d.id;
                                            let count = selected_in(&d);
                                            view! {
                                                <li>
                                                    <button
                                                        type="button"
                                                        class="device-choice"
                                                        aria-pressed=move || (current.get() == Some(id)).to_string()
                                                        on:click=move |_| current.set(Some(id))
                                                    >
                                                        <span class="device-choice-name">{d.name.clone()}</span>
                                                        {(count > 0).then(|| view! {
                                                            <span class="badge info">{format!("{count} selected")}</span>
                                                        })}
                                                    </button>
                                                </li>
                                            }
                                        }).collect_view()}
                                    </ul>
                                })
                            }
                        }}
                    </div>
                    <div class="channel-choices">
                        {move || {
                            let device = current.get().and_then(|id| catalogue.with(|c| c.devices.iter().find(|d| d.id == id).cloned()));
                            match device {
                                Some(d) => Either::Left(view! { <DeviceChannels device=d columns=catalogue.with(|c| c.event_types.clone()) draft=draft/> }),
                                None => Either::Right(view! {
                                    <p class="muted picker-hint">"Choose a device to see its channels and trigger events."</p>
                                }),
                            }
                        }}
                    </div>
                </div>
            </div>
            <div class="dialog-foot">
                <span class="muted foot-note" aria-live="polite">
                    {move || {
                        let n = draft.with(|s| s.len());
                        format!("{n} trigger event{} selected", if n == 1 { "" } else { "s" })
                    }}
                </span>
                <button type="button" class="button" on:click=move |_| open.set(false)>"Cancel"</button>
                <button type="button" class="button primary caps" on:click=confirm>"CONFIRM"</button>
            </div>
        </Modal>
    }
}

#[component]
fn DeviceChannels(
    device: PickerDevice,
    /// Every event type with its label, in column order.
    columns: Vec<(String, String)>,
    draft: RwSignal<Selection>,
) -> impl IntoView {
    let caption = format!("Trigger events of {}", device.name);
    view! {
        <h3>{device.name.clone()}</h3>
        <p class="muted small-text">{device.description.clone()}</p>
        <div class="table-wrap flat">
            <table class="event-grid">
                <caption class="visually-hidden">{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Channel"</th>
                        {columns.iter().map(|(_, label)| view! { <th scope="col">{label.clone()}</th> }).collect_view()}
                        <th scope="col">"All"</th>
                    </tr>
                </thead>
                <tbody>
                    {device.channels.into_iter().map(|c| view! { <ChannelRow channel=c columns=columns.clone() draft=draft/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn ChannelRow(
    channel: PickerChannel,
    columns: Vec<(String, String)>,
    draft: RwSignal<Selection>,
) -> impl IntoView {
    let id = channel.id;
    let offered: Vec<String> = channel.events.iter().map(|(e, _)| e.clone()).collect();
    let all_offered = offered.clone();
    let all_checked =
        move || draft.with(|s| all_offered.iter().all(|e| s.contains(&(id, e.clone()))));
    let set_all = {
        let offered = offered.clone();
        move |on: bool| {
            draft.update(|s| {
                for e in &offered {
                    if on {
                        s.insert((id, e.clone()));
                    } else {
                        s.remove(&(id, e.clone()));
                    }
                }
            })
        }
    };
    let name = channel.name.clone();
    view! {
        <tr>
            <th scope="row">
                {channel.name.clone()}
                {(!channel.unit.is_empty()).then(|| view! { <span class="muted">{format!(" ({})", channel.unit)}</span> })}
            </th>
            {columns.into_iter().map(|(event, label)| {
                if offered.contains(&event) {
                    let key = (id, event.clone());
                    let key2 = key.clone();
                    Either::Left(view! {
                        <td class="check-cell">
                            <input
                                type="checkbox"
                                aria-label=format!("{} on {}", label, name)
                                prop:checked=move || draft.with(|s| s.contains(&key))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    let k = key2.clone();
                                    draft.update(|s| {
                                        if on { s.insert(k); } else { s.remove(&k); }
                                    });
                                }
                            />
                        </td>
                    })
                } else {
                    Either::Right(view! {
                        <td class="check-cell muted" title="Needs a channel with a safe range">"—"</td>
                    })
                }
            }).collect_view()}
            <td class="check-cell">
                <input
                    type="checkbox"
                    aria-label=format!("All events of {}", channel.name)
                    prop:checked=all_checked
                    on:change=move |ev| set_all(event_target_checked(&ev))
                />
            </td>
        </tr>
    }
}
