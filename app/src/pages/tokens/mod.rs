//! More → API → My API tokens: personal tokens for the HTTP API v2 (created, shown once, revoked),
//! and for org admins every token of the organisation. More → API: the API's reference.

mod api;
mod dialogs;
pub mod reference;

pub use api::*;

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;

use crate::components::{
    change::Change,
    hydration::use_hydrated,
    status::{ErrorNotice, Loading},
    time::{MaybeTime, Time},
};

use self::dialogs::{CreateTokenDialog, ShownTokenDialog};

/// Shows what the server has now.
fn refresh(view: RwSignal<Option<ApiTokensView>>) {
    leptos::task::spawn_local(async move {
        if let Ok(v) = api_tokens().await {
            view.set(Some(v));
        }
    });
}

#[component]
pub fn ApiTokensPage() -> impl IntoView {
    let initial = Resource::new_blocking(|| (), |_| api_tokens());
    let tokens = RwSignal::new(None::<ApiTokensView>);
    let creating = RwSignal::new(false);
    let shown = RwSignal::new(None::<NewApiToken>);
    let hydrated = use_hydrated();
    view! {
        <Title text="My API tokens"/>
        <div class="page-head">
            <div>
                <h1>"My API tokens"</h1>
                <p class="muted">
                    "Tokens let your programs use Labhook's API v2 as you: with your role and the devices you may see, limited to the scopes you choose. "
                    <a href="/api">"Read the API reference"</a>"."
                </p>
            </div>
            <button type="button" class="button primary" disabled=move || !hydrated.get() on:click=move |_| creating.set(true)>
                "Create token"
            </button>
        </div>
        <Suspense fallback=|| view! { <Loading what="Loading tokens…"/> }>
            {move || Suspend::new(async move {
                match initial.await {
                    Ok(v) => {
                        tokens.set(Some(v));
                        Either::Left(view! { <TokenLists tokens=tokens/> })
                    }
                    Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                }
            })}
        </Suspense>
        <CreateTokenDialog open=creating shown=shown tokens=tokens/>
        <ShownTokenDialog shown=shown/>
    }
}

#[component]
fn TokenLists(tokens: RwSignal<Option<ApiTokensView>>) -> impl IntoView {
    let mine = move || tokens.get().map(|t| t.mine).unwrap_or_default();
    let organisation = move || tokens.get().and_then(|t| t.organisation);
    let now = move || tokens.with(|t| t.as_ref().map_or(0, |t| t.now));
    view! {
        <section class="card section" aria-labelledby="my-tokens-title">
            <h2 id="my-tokens-title">"Your tokens"</h2>
            <Show
                when=move || !mine().is_empty()
                fallback=|| view! { <p class="muted">"You have no API tokens yet. Create one for each program that uses the API, so that you can revoke one without the others."</p> }
            >
                <TokenTable caption="Your API tokens" list=Signal::derive(mine) show_owner=false tokens=tokens now=Signal::derive(now)/>
            </Show>
        </section>
        {move || organisation().map(|_| {
            let all = Signal::derive(move || organisation().unwrap_or_default());
            let empty = all.with(|a| a.is_empty());
            view! {
                <section class="card section" aria-labelledby="org-tokens-title">
                    <h2 id="org-tokens-title">"All tokens of your organisation"</h2>
                    <p class="muted">"As an organisation administrator you can revoke anyone's token, e.g. when a program is retired or a token was exposed."</p>
                    {if empty {
                        Either::Left(view! { <p class="muted">"Nobody in your organisation has an API token."</p> })
                    } else {
                        Either::Right(view! {
                            <TokenTable caption="API tokens of your organisation" list=all show_owner=true tokens=tokens now=Signal::derive(now)/>
                        })
                    }}
                </section>
            }
        })}
    }
}

#[component]
fn TokenTable(
    caption: &'static str,
    #[prop(into)] list: Signal<Vec<ApiTokenView>>,
    show_owner: bool,
    tokens: RwSignal<Option<ApiTokensView>>,
    #[prop(into)] now: Signal<i64>,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table>
                <caption class="visually-hidden">{caption}</caption>
                <thead>
                    <tr>
                        <th scope="col">"Label"</th>
                        {show_owner.then(|| view! { <th scope="col">"Owner"</th> })}
                        <th scope="col">"Scopes"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr>
                </thead>
                <tbody>
                    <For each=move || list.get() key=|t| (t.id, t.revoked_at, t.last_used_at) let:token>
                        <TokenRow token=token show_owner=show_owner tokens=tokens now=now/>
                    </For>
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn TokenRow(
    token: ApiTokenView,
    show_owner: bool,
    tokens: RwSignal<Option<ApiTokensView>>,
    now: Signal<i64>,
) -> impl IntoView {
    let hydrated = use_hydrated();
    let change = Change::new();
    let confirming = RwSignal::new(false);
    let id = token.id;
    let label = StoredValue::new(token.label.clone());
    let expired = token.expires_at.is_some_and(|t| t <= now.get_untracked());
    let revoked = token.revoked_at.is_some();
    let revoke = move |_| {
        confirming.set(false);
        change.run(
            move |reason| revoke_api_token(id, reason),
            move |()| refresh(tokens),
            || {},
        );
    };
    view! {
        <tr class:muted-row=revoked || expired>
            <th scope="row" class="cell-title">
                <span class="wrap-anywhere">{token.label.clone()}</span>
                {revoked.then(|| view! { " " <span class="badge bad">"Revoked"</span> })}
                {(expired && !revoked).then(|| view! { " " <span class="badge warn">"Expired"</span> })}
                <div class="cell-sub"><code>{format!("{}…", token.hint)}</code></div>
            </th>
            {show_owner.then(|| view! { <td>{token.owner_name.clone()}</td> })}
            <td>{token.scopes.replace(' ', ", ")}</td>
            <td class="nowrap"><Time ms=token.created_at/></td>
            <td class="nowrap">
                {match token.expires_at {
                    Some(t) => Either::Left(view! { <Time ms=t/> }),
                    None => Either::Right(view! { <span class="muted">"never"</span> }),
                }}
            </td>
            <td class="nowrap">
                {match token.last_used_at {
                    Some(t) => Either::Left(view! { <MaybeTime ms=Some(t)/> }),
                    None => Either::Right(view! { <span class="muted">"never"</span> }),
                }}
            </td>
            <td class="row-actions">
                {(!revoked).then(|| view! {
                    <Show
                        when=move || confirming.get()
                        fallback=move || view! {
                            <button
                                type="button"
                                class="button small danger"
                                disabled=move || !hydrated.get() || change.busy()
                                aria-label=format!("Revoke {}", label.get_value())
                                on:click=move |_| confirming.set(true)
                            >
                                "Revoke"
                            </button>
                        }
                    >
                        <span class="muted">
                            {move || format!("Revoke {}? Programs using it are refused from the next request. ", label.get_value())}
                        </span>
                        <button type="button" class="button small danger" on:click=revoke>"Revoke token"</button>
                        <button type="button" class="button small" on:click=move |_| confirming.set(false)>"Keep"</button>
                    </Show>
                })}
                {change.inline_alert()}
            </td>
        </tr>
    }
}
