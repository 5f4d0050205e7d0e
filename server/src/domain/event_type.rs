use std::fmt;

/// The trigger events a subscription can tick on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// Every new data point on the channel.
    DataPointCreated,
    /// The value differs from the channel's previous one.
    ValueChanged,
    /// A numeric value leaves the channel's min–max range.
    OutOfRange,
    /// A numeric value re-enters the channel's min–max range.
    BackInRange,
    /// The device goes online or offline; offered on every channel of the device.
    DeviceStatusChanged,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::DataPointCreated,
        EventType::ValueChanged,
        EventType::OutOfRange,
        EventType::BackInRange,
        EventType::DeviceStatusChanged,
    ];

    /// The name receivers see in the `type` field of a webhook.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::DataPointCreated => "data_point.created",
            EventType::ValueChanged => "channel.value_changed",
            EventType::OutOfRange => "channel.out_of_range",
            EventType::BackInRange => "channel.back_in_range",
            EventType::DeviceStatusChanged => "device.status_changed",
        }
    }

    /// Words for people, as the Selected Channels pop-up shows them.
    pub fn label(self) -> &'static str {
        match self {
            EventType::DataPointCreated => "New data point",
            EventType::ValueChanged => "Value changed",
            EventType::OutOfRange => "Out of range",
            EventType::BackInRange => "Back in range",
            EventType::DeviceStatusChanged => "Device online/offline",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// Range events only make sense on numeric channels with a min or max.
    pub fn needs_range(self) -> bool {
        matches!(self, EventType::OutOfRange | EventType::BackInRange)
    }

    /// Device-level events are not tied to one channel's data.
    pub fn is_device_level(self) -> bool {
        self == EventType::DeviceStatusChanged
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("data_point.deleted"), None);
    }
}
