//! Controls are rendered disabled on the server and enabled once the WASM has taken over the
//! page: a click before that would be lost. Tests wait for `toBeEnabled()`.

use leptos::prelude::*;

#[derive(Clone, Copy)]
struct Hydrated(RwSignal<bool>);

/// Call once, at the top of the app.
pub fn provide_hydrated() {
    let hydrated = RwSignal::new(false);
    // Effects only run in the browser, after hydration.
    Effect::new(move |_| hydrated.set(true));
    provide_context(Hydrated(hydrated));
}

/// True once the page is interactive.
pub fn use_hydrated() -> Signal<bool> {
    match use_context::<Hydrated>() {
        Some(Hydrated(s)) => s.into(),
        None => Signal::from(false),
    }
}
