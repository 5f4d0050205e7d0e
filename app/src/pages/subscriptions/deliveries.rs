//! A subscription's delivery log: every delivery with its status, and for each every attempt
//! with the request sent (secret header values masked) and the response or error received.

use leptos::{either::Either, prelude::*};
use serde::{Deserialize, Serialize};

use super::{
    log_tools::{deliveries_per_hour, Filters, HourlyChart, LogFilters},
    TriggerView,
};
use crate::{
    components::{
        badge::DeliveryBadge,
        change::Change,
        hydration::use_hydrated,
        modal::{open_while_set, Modal},
        pager::{ListSlice, SliceAt, SlicePager},
        status::{ErrorNotice, Loading},
        time::{MaybeTime, Time},
    },
    errors::AppError,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: i64,
    /// A test event's delivery.
    pub test: bool,
    pub event_type: String,
    /// The event type for people ("Out of range").
    pub event_label: String,
    pub device_name: String,
    pub channel_name: Option<String>,
    pub webhook_id: String,
    pub status: String,
    pub status_label: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_http_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_duration_ms: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptView {
    pub number: i64,
    pub started_at: i64,
    pub duration_ms: i64,
    pub request_headers: Vec<(String, String)>,
    pub response_status: Option<i64>,
    pub response_headers: Vec<(String, String)>,
    pub response_body: Option<String>,
    pub error_kind: Option<String>,
    /// The error kind for people ("Timed out").
    pub error_kind_label: Option<String>,
    pub error_message: Option<String>,
    /// `stored`, `checked` or `refused`: what became of the receiver's reply.
    pub reply_outcome: Option<String>,
    pub reply_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryDetailView {
    pub delivery: DeliveryView,
    pub request_body: String,
    pub attempts: Vec<AttemptView>,
}

#[cfg(feature = "ssr")]
fn pairs(json: Option<&str>) -> Vec<(String, String)> {
    json.and_then(|s| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(s).ok())
        .map(|m| {
            m.into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(feature = "ssr")]
impl From<server::deliveries::DeliveryRow> for DeliveryView {
    fn from(d: server::deliveries::DeliveryRow) -> Self {
        DeliveryView {
            id: d.id,
            event_label: server::subscriptions::event_label(&d.event_type).to_owned(),
            event_type: d.event_type,
            device_name: d.device_name,
            channel_name: d.channel_name,
            webhook_id: d.webhook_id,
            status_label: server::domain::delivery::DeliveryStatus::label_of(&d.status),
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d.next_attempt_at,
            last_http_status: d.last_http_status,
            last_error: d.last_error,
            last_duration_ms: d.last_duration_ms,
            created_at: d.created_at,
            test: d.test,
        }
    }
}

/// A slice of the delivery log, narrowed by status, event type, channel and the last hours: the
/// newest deliveries, or those before (older than) or after (newer than) a delivery's id.
#[server(endpoint = "deliveries/list")]
pub async fn list_deliveries(
    subscription_id: i64,
    before: Option<i64>,
    after: Option<i64>,
    status: Option<String>,
    event_type: Option<String>,
    channel_id: Option<i64>,
    hours: Option<i64>,
) -> Result<ListSlice<DeliveryView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let filter = server::deliveries::LogFilter {
        status: status.filter(|s| !s.is_empty()),
        event_type: event_type.filter(|s| !s.is_empty()),
        channel_id,
        since: hours.map(|h| server::clock::now_ms() - h.max(1) * 3_600_000),
        ..Default::default()
    };
    let at = match (before, after) {
        (_, Some(id)) => SliceAt::After(id),
        (Some(id), None) => SliceAt::Before(id),
        (None, None) => SliceAt::Newest,
    };
    let slice =
        server::deliveries::list(&state.pool, &user, subscription_id, &filter, at.keyset()).await?;
    Ok(ListSlice::from_slice(slice, |d| d.id, DeliveryView::from))
}

/// Sends a delivery again: a new attempt with the same `webhook-id`.
#[server(endpoint = "deliveries/redeliver")]
pub async fn redeliver(id: i64, reason: Option<String>) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::subscriptions::redeliver(&state, &user, id).await?;
    Ok(())
}

#[server(endpoint = "deliveries/detail")]
pub async fn delivery_detail(id: i64) -> Result<DeliveryDetailView, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let d = server::deliveries::detail(&state.pool, &user, id).await?;
    Ok(DeliveryDetailView {
        delivery: d.delivery.into(),
        request_body: d.request_body,
        attempts: d
            .attempts
            .into_iter()
            .map(|a| AttemptView {
                request_headers: pairs(Some(&a.request_headers)),
                response_headers: pairs(a.response_headers.as_deref()),
                number: a.number,
                started_at: a.started_at,
                duration_ms: a.duration_ms,
                response_status: a.response_status,
                response_body: a.response_body,
                error_kind_label: a
                    .error_kind
                    .as_deref()
                    .map(|k| server::domain::delivery::ErrorKind::label_of(k).to_owned()),
                error_kind: a.error_kind,
                error_message: a.error_message,
                reply_outcome: a.reply_outcome,
                reply_message: a.reply_message,
            })
            .collect(),
    })
}

#[component]
pub fn DeliveryLog(
    subscription_id: i64,
    /// The subscription's triggers: what the filters offer.
    triggers: Vec<TriggerView>,
    /// The delivery whose details are open.
    opened: RwSignal<Option<i64>>,
    /// Bumped to load the log again.
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    // The page number shown, and where its slice starts.
    let page = RwSignal::new((1u32, SliceAt::Newest));
    let filters = Filters::new();
    // A new filter starts from the first page.
    Effect::new(move |_| {
        filters.get();
        page.set((1, SliceAt::Newest));
    });
    let log = Resource::new(
        move || (page.get().1, refresh.get(), filters.get()),
        move |(at, _, (status, event_type, channel, hours))| {
            let (before, after) = at.ids();
            list_deliveries(
                subscription_id,
                before,
                after,
                status,
                event_type,
                channel,
                hours,
            )
        },
    );
    let hourly = Resource::new(
        move || refresh.get(),
        move |_| deliveries_per_hour(subscription_id),
    );
    // Live while the page is open and in view: new deliveries and outcomes appear by themselves.
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || {
                if !document().hidden() && opened.get_untracked().is_none() {
                    refresh.update(|r| *r += 1);
                }
            },
            std::time::Duration::from_secs(3),
        );
        if let Ok(h) = handle {
            on_cleanup(move || h.clear());
        }
    }
    view! {
        <section class="card section" aria-labelledby="deliveries-title">
            <div class="section-head">
                <h2 id="deliveries-title">"Deliveries"</h2>
                <span class="muted small-text">"Updates live"</span>
                <button type="button" class="button small" disabled=move || !hydrated.get() on:click=move |_| refresh.update(|r| *r += 1)>
                    "Refresh"
                </button>
            </div>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    hourly.await.ok().map(|hours| view! { <HourlyChart hours=hours/> })
                })}
            </Transition>
            <LogFilters filters=filters triggers=triggers/>
            <Transition fallback=|| view! { <Loading/> }>
                {move || Suspend::new(async move {
                    match log.await {
                        Ok(p) if p.items.is_empty() => {
                            let filtered = untrack(|| filters.get()) != (None, None, None, None);
                            Either::Left(view! {
                                <p class="empty-inline">
                                    {if filtered {
                                        "No deliveries match these filters."
                                    } else {
                                        "Nothing delivered yet. Deliveries appear here as soon as a selected trigger event happens."
                                    }}
                                </p>
                            }.into_any())
                        }
                        Ok(p) => {
                            let (newer, older) = (p.newer, p.older);
                            let number = untrack(|| page.get().0);
                            Either::Left(view! {
                                <div class="table-wrap flat">
                                    <table>
                                        <caption class="visually-hidden">"Deliveries"</caption>
                                        <thead>
                                            <tr>
                                                <th scope="col">"Time"</th>
                                                <th scope="col">"Event"</th>
                                                <th scope="col">"Device / channel"</th>
                                                <th scope="col">"Status"</th>
                                                <th scope="col">"Attempts"</th>
                                                <th scope="col">"Last response"</th>
                                                <th scope="col"><span class="visually-hidden">"Details"</span></th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {p.items.into_iter().map(|d| {
                                                let id = d.id;
                                                view! {
                                                    <tr>
                                                        <td class="nowrap"><Time ms=d.created_at/></td>
                                                        <td>
                                                            {d.event_label.clone()}
                                                            {d.test.then(|| view! { " " <span class="badge">"Test"</span> })}
                                                            <div class="cell-sub mono">{d.event_type.clone()}</div>
                                                        </td>
                                                        <td>{d.device_name.clone()}{d.channel_name.clone().map(|c| view! { <div class="cell-sub">{c}</div> })}</td>
                                                        <td>
                                                            <DeliveryBadge status=d.status.clone() label=d.status_label.clone()/>
                                                            {d.next_attempt_at.filter(|_| d.status == "retrying").map(|t| view! {
                                                                <div class="cell-sub">"next: "<Time ms=t/></div>
                                                            })}
                                                        </td>
                                                        <td>{d.attempts}</td>
                                                        <td class="cell-response">
                                                            {match (d.last_http_status, d.last_error.clone()) {
                                                                (Some(code), _) => Either::Left(format!("HTTP {code}")),
                                                                (None, Some(e)) => Either::Right(view! { <span class="muted">{e}</span> }),
                                                                (None, None) => Either::Left("—".to_owned()),
                                                            }}
                                                            {d.last_duration_ms.map(|ms| view! { <div class="cell-sub">{format!("{ms} ms")}</div> })}
                                                        </td>
                                                        <td class="actions">
                                                            <button
                                                                type="button"
                                                                class="button small"
                                                                aria-label=format!("Details of delivery {id}")
                                                                on:click=move |_| opened.set(Some(id))
                                                            >
                                                                "Details"
                                                            </button>
                                                        </td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <SlicePager page=number newer=newer older=older label="Delivery pages" on_go=Callback::new(move |to| page.set(to))/>
                            }.into_any())
                        }
                        Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                    }
                })}
            </Transition>
        </section>
        <DeliveryDialog opened=opened refresh=refresh/>
    }
}

#[component]
fn DeliveryDialog(opened: RwSignal<Option<i64>>, refresh: RwSignal<u32>) -> impl IntoView {
    let open = open_while_set(opened);
    let tick = RwSignal::new(0u32);
    let again = Change::new();
    let queued = RwSignal::new(false);
    Effect::new(move |_| {
        if opened.get().is_some() {
            again.clear();
            queued.set(false);
        }
    });
    let send_again = move |_| {
        if let Some(id) = opened.get_untracked() {
            again.run(
                move |reason| redeliver(id, reason),
                move |()| {
                    queued.set(true);
                    refresh.update(|r| *r += 1);
                },
                || {},
            );
        }
    };
    let detail = Resource::new(
        move || (opened.get(), tick.get()),
        |(id, _)| async move {
            match id {
                Some(id) => delivery_detail(id).await.map(Some),
                None => Ok(None),
            }
        },
    );
    // A delivery not tried yet (a test event just sent, one sent again) is shown as soon as
    // its attempt is recorded.
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || {
                let waiting = detail.get_untracked().is_some_and(|d| {
                    matches!(d, Ok(Some(ref d)) if d.attempts.is_empty() || d.delivery.status == "pending")
                });
                if open.get_untracked() && waiting {
                    tick.update(|t| *t += 1);
                    refresh.update(|r| *r += 1);
                }
            },
            std::time::Duration::from_secs(1),
        );
        if let Ok(h) = handle {
            on_cleanup(move || h.clear());
        }
    }
    let title = Signal::derive(move || {
        opened
            .get()
            .map(|id| format!("Delivery {id}"))
            .unwrap_or_default()
    });
    view! {
        <Modal open=open title=title>
            <div class="dialog-body">
                <Transition fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        match detail.await {
                            Ok(Some(d)) => Either::Left(view! { <DeliveryDetailBody detail=d/> }.into_any()),
                            Ok(None) => Either::Left(().into_any()),
                            Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                        }
                    })}
                </Transition>
            </div>
            <div class="dialog-foot">
                {move || queued.get().then(|| view! {
                    <p class="muted" role="status">"Queued again: it is sent in a moment, with the same webhook-id."</p>
                })}
                {again.inline_alert()}
                <button type="button" class="button" on:click=move |_| open.set(false)>"Close"</button>
                <button
                    type="button"
                    class="button primary"
                    disabled=move || again.busy() || queued.get()
                    on:click=send_again
                >
                    "Send again"
                </button>
            </div>
        </Modal>
    }
}

#[component]
fn DeliveryDetailBody(detail: DeliveryDetailView) -> impl IntoView {
    let d = detail.delivery;
    view! {
        <dl class="kv">
            <dt>"Status"</dt>
            <dd><DeliveryBadge status=d.status.clone() label=d.status_label.clone()/></dd>
            <dt>"Event"</dt>
            <dd class="mono">{d.event_type.clone()}</dd>
            <dt>"webhook-id"</dt>
            <dd class="mono">{d.webhook_id.clone()}</dd>
            <dt>"Next attempt"</dt>
            <dd><MaybeTime ms=d.next_attempt_at/></dd>
        </dl>
        <h3 class="subhead">"Request body"</h3>
        <pre class="block" aria-label="Request body">{pretty(&detail.request_body)}</pre>
        {detail.attempts.into_iter().rev().map(|a| view! { <Attempt attempt=a/> }).collect_view()}
    }
}

#[component]
fn Attempt(attempt: AttemptView) -> impl IntoView {
    let a = attempt;
    let outcome = match (a.response_status, &a.error_kind_label) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some(label)) => label.clone(),
        _ => "no answer".into(),
    };
    let region = format!("Attempt {}", a.number);
    view! {
        <section class="attempt" aria-label=region>
            <h3 class="subhead">
                {format!("Attempt {} · {} · {} ms · ", a.number, outcome, a.duration_ms)}
                <Time ms=a.started_at/>
            </h3>
            <details>
                <summary>"Request headers"</summary>
                <HeaderTable headers=a.request_headers/>
            </details>
            {a.error_kind_label.clone().map(|label| view! {
                <p class="form-error">{format!("{}: {}", label, a.error_message.clone().unwrap_or_default())}</p>
            })}
            {a.response_status.map(|_| view! {
                <details>
                    <summary>"Response headers"</summary>
                    <HeaderTable headers=a.response_headers.clone()/>
                </details>
                <div class="label">"Response body"</div>
                <pre class="block" aria-label=format!("Response body of attempt {}", a.number)>
                    {a.response_body.clone().filter(|b| !b.is_empty()).unwrap_or_else(|| "(empty)".into())}
                </pre>
            })}
            {a.reply_message.clone().map(|message| {
                let (class, lead) = match a.reply_outcome.as_deref() {
                    Some("stored") => ("notice notice-success reply-note", "Reply used: "),
                    Some("checked") => ("notice notice-info reply-note", "Reply checked: "),
                    _ => ("notice notice-warn reply-note", "Reply not used: "),
                };
                view! {
                    <p class=class role="note" aria-label=format!("Reply of attempt {}", a.number)>
                        <strong>{lead}</strong>
                        {message}
                    </p>
                }
            })}
        </section>
    }
}

#[component]
fn HeaderTable(headers: Vec<(String, String)>) -> impl IntoView {
    view! {
        <table class="headers-table">
            <tbody>
                {headers.into_iter().map(|(k, v)| view! {
                    <tr><th scope="row" class="mono">{k}</th><td class="mono">{v}</td></tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}

fn pretty(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| json.to_owned())
}
