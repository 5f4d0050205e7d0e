#![recursion_limit = "512"]
//! The Leptos user interface of Labhook. Server functions sit beside the pages that use them;
//! their bodies (compiled only with the `ssr` feature) are thin adapters over the `server`
//! crate.

pub mod auth;
pub mod components;
pub mod errors;
pub mod navigation;
pub mod pages;
pub mod routes;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, Lazy,
};

use crate::{
    auth::SignInPage,
    components::{hydration::provide_hydrated, layout::Layout},
    pages::{
        home::HomePage,
        not_found::NotFound,
        people::set_password::SetPasswordPage,
        subscriptions::{overview::SubscriptionsPage, provide_secret_flash},
    },
    routes::*,
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <AutoReload options=options.clone()/>
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_hydrated();
    provide_secret_flash();

    view! {
        <Title formatter=|page: String| format!("{page} · Labhook")/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/sign-in") view=SignInPage/>
                <Route path=path!("/set-password") view=SetPasswordPage/>
                <ParentRoute path=path!("") view=Layout>
                    <Route path=path!("") view=HomePage/>
                    <Route path=path!("devices") view={Lazy::<DevicesRoute>::new()}/>
                    <Route path=path!("subscriptions") view=SubscriptionsPage/>
                    <Route path=path!("subscriptions/new") view={Lazy::<NewSubscriptionRoute>::new()}/>
                    <Route path=path!("subscriptions/:id") view={Lazy::<SubscriptionRoute>::new()}/>
                    <Route path=path!("subscriptions/:id/edit") view={Lazy::<EditSubscriptionRoute>::new()}/>
                    <Route path=path!("admin") view={Lazy::<AdminRoute>::new()}/>
                    <Route path=path!("admin/audit") view={Lazy::<AuditRoute>::new()}/>
                    <Route path=path!("users") view={Lazy::<UsersRoute>::new()}/>
                    <Route path=path!("api-tokens") view={Lazy::<ApiTokensRoute>::new()}/>
                    <Route path=path!("api") view={Lazy::<ApiReferenceRoute>::new()}/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
