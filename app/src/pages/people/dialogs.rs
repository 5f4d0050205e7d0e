//! The Users page's dialogs: Add user, the one-time password link, and a lab user's devices.

use leptos::{either::Either, prelude::*};

use crate::{
    components::{
        change::Change,
        copy::CopyButton,
        modal::{open_while_set, Modal},
        status::{ErrorNotice, Loading},
        time::Time,
    },
    navigation::site_address,
    pages::devices::AccessToggle,
};

use super::{add_person, person_devices, refresh, NewPersonInput, PersonView, Shown};

#[component]
pub(super) fn AddUserDialog(
    open: RwSignal<bool>,
    list: RwSignal<Vec<PersonView>>,
    shown: Shown,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let role = RwSignal::new("lab_user".to_owned());
    let saving = Change::new();
    Effect::new(move |_| {
        if open.get() {
            name.set(String::new());
            email.set(String::new());
            role.set("lab_user".into());
            saving.clear();
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = NewPersonInput {
            name: name.get_untracked(),
            email: email.get_untracked(),
            role: role.get_untracked(),
        };
        let who = input.name.trim().to_owned();
        saving.run(
            move |reason| add_person(input, reason),
            move |(_, link)| {
                open.set(false);
                shown.set(Some((who, link)));
                refresh(list);
            },
            || {},
        );
    };
    view! {
        <Modal open=open title="Add user">
            <form on:submit=submit novalidate>
                <div class="dialog-body">
                    <div class="field">
                        <label for="person-name">"Name"</label>
                        <input id="person-name" type="text" autocomplete="off"
                            prop:value=move || name.get()
                            on:input=move |ev| name.set(event_target_value(&ev))
                            aria-invalid=move || saving.field("name").is_some().to_string()/>
                        <p class="field-error" role="alert">{move || saving.field("name")}</p>
                    </div>
                    <div class="field">
                        <label for="person-email">"Email"</label>
                        <input id="person-email" type="email" autocomplete="off"
                            prop:value=move || email.get()
                            on:input=move |ev| email.set(event_target_value(&ev))
                            aria-invalid=move || saving.field("email").is_some().to_string()/>
                        <p class="field-error" role="alert">{move || saving.field("email")}</p>
                    </div>
                    <div class="field">
                        <label for="person-role">"Role"</label>
                        <select id="person-role" prop:value=move || role.get() on:change=move |ev| role.set(event_target_value(&ev))>
                            <option value="lab_user">"Lab user"</option>
                            <option value="org_admin">"Organisation administrator"</option>
                        </select>
                        <p class="hint">"Lab users see the devices you grant them and manage their own subscriptions. Organisation administrators manage everything."</p>
                    </div>
                    {move || saving.error().and_then(|e| e.general(&["name", "email", "role"])).map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
                </div>
                <div class="dialog-foot">
                    <button type="button" class="button caps" on:click=move |_| open.set(false)>"CANCEL"</button>
                    <button type="submit" class="button primary caps" disabled=move || saving.busy()>
                        {move || if saving.busy() { "ADDING…" } else { "ADD USER" }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}

/// The link to set a password, shown once after adding someone or resetting their password.
#[component]
pub(super) fn LinkDialog(shown: Shown) -> impl IntoView {
    let open = open_while_set(shown);
    let copied = RwSignal::new(false);
    let title = Signal::derive(move || {
        shown
            .get()
            .map(|(who, _)| format!("Password link for {who}"))
            .unwrap_or_else(|| "Password link".into())
    });
    view! {
        <Modal open=open title=title>
            <div class="dialog-body">
                {move || shown.get().map(|(who, link)| {
                    let url = format!("{}{}", site_address(), link.path);
                    copied.set(false);
                    view! {
                        <div class="notice notice-success" role="status">
                            <p>{format!("Send this link to {who}: they choose their own password with it. It works once, until ")}<Time ms=link.expires_at/>"."</p>
                        </div>
                        <p><strong>"It is shown only now."</strong>" If it is lost, reset the password for a new one."</p>
                        <div class="secret-box">
                            <code data-testid="password-link" class="break-all">{url.clone()}</code>
                            <CopyButton text=url copied=copied label="Copy the password link"/>
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

/// Which devices a lab user may see: the same grants as a device's Access dialog.
#[component]
pub(super) fn PersonDevicesDialog(
    target: RwSignal<Option<(i64, String)>>,
    list: RwSignal<Vec<PersonView>>,
) -> impl IntoView {
    let open = open_while_set(target);
    let devices = Resource::new(
        move || target.get().map(|t| t.0),
        |id| async move {
            match id {
                Some(id) => person_devices(id).await,
                None => Ok(vec![]),
            }
        },
    );
    // The row's device count follows what was ticked here.
    let was_open = StoredValue::new(false);
    Effect::new(move |_| {
        let now = open.get();
        if was_open.get_value() && !now {
            refresh(list);
        }
        was_open.set_value(now);
    });
    let title = Signal::derive(move || {
        target
            .get()
            .map(|t| format!("Devices of {}", t.1))
            .unwrap_or_default()
    });
    view! {
        <Modal open=open title=title small=true>
            <div class="dialog-body">
                <p class="muted">"They see the devices ticked here and can subscribe to their channels."</p>
                <Transition fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        match devices.await {
                            Ok(list) if list.is_empty() => Either::Left(view! {
                                <p>"Your organisation has no devices yet."</p>
                            }.into_any()),
                            Ok(list) => Either::Left(view! {
                                <ul class="plain-list">
                                    {list.into_iter().map(|d| {
                                        let user_id = target.get_untracked().map(|t| t.0).unwrap_or_default();
                                        view! {
                                            <AccessToggle device_id=d.device_id user_id=user_id granted=d.granted label=d.name/>
                                        }
                                    }).collect_view()}
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
