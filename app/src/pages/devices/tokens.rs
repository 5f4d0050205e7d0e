//! The Tokens dialog: a device's tokens for the ingest API — create (shown once), list, revoke.

use leptos::{either::Either, prelude::*};

use crate::components::{
    change::Change,
    copy::CopyButton,
    modal::{open_while_set, Modal},
    status::{ErrorNotice, Loading},
    time::{MaybeTime, Time},
};

use super::{
    create_device_token, device_tokens, revoke_device_token, DeviceView, NewToken, Target,
    TokenView,
};

#[component]
pub(super) fn TokensDialog(target: Target, devices: RwSignal<Vec<DeviceView>>) -> impl IntoView {
    let open = open_while_set(target);
    let version = RwSignal::new(0u32);
    let created = RwSignal::new(None::<NewToken>);
    let label = RwSignal::new(String::new());
    let creating = Change::new();

    // Each opening starts clean: no token from last time on screen.
    Effect::new(move |_| {
        if target.with(Option::is_some) {
            created.set(None);
            creating.clear();
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
        creating.run(
            move |reason| create_device_token(device_id, label.get_untracked(), reason),
            move |t| {
                created.set(Some(t));
                label.set(String::new());
                version.update(|v| *v += 1);
            },
            || {},
        );
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
                {move || created.get().map(|t| {
                    // From the page's live list: a device made a moment ago joins it with
                    // the next refresh, and its example with it.
                    let device_id = target.get_untracked().map(|(id, _)| id);
                    let device = Signal::derive(move || {
                        devices.with(|list| list.iter().find(|d| Some(d.id) == device_id).cloned())
                    });
                    view! { <NewTokenBox token=t device=device/> }
                })}
                <form class="inline-form section" on:submit=create>
                    <div class="field">
                        <label for="token-label">"Label"</label>
                        <input
                            id="token-label"
                            type="text"
                            placeholder="e.g. Bench connector"
                            prop:value=move || label.get()
                            on:input=move |ev| label.set(event_target_value(&ev))
                            aria-invalid=move || creating.field("label").is_some().to_string()
                        />
                    </div>
                    <button type="submit" class="button primary" disabled=move || creating.busy()>"Create token"</button>
                </form>
                {creating.alert()}
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
fn NewTokenBox(token: NewToken, device: Signal<Option<DeviceView>>) -> impl IntoView {
    let copied = RwSignal::new(false);
    let value = token.token.clone();
    let secret = token.token.clone();
    let example = Memo::new(move |_| device.get().map(|d| curl_example(&d, &secret)));
    let example_copied = RwSignal::new(false);
    view! {
        <div class="notice notice-warn" role="status">
            <strong>"Copy this token now: it is shown only once."</strong>
            <div class="secret-box">
                <code data-testid="new-token">{token.token.clone()}</code>
                <CopyButton text=value copied=copied/>
            </div>
            {move || example.get().map(|cmd| {
                let text = cmd.clone();
                view! {
                    <p>"Try it: this request sends one value for each channel (edit the values first)."</p>
                    <pre class="block" data-testid="curl-example"><code>{cmd}</code></pre>
                    <CopyButton text=text copied=example_copied label="Copy the example request"/>
                }
            })}
        </div>
    }
}

/// The ingest request for `device` as a curl command, ready to paste into a shell: this
/// server's address, the device's id, its channels with a value each accepts.
fn curl_example(device: &DeviceView, token: &str) -> String {
    let origin = crate::navigation::site_address();
    let points: Vec<String> = device
        .channels
        .iter()
        .map(|c| {
            format!(
                "{{\"channel\": {}, \"value\": {}}}",
                serde_json::to_string(&c.name).unwrap_or_default(),
                c.example
            )
        })
        .collect();
    let body = format!("[{}]", points.join(", ")).replace('\'', "'\\''");
    format!(
        "curl -X POST '{origin}/api/v1/devices/{}/data_points' \\\n  -H 'Authorization: Bearer {token}' \\\n  -H 'Content-Type: application/json' \\\n  -d '{body}'",
        device.id
    )
}

#[component]
fn TokenRow(token: TokenView, target: Target, version: RwSignal<u32>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let revoking = Change::new();
    let token_id = token.id;
    let label = token.label.clone();
    let revoke = move |_| {
        let Some((device_id, _)) = target.get_untracked() else {
            return;
        };
        revoking.run(
            move |reason| revoke_device_token(device_id, token_id, reason),
            move |()| version.update(|v| *v += 1),
            || {},
        );
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
                            <button type="button" class="button small danger" disabled=move || revoking.busy() on:click=revoke>"Revoke token"</button>
                            <button type="button" class="button small" on:click=move |_| confirming.set(false)>"Keep"</button>
                        </Show>
                        {revoking.inline_alert()}
                    })
                }}
            </td>
        </tr>
    }
}
