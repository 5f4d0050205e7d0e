//! A delivery's status as a coloured badge. The words come from the server (the delivery
//! log's vocabulary lives in `server::domain::delivery`); only the colour is chosen here.

use leptos::prelude::*;

#[component]
pub fn DeliveryBadge(
    /// The stored status: `delivered`, `retrying`, `failed`, `cancelled`, `pending`.
    #[prop(into)]
    status: String,
    /// What people read.
    #[prop(into)]
    label: String,
) -> impl IntoView {
    let class = match status.as_str() {
        "delivered" => "badge ok",
        "retrying" => "badge warn",
        "failed" => "badge bad",
        "cancelled" => "badge",
        _ => "badge info",
    };
    view! { <span class=class>{label}</span> }
}
