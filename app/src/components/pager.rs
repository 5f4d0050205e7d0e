//! One pager for every long list (the overview, a delivery log, the audit trail): where you
//! are, and buttons to the newer and older pages. What a page change does — a new URL, a
//! signal — is the list's own business.

use leptos::prelude::*;

/// Page numbers of a list: 1-based, with the total number of pages (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageView {
    pub page: u32,
    pub pages: u32,
    pub total: i64,
}

impl PageView {
    pub fn new(page: u32, per_page: u32, total: i64) -> Self {
        Self {
            page,
            pages: (total.max(0) as u32).div_ceil(per_page.max(1)).max(1),
            total,
        }
    }
}

#[component]
pub fn Pager(
    at: PageView,
    /// The accessible name of the navigation landmark.
    #[prop(into)]
    label: String,
    /// What the list holds, for "Page 1 of 3 · 120 changes" (empty: no count shown).
    #[prop(into, optional)]
    noun: String,
    on_page: Callback<u32>,
) -> impl IntoView {
    let PageView { page, pages, total } = at;
    let summary = if noun.is_empty() {
        format!("Page {page} of {pages}")
    } else {
        format!("Page {page} of {pages} · {total} {noun}")
    };
    (pages > 1).then(|| {
        view! {
            <nav class="pager" aria-label=label>
                <span>{summary}</span>
                <button type="button" class="button small" disabled={page <= 1} on:click=move |_| on_page.run(page - 1)>"Newer"</button>
                <button type="button" class="button small" disabled={page >= pages} on:click=move |_| on_page.run(page + 1)>"Older"</button>
            </nav>
        }
    })
}

/// One page of a list as it crosses the wire: `{items, page, pages, total}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListPage<T> {
    pub items: Vec<T>,
    #[serde(flatten)]
    pub at: PageView,
}

#[cfg(feature = "ssr")]
impl<T> ListPage<T> {
    /// The server's page, each item made into its view.
    pub fn from_page<S>(p: server::paging::Page<S>, view: impl FnMut(S) -> T) -> Self {
        Self {
            at: PageView::new(p.page, p.per_page, p.total),
            items: p.items.into_iter().map(view).collect(),
        }
    }
}
