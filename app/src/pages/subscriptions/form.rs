//! "Add new Webhook Subscription" and its twin behind the pencil: Target URL, header rows
//! (delete, ADD HEADER), the Selected Channels pop-up, SUBMIT. The server checks everything;
//! each message appears beside its field, and nothing typed is lost.

use std::collections::BTreeMap;

use leptos::{either::Either, prelude::*};
use leptos_meta::Title;
use leptos_router::{
    components::A,
    hooks::{use_navigate, use_params_map},
};

use super::{
    advanced::{self, Advanced, AdvancedOptions},
    create_subscription, get_subscription,
    headers::{HeaderFields, HeaderRow, HeaderRows},
    picker::{ChannelPicker, Selection},
    subscription_catalogue, update_subscription, use_secret_flash, Catalogue, SubscriptionInput,
    SubscriptionView, TriggerInput,
};
use crate::{
    components::{
        change::Change,
        hydration::use_hydrated,
        status::{ErrorNotice, Loading},
    },
    errors::AppError,
};

#[component]
pub fn NewSubscriptionPage() -> impl IntoView {
    view! {
        <Title text="Add new Webhook Subscription"/>
        <SubscriptionForm existing=None/>
    }
}

#[component]
pub fn EditSubscriptionPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|v| v.parse::<i64>().ok()));
    let existing = Resource::new_blocking(
        move || id.get(),
        |id| async move {
            match id {
                Some(id) => get_subscription(id).await,
                None => Err(AppError::NotFound("Subscription not found.".into())),
            }
        },
    );
    view! {
        <Title text="Edit Webhook Subscription"/>
        <Suspense fallback=|| view! { <Loading/> }>
            {move || Suspend::new(async move {
                match existing.await {
                    Ok(s) => Either::Left(view! { <SubscriptionForm existing=Some(s)/> }),
                    Err(e) => Either::Right(view! {
                        <h1>"Edit Webhook Subscription"</h1>
                        <ErrorNotice error=e/>
                    }),
                }
            })}
        </Suspense>
    }
}

#[component]
fn SubscriptionForm(existing: Option<SubscriptionView>) -> impl IntoView {
    let hydrated = use_hydrated();
    let navigate = use_navigate();
    let flash = use_secret_flash();
    let catalogue_res = Resource::new_blocking(|| (), |_| subscription_catalogue());
    let catalogue = RwSignal::new(Catalogue::default());

    let editing = existing.as_ref().map(|s| s.id);
    let display_name = RwSignal::new(
        existing
            .as_ref()
            .map(|s| s.display_name.clone())
            .unwrap_or_default(),
    );
    let url = RwSignal::new(existing.as_ref().map(|s| s.url.clone()).unwrap_or_default());
    let use_replies = RwSignal::new(existing.as_ref().is_some_and(|s| s.use_replies));
    let advanced = RwSignal::new(
        existing
            .as_ref()
            .map(|s| advanced::from_saved(&s.triggers))
            .unwrap_or_default(),
    );
    let advanced_error = RwSignal::new(None::<String>);
    let rows = HeaderRows::new(existing.as_ref().map_or(&[][..], |s| &s.headers[..]));
    let selection = RwSignal::new(
        existing
            .as_ref()
            .map(|s| {
                // Triggers that lost access are not chosen again silently: the owner
                // picks them again (see the note above the picker).
                s.triggers
                    .iter()
                    .filter(|t| t.lost_access.is_none())
                    .map(|t| (t.channel_id, t.event_type.clone()))
                    .collect::<Selection>()
            })
            .unwrap_or_default(),
    );
    // Names of the chosen channels: from the catalogue, or from the saved subscription for a
    // channel the user no longer has access to (so that it can be seen and removed).
    let saved_names: BTreeMap<i64, (String, String)> = existing
        .as_ref()
        .map(|s| {
            s.triggers
                .iter()
                .map(|t| {
                    (
                        t.channel_id,
                        (t.device_name.clone(), t.channel_name.clone()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let saved_names = StoredValue::new(saved_names);
    let lost: Vec<(String, String)> = existing
        .as_ref()
        .map(|s| {
            s.triggers
                .iter()
                .filter_map(|t| {
                    let why = t.lost_access.clone()?;
                    Some((
                        format!("{} › {}: {}", t.device_name, t.channel_name, t.event_label),
                        why,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();

    let saving = Change::new();
    let submitted_keys = RwSignal::new(Vec::<u32>::new());
    let picker_open = RwSignal::new(false);

    let field_error = move |field: &str| saving.field(field);

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let chosen = selection.get_untracked();
        let names = catalogue.with_untracked(|c| {
            c.devices
                .iter()
                .flat_map(|d| d.channels.iter().map(|c| (c.id, c.name.clone())))
                .collect::<BTreeMap<i64, String>>()
        });
        let mut trigger_options = Vec::new();
        for (channel_id, event) in &chosen {
            let Some(a) = advanced.with_untracked(|a| a.get(channel_id).cloned()) else {
                continue;
            };
            let name = names.get(channel_id).cloned().unwrap_or_default();
            match advanced::for_event(&a, *channel_id, &name, event) {
                Ok(Some(o)) => trigger_options.push(o),
                Ok(None) => {}
                Err(message) => {
                    advanced_error.set(Some(message));
                    return;
                }
            }
        }
        advanced_error.set(None);
        let kept = rows.kept();
        submitted_keys.set(kept.iter().map(|r| r.key).collect());
        let input = SubscriptionInput {
            display_name: display_name.get_untracked(),
            url: url.get_untracked(),
            headers: kept.iter().map(HeaderRow::input).collect(),
            triggers: chosen
                .into_iter()
                .map(|(channel_id, event_type)| TriggerInput {
                    channel_id,
                    event_type,
                })
                .collect(),
            use_replies: use_replies.get_untracked(),
            trigger_options,
        };
        let navigate = navigate.clone();
        let call = move |reason| async move {
            match editing {
                Some(id) => update_subscription(id, input, reason).await.map(|_| None),
                None => create_subscription(input, reason).await.map(Some),
            }
        };
        saving.run(
            call,
            move |created| {
                if let Some(created) = created {
                    flash.set(Some(created));
                }
                navigate("/subscriptions", Default::default());
            },
            || {},
        );
    };

    let title = if editing.is_some() {
        "Edit Webhook Subscription"
    } else {
        "Add new Webhook Subscription"
    };

    view! {
        <div class="page-head">
            <div>
                <h1>{title}</h1>
                <p class="muted">
                    "Choose where to send the webhooks and which trigger events of which channels to deliver."
                </p>
            </div>
        </div>
        <form class="card subscription-form" on:submit=submit novalidate>
            {move || {
                saving
                    .error()
                    .and_then(|e| e.general(&["display_name", "url", "headers", "triggers"]))
                    .map(|m| view! { <p class="form-error" role="alert">{m}</p> })
            }}

            <div class="field">
                <label for="target-url">"Target URL"</label>
                <input
                    id="target-url"
                    type="url"
                    inputmode="url"
                    placeholder="https://lims.example.org/api/webhooks"
                    required
                    prop:value=move || url.get()
                    on:input=move |ev| url.set(event_target_value(&ev))
                    aria-invalid=move || field_error("url").is_some().to_string()
                    aria-describedby="target-url-hint target-url-error"
                />
                <p id="target-url-hint" class="hint">"It must start with a URL your organisation administrator has registered."</p>
                <p id="target-url-error" class="field-error" role="alert">{move || field_error("url")}</p>
            </div>

            <div class="field">
                <label for="display-name">"Display name " <span class="muted">"(optional)"</span></label>
                <input
                    id="display-name"
                    type="text"
                    placeholder="Shown in the overview instead of the URL"
                    prop:value=move || display_name.get()
                    on:input=move |ev| display_name.set(event_target_value(&ev))
                    aria-invalid=move || field_error("display_name").is_some().to_string()
                />
                <p class="field-error" role="alert">{move || field_error("display_name")}</p>
            </div>

            <HeaderFields rows=rows saving=saving submitted_keys=submitted_keys/>

            <fieldset class="channels">
                <legend>"Channels and trigger events"</legend>
                <p class="hint">"Every time one of these events happens, the webhook is delivered."</p>
                {(!lost.is_empty()).then(|| view! {
                    <div class="notice notice-warn" role="note">
                        <p>"No longer accessible, and not sent any more (choose them again if your access was restored):"</p>
                        <ul class="trigger-lines">
                            {lost.iter().map(|(line, why)| view! {
                                <li>{line.clone()}<span class="muted small-text">" — "{why.clone()}</span></li>
                            }).collect_view()}
                        </ul>
                    </div>
                })}
                <button
                    type="button"
                    class="button"
                    disabled=move || !hydrated.get()
                    on:click=move |_| picker_open.set(true)
                >
                    "Selected Channels"
                </button>
                // The summary waits for the catalogue (names, labels, order), so that the
                // server renders it as the browser will: hydration keeps the server's text.
                <Transition fallback=|| view! { <Loading what="Loading your devices…"/> }>
                    {move || Suspend::new(async move {
                        match catalogue_res.await {
                            Ok(c) => {
                                catalogue.set(c);
                                Either::Left(view! {
                                    <SelectionSummary selection=selection catalogue=catalogue saved_names=saved_names.get_value() advanced=advanced/>
                                })
                            }
                            Err(e) => Either::Right(view! { <ErrorNotice error=e/> }),
                        }
                    })}
                </Transition>
                <p class="field-error" role="alert">{move || advanced_error.get().or_else(|| field_error("triggers"))}</p>
            </fieldset>

            <div class="field">
                <label class="checkbox">
                    <input
                        type="checkbox"
                        prop:checked=move || use_replies.get()
                        on:change=move |ev| use_replies.set(event_target_checked(&ev))
                        aria-describedby="use-replies-hint"
                    />
                    "Use the receiver's reply"
                </label>
                <p id="use-replies-hint" class="hint">
                    "When your program answers with data points — "
                    <code>"{\"data_points\": [{\"channel\": \"method\", \"value\": \"HPLC-17\"}]}"</code>
                    " — they are stored on the device whose event was sent, on channels your administrator marked “May be written by replies”."
                </p>
            </div>

            <div class="form-actions">
                <A href="/subscriptions" attr:class="button caps">"CANCEL"</A>
                <button type="submit" class="button primary caps" disabled=move || !hydrated.get() || saving.busy()>
                    {move || if saving.busy() { "SUBMITTING…" } else { "SUBMIT" }}
                </button>
            </div>
        </form>
        <ChannelPicker open=picker_open catalogue=catalogue selection=selection/>
    }
}

/// (channel name, channel id) → (still available to the user, chosen event types).
type ChannelsOfDevice = BTreeMap<(String, i64), (bool, Vec<String>)>;

/// What was chosen, after CONFIRM: device → channel → events, each removable.
#[component]
fn SelectionSummary(
    selection: RwSignal<Selection>,
    catalogue: RwSignal<Catalogue>,
    /// Names of saved channels the user can no longer see: (device, channel) by channel id.
    saved_names: BTreeMap<i64, (String, String)>,
    advanced: RwSignal<Advanced>,
) -> impl IntoView {
    let saved_names = StoredValue::new(saved_names);
    let label_of = move |event: &str| {
        catalogue
            .with(|c| c.label(event))
            .unwrap_or_else(|| event.to_owned())
    };
    let grouped = Memo::new(move |_| {
        // device name → channel (id, name, available) → events
        let mut out: BTreeMap<String, ChannelsOfDevice> = BTreeMap::new();
        let sel = selection.get();
        catalogue.with(|cat| {
            for (channel_id, event) in sel {
                let found = cat.devices.iter().find_map(|d| {
                    d.channels
                        .iter()
                        .find(|c| c.id == channel_id)
                        .map(|c| (d.name.clone(), c.name.clone()))
                });
                let (device, channel, available) = match found {
                    Some((d, c)) => (d, c, true),
                    None => {
                        let (d, c) = saved_names
                            .with_value(|n| n.get(&channel_id).cloned())
                            .unwrap_or_else(|| {
                                ("Unknown device".into(), format!("channel {channel_id}"))
                            });
                        (d, c, false)
                    }
                };
                out.entry(device)
                    .or_default()
                    .entry((channel, channel_id))
                    .or_insert((available, vec![]))
                    .1
                    .push(event);
            }
            // Within a channel, events in the pop-up's column order.
            for channels in out.values_mut() {
                for (_, events) in channels.values_mut() {
                    events.sort_by_key(|e| cat.rank(e));
                }
            }
        });
        out
    });
    view! {
        {move || {
            let g = grouped.get();
            if g.is_empty() {
                Either::Left(view! { <p class="empty-inline">"No channels selected yet."</p> })
            } else {
                Either::Right(view! {
                    <ul class="selection-summary" aria-label="Selected channels and trigger events">
                        {g.into_iter().map(|(device, channels)| view! {
                            <li>
                                <strong class="device">{device.clone()}</strong>
                                <ul>
                                    {channels.into_iter().map(|((channel, channel_id), (available, events))| {
                                        let (unit, numeric) = catalogue.with_untracked(|c| {
                                            c.devices
                                                .iter()
                                                .flat_map(|d| d.channels.iter())
                                                .find(|c| c.id == channel_id)
                                                .map(|c| (c.unit.clone(), c.numeric))
                                                .unwrap_or_default()
                                        });
                                        let chosen_events = events.clone();
                                        view! {
                                        <li>
                                            <span class="channel">{channel.clone()}</span>
                                            {(!available).then(|| view! { <span class="badge warn">"no longer available to you"</span> })}
                                            <span class="chips">
                                                {events.into_iter().map(|event| {
                                                    let label = label_of(&event);
                                                    let remove_label = format!("Remove {label} on {channel} of {device}");
                                                    let key = (channel_id, event.clone());
                                                    view! {
                                                        <span class="chip">
                                                            {label}
                                                            <button type="button" aria-label=remove_label on:click=move |_| selection.update(|s| { s.remove(&key); })>"×"</button>
                                                        </span>
                                                    }
                                                }).collect_view()}
                                            </span>
                                            {available.then(|| view! {
                                                <AdvancedOptions channel_id=channel_id channel=channel.clone() unit=unit numeric=numeric events=chosen_events advanced=advanced/>
                                            })}
                                        </li>
                                    }}).collect_view()}
                                </ul>
                            </li>
                        }).collect_view()}
                    </ul>
                })
            }
        }}
    }
}
