//! Create token, and the new token shown once with a first request to try.

use leptos::prelude::*;

use crate::{
    components::{
        change::Change,
        copy::CopyButton,
        modal::{open_while_set, Modal},
    },
    navigation::site_address,
};

use super::{create_api_token, refresh, ApiTokensView, NewApiToken, NewApiTokenInput};

const SCOPES: [(&str, &str); 3] = [
    (
        "read",
        "read — list and show subscriptions, the delivery log, devices and data",
    ),
    (
        "write",
        "write — create and change subscriptions, send test events, replay",
    ),
    ("delete", "delete — delete subscriptions"),
];

#[component]
pub(super) fn CreateTokenDialog(
    open: RwSignal<bool>,
    shown: RwSignal<Option<NewApiToken>>,
    tokens: RwSignal<Option<ApiTokensView>>,
) -> impl IntoView {
    let label = RwSignal::new(String::new());
    let scopes = RwSignal::new(vec!["read".to_owned()]);
    let expires = RwSignal::new("90".to_owned());
    let saving = Change::new();
    Effect::new(move |_| {
        if open.get() {
            label.set(String::new());
            scopes.set(vec!["read".into()]);
            expires.set("90".into());
            saving.clear();
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = NewApiTokenInput {
            label: label.get_untracked(),
            scopes: scopes.get_untracked(),
            expires_in_days: expires.get_untracked().parse().ok(),
        };
        saving.run(
            move |reason| create_api_token(input, reason),
            move |created| {
                open.set(false);
                shown.set(Some(created));
                refresh(tokens);
            },
            || {},
        );
    };
    view! {
        <Modal open=open title="Create API token">
            <form on:submit=submit novalidate>
                <div class="dialog-body">
                    <div class="field">
                        <label for="token-label">"Label"</label>
                        <input id="token-label" type="text" autocomplete="off" placeholder="e.g. LIMS deployment script"
                            prop:value=move || label.get()
                            on:input=move |ev| label.set(event_target_value(&ev))
                            aria-invalid=move || saving.field("label").is_some().to_string()/>
                        <p class="field-error" role="alert">{move || saving.field("label")}</p>
                    </div>
                    <fieldset class="field">
                        <legend>"Scopes"</legend>
                        {SCOPES.into_iter().map(|(scope, words)| view! {
                            <label class="checkbox">
                                <input type="checkbox"
                                    prop:checked=move || scopes.with(|s| s.iter().any(|x| x == scope))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        scopes.update(|s| {
                                            s.retain(|x| x != scope);
                                            if on {
                                                s.push(scope.to_owned());
                                            }
                                        });
                                    }/>
                                {words}
                            </label>
                        }).collect_view()}
                        <p class="field-error" role="alert">{move || saving.field("scopes")}</p>
                    </fieldset>
                    <div class="field">
                        <label for="token-expires">"Expires"</label>
                        <select id="token-expires" prop:value=move || expires.get() on:change=move |ev| expires.set(event_target_value(&ev))>
                            <option value="7">"in 7 days"</option>
                            <option value="30">"in 30 days"</option>
                            <option value="90" selected=true>"in 90 days"</option>
                            <option value="366">"in a year"</option>
                            <option value="never">"never"</option>
                        </select>
                        <p class="field-error" role="alert">{move || saving.field("expires_in_days")}</p>
                    </div>
                    {move || saving.error().and_then(|e| e.general(&["label", "scopes", "expires_in_days"])).map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
                </div>
                <div class="dialog-foot">
                    <button type="button" class="button caps" on:click=move |_| open.set(false)>"CANCEL"</button>
                    <button type="submit" class="button primary caps" disabled=move || saving.busy()>
                        {move || if saving.busy() { "CREATING…" } else { "CREATE TOKEN" }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}

/// The new token, shown once, with a first request to try it.
#[component]
pub(super) fn ShownTokenDialog(shown: RwSignal<Option<NewApiToken>>) -> impl IntoView {
    let open = open_while_set(shown);
    let copied = RwSignal::new(false);
    let copied_curl = RwSignal::new(false);
    view! {
        <Modal open=open title="Your new API token">
            <div class="dialog-body">
                {move || shown.get().map(|created| {
                    copied.set(false);
                    copied_curl.set(false);
                    let curl = format!(
                        "curl -H 'Authorization: Bearer {}' {}/api/v2/webhook_subscriptions",
                        created.token,
                        site_address()
                    );
                    view! {
                        <div class="notice notice-success" role="status">
                            <p><strong>"It is shown only now."</strong>" Store it where your program keeps its secrets; if it is lost, revoke it and create another."</p>
                        </div>
                        <div class="secret-box">
                            <code aria-label="API token" class="break-all">{created.token.clone()}</code>
                            <CopyButton text=created.token.clone() copied=copied label="Copy the API token"/>
                        </div>
                        <p>"Try it:"</p>
                        <div class="secret-box">
                            <code aria-label="Example request" class="break-all">{curl.clone()}</code>
                            <CopyButton text=curl copied=copied_curl label="Copy the example request"/>
                        </div>
                    }
                })}
            </div>
            <div class="dialog-foot">
                <button type="button" class="button primary" on:click=move |_| open.set(false)>"Done"</button>
            </div>
        </Modal>
    }
}
