//! An on/off switch (`role="switch"`), saved at once by its owner. The owner flips its own
//! state first and flips it back if saving fails, so the switch never lies for long.

use leptos::prelude::*;

use crate::components::hydration::use_hydrated;

#[component]
pub fn Switch(
    /// The accessible name, e.g. "Webhook Subscriptions enabled".
    #[prop(into)]
    label: String,
    /// Show the label beside the switch (otherwise it is only announced).
    #[prop(optional)]
    visible_label: bool,
    #[prop(into)] checked: Signal<bool>,
    #[prop(optional, into)] busy: Signal<bool>,
    on_toggle: Callback<bool>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    view! {
        <button
            type="button"
            role="switch"
            class="switch"
            aria-checked=move || checked.get().to_string()
            aria-label=(!visible_label).then(|| label.clone())
            aria-busy=move || busy.get().to_string()
            disabled=move || !hydrated.get() || busy.get()
            on:click=move |_| on_toggle.run(!checked.get_untracked())
        >
            <span class="track" aria-hidden="true"><span class="thumb"></span></span>
            {visible_label.then(|| view! { <span class="switch-label">{label.clone()}</span> })}
        </button>
    }
}
