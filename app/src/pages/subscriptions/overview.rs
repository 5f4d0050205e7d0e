//! The Webhook Subscription overview: one row per subscription with its toggle, pencil and
//! trash bin; the three dots in the top right corner open "Add new Webhook Subscription".

use std::collections::BTreeMap;

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_query_map},
};

use super::{
    delete_subscription, list_subscriptions, set_subscription_active, use_secret_flash,
    SubscriptionView, TriggerView,
};
use crate::components::{
    badge::DeliveryBadge,
    change::Change,
    copy::CopyButton,
    hydration::use_hydrated,
    icons::{PencilIcon, TrashIcon},
    menu::{Menu, MenuEntry},
    modal::{open_while_set, Modal},
    pager::Pager,
    status::{ErrorNotice, Loading},
    switch::Switch,
    time::Time,
};

#[component]
pub fn SubscriptionsPage() -> impl IntoView {
    let query = use_query_map();
    let page = Memo::new(move |_| {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1)
    });
    let version = RwSignal::new(0u32);
    let list = Resource::new_blocking(
        move || (page.get(), version.get()),
        |(page, _)| list_subscriptions(page),
    );
    let deleting = RwSignal::new(None::<SubscriptionView>);
    let navigate = use_navigate();
    let go = Callback::new(move |page: u32| {
        navigate(&format!("/subscriptions?page={page}"), Default::default())
    });

    view! {
        <Title text="Webhook Subscriptions"/>
        <div class="page-head">
            <div>
                <h1>"Webhook Subscriptions"</h1>
                <p class="muted">
                    "Every time a selected trigger event happens on a channel, the webhook is delivered to its target URL."
                </p>
            </div>
            <Menu
                label="Options"
                icon="⋮"
                align_right=true
                items=vec![MenuEntry::link("Add new Webhook Subscription", "/subscriptions/new")]
            />
        </div>
        <SecretNotice/>
        <Transition fallback=|| view! { <Loading what="Loading subscriptions…"/> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(p) if p.list.at.total == 0 => Either::Left(view! { <EmptyState/> }.into_any()),
                    Ok(p) => {
                        let (at, admin) = (p.list.at, p.viewer_is_admin);
                        let failing: Vec<(String, i64)> = p
                            .list
                            .items
                            .iter()
                            .filter(|s| s.inactive_reason.as_deref() == Some("failing"))
                            .filter_map(|s| s.failing_since.map(|t| (s.name.clone(), t)))
                            .collect();
                        Either::Left(view! {
                            {(!failing.is_empty()).then(|| view! {
                                <div class="notice notice-warn" role="status">
                                    <strong>"Switched off because every delivery kept failing:"</strong>
                                    <ul class="uses">
                                        {failing.into_iter().map(|(name, since)| view! {
                                            <li>{name} " — failing since " <Time ms=since/></li>
                                        }).collect_view()}
                                    </ul>
                                    <p>"Fix the receiver, then switch the subscription on again: deliveries resume with the events from then on."</p>
                                </div>
                            })}
                            <div class="table-wrap">
                                <table class="subscriptions">
                                    <caption class="visually-hidden">"Webhook Subscriptions"</caption>
                                    <thead>
                                        <tr>
                                            <th scope="col">"Subscription"</th>
                                            <th scope="col">"Channels and trigger events"</th>
                                            {admin.then(|| view! { <th scope="col">"Owner"</th> })}
                                            <th scope="col">"Last delivery"</th>
                                            <th scope="col">"Active"</th>
                                            <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                        </tr>
                                    </thead>
                                    <tbody>
                                        {p.list.items.into_iter().map(|s| view! {
                                            <SubscriptionRow subscription=s show_owner=admin deleting=deleting/>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <Pager at=at label="Pages" noun="subscriptions" on_page=go/>
                        }.into_any())
                    }
                    Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                }
            })}
        </Transition>
        <DeleteDialog deleting=deleting version=version/>
    }
}

/// The signing secret of the subscription just created, shown this once.
#[component]
fn SecretNotice() -> impl IntoView {
    let flash = use_secret_flash();
    let copied = RwSignal::new(false);
    move || {
        flash.get().map(|created| {
            view! {
                <div class="notice notice-success" role="status">
                    <strong>{format!("Webhook Subscription “{}” was created.", created.name)}</strong>
                    <p>
                        "Its signing secret verifies that webhooks come from Labhook (Standard Webhooks). Copy it now: it is shown only this once."
                    </p>
                    <div class="secret-box">
                        <code aria-label="Signing secret">{created.secret.clone()}</code>
                        <CopyButton text=created.secret.clone() copied=copied/>
                        <button type="button" class="button small" on:click=move |_| flash.set(None)>"Done"</button>
                    </div>
                </div>
            }
        })
    }
}

#[component]
fn EmptyState() -> impl IntoView {
    view! {
        <div class="card empty">
            <h2>"No webhook subscriptions yet"</h2>
            <p>
                "Open the three dots (⋮) in the top right corner and choose “Add new Webhook Subscription” to send device data to your own program."
            </p>
            <A href="/subscriptions/new" attr:class="button primary">"Add new Webhook Subscription"</A>
        </div>
    }
}

/// "Hotplate › temperature: Out of range, Back in range" lines, grouped by device and channel.
fn summarise(triggers: &[TriggerView]) -> Vec<(String, String, Vec<String>)> {
    let mut grouped: BTreeMap<(String, i64), (String, Vec<String>)> = BTreeMap::new();
    for t in triggers {
        grouped
            .entry((t.device_name.clone(), t.channel_id))
            .or_insert_with(|| (t.channel_name.clone(), vec![]))
            .1
            .push(t.event_label.clone());
    }
    grouped
        .into_iter()
        .map(|((device, _), (channel, events))| (device, channel, events))
        .collect()
}

#[component]
fn SubscriptionRow(
    subscription: SubscriptionView,
    show_owner: bool,
    deleting: RwSignal<Option<SubscriptionView>>,
) -> impl IntoView {
    let s = subscription;
    let hydrated = use_hydrated();
    let active = RwSignal::new(s.active);
    let change = Change::new();
    let id = s.id;
    // Switched on after Labhook switched it off: what it missed can be replayed.
    let gap = RwSignal::new(None::<(i64, i64)>);
    let failing_since = s
        .failing_since
        .filter(|_| s.inactive_reason.as_deref() == Some("failing"));
    let toggle = Callback::new(move |want: bool| {
        active.set(want);
        // Not saved: show the truth again, and why.
        change.run(
            move |reason| set_subscription_active(id, want, reason),
            move |()| {
                if let (true, Some(since)) = (want, failing_since) {
                    gap.set(Some((since, client_now())));
                }
            },
            move || active.set(!want),
        );
    });
    let lines = summarise(&s.triggers);
    let lost = s
        .triggers
        .iter()
        .filter(|t| t.lost_access.is_some())
        .count();
    let devices = lines
        .iter()
        .map(|l| &l.0)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let summary = format!(
        "{} device{} · {} channel{} · {} trigger event{}",
        devices,
        if devices == 1 { "" } else { "s" },
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        s.triggers.len(),
        if s.triggers.len() == 1 { "" } else { "s" },
    );
    let shown: Vec<_> = lines.iter().take(3).cloned().collect();
    let more = lines.len().saturating_sub(3);
    let for_delete = s.clone();
    let can_switch_on = s.target_registered;
    let switch_label = format!("Active: {}", s.name);
    let edit_label = format!("Edit {}", s.name);
    let delete_label = format!("Delete {}", s.name);

    view! {
        <tr>
            <td>
                <A href=format!("/subscriptions/{}", s.id) attr:class="cell-title">{s.name.clone()}</A>
                {(!s.display_name.is_empty()).then(|| view! { <div class="cell-sub">{s.url.clone()}</div> })}
                {(!s.target_registered).then(|| view! { <span class="badge warn">"target not registered"</span> })}
                {(s.inactive_reason.as_deref() == Some("gone")).then(|| view! { <span class="badge bad">"receiver answered 410 Gone"</span> })}
                {(s.inactive_reason.as_deref() == Some("owner_deactivated")).then(|| view! { <span class="badge bad">"owner deactivated"</span> })}
                {s.failing_since.filter(|_| s.inactive_reason.as_deref() == Some("failing")).map(|t| view! {
                    <span class="badge bad">"failing since " <Time ms=t/></span>
                })}
                {(s.overflowed > 0).then(|| view! {
                    <span class="badge bad" title="Too many deliveries were waiting for this receiver">
                        {format!("{} event{} not queued", s.overflowed, if s.overflowed == 1 { "" } else { "s" })}
                    </span>
                })}
                {(lost > 0).then(|| view! {
                    <span class="badge warn" title="Their owner no longer has access to the device">
                        {format!("{lost} trigger event{} no longer accessible", if lost == 1 { "" } else { "s" })}
                    </span>
                })}
            </td>
            <td>
                <div class="muted small-text">{summary}</div>
                <ul class="trigger-lines">
                    {shown.into_iter().map(|(device, channel, events)| view! {
                        <li><span class="device">{device}</span>" › "<strong>{channel}</strong>": "{events.join(", ")}</li>
                    }).collect_view()}
                    {(more > 0).then(|| view! { <li class="muted">{format!("and {more} more")}</li> })}
                </ul>
            </td>
            {show_owner.then(|| view! { <td>{s.owner_name.clone()}</td> })}
            <td class="nowrap">
                {match s.last_delivery.clone() {
                    Some(d) => Either::Left(view! {
                        <DeliveryBadge status=d.status.clone() label=d.status_label.clone()/>
                        {d.http_status.map(|c| view! { <span class="muted">{format!(" HTTP {c}")}</span> })}
                        <div class="cell-sub"><Time ms=d.at/></div>
                    }),
                    None => Either::Right(view! { <span class="muted">"none yet"</span> }),
                }}
                {s.health.clone().filter(|h| h.delivered + h.failing > 0).map(|h| {
                    let rate = h.delivered * 100 / (h.delivered + h.failing);
                    let bad = h.failing > 0;
                    view! {
                        <div class="cell-sub" class:health-bad=bad>
                            {format!("24 h success: {rate}%")}
                            {h.last_failure_at.map(|t| view! { <br/>"last failure " <Time ms=t/> })}
                        </div>
                    }
                })}
            </td>
            <td>
                <Switch
                    label=switch_label
                    checked=active
                    busy=Signal::derive(move || change.busy() || (!can_switch_on && !active.get()))
                    on_toggle=toggle
                />
                {change.inline_alert()}
                {move || gap.get().map(|(since, until)| view! {
                    <A href=format!("/subscriptions/{id}?replay_since={since}&replay_until={until}#replay-title")>
                        "Replay what it missed"
                    </A>
                })}
            </td>
            <td class="actions">
                {s.owned_by_me.then(|| view! {
                    <A href=format!("/subscriptions/{}/edit", s.id) attr:class="button icon-button" attr:aria-label=edit_label attr:title="Edit">
                        <PencilIcon/>
                    </A>
                })}
                <button
                    type="button"
                    class="icon-button"
                    aria-label=delete_label
                    title="Delete"
                    disabled=move || !hydrated.get()
                    on:click=move |_| deleting.set(Some(for_delete.clone()))
                >
                    <TrashIcon/>
                </button>
            </td>
        </tr>
    }
}

#[component]
fn DeleteDialog(
    deleting: RwSignal<Option<SubscriptionView>>,
    version: RwSignal<u32>,
) -> impl IntoView {
    let open = open_while_set(deleting);
    let change = Change::new();
    Effect::new(move |_| {
        if deleting.with(Option::is_some) {
            change.clear();
        }
    });
    let confirm = move |_| {
        let Some(s) = deleting.get_untracked() else {
            return;
        };
        change.run(
            move |reason| delete_subscription(s.id, reason),
            move |()| {
                open.set(false);
                version.update(|v| *v += 1);
            },
            || {},
        );
    };
    view! {
        <Modal open=open title="Delete Webhook Subscription" small=true>
            <div class="dialog-body">
                <p>
                    "Delete “"
                    <strong>{move || deleting.get().map(|s| s.name).unwrap_or_default()}</strong>
                    "”? Nothing more will be delivered to it, and its delivery log is deleted too."
                </p>
                {change.reason_field()}
                {change.alert()}
            </div>
            <div class="dialog-foot">
                <button type="button" class="button" on:click=move |_| open.set(false)>"Cancel"</button>
                <button type="button" class="button danger" disabled=move || change.busy() on:click=confirm>"Delete"</button>
            </div>
        </Modal>
    }
}

/// Now, as the browser knows it (ms since the epoch).
fn client_now() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    0
}
