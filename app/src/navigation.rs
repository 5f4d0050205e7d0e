//! Leaving the single-page world on purpose.

/// Loads `url` as a new page. Used after signing in or out, so that nothing of the previous
/// session lingers in memory.
pub fn go_to(url: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = leptos::prelude::window().location().set_href(url);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = url;
}

/// The current path and query, for "come back here after signing in".
pub fn current_path() -> String {
    #[cfg(feature = "hydrate")]
    {
        let loc = leptos::prelude::window().location();
        format!(
            "{}{}",
            loc.pathname().unwrap_or_default(),
            loc.search().unwrap_or_default()
        )
    }
    #[cfg(not(feature = "hydrate"))]
    String::from("/")
}

/// The address of this site (scheme, host, port), for links and commands handed to people:
/// the page knows where it is; on the server it is not needed (dialogs open in the browser).
pub fn site_address() -> String {
    #[cfg(feature = "hydrate")]
    {
        leptos::prelude::window()
            .location()
            .origin()
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    String::new()
}
