//! A modal dialog on the native `<dialog>` element: focus moves in and is kept inside, Escape
//! closes it, the page behind is inert. `open` is the single source of truth.

use leptos::{html, prelude::*};

#[component]
pub fn Modal(
    open: RwSignal<bool>,
    #[prop(into)] title: Signal<String>,
    /// A narrower dialog (confirmations).
    #[prop(optional)]
    small: bool,
    /// Called when the dialog is dismissed with Escape (before it closes).
    #[prop(optional)]
    on_cancel: Option<Callback<()>>,
    children: ChildrenFn,
) -> impl IntoView {
    let dialog = NodeRef::<html::Dialog>::new();
    let title_id = StoredValue::new(format!(
        "dialog-{}",
        title
            .get_untracked()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    ));

    Effect::new(move |_| {
        let want = open.get();
        #[cfg(feature = "hydrate")]
        request_animation_frame(move || {
            if let Some(d) = dialog.get_untracked() {
                if want && !d.open() {
                    let _ = d.show_modal();
                } else if !want && d.open() {
                    d.close();
                }
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (want, dialog);
    });

    view! {
        <dialog
            node_ref=dialog
            class:small=small
            aria-labelledby=title_id.get_value()
            on:cancel=move |_: leptos::ev::Event| {
                if let Some(cb) = on_cancel {
                    cb.run(());
                }
            }
            on:close=move |_: leptos::ev::Event| open.set(false)
        >
            <Show when=move || open.get()>
                <div class="dialog-head">
                    <h2 id=title_id.get_value()>{move || title.get()}</h2>
                    <button
                        type="button"
                        class="icon-button"
                        aria-label="Close"
                        on:click=move |_| {
                            if let Some(cb) = on_cancel {
                                cb.run(());
                            }
                            open.set(false)
                        }
                    >
                        "✕"
                    </button>
                </div>
                {children()}
            </Show>
        </dialog>
    }
}

/// The `open` signal of a dialog about one thing at a time: it opens when `subject` is set, and
/// closing it clears `subject`.
pub fn open_while_set<T>(subject: RwSignal<Option<T>>) -> RwSignal<bool>
where
    T: Send + Sync + 'static,
{
    let open = RwSignal::new(false);
    Effect::new(move |_| {
        if subject.with(Option::is_some) {
            open.set(true);
        }
    });
    Effect::new(move |_| {
        if !open.get() {
            subject.set(None);
        }
    });
    open
}
