//! The bell in the header: notices Labhook left for this person (a subscription it switched
//! off), newest first, each marked read by the person who read it.

use leptos::{either::Either, prelude::*};
use leptos_router::components::A;
use serde::{Deserialize, Serialize};

use crate::{
    components::{change::Change, hydration::use_hydrated, icons::BellIcon, time::Time},
    errors::AppError,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationView {
    pub id: i64,
    pub subscription_id: Option<i64>,
    pub message: String,
    pub created_at: i64,
    pub read: bool,
}

#[server(endpoint = "notifications/list")]
pub async fn list_notifications() -> Result<Vec<NotificationView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let list = server::notifications::list(&state.pool, &user).await?;
    Ok(list
        .into_iter()
        .map(|n| NotificationView {
            id: n.id,
            subscription_id: n.subscription_id,
            message: n.message,
            created_at: n.created_at,
            read: n.read,
        })
        .collect())
}

#[server(endpoint = "notifications/mark_read")]
pub async fn mark_notifications_read() -> Result<(), AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    server::notifications::mark_all_read(&state, &user).await?;
    Ok(())
}

#[component]
pub fn NotificationBell() -> impl IntoView {
    let hydrated = use_hydrated();
    let version = RwSignal::new(0u32);
    // Loaded in the browser only: the header is on every page, and a resource read outside a
    // suspense boundary would render differently on the server than during hydration.
    let list = RwSignal::new(None::<Result<Vec<NotificationView>, AppError>>);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        version.get();
        leptos::task::spawn_local(async move { list.set(Some(list_notifications().await)) });
    });
    let open = RwSignal::new(false);
    let marking = Change::new();
    let unread = move || {
        list.with(|l| {
            l.as_ref()
                .and_then(|l| l.as_ref().ok())
                .map_or(0, |l| l.iter().filter(|n| !n.read).count())
        })
    };
    let mark = move |_| {
        marking.call(
            mark_notifications_read(),
            move |()| version.update(|v| *v += 1),
            || {},
        )
    };
    view! {
        <div class="bell">
            <button
                type="button"
                class="button ghost bell-button"
                aria-expanded=move || open.get().to_string()
                aria-controls="notifications"
                // A click before the page's code runs would be lost.
                disabled=move || !hydrated.get()
                aria-label=move || match unread() {
                    0 => "Notifications".to_owned(),
                    n => format!("Notifications, {n} unread"),
                }
                on:click=move |_| open.update(|o| *o = !*o)
            >
                <BellIcon/>
                {move || (unread() > 0).then(|| view! { <span class="bell-count" aria-hidden="true">{unread()}</span> })}
            </button>
            <Show when=move || open.get()>
                <section id="notifications" class="bell-panel card" aria-label="Notifications">
                    {move || {
                            match list.get() {
                                None => Either::Left(view! { <p class="muted">"Loading…"</p> }.into_any()),
                                Some(Ok(l)) if l.is_empty() => Either::Left(view! { <p class="muted">"Nothing new."</p> }.into_any()),
                                Some(Ok(l)) => Either::Left(view! {
                                    <ul class="plain-list">
                                        {l.into_iter().map(|n| view! {
                                            <li class:unread=!n.read>
                                                <div>{n.message.clone()}</div>
                                                <div class="cell-sub">
                                                    <Time ms=n.created_at/>
                                                    {n.subscription_id.map(|id| view! {
                                                        " · " <A href=format!("/subscriptions/{id}")>"Open the subscription"</A>
                                                    })}
                                                </div>
                                            </li>
                                        }).collect_view()}
                                    </ul>
                                }.into_any()),
                                Some(Err(e)) => Either::Right(view! { <p class="form-error">{e.to_string()}</p> }),
                            }
                        }}
                    <div class="section-foot">
                        <button type="button" class="button small" disabled=move || unread() == 0 || marking.busy() on:click=mark>
                            "Mark all as read"
                        </button>
                        <button type="button" class="button small" on:click=move |_| open.set(false)>"Close"</button>
                    </div>
                </section>
            </Show>
        </div>
    }
}
