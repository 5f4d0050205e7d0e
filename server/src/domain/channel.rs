//! Channels, their values, and the rules that turn a new data point into trigger events.

use serde_json::Value as Json;

/// What kind of values a channel holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Float,
    String,
    /// A small set of states, each with a label (`["closed", "open"]`); stored as the position.
    Enum,
    Boolean,
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Float => "float",
            ValueType::String => "string",
            ValueType::Enum => "enum",
            ValueType::Boolean => "boolean",
        }
    }

    pub fn parse(raw: &str) -> crate::Result<Self> {
        match raw {
            "float" => Ok(ValueType::Float),
            "string" => Ok(ValueType::String),
            "enum" => Ok(ValueType::Enum),
            "boolean" => Ok(ValueType::Boolean),
            _ => Err(crate::Error::invalid(
                "value_type",
                "The value type must be float, string, enum or boolean.",
            )),
        }
    }
}

/// A channel value as stored: the number (float, enum position, boolean 0/1) and/or the text
/// (string values, enum labels).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub number: Option<f64>,
    pub text: Option<String>,
}

/// Longest text value we accept (sample IDs, barcodes, status text).
pub const MAX_TEXT_BYTES: usize = 4096;

/// What a channel accepts and what its safe range is.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSpec {
    pub value_type: ValueType,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub enum_labels: Vec<String>,
}

impl ChannelSpec {
    /// A value this channel accepts, for examples (the curl command shown with a new token):
    /// the middle of its range, its first choice, and so on.
    pub fn example_value(&self) -> Json {
        match self.value_type {
            ValueType::Float => {
                let v = match (self.min, self.max) {
                    (Some(lo), Some(hi)) => (lo + hi) / 2.0,
                    (Some(lo), None) => lo,
                    (None, Some(hi)) => hi,
                    (None, None) => 1.0,
                };
                serde_json::Number::from_f64(v).map_or(Json::from(1), Json::Number)
            }
            ValueType::String => Json::from("S-0001"),
            ValueType::Boolean => Json::Bool(true),
            ValueType::Enum => self
                .enum_labels
                .first()
                .map_or(Json::Null, |l| Json::from(l.as_str())),
        }
    }

    /// Only numeric channels with a bound can leave or re-enter their range.
    pub fn has_range(&self) -> bool {
        self.value_type == ValueType::Float && (self.min.is_some() || self.max.is_some())
    }

    pub fn in_range(&self, v: f64) -> bool {
        self.min.is_none_or(|min| v >= min) && self.max.is_none_or(|max| v <= max)
    }

    /// Parses a JSON value sent by a device. The error says what was expected.
    pub fn parse_value(&self, raw: &Json) -> Result<Reading, String> {
        match self.value_type {
            ValueType::Float => {
                let n = match raw {
                    Json::Number(n) => n.as_f64(),
                    // JSON has no NaN or infinity; clients that try send them as strings.
                    Json::String(s)
                        if matches!(
                            s.to_ascii_lowercase().as_str(),
                            "nan" | "infinity" | "-infinity" | "inf" | "-inf"
                        ) =>
                    {
                        return Err("is not a finite number".into())
                    }
                    _ => return Err(format!("expected a number, got {}", kind(raw))),
                };
                match n {
                    Some(v) if v.is_finite() => Ok(Reading {
                        number: Some(v),
                        text: None,
                    }),
                    _ => Err("is not a finite number".into()),
                }
            }
            ValueType::String => match raw {
                Json::String(s) if s.len() <= MAX_TEXT_BYTES => Ok(Reading {
                    number: None,
                    text: Some(s.clone()),
                }),
                Json::String(_) => Err(format!("is longer than {MAX_TEXT_BYTES} bytes")),
                _ => Err(format!("expected text, got {}", kind(raw))),
            },
            ValueType::Boolean => match raw {
                Json::Bool(b) => Ok(Reading {
                    number: Some(if *b { 1.0 } else { 0.0 }),
                    text: None,
                }),
                _ => Err(format!("expected true or false, got {}", kind(raw))),
            },
            ValueType::Enum => {
                let position = match raw {
                    Json::Number(n) => n
                        .as_u64()
                        .map(|p| p as usize)
                        .filter(|p| *p < self.enum_labels.len()),
                    Json::String(s) => self
                        .enum_labels
                        .iter()
                        .position(|l| l.eq_ignore_ascii_case(s.trim())),
                    _ => None,
                };
                match position {
                    Some(p) => Ok(Reading {
                        number: Some(p as f64),
                        text: Some(self.enum_labels[p].clone()),
                    }),
                    None => Err(format!(
                        "expected one of: {} (or its position 0–{})",
                        self.enum_labels.join(", "),
                        self.enum_labels.len().saturating_sub(1)
                    )),
                }
            }
        }
    }

    /// The value as receivers see it: a number, a text, a boolean, or an enum's label.
    pub fn to_json(&self, r: &Reading) -> Json {
        match self.value_type {
            ValueType::Float => r.number.map(Json::from).unwrap_or(Json::Null),
            ValueType::Boolean => Json::Bool(r.number.is_some_and(|n| n != 0.0)),
            ValueType::String | ValueType::Enum => {
                r.text.clone().map(Json::String).unwrap_or(Json::Null)
            }
        }
    }

    /// The value for people: "12.5", "open", "true".
    pub fn display(&self, r: &Reading) -> String {
        match self.to_json(r) {
            Json::String(s) => s,
            Json::Null => "—".into(),
            other => other.to_string(),
        }
    }
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "text",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// What a channel remembers between data points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelState {
    pub last_timestamp: Option<i64>,
    pub last: Option<Reading>,
    pub in_range: Option<bool>,
}

/// Which bound a range event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Min,
    Max,
}

/// A trigger event caused by one data point.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    DataPointCreated,
    ValueChanged { previous: Option<Reading> },
    OutOfRange { violated: Bound },
    BackInRange,
}

/// Applies one data point to the channel's state and returns the trigger events it causes.
///
/// A point older than the channel's latest one is recorded (`data_point.created`) but does not
/// move the state: value and range events always compare against the newest value.
/// The very first value counts as a change (from nothing), so that a receiver learns the
/// initial sample ID; an unknown range state counts as in range.
pub fn apply(
    spec: &ChannelSpec,
    state: &mut ChannelState,
    timestamp: i64,
    reading: &Reading,
) -> Vec<Trigger> {
    let mut triggers = vec![Trigger::DataPointCreated];
    if state.last_timestamp.is_some_and(|t| timestamp < t) {
        return triggers;
    }
    if state.last.as_ref() != Some(reading) {
        triggers.push(Trigger::ValueChanged {
            previous: state.last.clone(),
        });
    }
    if spec.has_range() {
        if let Some(v) = reading.number {
            let now_in = spec.in_range(v);
            match (state.in_range, now_in) {
                (Some(true) | None, false) => {
                    let violated = if spec.min.is_some_and(|min| v < min) {
                        Bound::Min
                    } else {
                        Bound::Max
                    };
                    triggers.push(Trigger::OutOfRange { violated });
                }
                (Some(false), true) => triggers.push(Trigger::BackInRange),
                _ => {}
            }
            state.in_range = Some(now_in);
        }
    }
    state.last_timestamp = Some(timestamp);
    state.last = Some(reading.clone());
    triggers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_are_values_the_channel_accepts() {
        let spec = |value_type, min, max, labels: &[&str]| ChannelSpec {
            value_type,
            min,
            max,
            enum_labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        };
        for s in [
            spec(ValueType::Float, Some(0.0), Some(4.0), &[]),
            spec(ValueType::Float, None, None, &[]),
            spec(ValueType::String, None, None, &[]),
            spec(ValueType::Boolean, None, None, &[]),
            spec(ValueType::Enum, None, None, &["closed", "open"]),
        ] {
            let example = s.example_value();
            assert!(s.parse_value(&example).is_ok(), "{example} for {s:?}");
        }
        assert_eq!(
            spec(ValueType::Float, Some(0.0), Some(4.0), &[]).example_value(),
            serde_json::json!(2.0)
        );
    }
    use serde_json::json;

    fn float(min: Option<f64>, max: Option<f64>) -> ChannelSpec {
        ChannelSpec {
            value_type: ValueType::Float,
            min,
            max,
            enum_labels: vec![],
        }
    }

    fn num(v: f64) -> Reading {
        Reading {
            number: Some(v),
            text: None,
        }
    }

    fn kinds(t: &[Trigger]) -> Vec<&'static str> {
        t.iter()
            .map(|t| match t {
                Trigger::DataPointCreated => "created",
                Trigger::ValueChanged { .. } => "changed",
                Trigger::OutOfRange { .. } => "out",
                Trigger::BackInRange => "back",
            })
            .collect()
    }

    #[test]
    fn parses_values_by_type() {
        let f = float(None, None);
        assert_eq!(f.parse_value(&json!(12)).unwrap(), num(12.0));
        assert!(f.parse_value(&json!("12")).is_err());
        assert_eq!(
            f.parse_value(&json!("NaN")).unwrap_err(),
            "is not a finite number"
        );
        assert!(f.parse_value(&json!(null)).is_err());

        let s = ChannelSpec {
            value_type: ValueType::String,
            ..float(None, None)
        };
        assert_eq!(
            s.parse_value(&json!("S-1")).unwrap().text.as_deref(),
            Some("S-1")
        );
        assert!(s.parse_value(&json!(1)).is_err());
        assert!(s
            .parse_value(&json!("x".repeat(MAX_TEXT_BYTES + 1)))
            .is_err());

        let b = ChannelSpec {
            value_type: ValueType::Boolean,
            ..float(None, None)
        };
        assert_eq!(b.parse_value(&json!(true)).unwrap(), num(1.0));
        assert!(b.parse_value(&json!(1)).is_err());

        let e = ChannelSpec {
            value_type: ValueType::Enum,
            enum_labels: vec!["closed".into(), "open".into()],
            ..float(None, None)
        };
        let open = Reading {
            number: Some(1.0),
            text: Some("open".into()),
        };
        assert_eq!(e.parse_value(&json!("Open")).unwrap(), open);
        assert_eq!(e.parse_value(&json!(1)).unwrap(), open);
        assert!(e.parse_value(&json!(2)).is_err());
        assert!(e.parse_value(&json!("ajar")).is_err());
        assert_eq!(e.to_json(&open), json!("open"));
    }

    #[test]
    fn first_value_is_a_change_and_equal_values_are_not() {
        let spec = float(None, None);
        let mut st = ChannelState::default();
        assert_eq!(
            kinds(&apply(&spec, &mut st, 1, &num(5.0))),
            ["created", "changed"]
        );
        assert_eq!(kinds(&apply(&spec, &mut st, 2, &num(5.0))), ["created"]);
        let t = apply(&spec, &mut st, 3, &num(6.0));
        assert_eq!(
            t[1],
            Trigger::ValueChanged {
                previous: Some(num(5.0))
            }
        );
    }

    #[test]
    fn range_exit_and_return_fire_once_each() {
        let spec = float(Some(0.0), Some(310.0));
        let mut st = ChannelState::default();
        assert_eq!(
            kinds(&apply(&spec, &mut st, 1, &num(25.0))),
            ["created", "changed"]
        );
        let t = apply(&spec, &mut st, 2, &num(320.0));
        assert_eq!(kinds(&t), ["created", "changed", "out"]);
        assert_eq!(
            t[2],
            Trigger::OutOfRange {
                violated: Bound::Max
            }
        );
        assert_eq!(
            kinds(&apply(&spec, &mut st, 3, &num(330.0))),
            ["created", "changed"]
        );
        assert_eq!(
            kinds(&apply(&spec, &mut st, 4, &num(300.0))),
            ["created", "changed", "back"]
        );
        let t = apply(&spec, &mut st, 5, &num(-1.0));
        assert_eq!(
            t[2],
            Trigger::OutOfRange {
                violated: Bound::Min
            }
        );
    }

    #[test]
    fn a_first_value_outside_the_range_is_out_of_range() {
        let spec = float(None, Some(10.0));
        let mut st = ChannelState::default();
        assert_eq!(
            kinds(&apply(&spec, &mut st, 1, &num(11.0))),
            ["created", "changed", "out"]
        );
    }

    #[test]
    fn older_points_are_recorded_without_moving_the_state() {
        let spec = float(Some(0.0), Some(10.0));
        let mut st = ChannelState::default();
        apply(&spec, &mut st, 100, &num(5.0));
        assert_eq!(kinds(&apply(&spec, &mut st, 50, &num(50.0))), ["created"]);
        assert_eq!(st.last, Some(num(5.0)));
        assert_eq!(st.in_range, Some(true));
    }

    #[test]
    fn channels_without_a_range_never_fire_range_events() {
        let spec = float(None, None);
        let mut st = ChannelState::default();
        apply(&spec, &mut st, 1, &num(1e9));
        assert_eq!(st.in_range, None);
    }
}
