#![recursion_limit = "512"]
//! The root package: the browser entry point (`hydrate`) and, for the server binary and the
//! integration tests, the assembly of the whole web application (`startup`).

#[cfg(feature = "ssr")]
pub mod startup;

/// Called by the generated JavaScript once the WASM is loaded: takes over the server-rendered
/// page. A later page's code is a lazily loaded chunk (`app::routes`): it is loaded first, then
/// the page is hydrated in one go and its controls enabled.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // (Leptos' executor is set up by `hydrate_from_async`; the preload only needs a future run.)
    wasm_bindgen_futures::spawn_local(async {
        let path = leptos::prelude::window()
            .location()
            .pathname()
            .unwrap_or_default();
        app::routes::preload(&path).await;
        let page = leptos::mount::hydrate_from_async(
            leptos::prelude::document().body().expect("a body"),
            app::App,
        )
        .await;
        page.forget();
        app::components::hydration::hydration_done();
    });
}
