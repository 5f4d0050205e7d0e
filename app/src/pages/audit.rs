//! The audit trail under Server Administration: newest first, paged, filterable by kind. The
//! filter and page live in the URL, so a reload or a shared link shows the same view.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde::{Deserialize, Serialize};

use crate::{
    components::{
        hydration::use_hydrated,
        status::{ErrorNotice, Loading},
        time::Time,
    },
    errors::AppError,
    pages::admin::AdminTabs,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecordView {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPageView {
    pub records: Vec<AuditRecordView>,
    pub page: u32,
    pub pages: u32,
    pub total: i64,
}

/// (value, label) of the filter.
const KINDS: &[(&str, &str)] = &[
    ("", "All changes"),
    ("settings", "Organisation settings"),
    ("registered_url", "Registered URLs"),
    ("device", "Devices"),
    ("subscription", "Subscriptions"),
];

#[server(endpoint = "admin/audit")]
pub async fn audit_trail(kind: Option<String>, page: u32) -> Result<AuditPageView, AppError> {
    use server::audit::{self, AuditKind};
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let kind = match kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(
            AuditKind::parse(k)
                .ok_or_else(|| AppError::BadRequest(format!("unknown kind of change {k:?}")))?,
        ),
    };
    let p = audit::list(&state.pool, &user, kind, page).await?;
    let pages = ((p.total as u32).div_ceil(p.per_page)).max(1);
    Ok(AuditPageView {
        records: p
            .records
            .into_iter()
            .map(|r| AuditRecordView {
                id: r.id,
                at: r.at,
                actor: r.actor_name,
                kind: r.kind,
                action: r.action,
                subject: r.subject,
                before: r.before,
                after: r.after,
            })
            .collect(),
        page: p.page,
        pages,
        total: p.total,
    })
}

fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, l)| *l)
        .unwrap_or("Other")
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let query = use_query_map();
    let kind = Memo::new(move |_| query.read().get("kind").unwrap_or_default());
    let page = Memo::new(move |_| {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u32>().ok())
            .unwrap_or(1)
            .max(1)
    });
    let trail = Resource::new(
        move || (kind.get(), page.get()),
        |(kind, page)| audit_trail((!kind.is_empty()).then_some(kind), page),
    );
    let navigate = use_navigate();
    let hydrated = use_hydrated();
    let go = Callback::new(move |(kind, page): (String, u32)| {
        let mut url = String::from("/admin/audit");
        let mut sep = '?';
        if !kind.is_empty() {
            url.push_str(&format!("{sep}kind={kind}"));
            sep = '&';
        }
        if page > 1 {
            url.push_str(&format!("{sep}page={page}"));
        }
        navigate(&url, Default::default());
    });

    view! {
        <Title text="Audit trail"/>
        <div class="page-head">
            <div>
                <h1>"Audit trail"</h1>
                <p class="muted">"Every change to organisation settings, registered URLs, device access and subscriptions: who, when, what. Secret values are masked. Nothing here can be edited or deleted."</p>
            </div>
        </div>
        <AdminTabs/>
        <div class="toolbar">
            <label for="audit-kind">"Show"</label>
            <select
                id="audit-kind"
                prop:value=move || kind.get()
                disabled=move || !hydrated.get()
                on:change=move |ev| go.run((event_target_value(&ev), 1))
            >
                {KINDS.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
            </select>
        </div>
        <Transition fallback=|| view! { <Loading/> }>
            {move || {
                Suspend::new(async move {
                    match trail.await {
                        Ok(p) if p.records.is_empty() => Either::Left(view! {
                            <div class="card empty"><p>"No changes recorded yet."</p></div>
                        }.into_any()),
                        Ok(p) => {
                            let (page, pages) = (p.page, p.pages);
                            Either::Left(view! {
                                <div class="table-wrap">
                                    <table class="audit">
                                        <caption class="visually-hidden">"Audit trail"</caption>
                                        <thead>
                                            <tr>
                                                <th scope="col">"When"</th>
                                                <th scope="col">"Who"</th>
                                                <th scope="col">"What"</th>
                                                <th scope="col">"Details"</th>
                                            </tr>
                                        </thead>
                                        <tbody>
                                            {p.records.into_iter().map(|r| view! { <AuditRow record=r/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <nav class="pager" aria-label="Pages">
                                    <span>{format!("Page {page} of {pages} · {} changes", p.total)}</span>
                                    <button
                                        type="button"
                                        class="button small"
                                        disabled={page <= 1}
                                        on:click=move |_| go.run((kind.get_untracked(), page - 1))
                                    >
                                        "Newer"
                                    </button>
                                    <button
                                        type="button"
                                        class="button small"
                                        disabled={page >= pages}
                                        on:click=move |_| go.run((kind.get_untracked(), page + 1))
                                    >
                                        "Older"
                                    </button>
                                </nav>
                            }.into_any())
                        }
                        Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn AuditRow(record: AuditRecordView) -> impl IntoView {
    let pretty = |raw: &Option<String>| {
        raw.as_ref().map(|s| {
            serde_json::from_str::<serde_json::Value>(s)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or_else(|| s.clone())
        })
    };
    let before = pretty(&record.before);
    let after = pretty(&record.after);
    let has_details = before.is_some() || after.is_some();
    view! {
        <tr>
            <td class="nowrap"><Time ms=record.at/></td>
            <td>{record.actor.clone()}</td>
            <td>
                <span class="badge info">{kind_label(&record.kind)}</span>
                " "
                <strong>{record.action.clone()}</strong>
                <div class="cell-sub">{record.subject.clone()}</div>
            </td>
            <td>
                {has_details.then(|| view! {
                    <details>
                        <summary>"Before / after"</summary>
                        <div class="before-after">
                            <div>
                                <div class="label">"Before"</div>
                                <pre class="block">{before.clone().unwrap_or_else(|| "—".into())}</pre>
                            </div>
                            <div>
                                <div class="label">"After"</div>
                                <pre class="block">{after.clone().unwrap_or_else(|| "—".into())}</pre>
                            </div>
                        </div>
                    </details>
                })}
            </td>
        </tr>
    }
}
