//! The app's later pages as lazily loaded routes: each one's code is a WASM chunk of its own
//! (`cargo leptos build --split`), downloaded the first time the page is opened, so that the
//! first pages a person opens — sign-in, home, the overview of webhook subscriptions, with the
//! frame around them — come in the one main module and do not pay for the others. Code that
//! several lazy pages share is split into shared chunks by the build.
//!
//! Why not every page: a page made of chunks loads each as a module of its own, and the build
//! makes a chunk for every set of routes that share a function. With all fourteen routes lazy
//! there were 305 chunks, a page loaded 57–232 of them, and the pages took three times as long
//! to become usable (docs/webhooks.md, "The browser bundle").
//!
//! The server renders these routes like any other; a build without `--split` (tests, `cargo
//! build`) runs them as plain async functions that are ready at once.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

use crate::pages::{
    admin::AdminPage,
    audit::AuditPage,
    devices::DevicesPage,
    people::UsersPage,
    subscriptions::{
        detail::SubscriptionPage,
        form::{EditSubscriptionPage, NewSubscriptionPage},
    },
    tokens::{reference::ApiReferencePage, ApiTokensPage},
};

/// A route whose view is one component, loaded with its chunk. The pages own their data
/// (resources in their bodies), so a route's `data` is empty.
macro_rules! lazy_page {
    ($($route:ident => $page:ident),* $(,)?) => {$(
        #[doc = concat!("The lazily loaded route of [`", stringify!($page), "`].")]
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    )*};
}

lazy_page! {
    DevicesRoute => DevicesPage,
    NewSubscriptionRoute => NewSubscriptionPage,
    SubscriptionRoute => SubscriptionPage,
    EditSubscriptionRoute => EditSubscriptionPage,
    AdminRoute => AdminPage,
    AuditRoute => AuditPage,
    UsersRoute => UsersPage,
    ApiTokensRoute => ApiTokensPage,
    ApiReferenceRoute => ApiReferencePage,
}

/// Loads the chunks the page at `path` is made of, before the page is hydrated: hydration then
/// walks the server's HTML in one go, without waiting for a download half-way (while it waited,
/// effects of the part already hydrated could run and change what the rest reads). The first
/// pages are in the main module and a path that matches no page loads nothing; the chunks were
/// asked for in the page's head already, so this waits for downloads under way.
pub async fn preload(path: &str) {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["devices"] => DevicesRoute::preload().await,
        ["subscriptions", "new"] => NewSubscriptionRoute::preload().await,
        ["subscriptions", _] => SubscriptionRoute::preload().await,
        ["subscriptions", _, "edit"] => EditSubscriptionRoute::preload().await,
        ["admin"] => AdminRoute::preload().await,
        ["admin", "audit"] => AuditRoute::preload().await,
        ["users"] => UsersRoute::preload().await,
        ["api-tokens"] => ApiTokensRoute::preload().await,
        ["api"] => ApiReferenceRoute::preload().await,
        _ => {}
    }
}
