//! The Devices page: the devices a user may see, their channels and latest values, updated
//! live. Org admins also manage who may see each device and the device tokens.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::{
    components::{
        hydration::use_hydrated,
        layout::use_me,
        modal::{open_while_set, Modal},
        status::{ErrorNotice, Loading},
        time::{MaybeTime, Time},
    },
    errors::AppError,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceView {
    pub id: i64,
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub device_class: String,
    pub online: bool,
    pub last_seen_at: Option<i64>,
    pub channels: Vec<ChannelView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub unit: String,
    /// "0 – 310 °C", when the channel has a safe range.
    pub range: Option<String>,
    pub last_value: Option<String>,
    pub last_at: Option<i64>,
    pub out_of_range: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantView {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub granted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    pub label: String,
    pub hint: String,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub id: i64,
    pub token: String,
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use server::devices::{access::Grant, tokens::TokenInfo, Channel, DeviceWithChannels};
    use server::domain::device::DeviceStatus;

    pub fn range(c: &Channel) -> Option<String> {
        if !c.spec.has_range() {
            return None;
        }
        let unit = if c.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", c.unit)
        };
        Some(match (c.spec.min, c.spec.max) {
            (Some(min), Some(max)) => format!("{min} – {max}{unit}"),
            (Some(min), None) => format!("≥ {min}{unit}"),
            (None, Some(max)) => format!("≤ {max}{unit}"),
            (None, None) => return None,
        })
    }

    impl From<DeviceWithChannels> for DeviceView {
        fn from(d: DeviceWithChannels) -> Self {
            DeviceView {
                id: d.device.id,
                name: d.device.name,
                vendor: d.device.vendor,
                model: d.device.model,
                device_class: d.device.device_class,
                online: d.device.status == DeviceStatus::Online,
                last_seen_at: d.device.last_seen_at,
                channels: d
                    .channels
                    .iter()
                    .map(|c| ChannelView {
                        id: c.id,
                        name: c.name.clone(),
                        unit: c.unit.clone(),
                        range: range(c),
                        last_value: c.state.last.as_ref().map(|r| c.spec.display(r)),
                        last_at: c.state.last_timestamp,
                        out_of_range: c.state.in_range == Some(false),
                    })
                    .collect(),
            }
        }
    }

    impl From<Grant> for GrantView {
        fn from(g: Grant) -> Self {
            GrantView {
                user_id: g.user_id,
                name: g.name,
                email: g.email,
                granted: g.granted,
            }
        }
    }

    impl From<TokenInfo> for TokenView {
        fn from(t: TokenInfo) -> Self {
            TokenView {
                id: t.id,
                label: t.label,
                hint: t.hint,
                created_at: t.created_at,
                created_by: t.created_by,
                last_used_at: t.last_used_at,
                revoked: t.revoked_at.is_some(),
            }
        }
    }
}

#[server(endpoint = "devices/list")]
pub async fn list_devices() -> Result<Vec<DeviceView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let devices = server::devices::visible_devices(&state.pool, &user).await?;
    Ok(devices.into_iter().map(DeviceView::from).collect())
}

#[server(endpoint = "devices/access")]
pub async fn device_access(device_id: i64) -> Result<Vec<GrantView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let grants = server::devices::access::list(&state.pool, &user, device_id).await?;
    Ok(grants.into_iter().map(GrantView::from).collect())
}

#[server(endpoint = "devices/set_access")]
pub async fn set_device_access(
    device_id: i64,
    user_id: i64,
    granted: bool,
) -> Result<(), AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    server::devices::access::set(&state, &user, device_id, user_id, granted).await?;
    Ok(())
}

#[server(endpoint = "devices/tokens")]
pub async fn device_tokens(device_id: i64) -> Result<Vec<TokenView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let tokens = server::devices::tokens::list(&state.pool, &user, device_id).await?;
    Ok(tokens.into_iter().map(TokenView::from).collect())
}

#[server(endpoint = "devices/create_token")]
pub async fn create_device_token(device_id: i64, label: String) -> Result<NewToken, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let created = server::devices::tokens::create(&state, &user, device_id, &label).await?;
    Ok(NewToken {
        id: created.id,
        token: created.token,
    })
}

#[server(endpoint = "devices/revoke_token")]
pub async fn revoke_device_token(device_id: i64, token_id: i64) -> Result<(), AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    server::devices::tokens::revoke(&state, &user, device_id, token_id).await?;
    Ok(())
}

/// Which device a dialog is about.
type Target = RwSignal<Option<(i64, String)>>;

#[component]
pub fn DevicesPage() -> impl IntoView {
    let me = use_me();
    let initial = Resource::new(|| (), |_| list_devices());
    let list = RwSignal::new(Vec::<DeviceView>::new());
    let poll_error = RwSignal::new(None::<AppError>);

    // Live values: poll while the page is open (browser only).
    #[cfg(feature = "hydrate")]
    {
        use std::time::Duration;
        let handle = set_interval_with_handle(
            move || {
                if document().hidden() {
                    return;
                }
                leptos::task::spawn_local(async move {
                    match list_devices().await {
                        Ok(v) => {
                            list.set(v);
                            poll_error.set(None);
                        }
                        Err(e) => poll_error.set(Some(e)),
                    }
                });
            },
            Duration::from_secs(2),
        );
        if let Ok(h) = handle {
            on_cleanup(move || h.clear());
        }
    }

    let access_target: Target = RwSignal::new(None);
    let tokens_target: Target = RwSignal::new(None);

    view! {
        <Title text="Devices"/>
        <div class="page-head">
            <div>
                <h1>"Devices"</h1>
                <p class="muted">
                    "The devices you have access to, with each channel's latest value. Values update live."
                </p>
            </div>
        </div>
        {move || poll_error.get().map(|e| view! { <ErrorNotice error=e/> })}
        <Suspense fallback=|| view! { <Loading what="Loading devices…"/> }>
            {move || Suspend::new(async move {
                let is_admin = me.await.map(|m| m.is_org_admin).unwrap_or(false);
                match initial.await {
                    Ok(devices) => {
                        list.set(devices);
                        Either::Left(view! {
                            <DeviceList list=list is_admin=is_admin access=access_target tokens=tokens_target/>
                        })
                    }
                    Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                }
            })}
        </Suspense>
        <AccessDialog target=access_target/>
        <TokensDialog target=tokens_target/>
    }
}

#[component]
fn DeviceList(
    list: RwSignal<Vec<DeviceView>>,
    is_admin: bool,
    access: Target,
    tokens: Target,
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
                <For each=move || list.get() key=|d| d.id let:device>
                    <DeviceCard device=device list=list is_admin=is_admin access=access tokens=tokens/>
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
    access: Target,
    tokens: Target,
) -> impl IntoView {
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
                        </div>
                    }
                })}
            </div>
            <div class="table-wrap flat">
                <table>
                    <caption class="visually-hidden">{format!("Channels of {}", device.name)}</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Channel"</th>
                            <th scope="col">"Latest value"</th>
                            <th scope="col">"Time"</th>
                            <th scope="col">"Safe range"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || device.channels.clone() key=|c| c.id let:channel>
                            <ChannelRow channel=channel current=current/>
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

#[component]
fn ChannelRow(channel: ChannelView, current: Memo<Option<DeviceView>>) -> impl IntoView {
    let cid = channel.id;
    let latest = Memo::new(move |_| {
        current
            .get()
            .and_then(|d| d.channels.into_iter().find(|c| c.id == cid))
    });
    let unit = channel.unit.clone();
    view! {
        <tr data-channel=channel.name.clone()>
            <th scope="row" class="cell-title">{channel.name.clone()}</th>
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
            <td class="muted nowrap">{channel.range.clone().unwrap_or_else(|| "—".into())}</td>
        </tr>
    }
}

#[component]
fn AccessDialog(target: Target) -> impl IntoView {
    let open = open_while_set(target);
    let grants = Resource::new(
        move || target.get().map(|t| t.0),
        |id| async move {
            match id {
                Some(id) => device_access(id).await,
                None => Ok(vec![]),
            }
        },
    );
    let error = RwSignal::new(None::<String>);
    let title = Signal::derive(move || {
        target
            .get()
            .map(|t| format!("Access to {}", t.1))
            .unwrap_or_default()
    });

    view! {
        <Modal open=open title=title small=true>
            <div class="dialog-body">
                <p class="muted">
                    "Lab users you tick here see this device and can subscribe to its channels. Organisation administrators always see every device."
                </p>
                {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
                <Transition fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        match grants.await {
                            Ok(list) if list.is_empty() => Either::Left(view! {
                                <p>"Your organisation has no lab users."</p>
                            }.into_any()),
                            Ok(list) => Either::Left(view! {
                                <ul class="plain-list">
                                    {list.into_iter().map(|g| view! { <GrantRow grant=g target=target error=error/> }).collect_view()}
                                </ul>
                            }.into_any()),
                            Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                        }
                    })}
                </Transition>
            </div>
            <div class="dialog-foot">
                <button type="button" class="button primary" on:click=move |_| open.set(false)>"Done"</button>
            </div>
        </Modal>
    }
}

#[component]
fn GrantRow(grant: GrantView, target: Target, error: RwSignal<Option<String>>) -> impl IntoView {
    let checked = RwSignal::new(grant.granted);
    let busy = RwSignal::new(false);
    let user_id = grant.user_id;
    let on_change = move |ev: leptos::ev::Event| {
        let want = event_target_checked(&ev);
        let Some((device_id, _)) = target.get_untracked() else {
            return;
        };
        checked.set(want);
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            if let Err(e) = set_device_access(device_id, user_id, want).await {
                // Saving failed: show the truth again.
                checked.set(!want);
                error.set(Some(e.to_string()));
            }
            busy.set(false);
        });
    };
    view! {
        <li>
            <label class="checkbox">
                <input type="checkbox" prop:checked=move || checked.get() disabled=move || busy.get() on:change=on_change/>
                <span>{grant.name.clone()}</span>
                <span class="muted">{grant.email.clone()}</span>
            </label>
        </li>
    }
}

#[component]
fn TokensDialog(target: Target) -> impl IntoView {
    let open = open_while_set(target);
    let version = RwSignal::new(0u32);
    let created = RwSignal::new(None::<NewToken>);
    let label = RwSignal::new(String::new());
    let error = RwSignal::new(None::<AppError>);
    let busy = RwSignal::new(false);

    // Each opening starts clean: no token from last time on screen.
    Effect::new(move |_| {
        if target.with(Option::is_some) {
            created.set(None);
            error.set(None);
            label.set(String::new());
        }
    });
    let tokens = Resource::new(
        move || (target.get().map(|t| t.0), version.get()),
        |(id, _)| async move {
            match id {
                Some(id) => device_tokens(id).await,
                None => Ok(vec![]),
            }
        },
    );
    let title = Signal::derive(move || {
        target
            .get()
            .map(|t| format!("Tokens of {}", t.1))
            .unwrap_or_default()
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some((device_id, _)) = target.get_untracked() else {
            return;
        };
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match create_device_token(device_id, label.get_untracked()).await {
                Ok(t) => {
                    created.set(Some(t));
                    label.set(String::new());
                    version.update(|v| *v += 1);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <Modal open=open title=title>
            <div class="dialog-body">
                <p class="muted">
                    "A device or connector sends its data to "
                    <code>{move || target.get().map(|t| format!("POST /api/v1/devices/{}/data_points", t.0))}</code>
                    " with the header "
                    <code>"Authorization: Bearer <token>"</code>
                    "."
                </p>
                {move || created.get().map(|t| view! { <NewTokenBox token=t/> })}
                <form class="inline-form section" on:submit=create>
                    <div class="field">
                        <label for="token-label">"Label"</label>
                        <input
                            id="token-label"
                            type="text"
                            placeholder="e.g. Bench connector"
                            prop:value=move || label.get()
                            on:input=move |ev| label.set(event_target_value(&ev))
                            aria-invalid=move || error.get().and_then(|e| e.field("label")).is_some().to_string()
                        />
                    </div>
                    <button type="submit" class="button primary" disabled=move || busy.get()>"Create token"</button>
                </form>
                {move || error.get().map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
                <Transition fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        match tokens.await {
                            Ok(list) if list.is_empty() => Either::Left(view! {
                                <p class="muted">"No tokens yet."</p>
                            }.into_any()),
                            Ok(list) => Either::Left(view! {
                                <div class="table-wrap flat">
                                    <table>
                                        <thead>
                                            <tr>
                                                <th scope="col">"Label"</th>
                                                <th scope="col">"Token"</th>
                                                <th scope="col">"Created"</th>
                                                <th scope="col">"Last used"</th>
                                                <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {list.into_iter().map(|t| view! { <TokenRow token=t target=target version=version/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()),
                            Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                        }
                    })}
                </Transition>
            </div>
            <div class="dialog-foot">
                <button type="button" class="button" on:click=move |_| open.set(false)>"Close"</button>
            </div>
        </Modal>
    }
}

#[component]
fn NewTokenBox(token: NewToken) -> impl IntoView {
    let copied = RwSignal::new(false);
    let value = token.token.clone();
    view! {
        <div class="notice notice-warn" role="status">
            <strong>"Copy this token now: it is shown only once."</strong>
            <div class="secret-box">
                <code data-testid="new-token">{token.token.clone()}</code>
                <CopyButton text=value copied=copied/>
            </div>
        </div>
    }
}

/// Copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(#[prop(into)] text: String, copied: RwSignal<bool>) -> impl IntoView {
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                let clipboard = window().navigator().clipboard();
                let ok = wasm_bindgen_futures::JsFuture::from(clipboard.write_text(&text))
                    .await
                    .is_ok();
                copied.set(ok);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button type="button" class="button small" on:click=on_click>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

#[component]
fn TokenRow(token: TokenView, target: Target, version: RwSignal<u32>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let token_id = token.id;
    let label = token.label.clone();
    let revoke = move |_| {
        let Some((device_id, _)) = target.get_untracked() else {
            return;
        };
        leptos::task::spawn_local(async move {
            match revoke_device_token(device_id, token_id).await {
                Ok(()) => version.update(|v| *v += 1),
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    view! {
        <tr>
            <td class="cell-title">{token.label.clone()}</td>
            <td><code>{format!("{}…", token.hint)}</code></td>
            <td class="nowrap">
                <Time ms=token.created_at/>
                {token.created_by.clone().map(|b| view! { <div class="cell-sub">{format!("by {b}")}</div> })}
            </td>
            <td class="nowrap"><MaybeTime ms=token.last_used_at/></td>
            <td class="actions">
                {if token.revoked {
                    Either::Left(view! { <span class="badge">"Revoked"</span> })
                } else {
                    Either::Right(view! {
                        <Show
                            when=move || confirming.get()
                            fallback={
                                let label = label.clone();
                                move || {
                                    view! {
                                        <button
                                            type="button"
                                            class="button small"
                                            aria-label=format!("Revoke {}", label)
                                            on:click=move |_| confirming.set(true)
                                        >
                                            "Revoke"
                                        </button>
                                    }
                                }
                            }
                        >
                            <span class="muted">"Revoke? Devices using it stop being accepted. "</span>
                            <button type="button" class="button small danger" on:click=revoke>"Revoke token"</button>
                            <button type="button" class="button small" on:click=move |_| confirming.set(false)>"Keep"</button>
                        </Show>
                        {move || error.get().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
                    })
                }}
            </td>
        </tr>
    }
}
