//! "Send test event" on a subscription's page, and how a receiver verifies what it gets: a
//! short snippet in Python and JavaScript with the official Standard Webhooks libraries.

use leptos::prelude::*;

use crate::{
    components::{change::Change, copy::CopyButton, hydration::use_hydrated},
    errors::AppError,
};

use super::{SubscriptionView, TriggerView};

/// Sends a test event built from one of the subscription's channels; answers its delivery.
#[server(endpoint = "subscriptions/send_test_event")]
pub async fn send_test_event(
    id: i64,
    channel_id: Option<i64>,
    sample: Option<String>,
) -> Result<i64, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    Ok(
        server::subscriptions::send_test_event(&state, &user, id, channel_id, sample.as_deref())
            .await?,
    )
}

/// The channels a test can be built from: each once, usable ones only.
fn channels(triggers: &[TriggerView]) -> Vec<(i64, String)> {
    let mut out: Vec<(i64, String)> = Vec::new();
    for t in triggers
        .iter()
        .filter(|t| t.lost_access.is_none() && !t.device_archived)
    {
        if !out.iter().any(|(id, _)| *id == t.channel_id) {
            out.push((
                t.channel_id,
                format!("{} › {}", t.device_name, t.channel_name),
            ));
        }
    }
    out
}

#[component]
pub(super) fn TestEvent(
    subscription: SubscriptionView,
    opened: RwSignal<Option<i64>>,
    refresh: RwSignal<u32>,
) -> impl IntoView {
    let id = subscription.id;
    let choices = channels(&subscription.triggers);
    let channel = RwSignal::new(choices.first().map(|(id, _)| *id));
    let sample = RwSignal::new(String::new());
    let sending = Change::new();
    let hydrated = use_hydrated();
    let send = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = sample.get_untracked();
        sending.call(
            send_test_event(
                id,
                channel.get_untracked(),
                (!typed.trim().is_empty()).then_some(typed),
            ),
            move |delivery| {
                refresh.update(|r| *r += 1);
                opened.set(Some(delivery));
            },
            || {},
        );
    };
    let secret_headers: Vec<String> = subscription
        .headers
        .iter()
        .map(|h| h.name.clone())
        .collect();
    view! {
        <section class="card section" aria-labelledby="test-title">
            <h2 id="test-title">"Test event"</h2>
            <p class="muted">
                "Sends a webhook built from the channel's latest value through the real delivery path, marked as a test (its type ends in "
                <code>".test"</code>", its data says "<code>"\"test\": true"</code>"). It never counts as a failure of the subscription."
            </p>
            <form class="field-row" on:submit=send novalidate>
                <div class="field">
                    <label for="test-channel">"Channel"</label>
                    <select id="test-channel" on:change=move |ev| channel.set(event_target_value(&ev).parse().ok())>
                        {choices.into_iter().map(|(id, label)| view! { <option value=id.to_string()>{label}</option> }).collect_view()}
                    </select>
                    <p class="field-error" role="alert">{move || sending.field("channel_id")}</p>
                </div>
                <div class="field">
                    <label for="test-sample">"Sample value (when the channel has none yet)"</label>
                    <input id="test-sample" type="text" prop:value=move || sample.get() on:input=move |ev| sample.set(event_target_value(&ev))/>
                    <p class="field-error" role="alert">{move || sending.field("sample")}</p>
                </div>
                <div class="field test-send">
                    <button type="submit" class="button primary" disabled=move || !hydrated.get() || sending.busy()>
                        {move || if sending.busy() { "Sending…" } else { "Send test event" }}
                    </button>
                </div>
            </form>
            {move || sending.error().and_then(|e| e.general(&["channel_id", "sample"])).map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
            <VerifySnippets extra_headers=secret_headers/>
        </section>
    }
}

/// How the receiver checks a webhook, with the official Standard Webhooks libraries.
#[component]
fn VerifySnippets(extra_headers: Vec<String>) -> impl IntoView {
    let extra = if extra_headers.is_empty() {
        String::new()
    } else {
        format!(
            " Your own headers ({}) arrive alongside.",
            extra_headers.join(", ")
        )
    };
    let python = "# pip install standardwebhooks\n\
from standardwebhooks.webhooks import Webhook\n\
\n\
wh = Webhook(\"whsec_…\")  # this subscription's signing secret\n\
# headers: webhook-id, webhook-timestamp, webhook-signature; body: the raw request body\n\
event = wh.verify(body, headers)  # raises if the signature or the time is wrong\n\
if event[\"data\"].get(\"test\"):\n    print(\"a test event\", event[\"type\"])\n"
        .to_owned();
    let javascript = "// npm install standardwebhooks\n\
import { Webhook } from \"standardwebhooks\";\n\
\n\
const wh = new Webhook(\"whsec_…\"); // this subscription's signing secret\n\
// headers: webhook-id, webhook-timestamp, webhook-signature; body: the raw request body\n\
const event = wh.verify(body, headers); // throws if the signature or the time is wrong\n\
if (event.data.test) console.log(\"a test event\", event.type);\n"
        .to_owned();
    let (copied_py, copied_js) = (RwSignal::new(false), RwSignal::new(false));
    view! {
        <details class="snippets">
            <summary>"Verify webhooks in your receiver"</summary>
            <p class="muted">{format!("Every request carries the headers webhook-id, webhook-timestamp and webhook-signature.{extra}")}</p>
            <h3 class="subhead">"Python"</h3>
            <pre class="block" aria-label="Python verification">{python.clone()}</pre>
            <CopyButton text=python copied=copied_py label="Copy the Python snippet"/>
            <h3 class="subhead">"JavaScript"</h3>
            <pre class="block" aria-label="JavaScript verification">{javascript.clone()}</pre>
            <CopyButton text=javascript copied=copied_js label="Copy the JavaScript snippet"/>
        </details>
    }
}
