//! The frame around every signed-in page: header with organisation, user, More menu and
//! sign-out, then the page itself.

use leptos::{either::Either, prelude::*};
use leptos_router::components::{Outlet, A};

use crate::{
    auth::{who_am_i, Me, SignOut},
    components::{
        hydration::use_hydrated,
        menu::{Menu, MenuEntry},
        notifications::NotificationBell,
        reason::{ReasonDialog, ReasonPrompt},
        status::ErrorNotice,
    },
    errors::AppError,
    navigation::go_to,
};

/// The signed-in user, loaded once per page load; pages that change what the header shows
/// (the admin switching the webhook feature) refetch it.
pub type MeResource = Resource<Result<Me, AppError>>;

pub fn use_me() -> MeResource {
    expect_context::<MeResource>()
}

#[component]
pub fn Layout() -> impl IntoView {
    let me_resource: MeResource = Resource::new(|| (), |_| who_am_i());
    provide_context(me_resource);
    let reasons = ReasonPrompt::provide(Signal::derive(move || {
        me_resource
            .get()
            .and_then(Result::ok)
            .is_some_and(|me| me.reasons_required)
    }));

    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="topbar">
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " Labhook"
            </A>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match me_resource.await {
                        Ok(me) => Either::Left(view! { <TopBar me=me/> }),
                        Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                    }
                })}
            </Transition>
        </header>
        <main id="main" class="page">
            <Outlet/>
        </main>
        <ReasonDialog prompt=reasons/>
    }
}

#[component]
fn TopBar(me: Me) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    let hydrated = use_hydrated();
    Effect::new(move |_| {
        if sign_out.value().get().is_some() {
            go_to("/sign-in");
        }
    });

    let mut items = vec![MenuEntry::link("Devices", "/devices")];
    if me.webhooks_enabled {
        items.push(MenuEntry::link("Webhook Subscriptions", "/subscriptions"));
    }
    // "My API tokens" is one click further, on the API page: a second item containing "API"
    // would make "More → API" ambiguous to people (and tests) looking for it by name.
    items.push(MenuEntry::link("API", "/api"));
    if me.is_org_admin {
        items.push(MenuEntry::link("Users", "/users"));
        items.push(MenuEntry::link("Server Administration", "/admin"));
    }
    let role = if me.is_org_admin {
        "Organisation administrator"
    } else {
        "Lab user"
    };

    view! {
        <span class="org-name" title="Organisation">{me.organisation.clone()}</span>
        <nav class="topnav" aria-label="Main">
            <Menu label="More" items=items/>
        </nav>
        <NotificationBell/>
        <div class="user-box">
            <span class="user-name">{me.name.clone()}</span>
            <span class="user-role">{role}</span>
            <button
                type="button"
                class="button ghost"
                disabled=move || !hydrated.get() || sign_out.pending().get()
                on:click=move |_| {
                    sign_out.dispatch(SignOut {});
                }
            >
                "Sign out"
            </button>
        </div>
    }
}
