//! One subscription's page: what it sends where, its signing secret (rotate), and its
//! delivery log.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_params_map};

use super::{rotate_subscription_secret, show_subscription, SubscriptionView};
use crate::{
    components::{
        change::Change,
        copy::CopyButton,
        hydration::use_hydrated,
        modal::Modal,
        status::{ErrorNotice, Loading},
    },
    errors::AppError,
};

#[component]
pub fn SubscriptionPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|v| v.parse::<i64>().ok()));
    let subscription = Resource::new_blocking(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => show_subscription(id).await,
                None => Err(AppError::NotFound("Subscription not found.".into())),
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match subscription.await {
                    Ok(s) => Either::Left(view! { <SubscriptionDetails subscription=s/> }),
                    Err(e) => Either::Right(view! {
                        <Title text="Webhook Subscription"/>
                        <h1>"Webhook Subscription"</h1>
                        <ErrorNotice error=e/>
                    }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SubscriptionDetails(subscription: SubscriptionView) -> impl IntoView {
    let s = subscription;
    let opened = RwSignal::new(None::<i64>);
    let refresh = RwSignal::new(0u32);
    view! {
        <Title text=s.name.clone()/>
        <p class="breadcrumb"><A href="/subscriptions">"Webhook Subscriptions"</A>" › "{s.name.clone()}</p>
        <div class="page-head">
            <div>
                <h1>{s.name.clone()}</h1>
                <p class="muted mono">{s.url.clone()}</p>
            </div>
            {s.owned_by_me.then(|| view! {
                <A href=format!("/subscriptions/{}/edit", s.id) attr:class="button">"Edit"</A>
            })}
        </div>
        {(s.overflowed > 0).then(|| view! {
            <div class="notice notice-error" role="status">
                <strong>{format!("{} event{} not queued", s.overflowed, if s.overflowed == 1 { " was" } else { "s were" })}</strong>
                <p>
                    "Too many deliveries were waiting for this receiver (since "
                    <crate::components::time::MaybeTime ms=s.overflow_since/>
                    "), so newer events were not queued; the oldest waiting ones are kept. Make sure the receiver answers, then switch the subscription off and on again to clear this."
                </p>
            </div>
        })}
        <dl class="kv card section">
            <dt>"Status"</dt>
            <dd>
                {if s.active {
                    Either::Left(view! { <span class="badge ok">"Active"</span> })
                } else {
                    Either::Right(view! { <span class="badge">"Inactive"</span> })
                }}
                {(!s.target_registered).then(|| view! { " " <span class="badge warn">"target not registered"</span> })}
            </dd>
            <dt>"Owner"</dt>
            <dd>{s.owner_name.clone()}</dd>
            <dt>"Receiver's reply"</dt>
            <dd>
                {if s.use_replies {
                    "Used: data points in a 2xx answer are stored on the device whose event was sent"
                } else {
                    "Not used"
                }}
            </dd>
            <dt>"Trigger events"</dt>
            <dd>
                <ul class="trigger-lines">
                    {s.triggers.iter().map(|t| view! {
                        <li>
                            {t.device_name.clone()}" › "<strong>{t.channel_name.clone()}</strong>": "{t.event_label.clone()}
                            {t.options_text.clone().map(|o| view! { <span class="muted small-text">" — "{o}</span> })}
                            {t.device_archived.then(|| view! {
                                " "<span class="badge warn" title="Nothing comes from it until an organisation administrator restores it">"device archived"</span>
                            })}
                            {t.lost_access.clone().map(|why| view! {
                                " "<span class="badge warn" title=why.clone()>"no longer accessible"</span>
                                <span class="muted small-text">" — "{why}</span>
                            })}
                        </li>
                    }).collect_view()}
                </ul>
            </dd>
        </dl>
        {s.owned_by_me.then(|| view! { <SigningSecret id=s.id/> })}
        {(s.active && !s.triggers.is_empty()).then(|| view! {
            <super::test_event::TestEvent subscription=s.clone() opened=opened refresh=refresh/>
        })}
        <super::deliveries::DeliveryLog subscription_id=s.id triggers=s.triggers.clone() opened=opened refresh=refresh/>
        {s.active.then(|| view! { <super::replay::ReplayPanel subscription=s.clone() refresh=refresh/> })}
        <DeliveryLogExport/>
    }
}

/// The organisation's records export, for org admins, with the delivery log chosen.
#[component]
fn DeliveryLogExport() -> impl IntoView {
    let me = crate::components::layout::use_me();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                me.await
                    .ok()
                    .filter(|m| m.is_org_admin)
                    .map(|_| view! { <crate::components::export::ExportRecords chain="deliveries"/> })
            })}
        </Transition>
    }
}

#[component]
fn SigningSecret(id: i64) -> impl IntoView {
    let hydrated = use_hydrated();
    let confirm_open = RwSignal::new(false);
    let fresh = RwSignal::new(None::<String>);
    let change = Change::new();
    let copied = RwSignal::new(false);
    let rotate = move |_| {
        change.run(
            move |reason| rotate_subscription_secret(id, reason),
            move |secret| {
                copied.set(false);
                fresh.set(Some(secret));
                confirm_open.set(false);
            },
            || {},
        );
    };
    view! {
        <section class="card section" aria-labelledby="secret-title">
            <h2 id="secret-title">"Signing secret"</h2>
            <p class="muted">
                "Every webhook carries Standard Webhooks signature headers (webhook-id, webhook-timestamp, webhook-signature) made with this subscription's secret. The secret was shown once, when the subscription was created. After a rotation the old secret keeps signing alongside the new one for 24 hours."
            </p>
            {move || fresh.get().map(|secret| view! {
                <div class="notice notice-success" role="status">
                    <strong>"New signing secret — copy it now, it is shown only this once."</strong>
                    <div class="secret-box">
                        <code aria-label="Signing secret">{secret.clone()}</code>
                        <CopyButton text=secret copied=copied/>
                    </div>
                </div>
            })}
            <button type="button" class="button" disabled=move || !hydrated.get() on:click=move |_| confirm_open.set(true)>
                "Rotate secret"
            </button>
        </section>
        <Modal open=confirm_open title="Rotate signing secret" small=true>
            <div class="dialog-body">
                <p>"A new secret will sign every webhook from now on. The current one keeps signing alongside it for 24 hours, so your receiver can switch without missing a delivery."</p>
                {change.reason_field()}
                {change.alert()}
            </div>
            <div class="dialog-foot">
                <button type="button" class="button" on:click=move |_| confirm_open.set(false)>"Cancel"</button>
                <button type="button" class="button primary" disabled=move || change.busy() on:click=rotate>"Rotate secret"</button>
            </div>
        </Modal>
    }
}
