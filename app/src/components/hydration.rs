//! Controls are rendered disabled on the server and enabled once the WASM has taken over the
//! page: a click before that would be lost. Tests wait for `toBeEnabled()`.
//!
//! "Taken over" means the whole page, its lazily loaded route included: the browser's entry
//! point says so ([`hydration_done`]) when hydration has finished. (An effect would run as
//! soon as the frame was hydrated, while the route's chunk may still be on its way; the route's
//! controls would then be hydrated as enabled over the server's disabled ones, and stay so.)

use leptos::prelude::*;

#[derive(Clone, Copy)]
struct Hydrated(RwSignal<bool>);

#[cfg(feature = "hydrate")]
thread_local! {
    static PAGE: std::cell::Cell<Option<RwSignal<bool>>> = const { std::cell::Cell::new(None) };
}

/// Call once, at the top of the app.
pub fn provide_hydrated() {
    let hydrated = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    PAGE.set(Some(hydrated));
    provide_context(Hydrated(hydrated));
}

/// Called by the browser's entry point once the page has been hydrated.
#[cfg(feature = "hydrate")]
pub fn hydration_done() {
    if let Some(hydrated) = PAGE.get() {
        hydrated.set(true);
    }
}

/// True once the page is interactive.
pub fn use_hydrated() -> Signal<bool> {
    match use_context::<Hydrated>() {
        Some(Hydrated(s)) => s.into(),
        None => Signal::from(false),
    }
}
