use std::fmt;

/// An organisation's time zone, by its IANA name (`Europe/Vienna`, `America/Chicago`, `UTC`):
/// the records' readable copies show each time in it beside UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZoneName(String);

impl TimeZoneName {
    pub fn utc() -> Self {
        Self("UTC".to_owned())
    }

    pub fn parse(raw: &str) -> crate::Result<Self> {
        let name = raw.trim();
        match jiff::tz::TimeZone::get(name) {
            Ok(_) if !name.is_empty() => Ok(Self(name.to_owned())),
            _ => Err(crate::Error::invalid(
                "time_zone",
                format!(
                    "{name:?} is not a time zone: use an IANA name such as Europe/Vienna or UTC."
                ),
            )),
        }
    }

    /// A stored name; one the bundled database no longer knows reads as UTC.
    pub fn from_stored(raw: &str) -> Self {
        Self::parse(raw).unwrap_or_else(|_| Self::utc())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A moment (ms since the epoch) in this zone: `2026-12-04 16:02:11 CET`.
    pub fn local(&self, at_ms: i64) -> String {
        let zone = jiff::tz::TimeZone::get(&self.0).unwrap_or(jiff::tz::TimeZone::UTC);
        match jiff::Timestamp::from_millisecond(at_ms) {
            Ok(t) => t
                .to_zoned(zone)
                .strftime("%Y-%m-%d %H:%M:%S %Z")
                .to_string(),
            Err(_) => "—".to_owned(),
        }
    }

    /// Every name the bundled database knows, sorted, for the settings' suggestions.
    pub fn all() -> Vec<String> {
        let mut names: Vec<String> = jiff::tz::db().available().map(|n| n.to_string()).collect();
        names.sort();
        names
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_names_only() {
        assert_eq!(
            TimeZoneName::parse(" Europe/Vienna ").unwrap().as_str(),
            "Europe/Vienna"
        );
        assert!(TimeZoneName::parse("Mars/Olympus").is_err());
        assert!(TimeZoneName::parse("").is_err());
        assert_eq!(TimeZoneName::from_stored("Nowhere").as_str(), "UTC");
    }

    #[test]
    fn local_times_follow_the_zone_and_its_summer_time() {
        let vienna = TimeZoneName::parse("Europe/Vienna").unwrap();
        // 2026-01-15 12:00:00 UTC and 2026-07-15 12:00:00 UTC.
        assert_eq!(vienna.local(1_768_478_400_000), "2026-01-15 13:00:00 CET");
        assert_eq!(vienna.local(1_784_116_800_000), "2026-07-15 14:00:00 CEST");
        assert!(TimeZoneName::all().iter().any(|n| n == "America/Chicago"));
    }
}
