#![recursion_limit = "512"]
//! The root package: the browser entry point (`hydrate`) and, for the server binary and the
//! integration tests, the assembly of the whole web application (`startup`).

#[cfg(feature = "ssr")]
pub mod startup;

/// Called by the generated JavaScript once the WASM is loaded: takes over the server-rendered
/// page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
