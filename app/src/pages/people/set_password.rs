//! The page a one-time link opens: the person chooses their password, then signs in.

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::components::{change::Change, hydration::use_hydrated, status::Loading};

use super::{password_link_owner, set_password};

#[component]
pub fn SetPasswordPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let owner = Resource::new(token, password_link_owner);
    let password = RwSignal::new(String::new());
    let repeated = RwSignal::new(String::new());
    let mismatch = RwSignal::new(false);
    let saving = Change::new();
    let done = RwSignal::new(false);
    let hydrated = use_hydrated();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if password.get_untracked() != repeated.get_untracked() {
            mismatch.set(true);
            return;
        }
        mismatch.set(false);
        saving.call(
            set_password(token(), password.get_untracked()),
            move |()| done.set(true),
            || {},
        );
    };
    view! {
        <Title text="Set your password"/>
        <main class="auth-page" id="main">
            <section class="card auth-card" aria-labelledby="set-password-title">
                <div class="brand brand-large" aria-hidden="true">
                    <span class="brand-mark">"◆"</span>
                    " Labhook"
                </div>
                <h1 id="set-password-title">"Set your password"</h1>
                <Suspense fallback=|| view! { <Loading/> }>
                    {move || Suspend::new(async move {
                        match owner.await {
                            Err(e) => Either::Left(view! { <p role="alert" class="form-error">{e.to_string()}</p> }),
                            Ok(name) => Either::Right(view! {
                                <Show
                                    when=move || !done.get()
                                    fallback=|| view! {
                                        <div class="notice notice-success" role="status">
                                            <p>"Your password is set."</p>
                                        </div>
                                        <a class="button primary wide" href="/sign-in">"Sign in"</a>
                                    }
                                >
                                    <p class="muted">{format!("Welcome, {name}. Choose a password of at least 10 characters.")}</p>
                                    <form on:submit=submit novalidate>
                                        <div class="field">
                                            <label for="new-password">"New password"</label>
                                            <input id="new-password" type="password" autocomplete="new-password"
                                                prop:value=move || password.get()
                                                on:input=move |ev| password.set(event_target_value(&ev))/>
                                            <p class="field-error" role="alert">{move || saving.field("password")}</p>
                                        </div>
                                        <div class="field">
                                            <label for="repeat-password">"Repeat the password"</label>
                                            <input id="repeat-password" type="password" autocomplete="new-password"
                                                prop:value=move || repeated.get()
                                                on:input=move |ev| repeated.set(event_target_value(&ev))/>
                                            <p class="field-error" role="alert">
                                                {move || mismatch.get().then_some("The two passwords are not the same.")}
                                            </p>
                                        </div>
                                        {move || saving.error().and_then(|e| e.general(&["password"])).map(|m| view! { <p role="alert" class="form-error">{m}</p> })}
                                        <button type="submit" class="button primary wide" disabled=move || !hydrated.get() || saving.busy()>
                                            {move || if saving.busy() { "Saving…" } else { "Set password" }}
                                        </button>
                                    </form>
                                </Show>
                            }),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}
