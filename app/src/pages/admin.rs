//! Server Administration (org admins only): the webhook feature switch, the registered target
//! URLs, and — on its own page — the audit trail.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

use crate::{
    components::{
        change::Change,
        hydration::use_hydrated,
        layout::use_me,
        modal::Modal,
        status::{ErrorNotice, Loading},
        switch::Switch,
        time::Time,
    },
    errors::AppError,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredView {
    pub id: i64,
    pub url: String,
    pub note: String,
    pub created_at: i64,
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsView {
    pub enabled: bool,
    pub registered: Vec<RegisteredView>,
    pub reasons_required: bool,
    pub time_zone: String,
    /// Every time zone the server knows, for the field's suggestions.
    pub time_zones: Vec<String>,
}

#[cfg(feature = "ssr")]
impl From<server::settings::RegisteredEntry> for RegisteredView {
    fn from(r: server::settings::RegisteredEntry) -> Self {
        RegisteredView {
            id: r.id,
            url: r.url,
            note: r.note,
            created_at: r.created_at,
            created_by: r.created_by,
        }
    }
}

#[server(endpoint = "admin/settings")]
pub async fn admin_settings() -> Result<SettingsView, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let s = server::settings::webhook_settings(&state.pool, &user).await?;
    Ok(SettingsView {
        enabled: s.enabled,
        registered: s.registered.into_iter().map(RegisteredView::from).collect(),
        reasons_required: s.reasons_required,
        time_zone: s.time_zone.to_string(),
        time_zones: server::domain::TimeZoneName::all(),
    })
}

#[server(endpoint = "admin/set_reasons_required")]
pub async fn set_reasons_required(required: bool, reason: Option<String>) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::admin::set_reasons_required(&state, &user, required).await?;
    Ok(())
}

#[server(endpoint = "admin/set_time_zone")]
pub async fn set_time_zone(zone: String, reason: Option<String>) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::admin::set_time_zone(&state, &user, &zone).await?;
    Ok(())
}

#[server(endpoint = "admin/set_webhooks_enabled")]
pub async fn set_webhooks_enabled(enabled: bool, reason: Option<String>) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::admin::set_webhooks_enabled(&state, &user, enabled).await?;
    Ok(())
}

#[server(endpoint = "admin/register_url")]
pub async fn register_url(
    url: String,
    note: String,
    reason: Option<String>,
) -> Result<RegisteredView, AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    Ok(server::admin::register_url(&state, &user, &url, &note)
        .await?
        .into())
}

#[server(endpoint = "admin/remove_url")]
pub async fn remove_url(id: i64, reason: Option<String>) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::admin::remove_url(&state, &user, id).await?;
    Ok(())
}

/// Tabs of the Server Administration area; the router marks the current one
/// (`aria-current="page"`).
#[component]
pub fn AdminTabs() -> impl IntoView {
    let tab = move |href: &'static str, label: &'static str| {
        view! {
            <A href=href exact=true attr:class="tab">
                {label}
            </A>
        }
    };
    view! {
        <nav class="tabs" aria-label="Server Administration">
            {tab("/admin", "Webhooks")}
            {tab("/admin/audit", "Audit trail")}
        </nav>
    }
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let version = RwSignal::new(0u32);
    let settings = Resource::new_blocking(move || version.get(), |_| admin_settings());
    view! {
        <Title text="Server Administration"/>
        <div class="page-head">
            <div>
                <h1>"Server Administration"</h1>
                <p class="muted">"Settings of your organisation that only organisation administrators can change."</p>
            </div>
        </div>
        <AdminTabs/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(s) => Either::Left(view! {
                        <FeatureSection enabled=s.enabled/>
                        <RegisteredSection registered=s.registered version=version/>
                        <RecordsSection reasons_required=s.reasons_required time_zone=s.time_zone time_zones=s.time_zones/>
                    }),
                    Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                }
            })}
        </Transition>
    }
}

#[component]
fn FeatureSection(enabled: bool) -> impl IntoView {
    let me = use_me();
    let on = RwSignal::new(enabled);
    let change = Change::new();
    let toggle = Callback::new(move |want: bool| {
        on.set(want);
        change.run(
            move |reason| set_webhooks_enabled(want, reason),
            // The More menu shows or hides Webhook Subscriptions.
            move |()| me.refetch(),
            move || on.set(!want),
        );
    });
    view! {
        <section class="card section" aria-labelledby="webhooks-title">
            <h2 id="webhooks-title">"Webhooks"</h2>
            <Switch label="Webhook Subscriptions enabled" visible_label=true checked=on busy=Signal::derive(move || change.busy()) on_toggle=toggle/>
            <p class="muted">
                {move || if on.get() {
                    "Users of your organisation can subscribe to device channels, and their webhooks are delivered."
                } else {
                    "Nothing is delivered while this is off, and events of that time are not delivered later. Existing subscriptions resume when it is switched on again."
                }}
            </p>
            {change.alert()}
        </section>
    }
}

#[component]
fn RegisteredSection(registered: Vec<RegisteredView>, version: RwSignal<u32>) -> impl IntoView {
    let hydrated = use_hydrated();
    let url = RwSignal::new(String::new());
    let note = RwSignal::new(String::new());
    let registering = Change::new();
    let removing = RwSignal::new(None::<RegisteredView>);
    let confirm_open = RwSignal::new(false);
    let removal = Change::new();

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        registering.run(
            move |reason| register_url(url.get_untracked(), note.get_untracked(), reason),
            move |_| {
                url.set(String::new());
                note.set(String::new());
                version.update(|v| *v += 1);
            },
            || {},
        );
    };
    let confirm_remove = move |_| {
        let Some(r) = removing.get_untracked() else {
            return;
        };
        removal.run(
            move |reason| remove_url(r.id, reason),
            move |()| {
                confirm_open.set(false);
                version.update(|v| *v += 1);
            },
            || {},
        );
    };
    let field_error = move |f: &'static str| registering.field(f);
    let is_empty = registered.is_empty();

    view! {
        <section class="card section" aria-labelledby="registered-title">
            <h2 id="registered-title">"Registered target URLs"</h2>
            <p class="muted">
                "Webhooks are only sent to URLs that start with one of these (same scheme, host and port; the path on a segment boundary). IP addresses are fine for receivers on your intranet."
            </p>
            {if is_empty {
                Either::Left(view! {
                    <p class="empty-inline">"No target URLs are registered yet: no subscription can send anything. Register the first one below."</p>
                })
            } else {
                Either::Right(view! {
                    <div class="table-wrap flat">
                        <table>
                            <caption class="visually-hidden">"Registered target URLs"</caption>
                            <thead>
                                <tr>
                                    <th scope="col">"URL"</th>
                                    <th scope="col">"Note"</th>
                                    <th scope="col">"Registered"</th>
                                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                </tr>
                            </thead>
                            <tbody>
                                {registered.into_iter().map(|r| {
                                    let for_remove = r.clone();
                                    view! {
                                        <tr>
                                            <td><code>{r.url.clone()}</code></td>
                                            <td>{r.note.clone()}</td>
                                            <td class="nowrap">
                                                <Time ms=r.created_at/>
                                                {r.created_by.clone().map(|b| view! { <div class="cell-sub">{format!("by {b}")}</div> })}
                                            </td>
                                            <td class="actions">
                                                <button
                                                    type="button"
                                                    class="button small"
                                                    aria-label=format!("Remove {}", r.url)
                                                    disabled=move || !hydrated.get()
                                                    on:click=move |_| {
                                                        removal.clear();
                                                        removing.set(Some(for_remove.clone()));
                                                        confirm_open.set(true);
                                                    }
                                                >
                                                    "Remove"
                                                </button>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                })
            }}
            <h3 class="subhead">"Register a target URL"</h3>
            <form class="inline-form" on:submit=submit novalidate>
                <div class="field grow-2">
                    <label for="register-url">"URL"</label>
                    <input
                        id="register-url"
                        type="url"
                        placeholder="https://lims.example.org/api/"
                        prop:value=move || url.get()
                        on:input=move |ev| url.set(event_target_value(&ev))
                        aria-invalid=move || field_error("url").is_some().to_string()
                        aria-describedby="register-url-error"
                    />
                    <p id="register-url-error" class="field-error" role="alert">{move || field_error("url")}</p>
                </div>
                <div class="field">
                    <label for="register-note">"Note"</label>
                    <input
                        id="register-note"
                        type="text"
                        placeholder="e.g. QC LIMS"
                        prop:value=move || note.get()
                        on:input=move |ev| note.set(event_target_value(&ev))
                        aria-invalid=move || field_error("note").is_some().to_string()
                    />
                    <p class="field-error" role="alert">{move || field_error("note")}</p>
                </div>
                <div class="field-button">
                    <button type="submit" class="button primary" disabled=move || !hydrated.get() || registering.busy()>
                        "Register URL"
                    </button>
                </div>
            </form>
            {move || registering.error().and_then(|e| e.general(&["url", "note"])).map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
        </section>
        <Modal open=confirm_open title="Remove registered URL" small=true>
            <div class="dialog-body">
                <p>
                    "Remove "
                    <code>{move || removing.get().map(|r| r.url).unwrap_or_default()}</code>
                    "? Active subscriptions that send to it will be switched off and marked “target not registered”."
                </p>
                {removal.reason_field()}
                {removal.alert()}
            </div>
            <div class="dialog-foot">
                <button type="button" class="button" on:click=move |_| confirm_open.set(false)>"Cancel"</button>
                <button type="button" class="button danger" disabled=move || removal.busy() on:click=confirm_remove>"Remove"</button>
            </div>
        </Modal>
    }
}

/// The records' settings: reasons for changes, and the time zone of the readable copies.
#[component]
fn RecordsSection(
    reasons_required: bool,
    time_zone: String,
    time_zones: Vec<String>,
) -> impl IntoView {
    let me = use_me();
    let hydrated = use_hydrated();
    let required = RwSignal::new(reasons_required);
    let requiring = Change::new();
    let toggle = Callback::new(move |want: bool| {
        required.set(want);
        requiring.run(
            move |reason| set_reasons_required(want, reason),
            // Every page asks for reasons from now on (or no longer does).
            move |()| me.refetch(),
            move || required.set(!want),
        );
    });
    let zone = RwSignal::new(time_zone.clone());
    let saved_zone = RwSignal::new(time_zone);
    let zoning = Change::new();
    let save_zone = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let want = zone.get_untracked();
        zoning.run(
            move |reason| set_time_zone(want.clone(), reason),
            move |()| saved_zone.set(zone.get_untracked().trim().to_owned()),
            || {},
        );
    };
    view! {
        <section class="card section" aria-labelledby="records-title">
            <h2 id="records-title">"Records"</h2>
            <Switch
                label="Require a reason for every change"
                visible_label=true
                checked=required
                busy=Signal::derive(move || requiring.busy())
                on_toggle=toggle
            />
            <p class="muted">
                {move || if required.get() {
                    "Every change — in these pages, through the API (meta.reason) or on the command line (--reason) — asks for a reason, and the audit trail keeps it beside the change. Replays, redeliveries and switching a subscription off or on count as changes."
                } else {
                    "Changes are recorded in the audit trail with who, when, and the values before and after. Switch this on to require a reason with every change as well (EU GMP Annex 11 §9)."
                }}
            </p>
            {requiring.alert()}
            <p id="time-zone-help" class="muted">
                {move || match saved_zone.get().as_str() {
                    "UTC" => "Exports show times in UTC.".to_owned(),
                    zone => format!("Exports show times in {zone} beside UTC."),
                }}
            </p>
            <form class="inline-form" on:submit=save_zone novalidate>
                <div class="field">
                    <label for="time-zone">"Time zone"</label>
                    <input
                        id="time-zone"
                        type="text"
                        list="time-zones"
                        autocomplete="off"
                        prop:value=move || zone.get()
                        on:input=move |ev| zone.set(event_target_value(&ev))
                        aria-invalid=move || zoning.field("time_zone").is_some().to_string()
                        aria-describedby="time-zone-help"
                    />
                    <datalist id="time-zones">
                        {time_zones.into_iter().map(|z| view! { <option value=z></option> }).collect_view()}
                    </datalist>
                    <p class="field-error" role="alert">{move || zoning.field("time_zone")}</p>
                </div>
                <div class="field-button">
                    <button type="submit" class="button" disabled=move || !hydrated.get() || zoning.busy()>
                        "Save time zone"
                    </button>
                </div>
            </form>
            {move || zoning.error().and_then(|e| e.general(&["time_zone"])).map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
        </section>
    }
}
