//! A menu button (WAI-ARIA "menu button" pattern): the More menu in the header and the
//! three-dots menu on the subscriptions overview.
//!
//! Keyboard: Enter/Space/ArrowDown open it and focus the first item, arrows move, Home/End
//! jump, Escape closes and returns focus to the button, Tab closes.

use leptos::{html, prelude::*};

use crate::components::hydration::use_hydrated;

#[derive(Clone)]
pub enum MenuEntry {
    Link {
        label: String,
        href: String,
    },
    Action {
        label: String,
        on_select: Callback<()>,
    },
}

impl MenuEntry {
    pub fn link(label: impl Into<String>, href: impl Into<String>) -> Self {
        MenuEntry::Link {
            label: label.into(),
            href: href.into(),
        }
    }
}

#[component]
pub fn Menu(
    /// The menu's accessible name (also the button's text unless `icon` is given).
    #[prop(into)]
    label: String,
    /// A symbol to show on the button instead of the label.
    #[prop(optional, into)]
    icon: Option<String>,
    /// Open the list towards the left edge of the button (for buttons at the right edge).
    #[prop(optional)]
    align_right: bool,
    items: Vec<MenuEntry>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let hydrated = use_hydrated();
    let list_ref = NodeRef::<html::Ul>::new();
    let button_ref = NodeRef::<html::Button>::new();
    let id = format!(
        "menu-{}",
        label
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    );

    let focus_item = move |which: Which| {
        #[cfg(feature = "hydrate")]
        request_animation_frame(move || {
            use wasm_bindgen::JsCast;
            let Some(list) = list_ref.get_untracked() else {
                return;
            };
            let Ok(nodes) = list.query_selector_all("[role=menuitem]") else {
                return;
            };
            let items: Vec<web_sys::HtmlElement> = (0..nodes.length())
                .filter_map(|i| nodes.item(i))
                .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
                .collect();
            if items.is_empty() {
                return;
            }
            let active = leptos::prelude::document().active_element();
            let current = items
                .iter()
                .position(|el| active.as_ref() == Some(el.unchecked_ref()));
            let n = items.len();
            let index = match (which, current) {
                (Which::First, _) | (Which::Next, None) => 0,
                (Which::Last, _) | (Which::Previous, None) => n - 1,
                (Which::Next, Some(i)) => (i + 1) % n,
                (Which::Previous, Some(i)) => (i + n - 1) % n,
            };
            let _ = items[index].focus();
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = which;
    };
    let close = move |refocus: bool| {
        open.set(false);
        if refocus {
            if let Some(b) = button_ref.get_untracked() {
                let _ = b.focus();
            }
        }
    };
    let on_list_key = move |ev: leptos::ev::KeyboardEvent| match ev.key().as_str() {
        "ArrowDown" => {
            ev.prevent_default();
            focus_item(Which::Next)
        }
        "ArrowUp" => {
            ev.prevent_default();
            focus_item(Which::Previous)
        }
        "Home" => {
            ev.prevent_default();
            focus_item(Which::First)
        }
        "End" => {
            ev.prevent_default();
            focus_item(Which::Last)
        }
        "Escape" => {
            ev.prevent_default();
            close(true)
        }
        "Tab" => close(false),
        _ => {}
    };
    let on_button_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "ArrowDown" {
            ev.prevent_default();
            open.set(true);
            focus_item(Which::First);
        }
    };

    let entries = items
        .into_iter()
        .map(|item| match item {
            MenuEntry::Link { label, href } => view! {
                <li role="none">
                    <a role="menuitem" tabindex="-1" href=href on:click=move |_| close(false)>
                        {label}
                    </a>
                </li>
            }
            .into_any(),
            MenuEntry::Action { label, on_select } => view! {
                <li role="none">
                    <button
                        type="button"
                        role="menuitem"
                        tabindex="-1"
                        on:click=move |_| {
                            close(false);
                            on_select.run(());
                        }
                    >
                        {label}
                    </button>
                </li>
            }
            .into_any(),
        })
        .collect_view();

    let button_text = icon.clone().unwrap_or_else(|| label.clone());
    let has_icon = icon.is_some();
    view! {
        <div class="menu">
            <button
                type="button"
                class="menu-button"
                class:icon-button=has_icon
                node_ref=button_ref
                aria-haspopup="menu"
                aria-controls=id.clone()
                aria-expanded=move || open.get().to_string()
                aria-label=has_icon.then(|| label.clone())
                disabled=move || !hydrated.get()
                on:click=move |_| {
                    let now_open = !open.get_untracked();
                    open.set(now_open);
                    if now_open {
                        focus_item(Which::First);
                    }
                }
                on:keydown=on_button_key
            >
                {button_text}
                {(!has_icon).then(|| view! { <span class="caret" aria-hidden="true">"▾"</span> })}
            </button>
            <div class="menu-backdrop" hidden=move || !open.get() on:click=move |_| close(false)></div>
            <ul
                id=id
                role="menu"
                class="menu-list"
                class:align-right=align_right
                aria-label=label.clone()
                node_ref=list_ref
                hidden=move || !open.get()
                on:keydown=on_list_key
            >
                {entries}
            </ul>
        </div>
    }
}

#[derive(Clone, Copy)]
enum Which {
    First,
    Last,
    Next,
    Previous,
}
