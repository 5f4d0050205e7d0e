//! Small shared views for loading, errors and empty states.

use leptos::prelude::*;

use crate::{
    errors::AppError,
    navigation::{current_path, go_to},
};

#[component]
pub fn Loading(#[prop(optional, into)] what: Option<String>) -> impl IntoView {
    let text = what.unwrap_or_else(|| "Loading…".into());
    view! {
        <p class="loading" role="status" aria-live="polite">
            <span class="spinner" aria-hidden="true"></span>
            {text}
        </p>
    }
}

/// Shows an error that stopped a page section from loading. An ended session sends the user
/// to the sign-in page, to come back here afterwards.
#[component]
pub fn ErrorNotice(error: AppError) -> impl IntoView {
    if error == AppError::Unauthenticated {
        Effect::new(move |_| {
            let next = current_path();
            go_to(&format!("/sign-in?next={}", js_encode(&next)));
        });
    }
    let title = match &error {
        AppError::Forbidden(_) => "Not allowed",
        AppError::NotFound(_) => "Not found",
        AppError::Unauthenticated => "Signed out",
        _ => "Something went wrong",
    };
    view! {
        <div class="notice notice-error" role="alert">
            <strong>{title}</strong>
            <p>{error.to_string()}</p>
        </div>
    }
}

fn js_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
