//! A subscription's delivery log: every delivery with its status, and for each every attempt
//! with the request sent (secret header values masked) and the response or error received.

use leptos::{either::Either, prelude::*};
use serde::{Deserialize, Serialize};

use super::{
    delivery_dialog::DeliveryDialog,
    log_tools::{deliveries_per_hour, Filters, HourlyChart, LogFilters},
    TriggerView,
};
use crate::{
    components::{
        badge::DeliveryBadge,
        hydration::use_hydrated,
        pager::{ListSlice, SliceAt, SlicePager},
        status::{ErrorNotice, Loading},
        time::Time,
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
