//! The pagers of long lists: by page number with a total (the overview, the audit trail), or by
//! slices before and after a row (a delivery log, which may hold millions): where you are, and
//! buttons to the newer and older pages. What a page change does — a new URL, a
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

/// Where a slice of a newest-first list starts, as it crosses the wire: the newest rows, or
/// those before (older than) or after (newer than) a row's id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SliceAt {
    #[default]
    Newest,
    Before(i64),
    After(i64),
}

impl SliceAt {
    /// As a server function takes it: (before, after).
    pub fn ids(self) -> (Option<i64>, Option<i64>) {
        match self {
            SliceAt::Newest => (None, None),
            SliceAt::Before(id) => (Some(id), None),
            SliceAt::After(id) => (None, Some(id)),
        }
    }

    #[cfg(feature = "ssr")]
    pub fn keyset(self) -> server::paging::Keyset {
        use server::paging::Keyset;
        match self {
            SliceAt::Newest => Keyset::NEWEST,
            SliceAt::Before(id) => Keyset::Before(id),
            SliceAt::After(id) => Keyset::After(id),
        }
    }
}

/// A slice of a list that may be long beyond counting (a delivery log): its items, and the ids
/// to go on from when there are newer or older ones.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ListSlice<T> {
    pub items: Vec<T>,
    /// The first item's id, when there are newer items.
    pub newer: Option<i64>,
    /// The last item's id, when there are older items.
    pub older: Option<i64>,
}

#[cfg(feature = "ssr")]
impl<T> ListSlice<T> {
    /// The server's slice, each item made into its view.
    pub fn from_slice<S>(
        s: server::paging::Slice<S>,
        id: impl Fn(&S) -> i64,
        view: impl FnMut(S) -> T,
    ) -> Self {
        Self {
            newer: s.items.first().map(&id).filter(|_| s.newer),
            older: s.items.last().map(&id).filter(|_| s.older),
            items: s.items.into_iter().map(view).collect(),
        }
    }
}

/// The pager of a slice: which page this is (counted by the pager, not the list) and buttons to
/// the newer and older slices.
#[component]
pub fn SlicePager(
    page: u32,
    newer: Option<i64>,
    older: Option<i64>,
    /// The accessible name of the navigation landmark.
    #[prop(into)]
    label: String,
    on_go: Callback<(u32, SliceAt)>,
) -> impl IntoView {
    // Back on the first page, the newest rows (not those after a row): new ones show up there.
    let to_newer = move |id| match page.saturating_sub(1).max(1) {
        1 => (1, SliceAt::Newest),
        p => (p, SliceAt::After(id)),
    };
    (newer.is_some() || older.is_some()).then(|| {
        view! {
            <nav class="pager" aria-label=label>
                <span>{format!("Page {page}")}</span>
                <button type="button" class="button small" disabled=newer.is_none() on:click=move |_| {
                    if let Some(id) = newer { on_go.run(to_newer(id)) }
                }>"Newer"</button>
                <button type="button" class="button small" disabled=older.is_none() on:click=move |_| {
                    if let Some(id) = older { on_go.run((page + 1, SliceAt::Before(id))) }
                }>"Older"</button>
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
