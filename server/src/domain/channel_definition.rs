//! What an org admin types to define a channel — name, unit, kind of value, acceptable range,
//! choice labels — checked into a [`ChannelDefinition`]. One set of rules for the Devices
//! page, the command line and the API.

use super::channel::{ChannelSpec, ValueType};
use crate::FieldError;

const MAX_NAME: usize = 100;
const MAX_UNIT: usize = 20;
const MAX_LABELS: usize = 20;
const MAX_LABEL: usize = 50;

/// A channel as typed, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct ChannelInput {
    pub name: String,
    #[serde(default)]
    pub unit: String,
    /// `number`, `text`, `yes_no` or `choice` (the stored names `float`, `string`,
    /// `boolean`, `enum` are accepted too).
    pub value_type: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// The labels of a `choice` channel, in order.
    #[serde(default)]
    pub labels: Vec<String>,
    /// "May be written by replies": a subscription's receiver may store values here.
    #[serde(default)]
    pub reply_writable: bool,
}

/// A checked channel definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelDefinition {
    pub name: String,
    pub unit: String,
    pub spec: ChannelSpec,
    /// Receivers' replies may store data points on it.
    pub reply_writable: bool,
}

/// A checked channel as it would be typed again: the command line's `--channel`, parsed by
/// [`ChannelDefinition::parse_cli`], joins a device's channels as the pages send them.
impl From<ChannelDefinition> for ChannelInput {
    fn from(c: ChannelDefinition) -> Self {
        ChannelInput {
            name: c.name,
            unit: c.unit,
            value_type: value_type_word(c.spec.value_type).to_owned(),
            min: c.spec.min,
            max: c.spec.max,
            labels: c.spec.enum_labels,
            reply_writable: c.reply_writable,
        }
    }
}

/// The words people use for each kind of value.
pub fn value_type_word(t: ValueType) -> &'static str {
    match t {
        ValueType::Float => "number",
        ValueType::String => "text",
        ValueType::Boolean => "yes_no",
        ValueType::Enum => "choice",
    }
}

fn parse_value_type(raw: &str) -> Option<ValueType> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "number" | "float" => Some(ValueType::Float),
        "text" | "string" => Some(ValueType::String),
        "yes_no" | "yes/no" | "boolean" => Some(ValueType::Boolean),
        "choice" | "enum" => Some(ValueType::Enum),
        _ => None,
    }
}

fn text_problem(what: &str, raw: &str, max: usize, required: bool) -> Option<String> {
    if required && raw.is_empty() {
        return Some(format!("Please enter the {what}."));
    }
    if raw.chars().count() > max {
        return Some(format!("The {what} can be at most {max} characters."));
    }
    if raw.chars().any(char::is_control) {
        return Some(format!(
            "The {what} cannot contain line breaks or control characters."
        ));
    }
    None
}

impl ChannelDefinition {
    /// Checks one channel; `field` prefixes the fields of its messages (`channels[1].`).
    pub fn parse(input: &ChannelInput, field: &str) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = input.name.trim();
        let unit = input.unit.trim();
        if let Some(m) = text_problem("channel name", name, MAX_NAME, true) {
            errors.push(FieldError::new(format!("{field}name"), m));
        }
        if let Some(m) = text_problem("unit", unit, MAX_UNIT, false) {
            errors.push(FieldError::new(format!("{field}unit"), m));
        }
        let Some(value_type) = parse_value_type(&input.value_type) else {
            errors.push(FieldError::new(
                format!("{field}value_type"),
                "The kind of value must be number, text, yes_no or choice.",
            ));
            return Err(errors);
        };
        let (min, max) = (input.min, input.max);
        if value_type != ValueType::Float && (min.is_some() || max.is_some()) {
            errors.push(FieldError::new(
                format!("{field}min"),
                "Only number channels have an acceptable range.",
            ));
        }
        if min.is_some_and(|v| !v.is_finite()) || max.is_some_and(|v| !v.is_finite()) {
            errors.push(FieldError::new(
                format!("{field}min"),
                "The range must be made of ordinary numbers.",
            ));
        } else if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                errors.push(FieldError::new(
                    format!("{field}max"),
                    format!("The highest acceptable value ({hi}) is below the lowest ({lo})."),
                ));
            }
        }
        let labels: Vec<String> = input.labels.iter().map(|l| l.trim().to_owned()).collect();
        if value_type == ValueType::Enum {
            if labels.len() < 2 || labels.len() > MAX_LABELS {
                errors.push(FieldError::new(
                    format!("{field}labels"),
                    format!("A choice channel needs between 2 and {MAX_LABELS} labels."),
                ));
            }
            if let Some(m) = labels
                .iter()
                .find_map(|l| text_problem("label", l, MAX_LABEL, true))
            {
                errors.push(FieldError::new(format!("{field}labels"), m));
            }
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = labels.iter().find(|l| !seen.insert(l.to_lowercase())) {
                errors.push(FieldError::new(
                    format!("{field}labels"),
                    format!("The label {dup:?} appears twice."),
                ));
            }
        } else if !labels.is_empty() {
            errors.push(FieldError::new(
                format!("{field}labels"),
                "Only choice channels have labels.",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            name: name.to_owned(),
            unit: unit.to_owned(),
            spec: ChannelSpec {
                value_type,
                min,
                max,
                enum_labels: if value_type == ValueType::Enum {
                    labels
                } else {
                    vec![]
                },
            },
            reply_writable: input.reply_writable,
        })
    }

    /// Reads the command line's `name:unit:type[:min:max]`, e.g. `temperature:°C:number:20:80`,
    /// `lid::choice=closed|open`, `sample::text`; a type ending in `+replies`
    /// (`method::text+replies`) marks the channel "may be written by replies".
    pub fn parse_cli(raw: &str) -> Result<Self, String> {
        let parts: Vec<&str> = raw.split(':').collect();
        if parts.len() != 3 && parts.len() != 5 {
            return Err(format!(
                "{raw:?}: a channel is name:unit:type or name:unit:number:min:max"
            ));
        }
        let (kind, reply_writable) = match parts[2].strip_suffix("+replies") {
            Some(kind) => (kind, true),
            None => (parts[2], false),
        };
        let (value_type, labels) = match kind.split_once('=') {
            Some((t, labels)) => (t, labels.split('|').map(str::to_owned).collect()),
            None => (kind, vec![]),
        };
        let bound = |s: &str| -> Result<Option<f64>, String> {
            if s.trim().is_empty() {
                return Ok(None);
            }
            s.trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{raw:?}: {s:?} is not a number"))
        };
        let (min, max) = if parts.len() == 5 {
            (bound(parts[3])?, bound(parts[4])?)
        } else {
            (None, None)
        };
        let input = ChannelInput {
            name: parts[0].to_owned(),
            unit: parts[1].to_owned(),
            value_type: value_type.to_owned(),
            min,
            max,
            labels,
            reply_writable,
        };
        Self::parse(&input, "").map_err(|errors| {
            format!(
                "{raw:?}: {}",
                errors
                    .iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        })
    }
}

/// Why a channel that already holds `points` data points cannot change from `from` to `to`,
/// if it cannot: its stored values must keep their meaning. A channel without history may
/// become anything; with history only a choice may become text (its labels are stored as
/// text) and yes/no may become a number (stored as 0 and 1).
/// Stored data points are counted up to this many when a change needs to know of them.
pub const POINTS_COUNTED_UP_TO: i64 = 10_000;

/// `points`: the channel's stored data points, counted up to [`POINTS_COUNTED_UP_TO`].
pub fn type_change_problem(
    channel: &str,
    from: ValueType,
    to: ValueType,
    points: i64,
) -> Option<String> {
    let keeps_meaning = matches!(
        (from, to),
        (ValueType::Enum, ValueType::String) | (ValueType::Boolean, ValueType::Float)
    );
    if from == to || points == 0 || keeps_meaning {
        return None;
    }
    let stored = |t: ValueType| match t {
        ValueType::Float => "numbers",
        ValueType::String => "text",
        ValueType::Boolean => "yes/no values",
        ValueType::Enum => "choices",
    };
    let points = if points >= POINTS_COUNTED_UP_TO {
        format!("{POINTS_COUNTED_UP_TO} or more")
    } else {
        points.to_string()
    };
    Some(format!(
        "{channel} cannot become a {} channel: its {points} stored data points are {}, which would mean nothing as {}. Add a new channel for the new kind of value instead.",
        value_type_word(to).replace("yes_no", "yes/no"),
        stored(from),
        stored(to),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, value_type: &str) -> ChannelInput {
        ChannelInput {
            name: name.into(),
            value_type: value_type.into(),
            ..Default::default()
        }
    }

    #[test]
    fn channels_in_the_words_people_use() {
        let t = ChannelDefinition::parse_cli("temperature:°C:number:20:80").unwrap();
        assert_eq!((t.name.as_str(), t.unit.as_str()), ("temperature", "°C"));
        assert_eq!((t.spec.min, t.spec.max), (Some(20.0), Some(80.0)));
        assert_eq!(t.spec.value_type, ValueType::Float);
        let lid = ChannelDefinition::parse_cli("lid::choice=closed|open").unwrap();
        assert_eq!(lid.spec.enum_labels, ["closed", "open"]);
        let low = ChannelDefinition::parse_cli("level:%:number:10:").unwrap();
        assert_eq!((low.spec.min, low.spec.max), (Some(10.0), None));
        assert_eq!(
            ChannelDefinition::parse_cli("ok::yes_no")
                .unwrap()
                .spec
                .value_type,
            ValueType::Boolean
        );
        let m = ChannelDefinition::parse_cli("method::text+replies").unwrap();
        assert!(m.reply_writable && m.spec.value_type == ValueType::String);
        assert!(
            !ChannelDefinition::parse_cli("sample::text")
                .unwrap()
                .reply_writable
        );
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        for (raw, says) in [
            ("temperature", "name:unit:type"),
            ("t:°C:number:80:20", "below the lowest"),
            ("t:°C:number:x:20", "is not a number"),
            ("t::text:1:2", "Only number channels"),
            ("t::colour", "number, text, yes_no or choice"),
            (":°C:number", "channel name"),
            ("lid::choice=open", "between 2 and 20 labels"),
            ("lid::choice=open|Open", "appears twice"),
            ("lid::text=open|closed", "Only choice channels"),
        ] {
            let e = ChannelDefinition::parse_cli(raw).unwrap_err();
            assert!(e.contains(says), "{raw}: {e}");
        }
        let mut long = input("t", "number");
        long.unit = "u".repeat(21);
        assert!(ChannelDefinition::parse(&long, "channels[0].").is_err());
        let mut nan = input("t", "number");
        nan.min = Some(f64::NAN);
        assert!(ChannelDefinition::parse(&nan, "").is_err());
    }

    #[test]
    fn history_keeps_its_meaning_through_a_type_change() {
        use ValueType::*;
        // Without history anything goes; with it, only lossless readings of the stored values.
        assert_eq!(type_change_problem("t", Float, String, 0), None);
        assert_eq!(type_change_problem("lid", Enum, String, 5), None);
        assert_eq!(type_change_problem("ok", Boolean, Float, 5), None);
        let e = type_change_problem("temperature", Float, String, 12).unwrap();
        assert!(e.contains("12 stored data points are numbers"), "{e}");
        assert!(type_change_problem("s", String, Enum, 1).is_some());
        assert!(type_change_problem("t", Float, Boolean, 1).is_some());
    }
}
