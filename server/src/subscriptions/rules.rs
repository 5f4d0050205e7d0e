//! What makes a subscription valid. One pure function, shared by every door (server
//! functions, HTTP API): the same input always gets the same verdict and messages.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::{
    domain::{
        debounce::{Options, RawOptions},
        headers::{HeaderValue, Headers, RawHeader},
        target_url::{is_allowed, RegisteredUrl, TargetUrl},
        EventType,
    },
    FieldError,
};

pub const MAX_TRIGGERS: usize = 1000;
const MAX_DISPLAY_NAME: usize = 100;

/// A subscription as submitted by the form or the API, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionInput {
    #[serde(default)]
    pub display_name: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<RawHeader>,
    #[serde(default)]
    pub triggers: Vec<TriggerChoice>,
    /// "Use the receiver's reply".
    #[serde(default)]
    pub use_replies: bool,
    /// Advanced options of chosen trigger events (noisy channels); the others send every
    /// event.
    #[serde(default)]
    pub trigger_options: Vec<TriggerOptions>,
}

/// The advanced options of one chosen trigger event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerOptions {
    pub channel_id: i64,
    pub event_type: String,
    #[serde(flatten)]
    pub options: RawOptions,
}

/// One ticked checkbox: a trigger event on a channel.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TriggerChoice {
    pub channel_id: i64,
    pub event_type: String,
}

/// What the rules need to know about a channel the user may choose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChoosableChannel {
    pub device_id: i64,
    pub has_range: bool,
    /// It holds numbers (dead bands and settling need them).
    pub numeric: bool,
    /// For messages.
    pub name: String,
}

/// A checked subscription, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSubscription {
    pub display_name: String,
    pub url: TargetUrl,
    pub headers: Headers,
    /// (channel, device, event type), without duplicates.
    pub triggers: BTreeSet<(i64, i64, EventType)>,
    /// Advanced options by (channel, event type), for the triggers that have any.
    pub options: BTreeMap<(i64, EventType), Options>,
    pub use_replies: bool,
}

/// The trigger events that make sense on a channel, in the order the pop-up shows them.
pub fn events_for(has_range: bool) -> Vec<EventType> {
    EventType::ALL
        .into_iter()
        .filter(|t| has_range || !t.needs_range())
        .collect()
}

pub fn validate(
    input: &SubscriptionInput,
    registered: &[RegisteredUrl],
    choosable: &HashMap<i64, ChoosableChannel>,
    stored_secret: impl Fn(&str) -> Option<HeaderValue>,
) -> Result<ValidSubscription, Vec<FieldError>> {
    let mut errors = Vec::new();

    let display_name = input.display_name.trim().to_owned();
    if display_name.chars().count() > MAX_DISPLAY_NAME {
        errors.push(FieldError::new(
            "display_name",
            format!("The display name can be at most {MAX_DISPLAY_NAME} characters."),
        ));
    } else if display_name.chars().any(char::is_control) {
        errors.push(FieldError::new(
            "display_name",
            "The display name must be a single line.",
        ));
    }

    let url = match TargetUrl::parse(&input.url) {
        Ok(url) if is_allowed(registered, &url) => Some(url),
        Ok(url) => {
            errors.push(FieldError::new(
                "url",
                format!(
                    "{} is not a registered target URL. Ask an organisation administrator to register it.",
                    url.host()
                ),
            ));
            None
        }
        Err(e) => {
            errors.push(FieldError::new("url", e.to_string()));
            None
        }
    };

    let headers = match Headers::parse(&input.headers, stored_secret) {
        Ok(h) => Some(h),
        Err(e) => {
            errors.extend(e);
            None
        }
    };

    let mut triggers = BTreeSet::new();
    let mut trigger_error = None;
    for choice in &input.triggers {
        let Some(event_type) = EventType::parse(&choice.event_type) else {
            trigger_error = Some(format!("Unknown trigger event {:?}.", choice.event_type));
            break;
        };
        let Some(channel) = choosable.get(&choice.channel_id) else {
            trigger_error = Some(
                "A chosen channel is not available to you (any more). Remove it and choose again."
                    .to_owned(),
            );
            break;
        };
        if event_type.needs_range() && !channel.has_range {
            trigger_error = Some(
                "“Out of range” and “Back in range” need a channel with a safe range.".to_owned(),
            );
            break;
        }
        triggers.insert((choice.channel_id, channel.device_id, event_type));
    }
    let options = trigger_options(input, &triggers, choosable, &mut errors);
    match trigger_error {
        Some(m) => errors.push(FieldError::new("triggers", m)),
        None if triggers.is_empty() => errors.push(FieldError::new(
            "triggers",
            "Choose at least one trigger event under Selected Channels.",
        )),
        None if triggers.len() > MAX_TRIGGERS => errors.push(FieldError::new(
            "triggers",
            format!("At most {MAX_TRIGGERS} trigger events per subscription."),
        )),
        None => {}
    }

    match (url, headers, errors.is_empty()) {
        (Some(url), Some(headers), true) => Ok(ValidSubscription {
            display_name,
            url,
            headers,
            triggers,
            options,
            use_replies: input.use_replies,
        }),
        _ => Err(errors),
    }
}

/// Checks the advanced options: each for a chosen trigger event, and each making sense for
/// it. Problems are said with the channel and event they concern.
fn trigger_options(
    input: &SubscriptionInput,
    triggers: &BTreeSet<(i64, i64, EventType)>,
    choosable: &HashMap<i64, ChoosableChannel>,
    errors: &mut Vec<FieldError>,
) -> BTreeMap<(i64, EventType), Options> {
    let mut checked = BTreeMap::new();
    for given in &input.trigger_options {
        let chosen = EventType::parse(&given.event_type).and_then(|event| {
            let channel = choosable.get(&given.channel_id)?;
            triggers
                .iter()
                .any(|(c, _, e)| *c == given.channel_id && *e == event)
                .then_some((event, channel))
        });
        let Some((event, channel)) = chosen else {
            errors.push(FieldError::new(
                "triggers",
                "Advanced options were given for a trigger event that is not chosen.",
            ));
            continue;
        };
        match Options::parse(&given.options, event, channel.numeric) {
            Ok(o) if o.is_default() => {}
            Ok(o) => {
                checked.insert((given.channel_id, event), o);
            }
            Err(problems) => errors.extend(problems.into_iter().map(|(_, message)| {
                FieldError::new(
                    "triggers",
                    format!("{} › {}: {message}", channel.name, event.label()),
                )
            })),
        }
    }
    checked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Vec<RegisteredUrl>, HashMap<i64, ChoosableChannel>) {
        let registered = vec![RegisteredUrl::parse("https://lims.example.org/api/").unwrap()];
        let channels = HashMap::from([
            (
                10,
                ChoosableChannel {
                    device_id: 1,
                    has_range: true,
                    numeric: true,
                    name: "temperature".into(),
                },
            ),
            (
                11,
                ChoosableChannel {
                    device_id: 1,
                    has_range: false,
                    numeric: false,
                    name: "sample".into(),
                },
            ),
        ]);
        (registered, channels)
    }

    fn input(url: &str, triggers: &[(i64, &str)]) -> SubscriptionInput {
        SubscriptionInput {
            display_name: String::new(),
            url: url.into(),
            headers: vec![],
            use_replies: false,
            trigger_options: vec![],
            triggers: triggers
                .iter()
                .map(|(c, e)| TriggerChoice {
                    channel_id: *c,
                    event_type: (*e).into(),
                })
                .collect(),
        }
    }

    fn fields(r: Result<ValidSubscription, Vec<FieldError>>) -> Vec<String> {
        r.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn accepts_a_registered_url_with_triggers() {
        let (reg, ch) = setup();
        let v = validate(
            &input(
                "https://lims.example.org/api/hooks",
                &[
                    (10, "channel.out_of_range"),
                    (11, "data_point.created"),
                    (10, "channel.out_of_range"),
                ],
            ),
            &reg,
            &ch,
            |_| None,
        )
        .unwrap();
        assert_eq!(v.triggers.len(), 2);
    }

    #[test]
    fn an_unregistered_target_names_its_host() {
        let (reg, ch) = setup();
        let err = validate(
            &input("https://evil.example/api/", &[(10, "data_point.created")]),
            &reg,
            &ch,
            |_| None,
        )
        .unwrap_err();
        assert_eq!(err[0].field, "url");
        assert_eq!(
            err[0].message,
            "evil.example is not a registered target URL. Ask an organisation administrator to register it."
        );
    }

    #[test]
    fn needs_a_trigger_on_a_choosable_channel() {
        let (reg, ch) = setup();
        let ok_url = "https://lims.example.org/api/";
        assert_eq!(
            fields(validate(&input(ok_url, &[]), &reg, &ch, |_| None)),
            ["triggers"]
        );
        assert_eq!(
            fields(validate(
                &input(ok_url, &[(99, "data_point.created")]),
                &reg,
                &ch,
                |_| None
            )),
            ["triggers"]
        );
        assert_eq!(
            fields(validate(
                &input(ok_url, &[(11, "channel.out_of_range")]),
                &reg,
                &ch,
                |_| None
            )),
            ["triggers"]
        );
        assert_eq!(
            fields(validate(
                &input(ok_url, &[(10, "data_point.deleted")]),
                &reg,
                &ch,
                |_| None
            )),
            ["triggers"]
        );
    }

    #[test]
    fn reports_every_field_at_once() {
        let (reg, ch) = setup();
        let mut i = input("ftp://x", &[]);
        i.display_name = "x".repeat(101);
        i.headers = vec![RawHeader {
            name: "Host".into(),
            value: Some("a".into()),
            secret: false,
        }];
        assert_eq!(
            fields(validate(&i, &reg, &ch, |_| None)),
            ["display_name", "url", "headers.0.name", "triggers"]
        );
    }
}
