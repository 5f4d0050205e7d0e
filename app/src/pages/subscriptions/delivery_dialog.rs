//! One delivery opened from the log: the request body, every attempt with the headers sent
//! (secret values masked) and the answer or error received, and "Send again".

use leptos::{either::Either, prelude::*};
use serde::{Deserialize, Serialize};

use super::deliveries::DeliveryView;
use crate::{
    components::{
        badge::DeliveryBadge,
        change::Change,
        modal::{open_while_set, Modal},
        status::{ErrorNotice, Loading},
        time::{MaybeTime, Time},
    },
    errors::AppError,
};

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
pub(super) fn DeliveryDialog(
    opened: RwSignal<Option<i64>>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
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
