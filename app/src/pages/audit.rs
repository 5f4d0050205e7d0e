//! The audit trail under Server Administration: newest first, paged, filterable by kind, each
//! entry with the fields it changed (before and after, compared on the server). The filter and
//! page live in the URL, so a reload or a shared link shows the same view. Below it, the
//! records' exports (docs/records.md): a plain form that downloads from the server, so it
//! works before the page is hydrated and costs the bundle nothing.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde::{Deserialize, Serialize};

use crate::{
    components::{
        export::ExportRecords,
        hydration::use_hydrated,
        pager::{ListPage, Pager},
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
    /// The kind for people ("Registered URLs"), from the server.
    pub kind_label: String,
    pub action: String,
    pub subject: String,
    /// The fields the change changed, compared on the server.
    pub changes: Vec<FieldChange>,
    /// Why, when the person gave a reason.
    pub reason: Option<String>,
}

/// One field that differs; `None`: not there (added or removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// (value, label) of the filter.
const KINDS: &[(&str, &str)] = &[
    ("", "All changes"),
    ("settings", "Organisation settings"),
    ("registered_url", "Registered URLs"),
    ("device", "Devices"),
    ("subscription", "Subscriptions"),
    ("user", "People"),
    ("sign_in", "Sign-ins"),
];

#[server(endpoint = "admin/audit")]
pub async fn audit_trail(
    kind: Option<String>,
    page: u32,
) -> Result<ListPage<AuditRecordView>, AppError> {
    use server::audit::{self, AuditKind};
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let kind = match kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(
            AuditKind::parse(k).ok_or_else(|| server::Error::BadRequest {
                code: "unknown_kind",
                message: format!("There is no kind of change called {k:?}."),
            })?,
        ),
    };
    let p = audit::list(&state.pool, &user, kind, page).await?;
    Ok(ListPage::from_page(p, |r| AuditRecordView {
        changes: server::domain::difference::difference(r.before.as_deref(), r.after.as_deref())
            .into_iter()
            .map(|c| FieldChange {
                field: c.field,
                before: c.before,
                after: c.after,
            })
            .collect(),
        id: r.id,
        at: r.at,
        reason: r.reason,
        actor: r.actor_name,
        kind_label: AuditKind::parse(&r.kind)
            .map_or("Other", AuditKind::label)
            .to_owned(),
        kind: r.kind,
        action: r.action,
        subject: r.subject,
    }))
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
    let trail = Resource::new_blocking(
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
                <p class="muted">"Every change to organisation settings, registered URLs, devices, people and subscriptions: who, when, what it changed. Secret values are masked. Nothing here can be edited or deleted, and every entry is chained and signed."</p>
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
                        Ok(p) if p.items.is_empty() => Either::Left(view! {
                            <div class="card empty"><p>"No changes recorded yet."</p></div>
                        }.into_any()),
                        Ok(p) => {
                            let at = p.at;
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
                                            {p.items.into_iter().map(|r| view! { <AuditRow record=r/> }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <Pager
                                    at=at
                                    label="Pages"
                                    noun="changes"
                                    on_page=Callback::new(move |page| go.run((kind.get_untracked(), page)))
                                />
                            }.into_any())
                        }
                        Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                    }
                })
            }}
        </Transition>
        <ExportRecords chain="audit"/>
    }
}

#[component]
fn AuditRow(record: AuditRecordView) -> impl IntoView {
    let count = record.changes.len();
    let changes = record.changes;
    view! {
        <tr>
            <td class="nowrap"><Time ms=record.at/></td>
            <td>{record.actor.clone()}</td>
            <td>
                <span class="badge info">{record.kind_label.clone()}</span>
                " "
                <strong>{record.action.clone()}</strong>
                <div class="cell-sub">{record.subject.clone()}</div>
                {record.reason.map(|r| view! {
                    <div class="reason"><span class="reason-label">"Reason: "</span>{r}</div>
                })}
            </td>
            <td>
                {(count > 0).then(|| view! {
                    <details>
                        <summary>{if count == 1 { "1 field changed".to_owned() } else { format!("{count} fields changed") }}</summary>
                        <table class="changes">
                            <thead>
                                <tr>
                                    <th scope="col">"Field"</th>
                                    <th scope="col">"Before"</th>
                                    <th scope="col">"After"</th>
                                </tr>
                            </thead>
                            <tbody>
                                {changes.into_iter().map(|c| view! {
                                    <tr>
                                        <th scope="row">{if c.field.is_empty() { "value".to_owned() } else { c.field }}</th>
                                        <td class="was">{c.before.unwrap_or_else(|| "—".into())}</td>
                                        <td class="now">{c.after.unwrap_or_else(|| "—".into())}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </details>
                })}
            </td>
        </tr>
    }
}
