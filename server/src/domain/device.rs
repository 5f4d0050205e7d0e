use std::fmt;

/// Kinds of lab device (Laboperator's device classes).
pub const DEVICE_CLASSES: &[&str] = &[
    "Balance",
    "Incubator",
    "Heating/Cooling Unit",
    "Evaporator",
    "Pump",
    "Vacuum Pump",
    "Camera",
    "Analyzer",
    "Probe",
    "Power Meter",
    "Heat Control",
    "Custom",
];

pub fn parse_device_class(raw: &str) -> crate::Result<String> {
    DEVICE_CLASSES
        .iter()
        .find(|c| c.eq_ignore_ascii_case(raw.trim()))
        .map(|c| (*c).to_owned())
        .ok_or_else(|| {
            crate::Error::invalid(
                "device_class",
                format!(
                    "The device class must be one of: {}.",
                    DEVICE_CLASSES.join(", ")
                ),
            )
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    Online,
    Offline,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Online => "online",
            DeviceStatus::Offline => "offline",
        }
    }

    pub fn parse(raw: &str) -> Self {
        if raw == "online" {
            DeviceStatus::Online
        } else {
            DeviceStatus::Offline
        }
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
