//! Where an instrument's OPC UA server listens: `opc.tcp://host[:port][/path]`. Checked here
//! for every door (command line, pages, API); the address it resolves to is checked against
//! the outbound policy each time a connection is made (`sources::session`), as for webhooks.

use std::fmt;

use url::Url;

/// Why an endpoint was refused, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("Please enter the instrument's endpoint URL (e.g. opc.tcp://balance.lab:4840/).")]
    Empty,
    #[error("This is not a valid endpoint URL (e.g. opc.tcp://balance.lab:4840/).")]
    Malformed,
    #[error("An OPC UA endpoint URL starts with opc.tcp://.")]
    UnsupportedScheme,
    #[error("The endpoint URL needs a host name or IP address.")]
    NoHost,
    #[error("An endpoint URL cannot hold a user name or password; give them as the identity.")]
    Userinfo,
    #[error("An endpoint URL cannot contain a query string (?…) or a fragment (#…).")]
    QueryOrFragment,
    #[error("The endpoint URL is too long (at most 500 characters).")]
    TooLong,
}

const MAX_LEN: usize = 500;

/// OPC UA's registered port, used when the URL names none.
pub const DEFAULT_PORT: u16 = 4840;

/// A parsed `opc.tcp://` endpoint URL, normalised (host in lower case, the default port
/// written out, at least `/` as its path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpcEndpoint {
    host: String,
    port: u16,
    path: String,
}

impl OpcEndpoint {
    pub fn parse(raw: &str) -> Result<Self, EndpointError> {
        let raw = raw.trim_matches(' ');
        if raw.is_empty() {
            return Err(EndpointError::Empty);
        }
        if raw.len() > MAX_LEN {
            return Err(EndpointError::TooLong);
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EndpointError::Malformed);
        }
        let url = Url::parse(raw).map_err(|e| match e {
            url::ParseError::EmptyHost => EndpointError::NoHost,
            _ => EndpointError::Malformed,
        })?;
        if !url.scheme().eq_ignore_ascii_case("opc.tcp") {
            return Err(EndpointError::UnsupportedScheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(EndpointError::Userinfo);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(EndpointError::QueryOrFragment);
        }
        // `opc.tcp` is not a scheme the URL standard knows: its host is kept as written.
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or(EndpointError::NoHost)?
            .to_ascii_lowercase();
        if host.contains(['%', '@', '\\']) {
            return Err(EndpointError::Malformed);
        }
        let path = match url.path() {
            "" => "/".to_owned(),
            p => p.to_owned(),
        };
        Ok(Self {
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            path,
        })
    }

    /// The host as written (an IPv6 address in brackets), for resolving.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, as `tokio::net::lookup_host` takes it.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl fmt::Display for OpcEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "opc.tcp://{}:{}{}", self.host, self.port, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalised() {
        let e = OpcEndpoint::parse(" opc.tcp://Balance.LAB/ ").unwrap();
        assert_eq!(e.to_string(), "opc.tcp://balance.lab:4840/");
        let e = OpcEndpoint::parse("opc.tcp://10.0.0.7:4841/lads/balance").unwrap();
        assert_eq!(e.to_string(), "opc.tcp://10.0.0.7:4841/lads/balance");
        assert_eq!(e.authority(), "10.0.0.7:4841");
        let e = OpcEndpoint::parse("OPC.TCP://[::1]:4840").unwrap();
        assert_eq!(e.to_string(), "opc.tcp://[::1]:4840/");
    }

    #[test]
    fn what_is_refused_says_why() {
        use EndpointError::*;
        for (raw, why) in [
            ("", Empty),
            ("   ", Empty),
            ("http://balance.lab/", UnsupportedScheme),
            ("balance.lab:4840", UnsupportedScheme),
            ("opc.tcp://", NoHost),
            ("opc.tcp://user:pw@balance.lab/", Userinfo),
            ("opc.tcp://balance.lab/?x=1", QueryOrFragment),
            ("opc.tcp://balance.lab/#top", QueryOrFragment),
            ("opc.tcp://bal ance.lab/", Malformed),
            ("opc.tcp://balance.lab:99999/", Malformed),
        ] {
            assert_eq!(OpcEndpoint::parse(raw), Err(why), "{raw:?}");
        }
        let long = format!("opc.tcp://balance.lab/{}", "a".repeat(500));
        assert_eq!(OpcEndpoint::parse(&long), Err(TooLong));
    }
}
