//! Signing in and out, and who is signed in: the server functions and the sign-in page.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

use crate::{components::hydration::use_hydrated, errors::AppError, navigation::go_to};

/// The signed-in user, as the page header shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    pub email: String,
    pub is_org_admin: bool,
    pub organisation: String,
    /// Whether the organisation has the webhook feature switched on.
    pub webhooks_enabled: bool,
    /// Whether every change needs a reason (the pages ask for one before sending it).
    pub reasons_required: bool,
}

#[server(endpoint = "who_am_i")]
pub async fn who_am_i() -> Result<Me, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let webhooks_enabled =
        server::settings::webhooks_enabled(&state.pool, user.organisation_id).await?;
    let reasons_required = {
        let mut conn = state.pool.acquire().await.map_err(server::Error::from)?;
        server::audit::reasons_required(&mut conn, user.organisation_id).await?
    };
    Ok(Me {
        webhooks_enabled,
        reasons_required,
        is_org_admin: user.is_org_admin(),
        name: user.name,
        email: user.email,
        organisation: user.organisation_name,
    })
}

/// Checks the credentials, sets the session cookie and answers where to go next.
#[server(endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<String, AppError> {
    use server::http::session;
    let state = crate::ssr::state()?;
    let headers: http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(|_| AppError::Internal)?;
    let client = crate::ssr::client_address(&state).await;
    let (_user, token) = server::people::sign_in(&state, &email, &password, client).await?;
    let res = expect_context::<leptos_axum::ResponseOptions>();
    res.append_header(
        http::header::SET_COOKIE,
        session::set_cookie(&token, &headers, &state.config),
    );
    Ok(session::safe_next(next.as_deref()))
}

/// Ends the session (if any) and removes the cookie.
#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use server::http::session;
    let state = crate::ssr::state()?;
    let headers: http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(|_| AppError::Internal)?;
    if let Some(token) = session::token_from_headers(&headers, &state.config) {
        server::auth::sign_out(&state, &token).await?;
    }
    let res = expect_context::<leptos_axum::ResponseOptions>();
    res.append_header(
        http::header::SET_COOKIE,
        session::clear_cookie(&headers, &state.config),
    );
    Ok(())
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let hydrated = use_hydrated();
    let succeeded = move || matches!(action.value().get(), Some(Ok(_)));

    // A full page load after signing in: every part of the page starts from the new session.
    Effect::new(move |_| {
        if let Some(Ok(url)) = action.value().get() {
            go_to(&url);
        }
    });

    view! {
        <Title text="Sign in"/>
        <main class="auth-page" id="main">
            <section class="card auth-card" aria-labelledby="sign-in-title">
                <div class="brand brand-large" aria-hidden="true">
                    <span class="brand-mark">"◆"</span>
                    " Labhook"
                </div>
                <h1 id="sign-in-title">"Sign in"</h1>
                <p class="muted">"Webhook subscriptions for your lab devices."</p>
                <ActionForm action=action>
                    <div class="field">
                        <label for="email">"Email"</label>
                        <input
                            id="email"
                            type="email"
                            name="email"
                            autocomplete="username"
                            required
                            autofocus
                        />
                    </div>
                    <div class="field">
                        <label for="password">"Password"</label>
                        <input
                            id="password"
                            type="password"
                            name="password"
                            autocomplete="current-password"
                            required
                        />
                    </div>
                    <input type="hidden" name="next" prop:value=next/>
                    {move || {
                        action
                            .value()
                            .get()
                            .and_then(|r| r.err())
                            .map(|e| view! { <p role="alert" class="form-error">{e.to_string()}</p> })
                    }}
                    <button
                        type="submit"
                        class="button primary wide"
                        disabled=move || !hydrated.get() || action.pending().get() || succeeded()
                    >
                        {move || {
                            if action.pending().get() || succeeded() { "Signing in…" } else { "Sign in" }
                        }}
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}
