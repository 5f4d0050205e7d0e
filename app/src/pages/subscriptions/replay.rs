//! Replay on a subscription's page: choose a time range (and, if wanted, one channel or event
//! type), see how many events that is, confirm; then follow its progress, or cancel it.

use leptos::{either::Either, prelude::*};
use serde::{Deserialize, Serialize};

use super::SubscriptionView;
use crate::{
    components::{change::Change, hydration::use_hydrated, time::Time},
    errors::AppError,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayView {
    pub id: i64,
    pub since: i64,
    pub until: i64,
    pub total: i64,
    pub queued: i64,
    pub status: String,
}

#[cfg(feature = "ssr")]
fn input(
    since: &str,
    until: &str,
    channel_id: Option<i64>,
    event_type: Option<String>,
) -> Result<server::subscriptions::replay::ReplayInput, AppError> {
    use server::clock::parse_utc_minute;
    let time = |raw: &str, field: &str, what: &str| {
        parse_utc_minute(raw).ok_or_else(|| {
            AppError::from(server::Error::invalid(
                field,
                format!("Please enter the {what}."),
            ))
        })
    };
    Ok(server::subscriptions::replay::ReplayInput {
        since: time(since, "since", "start")?,
        until: time(until, "until", "end")?,
        channel_id,
        event_type: event_type.filter(|t| !t.is_empty()),
    })
}

/// How many events a replay of this range would send.
#[server(endpoint = "subscriptions/replay_preview")]
pub async fn replay_preview(
    id: i64,
    since: String,
    until: String,
    channel_id: Option<i64>,
    event_type: Option<String>,
) -> Result<i64, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let r = input(&since, &until, channel_id, event_type)?;
    Ok(server::subscriptions::replay::preview(&state, &user, id, &r).await?)
}

#[server(endpoint = "subscriptions/replay_start")]
pub async fn replay_start(
    id: i64,
    since: String,
    until: String,
    channel_id: Option<i64>,
    event_type: Option<String>,
    reason: Option<String>,
) -> Result<i64, AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    let r = input(&since, &until, channel_id, event_type)?;
    Ok(server::subscriptions::replay::start(&state, &user, id, &r).await?)
}

#[server(endpoint = "subscriptions/replays")]
pub async fn replays(id: i64) -> Result<Vec<ReplayView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let list = server::subscriptions::replay::list(&state, &user, id).await?;
    Ok(list
        .into_iter()
        .map(|r| ReplayView {
            id: r.id,
            since: r.since,
            until: r.until,
            total: r.total,
            queued: r.queued,
            status: r.status,
        })
        .collect())
}

#[server(endpoint = "subscriptions/replay_cancel")]
pub async fn replay_cancel(replay_id: i64, reason: Option<String>) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::subscriptions::replay::cancel(&state, &user, replay_id).await?;
    Ok(())
}

#[component]
pub(super) fn ReplayPanel(subscription: SubscriptionView, refresh: RwSignal<u32>) -> impl IntoView {
    let id = subscription.id;
    let hydrated = use_hydrated();
    // "Replay what it missed" links here with the gap in the query.
    let query = leptos_router::hooks::use_query_map();
    let prefill = move |key: &str, round_up: i64| {
        query
            .read_untracked()
            .get(key)
            .and_then(|v| v.parse::<i64>().ok())
            .map(|ms| {
                let ms = ms + round_up;
                let (day, time) = crate::components::time::utc_parts(ms);
                format!("{day}T{}", &time[..5])
            })
            .unwrap_or_default()
    };
    let since = RwSignal::new(prefill("replay_since", 0));
    // Rounded up to the next minute: the form has no seconds, and nothing of the gap may be cut.
    let until = RwSignal::new(prefill("replay_until", 59_999));
    let channel = RwSignal::new(String::new());
    let event_type = RwSignal::new(String::new());
    let previewed = RwSignal::new(None::<i64>);
    let asking = Change::new();
    let list = Resource::new(move || refresh.get(), move |_| replays(id));
    // A changed range needs a new count before it can be started.
    Effect::new(move |_| {
        since.track();
        until.track();
        channel.track();
        event_type.track();
        previewed.set(None);
    });
    let args = move || {
        (
            id,
            since.get_untracked(),
            until.get_untracked(),
            channel.get_untracked().parse().ok(),
            Some(event_type.get_untracked()),
        )
    };
    let preview = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (id, a, b, c, t) = args();
        asking.call(
            replay_preview(id, a, b, c, t),
            move |n| previewed.set(Some(n)),
            || {},
        );
    };
    let start = move |_| {
        let (id, a, b, c, t) = args();
        asking.run(
            move |reason| replay_start(id, a, b, c, t, reason),
            move |_| {
                previewed.set(None);
                refresh.update(|r| *r += 1);
            },
            || {},
        );
    };
    let mut channels: Vec<(i64, String)> = Vec::new();
    let mut types: Vec<(String, String)> = Vec::new();
    for t in &subscription.triggers {
        if !channels.iter().any(|(c, _)| *c == t.channel_id) {
            channels.push((
                t.channel_id,
                format!("{} › {}", t.device_name, t.channel_name),
            ));
        }
        if !types.iter().any(|(ty, _)| *ty == t.event_type) {
            types.push((t.event_type.clone(), t.event_label.clone()));
        }
    }
    view! {
        <section class="card section" aria-labelledby="replay-title">
            <h2 id="replay-title">"Replay"</h2>
            <p class="muted">
                "Send again everything this subscription would have received in a time range — after your receiver was down longer than the retries last. Replays go out behind live deliveries; events older than the delivery retention are no longer kept."
            </p>
            <form on:submit=preview novalidate>
                <div class="field-row">
                    <div class="field">
                        <label for="replay-since">"From (UTC)"</label>
                        <input id="replay-since" type="datetime-local" prop:value=move || since.get() on:input=move |ev| since.set(event_target_value(&ev))/>
                        <p class="field-error" role="alert">{move || asking.field("since")}</p>
                    </div>
                    <div class="field">
                        <label for="replay-until">"To (UTC)"</label>
                        <input id="replay-until" type="datetime-local" prop:value=move || until.get() on:input=move |ev| until.set(event_target_value(&ev))/>
                        <p class="field-error" role="alert">{move || asking.field("until")}</p>
                    </div>
                    <div class="field">
                        <label for="replay-channel">"Channel"</label>
                        <select id="replay-channel" on:change=move |ev| channel.set(event_target_value(&ev))>
                            <option value="">"All"</option>
                            {channels.into_iter().map(|(c, l)| view! { <option value=c.to_string()>{l}</option> }).collect_view()}
                        </select>
                    </div>
                    <div class="field">
                        <label for="replay-type">"Event"</label>
                        <select id="replay-type" on:change=move |ev| event_type.set(event_target_value(&ev))>
                            <option value="">"All"</option>
                            {types.into_iter().map(|(t, l)| view! { <option value=t>{l}</option> }).collect_view()}
                        </select>
                    </div>
                </div>
                {move || asking.error().and_then(|e| e.general(&["since", "until"])).map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
                <div class="section-foot">
                    <button type="submit" class="button" disabled=move || !hydrated.get() || asking.busy()>"Count events"</button>
                    {move || previewed.get().map(|n| view! {
                        <span role="status">{format!("{n} event{} would be sent again. ", if n == 1 { "" } else { "s" })}</span>
                        <button type="button" class="button primary" disabled=move || n == 0 || asking.busy() on:click=start>
                            {format!("Replay {n} event{}", if n == 1 { "" } else { "s" })}
                        </button>
                    })}
                </div>
            </form>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(l) if l.is_empty() => Either::Left(().into_any()),
                        Ok(l) => Either::Left(view! {
                            <ul class="plain-list replays" aria-label="Replays">
                                {l.into_iter().map(|r| view! { <ReplayRow replay=r refresh=refresh/> }).collect_view()}
                            </ul>
                        }.into_any()),
                        Err(e) => Either::Right(view! { <p class="form-error">{e.to_string()}</p> }),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn ReplayRow(replay: ReplayView, refresh: RwSignal<u32>) -> impl IntoView {
    let r = replay;
    let cancelling = Change::new();
    let id = r.id;
    let status = match r.status.as_str() {
        "running" => "running",
        "done" => "all queued",
        _ => "cancelled",
    };
    view! {
        <li>
            <div>
                <Time ms=r.since/>" – "<Time ms=r.until/>
                <span class="muted">{format!(" · {} of {} queued · {status}", r.queued, r.total)}</span>
            </div>
            <progress max=r.total value=r.queued aria-label=format!("Replay {id}: {} of {} queued", r.queued, r.total)></progress>
            {(r.status == "running").then(|| view! {
                <button
                    type="button"
                    class="button small"
                    aria-label=format!("Cancel replay {id}")
                    disabled=move || cancelling.busy()
                    on:click=move |_| cancelling.run(move |reason| replay_cancel(id, reason), move |()| refresh.update(|x| *x += 1), || {})
                >
                    "Cancel"
                </button>
            })}
            {cancelling.inline_alert()}
        </li>
    }
}
