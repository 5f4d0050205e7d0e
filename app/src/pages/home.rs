use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::{layout::use_me, status::Loading};

/// The landing page after signing in: where to go from here.
#[component]
pub fn HomePage() -> impl IntoView {
    let me = use_me();
    view! {
        <Title text="Home"/>
        <Transition fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                let me = me.await.ok()?;
                Some(view! {
                    <h1>"Welcome, " {me.name.clone()}</h1>
                    <p class="lead">
                        "Labhook sends what your lab devices measure to your own programs — a LIMS, an ELN, a script — the moment it happens."
                    </p>
                    <div class="cards">
                        <A href="/devices" attr:class="card card-link">
                            <h2>"Devices"</h2>
                            <p>"The devices you have access to, their channels and latest values."</p>
                        </A>
                        {me.webhooks_enabled.then(|| view! {
                            <A href="/subscriptions" attr:class="card card-link">
                                <h2>"Webhook Subscriptions"</h2>
                                <p>"Choose channels and trigger events, and where to send them."</p>
                            </A>
                        })}
                        {me.is_org_admin.then(|| view! {
                            <A href="/admin" attr:class="card card-link">
                                <h2>"Server Administration"</h2>
                                <p>"Switch webhooks on, register target URLs, read the audit trail."</p>
                            </A>
                        })}
                    </div>
                })
            })}
        </Transition>
    }
}
