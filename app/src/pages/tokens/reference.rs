//! More → API: the API v2's reference, read from the same OpenAPI document the server serves
//! at `/api/v2/openapi.json` (so the page cannot say something the API does not do).

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

use crate::{
    components::status::{ErrorNotice, Loading},
    errors::AppError,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub tag: String,
    /// What a successful answer is.
    pub summary: String,
    /// A real successful answer (recorded by the API's tests), pretty-printed.
    pub example: Option<String>,
    pub method: String,
    pub path: String,
    pub scopes: String,
    pub parameters: Vec<(String, String)>,
    pub body: Option<String>,
    pub responses: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub title: String,
    pub description: String,
    pub tags: Vec<(String, String)>,
    pub operations: Vec<Operation>,
}

#[server(endpoint = "api/reference")]
pub async fn api_reference() -> Result<Reference, AppError> {
    use serde_json::Value;
    crate::ssr::caller().await?;
    let doc = server::http::api_v2::openapi::document();
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let parameters = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| (text(&p["name"]), text(&p["description"])))
                .collect();
            let responses = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(status, r)| (status.clone(), text(&r["description"])))
                .collect();
            let scopes = op["security"][0]["bearer"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect::<Vec<_>>()
                .join(", ");
            let success = op["responses"]
                .as_object()
                .into_iter()
                .flatten()
                .find(|(status, _)| status.starts_with('2'))
                .map(|(_, r)| r);
            let summary = success.map(|r| text(&r["description"])).unwrap_or_default();
            let example = success
                .map(|r| &r["content"]["application/vnd.api+json"]["example"])
                .filter(|e| !e.is_null())
                .map(|e| serde_json::to_string_pretty(e).unwrap_or_default());
            operations.push(Operation {
                summary,
                example,
                tag: text(&op["tags"][0]),
                method: method.to_uppercase(),
                path: path.clone(),
                scopes,
                parameters,
                body: op["requestBody"]["description"].as_str().map(str::to_owned).or_else(|| {
                    op.get("requestBody").map(|_| "A JSON:API document: {\"data\": {\"type\": …, \"attributes\": {…}}}".to_owned())
                }),
                responses,
            });
        }
    }
    // In the order of the routes (list, create, show, change, delete, actions), not A to Z.
    let rank = |o: &Operation| {
        server::http::api_v2::ROUTES
            .iter()
            .position(|(m, p)| *m == o.method && *p == o.path)
            .unwrap_or(usize::MAX)
    };
    operations.sort_by_key(rank);
    Ok(Reference {
        title: text(&doc["info"]["title"]),
        description: text(&doc["info"]["description"]),
        tags: doc["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| (text(&t["name"]), text(&t["description"])))
            .collect(),
        operations,
    })
}

#[component]
pub fn ApiReferencePage() -> impl IntoView {
    let reference = Resource::new_blocking(|| (), |_| api_reference());
    view! {
        <Title text="API"/>
        <div class="page-head">
            <div>
                <h1>"API"</h1>
                <p class="muted">
                    "Automate what these pages do: create a token, then send it as "<code>"Authorization: Bearer …"</code>
                    ". The machine-readable document is at "<a href="/api/v2/openapi.json">"/api/v2/openapi.json"</a>" (OpenAPI 3.1)."
                </p>
            </div>
            <a class="button primary" href="/api-tokens">"My API tokens"</a>
        </div>
        <Suspense fallback=|| view! { <Loading what="Loading the reference…"/> }>
            {move || Suspend::new(async move {
                match reference.await {
                    Ok(r) => Either::Left(view! { <ReferenceView reference=r/> }),
                    Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn ReferenceView(reference: Reference) -> impl IntoView {
    let Reference {
        description,
        tags,
        operations,
        ..
    } = reference;
    view! {
        <section class="card section">
            <p>{inline_code(&description)}</p>
        </section>
        {tags.into_iter().map(|(tag, about)| {
            let ops: Vec<Operation> = operations.iter().filter(|o| o.tag == tag).cloned().collect();
            let heading = format!("tag-{tag}");
            let labelled_by = heading.clone();
            view! {
                <section class="card section" aria-labelledby=labelled_by>
                    <h2 id=heading>{tag.clone()}</h2>
                    <p class="muted">{about}</p>
                    {ops.into_iter().map(|o| view! {
                        <details class="api-operation">
                            <summary>
                                <span class="badge">{o.method.clone()}</span>" "<code class="break-all">{o.path.clone()}</code>
                                <span class="muted">{format!(" — scope: {}", o.scopes)}</span>
                                <span class="api-summary">{inline_code(&o.summary)}</span>
                            </summary>
                            {(!o.parameters.is_empty()).then(|| view! {
                                <h3>"Parameters"</h3>
                                <dl class="api-list">
                                    {o.parameters.into_iter().map(|(name, about)| view! {
                                        <dt><code>{name}</code></dt><dd>{inline_code(&about)}</dd>
                                    }).collect_view()}
                                </dl>
                            })}
                            {o.body.map(|b| view! { <h3>"Body"</h3><p>{inline_code(&b)}</p> })}
                            {o.example.map(|e| view! {
                                <h3>"Example answer"</h3>
                                <pre class="block api-example">{e}</pre>
                            })}
                            <h3>"Answers"</h3>
                            <dl class="api-list">
                                {o.responses.into_iter().map(|(status, about)| view! {
                                    <dt><code>{status}</code></dt><dd>{inline_code(&about)}</dd>
                                }).collect_view()}
                            </dl>
                        </details>
                    }).collect_view()}
                </section>
            }
        }).collect_view()}
    }
}

/// The document's descriptions mark code with backticks: shown as code.
fn inline_code(text: &str) -> impl IntoView {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            let part = part.to_owned();
            if i % 2 == 1 {
                Either::Left(view! { <code>{part}</code> })
            } else {
                Either::Right(part)
            }
        })
        .collect_view()
}
