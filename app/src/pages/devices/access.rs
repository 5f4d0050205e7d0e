//! The Access dialog: which lab users may see a device (org admins).

use leptos::{either::Either, prelude::*};

use crate::components::{
    change::Change,
    modal::{open_while_set, Modal},
    status::{ErrorNotice, Loading},
};

use super::{device_access, set_device_access, GrantView, Target};

#[component]
pub(super) fn AccessDialog(target: Target) -> impl IntoView {
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
                <Transition fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        match grants.await {
                            Ok(list) if list.is_empty() => Either::Left(view! {
                                <p>"Your organisation has no lab users."</p>
                            }.into_any()),
                            Ok(list) => Either::Left(view! {
                                <ul class="plain-list">
                                    {list.into_iter().map(|g| view! { <GrantRow grant=g target=target/> }).collect_view()}
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
fn GrantRow(grant: GrantView, target: Target) -> impl IntoView {
    let device_id = target.get_untracked().map(|t| t.0).unwrap_or_default();
    view! {
        <AccessToggle
            device_id=device_id
            user_id=grant.user_id
            granted=grant.granted
            label=grant.name
            detail=grant.email
        />
    }
}

/// One grant of access as a checkbox: saved when ticked, shown as it really is when saving
/// fails. The device's Access dialog and a person's Devices dialog both list these.
#[component]
pub(crate) fn AccessToggle(
    device_id: i64,
    user_id: i64,
    granted: bool,
    label: String,
    #[prop(optional, into)] detail: Option<String>,
) -> impl IntoView {
    let checked = RwSignal::new(granted);
    let change = Change::new();
    let on_change = move |ev: leptos::ev::Event| {
        let want = event_target_checked(&ev);
        checked.set(want);
        change.run(
            move |reason| set_device_access(device_id, user_id, want, reason),
            |()| {},
            move || checked.set(!want),
        );
    };
    view! {
        <li>
            <label class="checkbox">
                <input type="checkbox" prop:checked=move || checked.get() disabled=move || change.busy() on:change=on_change/>
                <span>{label}</span>
                {detail.map(|d| view! { <span class="muted">{d}</span> })}
            </label>
            {change.alert()}
        </li>
    }
}
