//! A device as a card: its status, its channels with their latest values, and (for org
//! admins) the buttons that open its Access and Tokens dialogs.

use leptos::{either::Either, prelude::*};

use crate::components::{hydration::use_hydrated, time::MaybeTime};

use super::{
    channels::ChannelTarget, delete_device, set_device_archived, trend::Trend, ChannelView,
    DeviceView, Dialogs, TrendsView,
};
use crate::components::change::Change;

#[component]
pub(super) fn DeviceList(
    list: RwSignal<Vec<DeviceView>>,
    is_admin: bool,
    dialogs: Dialogs,
) -> impl IntoView {
    view! {
        <Show
            when=move || list.with(|l| !l.is_empty())
            fallback=move || {
                view! {
                    <div class="card empty">
                        <h2>"No devices yet"</h2>
                        <p>
                            {if is_admin {
                                "Your organisation has no devices yet."
                            } else {
                                "You have no access to any device yet. Ask an organisation administrator to grant you access."
                            }}
                        </p>
                    </div>
                }
            }
        >
            <div class="device-list">
                // Keyed by what the card shows once: an edit draws it again.
                <For
                    each=move || list.get()
                    key=|d| (d.id, d.name.clone(), d.vendor.clone(), d.model.clone(), d.device_class.clone())
                    let:device
                >
                    <DeviceCard device=device list=list is_admin=is_admin dialogs=dialogs/>
                </For>
            </div>
        </Show>
    }
}

#[component]
fn DeviceCard(
    device: DeviceView,
    list: RwSignal<Vec<DeviceView>>,
    is_admin: bool,
    dialogs: Dialogs,
) -> impl IntoView {
    let Dialogs {
        access,
        tokens,
        editing,
        channel: channel_dialog,
        ..
    } = dialogs;
    let id = device.id;
    let current = Memo::new(move |_| list.with(|l| l.iter().find(|d| d.id == id).cloned()));
    let online = move || current.get().is_some_and(|d| d.online);
    let heading_id = format!("device-{id}");
    let labelled_by = heading_id.clone();
    let name = device.name.clone();
    let hydrated = use_hydrated();
    let subtitle = [
        device.vendor.as_str(),
        device.model.as_str(),
        device.device_class.as_str(),
    ]
    .iter()
    .filter(|s| !s.is_empty())
    .copied()
    .collect::<Vec<_>>()
    .join(" · ");

    let window = RwSignal::new("hour");
    let trends = RwSignal::new(None::<TrendsView>);
    // Fetched in the browser when the window changes or new values arrived (the page's poll).
    #[cfg(feature = "hydrate")]
    {
        let activity = Memo::new(move |_| {
            current.with(|d| {
                d.as_ref().map(|d| {
                    (
                        d.channels.iter().any(|c| c.value_type == "number"),
                        d.channels.iter().filter_map(|c| c.last_at).max(),
                    )
                })
            })
        });
        Effect::new(move |_| {
            let w = window.get();
            if !activity.get().is_some_and(|(numbers, _)| numbers) {
                return;
            }
            leptos::task::spawn_local(async move {
                if let Ok(t) = super::device_trends(id, w.to_owned()).await {
                    trends.set(Some(t));
                }
            });
        });
    }
    let window_button = move |w: &'static str, short: &'static str, long: &'static str| {
        view! {
            <button
                type="button"
                class="seg-button"
                disabled=move || !hydrated.get()
                aria-pressed=move || (window.get() == w).to_string()
                aria-label=format!("Show the {long}")
                on:click=move |_| window.set(w)
            >
                {short}
            </button>
        }
    };
    view! {
        <section class="card device-card section" aria-labelledby=labelled_by>
            <div class="section-head">
                <div>
                    <h2 id=heading_id>{device.name.clone()}</h2>
                    <div class="muted">{subtitle}</div>
                </div>
                <div class="device-status">
                    <span
                        class="badge"
                        class:ok=online
                        class:bad=move || !online()
                        aria-label=move || if online() { "Status: online" } else { "Status: offline" }
                    >
                        {move || if online() { "● Online" } else { "○ Offline" }}
                    </span>
                    <div class="muted small-text">
                        "Last seen: "
                        {move || view! { <MaybeTime ms=current.get().and_then(|d| d.last_seen_at)/> }}
                    </div>
                    {move || current.get().and_then(|d| d.source).map(|s| {
                        let state = if s.connected { "connected" } else { "not connected" };
                        let plural = if s.variables == 1 { "" } else { "s" };
                        view! {
                            <div class="small-text source-line">
                                "OPC UA source"
                                {s.endpoint.map(|e| format!(" {e}"))}
                                {format!(" · {} variable{plural} · {state}", s.variables)}
                                {s.error.map(|e| view! { <div class="source-error">{e}</div> })}
                            </div>
                        }
                    })}
                </div>
                {is_admin.then(|| {
                    let name_a = name.clone();
                    let name_t = name.clone();
                    view! {
                        <div class="device-actions">
                            <button
                                type="button"
                                class="button small"
                                disabled=move || !hydrated.get()
                                aria-label=format!("Access to {}", name_a)
                                on:click=move |_| access.set(Some((id, name_a.clone())))
                            >
                                "Access"
                            </button>
                            <button
                                type="button"
                                class="button small"
                                disabled=move || !hydrated.get()
                                aria-label=format!("Tokens of {}", name_t)
                                on:click=move |_| tokens.set(Some((id, name_t.clone())))
                            >
                                "Tokens"
                            </button>
                            <button
                                type="button"
                                class="button small"
                                disabled=move || !hydrated.get()
                                aria-label=format!("Edit {}", name)
                                on:click=move |_| editing.set(current.get_untracked())
                            >
                                "Edit"
                            </button>
                            <Lifecycle id=id name=name.clone() current=current/>
                        </div>
                    }
                })}
            </div>
            {move || current.get().is_some_and(|d| d.archived).then(|| view! {
                <p class="notice notice-warn">
                    <span class="badge warn">"Archived"</span>
                    " Hidden from the channel picker; it sends nothing (its tokens are refused). Its data and delivery history are kept."
                </p>
            })}
            <div class="table-wrap flat">
                <table>
                    <caption class="visually-hidden">{format!("Channels of {}", device.name)}</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Channel"</th>
                            <th scope="col">"Latest value"</th>
                            <th scope="col">"Time"</th>
                            <th scope="col" class="trend-head">
                                "Trend "
                                <span class="seg" role="group" aria-label="Trend period">
                                    {window_button("hour", "1 h", "last hour")}
                                    {window_button("day", "24 h", "last day")}
                                </span>
                            </th>
                            <th scope="col">"Safe range"</th>
                            {is_admin.then(|| view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> })}
                        </tr>
                    </thead>
                    <tbody>
                        // From the live list, so that an added, changed or removed channel shows.
                        <For
                            each=move || current.get().map(|d| d.channels).unwrap_or_default()
                            key=|c| (c.id, c.name.clone(), c.unit.clone(), c.range.clone(), c.value_type.clone(), c.labels.clone(), c.reply_writable)
                            let:channel
                        >
                            <ChannelRow channel=channel current=current is_admin=is_admin dialogs=dialogs trends=trends window=window/>
                        </For>
                    </tbody>
                </table>
            </div>
            {move || (is_admin && current.with(|d| d.as_ref().is_some_and(|d| d.channels.is_empty()))).then(|| view! {
                <p class="muted">"No channels yet: add what the device measures."</p>
            })}
            {is_admin.then(|| {
                let device_name = device.name.clone();
                view! {
                    <div class="section-foot">
                        <button
                            type="button"
                            class="button small"
                            disabled=move || !hydrated.get()
                            aria-label=format!("Add channel to {device_name}")
                            on:click=move |_| channel_dialog.set(Some(ChannelTarget {
                                device_id: id,
                                device_name: device_name.clone(),
                                channel: None,
                            }))
                        >
                            "Add channel"
                        </button>
                    </div>
                }
            })}
        </section>
    }
}

#[component]
fn ChannelRow(
    channel: ChannelView,
    current: Memo<Option<DeviceView>>,
    is_admin: bool,
    dialogs: Dialogs,
    trends: RwSignal<Option<TrendsView>>,
    window: RwSignal<&'static str>,
) -> impl IntoView {
    let cid = channel.id;
    let latest = Memo::new(move |_| {
        current
            .get()
            .and_then(|d| d.channels.into_iter().find(|c| c.id == cid))
    });
    let hydrated = use_hydrated();
    let unit = channel.unit.clone();
    let channel_name = channel.name.clone();
    let for_dialogs = channel.clone();
    view! {
        <tr data-channel=channel.name.clone()>
            <th scope="row" class="cell-title">
                {channel.name.clone()}
                {channel.reply_writable.then(|| view! {
                    " "<span class="badge" title="Receivers' replies may store values on this channel">"written by replies"</span>
                })}
            </th>
            <td class="value-cell">
                {move || {
                    let c = latest.get();
                    match c.as_ref().and_then(|c| c.last_value.clone()) {
                        Some(v) => {
                            let unit = unit.clone();
                            let out = c.is_some_and(|c| c.out_of_range);
                            Either::Left(view! {
                                <span class="value">{v}</span>
                                {(!unit.is_empty()).then(|| view! { <span class="muted">" " {unit}</span> })}
                                {out.then(|| view! { " " <span class="badge bad">"out of range"</span> })}
                            })
                        }
                        None => Either::Right(view! { <span class="muted">"no data yet"</span> }),
                    }
                }}
            </td>
            <td class="nowrap">{move || view! { <MaybeTime ms=latest.get().and_then(|c| c.last_at)/> }}</td>
            <td class="trend-cell">
                {
                    let channel = channel.clone();
                    move || {
                        if channel.value_type != "number" {
                            return None;
                        }
                        let t = trends.get()?;
                        let points: Vec<_> = t.points.into_iter().filter(|p| p.channel_id == cid).collect();
                        let period = if window.get_untracked() == "day" { "day" } else { "hour" };
                        Some(view! {
                            <Trend channel=channel.clone() points=points since=t.since until=t.until window=period/>
                        })
                    }
                }
            </td>
            <td class="muted nowrap">{channel.range.clone().unwrap_or_else(|| "—".into())}</td>
            {is_admin.then(|| {
                let target = move || {
                    current.get_untracked().map(|d| ChannelTarget {
                        device_id: d.id,
                        device_name: d.name,
                        channel: Some(for_dialogs.clone()),
                    })
                };
                let target_r = target.clone();
                let name = channel_name.clone();
                view! {
                    <td class="row-actions nowrap">
                        <button
                            type="button"
                            class="button small"
                            disabled=move || !hydrated.get()
                            aria-label=format!("Edit channel {name}")
                            on:click=move |_| dialogs.channel.set(target())
                        >
                            "Edit"
                        </button>
                        <button
                            type="button"
                            class="button small"
                            disabled=move || !hydrated.get()
                            aria-label=format!("Remove channel {channel_name}")
                            on:click=move |_| dialogs.remove_channel.set(target_r())
                        >
                            "Remove"
                        </button>
                    </td>
                }
            })}
        </tr>
    }
}

/// Archive or restore a device, or delete one nothing refers to yet — each asked first.
#[component]
fn Lifecycle(id: i64, name: String, current: Memo<Option<DeviceView>>) -> impl IntoView {
    let archived = move || current.get().is_some_and(|d| d.archived);
    let confirming = RwSignal::new(None::<&'static str>);
    let change = Change::new();
    let hydrated = use_hydrated();
    let (name_a, name_d) = (name.clone(), name.clone());
    let act = move |what: &'static str| {
        confirming.set(None);
        match what {
            "delete" => change.run(move |reason| delete_device(id, reason), |()| {}, || {}),
            _ => change.run(
                move |reason| set_device_archived(id, what == "archive", reason),
                |()| {},
                || {},
            ),
        }
    };
    view! {
        <Show
            when=move || confirming.get().is_some()
            fallback=move || {
                let (name_a, name_d) = (name_a.clone(), name_d.clone());
                view! {
                    <button
                        type="button"
                        class="button small"
                        disabled=move || !hydrated.get() || change.busy()
                        aria-label=move || if archived() { format!("Restore {name_a}") } else { format!("Archive {name_a}") }
                        on:click=move |_| confirming.set(Some(if archived() { "restore" } else { "archive" }))
                    >
                        {move || if archived() { "Restore" } else { "Archive" }}
                    </button>
                    <button
                        type="button"
                        class="button small danger"
                        disabled=move || !hydrated.get() || change.busy()
                        aria-label=format!("Delete {name_d}")
                        on:click=move |_| confirming.set(Some("delete"))
                    >
                        "Delete"
                    </button>
                }
            }
        >
            <span class="muted">
                {move || match confirming.get() {
                    Some("delete") => "Delete it for good? Only a device without data, tokens or subscriptions can be deleted. ",
                    Some("archive") => "Archive it? It is hidden from the picker and sends nothing; its history is kept. ",
                    _ => "Restore it? It can send data again. ",
                }}
            </span>
            <button
                type="button"
                class="button small danger"
                on:click=move |_| {
                    if let Some(what) = confirming.get_untracked() {
                        act(what);
                    }
                }
            >
                {move || match confirming.get() {
                    Some("delete") => "Delete device",
                    Some("archive") => "Archive device",
                    _ => "Restore device",
                }}
            </button>
            <button type="button" class="button small" on:click=move |_| confirming.set(None)>"Keep"</button>
        </Show>
        {change.inline_alert()}
    }
}
