use leptos::prelude::*;
use leptos_meta::Title;

/// Temporary page frame for sections that are still being built.
#[component]
pub fn Stub(#[prop(into)] title: String) -> impl IntoView {
    view! {
        <Title text=title.clone()/>
        <h1>{title}</h1>
    }
}
