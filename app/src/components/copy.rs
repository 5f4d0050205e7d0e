//! A button that copies a value (a secret, a token, a command) to the clipboard.

use leptos::prelude::*;

/// Copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(
    #[prop(into)] text: String,
    copied: RwSignal<bool>,
    /// What is copied, for the button's accessible name ("Copy the example request").
    #[prop(optional, into)]
    label: Option<String>,
) -> impl IntoView {
    let on_click = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                let clipboard = window().navigator().clipboard();
                let ok = wasm_bindgen_futures::JsFuture::from(clipboard.write_text(&text))
                    .await
                    .is_ok();
                copied.set(ok);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    view! {
        <button type="button" class="button small" aria-label=label on:click=on_click>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}
