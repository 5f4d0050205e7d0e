//! One variable of an instrument mapped to one channel: which node, how often the server
//! samples it, and the smallest change worth a data point. The rules for each live here, for
//! every door.

use std::{str::FromStr, time::Duration};

use opcua::types::NodeId;

use crate::{Error, Result};

/// Sampling when none is asked for: once a second, what a lab reading needs.
pub const DEFAULT_SAMPLING: Duration = Duration::from_secs(1);
const MIN_SAMPLING: Duration = Duration::from_millis(50);
const MAX_SAMPLING: Duration = Duration::from_secs(3600);

/// A node id in OPC UA's text form (`ns=2;s=Incubator.Temperature`, `i=2258`, …), checked by
/// the OPC UA stack's own parser and kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress(String);

impl NodeAddress {
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(Error::invalid(
                "node",
                "Please give the variable's node id.",
            ));
        }
        if raw.len() > 1000 || NodeId::from_str(raw).is_err() {
            return Err(Error::invalid(
                "node",
                format!(
                    "{raw:?} is not an OPC UA node id (e.g. ns=2;s=Incubator.Temperature or ns=3;i=1001)."
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn node_id(&self) -> NodeId {
        NodeId::from_str(&self.0).expect("BUG: a NodeAddress is parsed when made")
    }
}

/// A mapping as checked, before its channel is looked up.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSpec {
    pub channel: String,
    pub node: NodeAddress,
    pub sampling: Duration,
    /// Absolute, in the variable's unit; `None`: every change.
    pub deadband: Option<f64>,
}

impl MappingSpec {
    pub fn new(
        channel: &str,
        node: &str,
        sampling_ms: Option<u64>,
        deadband: Option<f64>,
    ) -> Result<Self> {
        let channel = channel.trim();
        if channel.is_empty() {
            return Err(Error::invalid(
                "channel",
                "Please name the channel to map to.",
            ));
        }
        let sampling = sampling_ms
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_SAMPLING);
        if !(MIN_SAMPLING..=MAX_SAMPLING).contains(&sampling) {
            return Err(Error::invalid(
                "sampling",
                "The sampling interval is from 50 ms to one hour (3600000 ms).",
            ));
        }
        if deadband.is_some_and(|d| !d.is_finite() || d < 0.0) {
            return Err(Error::invalid(
                "deadband",
                "The deadband is a change of zero or more, in the variable's unit.",
            ));
        }
        Ok(Self {
            channel: channel.to_owned(),
            node: NodeAddress::parse(node)?,
            sampling,
            deadband: deadband.filter(|d| *d > 0.0),
        })
    }

    /// The command line's form: `CHANNEL=NODE_ID[,sampling=MS][,deadband=X]`.
    pub fn parse_cli(raw: &str) -> Result<Self> {
        let Some((channel, mut rest)) = raw.split_once('=') else {
            return Err(Error::invalid(
                "map",
                format!(
                    "{raw:?}: give CHANNEL=NODE_ID, e.g. Temperature=ns=2;s=Incubator.Temperature"
                ),
            ));
        };
        let (mut sampling, mut deadband) = (None, None);
        loop {
            if let Some((head, value)) = rest.rsplit_once(",sampling=") {
                sampling = Some(value.trim().parse::<u64>().map_err(|_| {
                    Error::invalid(
                        "sampling",
                        format!("sampling={value}: milliseconds, e.g. 500"),
                    )
                })?);
                rest = head;
            } else if let Some((head, value)) = rest.rsplit_once(",deadband=") {
                deadband = Some(value.trim().parse::<f64>().map_err(|_| {
                    Error::invalid("deadband", format!("deadband={value}: a number, e.g. 0.5"))
                })?);
                rest = head;
            } else {
                break;
            }
        }
        Self::new(channel, rest, sampling, deadband)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_lines_form() {
        let m = MappingSpec::parse_cli("Temperature=ns=2;s=Incubator.Temperature").unwrap();
        assert_eq!(m.channel, "Temperature");
        assert_eq!(m.node.as_str(), "ns=2;s=Incubator.Temperature");
        assert_eq!((m.sampling, m.deadband), (DEFAULT_SAMPLING, None));
        let m = MappingSpec::parse_cli("Weight=ns=3;i=1001,deadband=0.5,sampling=200").unwrap();
        assert_eq!(m.node.node_id(), NodeId::new(3, 1001u32));
        assert_eq!(
            (m.sampling, m.deadband),
            (Duration::from_millis(200), Some(0.5))
        );
    }

    #[test]
    fn what_is_refused_says_why() {
        for (raw, field) in [
            ("Temperature", "map"),
            ("=ns=2;s=T", "channel"),
            ("T=", "node"),
            ("T=not a node", "node"),
            ("T=ns=2;s=T,sampling=10", "sampling"),
            ("T=ns=2;s=T,sampling=fast", "sampling"),
            ("T=ns=2;s=T,deadband=-1", "deadband"),
        ] {
            match MappingSpec::parse_cli(raw) {
                Err(Error::Invalid(errors)) => assert_eq!(errors[0].field, field, "{raw}"),
                other => panic!("{raw}: {other:?}"),
            }
        }
    }
}
