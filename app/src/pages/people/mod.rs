//! More → Users (org admins): the organisation's people with their role and last sign-in;
//! adding someone, changing a role, deactivating, resetting a password, and which devices a
//! lab user may see.

mod api;
mod dialogs;
pub mod set_password;

pub use api::*;

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::components::{
    change::Change,
    hydration::use_hydrated,
    status::{ErrorNotice, Loading},
    time::MaybeTime,
};

use self::dialogs::{AddUserDialog, LinkDialog, PersonDevicesDialog};

/// A link just made, for whom: shown once in the link dialog.
pub(crate) type Shown = RwSignal<Option<(String, LinkView)>>;

/// Shows what the server has now.
fn refresh(list: RwSignal<Vec<PersonView>>) {
    leptos::task::spawn_local(async move {
        if let Ok(people) = list_people().await {
            list.set(people);
        }
    });
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let hydrated = use_hydrated();
    let initial = Resource::new_blocking(|| (), |_| list_people());
    let list = RwSignal::new(Vec::<PersonView>::new());
    let adding = RwSignal::new(false);
    let shown: Shown = RwSignal::new(None);
    let devices_of = RwSignal::new(None::<(i64, String)>);
    view! {
        <Title text="Users"/>
        <div class="page-head">
            <div>
                <h1>"Users"</h1>
                <p class="muted">"The people of your organisation: their role, their last sign-in, and what they may see."</p>
            </div>
            <button type="button" class="button primary" disabled=move || !hydrated.get() on:click=move |_| adding.set(true)>"Add user"</button>
        </div>
        <Suspense fallback=|| view! { <Loading what="Loading users…"/> }>
            {move || Suspend::new(async move {
                match initial.await {
                    Ok(people) => {
                        list.set(people);
                        Either::Left(view! { <PeopleTable list=list shown=shown devices_of=devices_of/> })
                    }
                    Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                }
            })}
        </Suspense>
        <AddUserDialog open=adding list=list shown=shown/>
        <LinkDialog shown=shown/>
        <PersonDevicesDialog target=devices_of list=list/>
    }
}

#[component]
fn PeopleTable(
    list: RwSignal<Vec<PersonView>>,
    shown: Shown,
    devices_of: RwSignal<Option<(i64, String)>>,
) -> impl IntoView {
    view! {
        <div class="card table-wrap">
            <table>
                <caption class="visually-hidden">"Users of your organisation"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Role"</th>
                        <th scope="col">"Devices"</th>
                        <th scope="col">"Last sign-in"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || list.get()
                        key=|p| (p.id, p.role.clone(), p.deactivated, p.devices, p.last_sign_in_at)
                        let:person
                    >
                        <PersonRow person=person list=list shown=shown devices_of=devices_of/>
                    </For>
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn PersonRow(
    person: PersonView,
    list: RwSignal<Vec<PersonView>>,
    shown: Shown,
    devices_of: RwSignal<Option<(i64, String)>>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let change = Change::new();
    let confirming = RwSignal::new(None::<&'static str>);
    let id = person.id;
    let name = StoredValue::new(person.name.clone());
    let role = RwSignal::new(person.role.clone());
    let on_role = move |ev: leptos::ev::Event| {
        let want = event_target_value(&ev);
        let was = role.get_untracked();
        role.set(want.clone());
        change.run(
            move |reason| change_role(id, want, reason),
            move |()| refresh(list),
            move || role.set(was),
        );
    };
    let act = move |what: &'static str| {
        confirming.set(None);
        match what {
            "reset" => change.run(
                move |reason| reset_password(id, reason),
                move |link| {
                    shown.set(Some((name.get_value(), link)));
                    refresh(list);
                },
                || {},
            ),
            _ => change.run(
                move |reason| set_deactivated(id, what == "deactivate", reason),
                move |()| refresh(list),
                || {},
            ),
        }
    };
    let locked = person.is_me;
    let deactivated = person.deactivated;
    let is_admin = person.role == "org_admin";
    view! {
        <tr class:muted-row=deactivated data-user=person.email.clone()>
            <th scope="row" class="cell-title">
                {person.name.clone()}
                {locked.then(|| view! { " " <span class="badge">"You"</span> })}
                {deactivated.then(|| view! { " " <span class="badge bad">"Deactivated"</span> })}
                <div class="cell-sub">{person.email.clone()}</div>
            </th>
            <td>
                <select
                    class="role-select"
                    aria-label=format!("Role of {}", person.name)
                    disabled=move || locked || deactivated || !hydrated.get() || change.busy()
                    title=locked.then_some("You cannot change your own role.")
                    prop:value=move || role.get()
                    on:change=on_role
                >
                    <option value="lab_user" selected=!is_admin>"Lab user"</option>
                    <option value="org_admin" selected=is_admin>"Organisation administrator"</option>
                </select>
            </td>
            <td>
                {if is_admin {
                    Either::Left(view! { <span class="muted">"All (administrator)"</span> })
                } else {
                    let n = person.devices;
                    Either::Right(view! {
                        <button
                            type="button"
                            class="button small"
                            disabled=move || deactivated || !hydrated.get()
                            aria-label=format!("Devices of {}", person.name)
                            on:click=move |_| devices_of.set(Some((id, name.get_value())))
                        >
                            {format!("{n} device{}", if n == 1 { "" } else { "s" })}
                        </button>
                    })
                }}
            </td>
            <td class="nowrap">
                {match person.last_sign_in_at {
                    Some(ms) => Either::Left(view! { <MaybeTime ms=Some(ms)/> }),
                    None => Either::Right(view! { <span class="muted">"never"</span> }),
                }}
            </td>
            <td class="row-actions">
                <Show
                    when=move || confirming.get().is_some()
                    fallback=move || (!locked).then(|| view! {
                        {(!deactivated).then(|| view! {
                            <button
                                type="button"
                                class="button small"
                                disabled=move || !hydrated.get() || change.busy()
                                aria-label=format!("Reset password of {}", name.get_value())
                                on:click=move |_| confirming.set(Some("reset"))
                            >
                                "Reset password"
                            </button>
                        })}
                        <button
                            type="button"
                            class="button small"
                            class:danger=!deactivated
                            disabled=move || !hydrated.get() || change.busy()
                            aria-label=format!("{} {}", if deactivated { "Reactivate" } else { "Deactivate" }, name.get_value())
                            on:click=move |_| confirming.set(Some(if deactivated { "reactivate" } else { "deactivate" }))
                        >
                            {if deactivated { "Reactivate" } else { "Deactivate" }}
                        </button>
                    })
                >
                    <span class="muted">
                        {move || match confirming.get() {
                            Some("reset") => format!("Reset the password of {}? Their password and API tokens stop working and they are signed out; you get a link for a new one. ", name.get_value()),
                            Some("deactivate") => format!("Deactivate {}? They are signed out at once, their API tokens stop working for good and their subscriptions are switched off. ", name.get_value()),
                            _ => format!("Reactivate {}? They can sign in again; their subscriptions stay off until switched on. ", name.get_value()),
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
                            Some("reset") => "Reset password",
                            Some("deactivate") => "Deactivate user",
                            _ => "Reactivate user",
                        }}
                    </button>
                    <button type="button" class="button small" on:click=move |_| confirming.set(None)>"Keep"</button>
                </Show>
                {change.inline_alert()}
            </td>
        </tr>
    }
}
