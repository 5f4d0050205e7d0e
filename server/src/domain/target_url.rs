//! Where webhooks may go. An org admin registers URL prefixes ([`RegisteredUrl`]); a
//! subscription's [`TargetUrl`] is allowed only when [`is_allowed`] says so. The same check
//! runs when a subscription is saved and again when each request is sent.

use std::fmt;

use url::Url;

/// Why a URL was refused, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("Please enter a URL.")]
    Empty,
    #[error("This is not a valid URL (e.g. https://lims.example.org/api/).")]
    Malformed,
    #[error("Only http:// and https:// URLs are possible.")]
    UnsupportedScheme,
    #[error("The URL needs a host name or IP address.")]
    NoHost,
    #[error(
        "A URL with a user name or password (user@host) is not allowed; use a header instead."
    )]
    Userinfo,
    #[error("A registered URL cannot contain a query string (?…).")]
    Query,
    #[error("A URL cannot contain a fragment (#…).")]
    Fragment,
    #[error("The URL is too long (at most 2000 characters).")]
    TooLong,
    #[error("The host name is not valid: at most 253 characters, each part at most 63.")]
    BadHost,
}

const MAX_LEN: usize = 2000;

/// Parses an absolute http(s) URL with a host and no user info or fragment. The `url` crate
/// normalises it: lower-case host, IDNA to punycode, default port dropped, dot segments
/// resolved, backslashes read as slashes.
fn parse_http_url(raw: &str) -> Result<Url, UrlError> {
    // Spaces around are forgiven; line breaks and other control characters anywhere are not
    // (the parser would quietly drop them).
    let raw = raw.trim_matches(' ');
    if raw.is_empty() {
        return Err(UrlError::Empty);
    }
    if raw.len() > MAX_LEN {
        return Err(UrlError::TooLong);
    }
    if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(UrlError::Malformed);
    }
    let url = Url::parse(raw).map_err(|e| match e {
        url::ParseError::EmptyHost => UrlError::NoHost,
        url::ParseError::RelativeUrlWithoutBase => UrlError::Malformed,
        _ => UrlError::Malformed,
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::UnsupportedScheme);
    }
    let host = url.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    if host.len() > 253 || host.split('.').any(|label| label.len() > 63) {
        return Err(UrlError::BadHost);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Userinfo);
    }
    if url.fragment().is_some() {
        return Err(UrlError::Fragment);
    }
    Ok(url)
}

/// A URL prefix an org admin allowed webhooks to be sent to: scheme, host, optional port,
/// optional path prefix. Stored in its normalised form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegisteredUrl(Url);

impl RegisteredUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        let url = parse_http_url(raw)?;
        if url.query().is_some() {
            return Err(UrlError::Query);
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host, as people read it (punycode included).
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// True when `target` is on this prefix: same scheme, host and port, and a path that
    /// starts with ours on a segment boundary (`/api` allows `/api` and `/api/x`, not `/apix`).
    pub fn allows(&self, target: &TargetUrl) -> bool {
        let (r, t) = (&self.0, &target.0);
        r.scheme() == t.scheme()
            && r.host_str() == t.host_str()
            && r.port_or_known_default() == t.port_or_known_default()
            && path_within(r.path(), t.path())
    }
}

fn path_within(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl fmt::Display for RegisteredUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a subscription sends its webhooks: an absolute http(s) URL (a query string is fine,
/// some receivers take a key there; user info and fragments are not).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TargetUrl(Url);

impl TargetUrl {
    pub fn parse(raw: &str) -> Result<Self, UrlError> {
        parse_http_url(raw).map(Self)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The one rule: a target is allowed when any registered URL of its organisation allows it.
pub fn is_allowed(registered: &[RegisteredUrl], target: &TargetUrl) -> bool {
    registered.iter().any(|r| r.allows(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> RegisteredUrl {
        RegisteredUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn target(s: &str) -> TargetUrl {
        TargetUrl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn allows(r: &str, t: &str) -> bool {
        reg(r).allows(&target(t))
    }

    #[test]
    fn normalises_registered_urls() {
        for (raw, normal) in [
            (
                "HTTPS://LIMS.Example.ORG/api/",
                "https://lims.example.org/api/",
            ),
            (
                "https://lims.example.org:443/api",
                "https://lims.example.org/api",
            ),
            ("http://lims.example.org:80", "http://lims.example.org/"),
            (
                "http://lims.example.org:8080/",
                "http://lims.example.org:8080/",
            ),
            ("  https://lims.example.org  ", "https://lims.example.org/"),
            ("https://bücher.example/", "https://xn--bcher-kva.example/"),
            (
                "https://lims.example.org/a/../api/",
                "https://lims.example.org/api/",
            ),
            ("http://127.0.0.1:9999/", "http://127.0.0.1:9999/"),
            ("http://10.1.2.3/hook", "http://10.1.2.3/hook"),
            ("http://[::1]:8080/", "http://[::1]:8080/"),
        ] {
            assert_eq!(reg(raw).as_str(), normal, "{raw}");
        }
    }

    #[test]
    fn refuses_anything_else_with_a_reason() {
        for (raw, err) in [
            ("", UrlError::Empty),
            ("   ", UrlError::Empty),
            ("lims.example.org", UrlError::Malformed),
            ("/api/", UrlError::Malformed),
            ("ftp://lims.example.org/", UrlError::UnsupportedScheme),
            ("javascript:alert(1)", UrlError::UnsupportedScheme),
            ("file:///etc/passwd", UrlError::UnsupportedScheme),
            ("https://user:pw@lims.example.org/", UrlError::Userinfo),
            ("https://lims.example.org@evil.com/", UrlError::Userinfo),
            ("https://lims.example.org/api?x=1", UrlError::Query),
            ("https://lims.example.org/api#frag", UrlError::Fragment),
            ("https://lims example.org/", UrlError::Malformed),
            ("https://", UrlError::NoHost),
            ("https://lims.example.org/\napi", UrlError::Malformed),
        ] {
            assert_eq!(RegisteredUrl::parse(raw), Err(err), "{raw:?}");
        }
        assert_eq!(
            RegisteredUrl::parse(&format!("https://a.example/{}", "x".repeat(2000))),
            Err(UrlError::TooLong)
        );
    }

    #[test]
    fn targets_may_carry_a_query_but_no_userinfo_or_fragment() {
        assert!(TargetUrl::parse("https://lims.example.org/hook?key=abc").is_ok());
        assert_eq!(
            TargetUrl::parse("https://a@lims.example.org/"),
            Err(UrlError::Userinfo)
        );
        assert_eq!(
            TargetUrl::parse("https://lims.example.org/#x"),
            Err(UrlError::Fragment)
        );
    }

    #[test]
    fn matches_on_scheme_host_port_and_path_segments() {
        let r = "https://lims.example.org/api/";
        assert!(allows(r, "https://lims.example.org/api"));
        assert!(allows(r, "https://lims.example.org/api/"));
        assert!(allows(r, "https://lims.example.org/api/v2/hooks"));
        assert!(allows(r, "https://LIMS.example.org:443/api/x?y=1"));
        assert!(!allows(r, "https://lims.example.org/apix"));
        assert!(!allows(r, "https://lims.example.org/"));
        assert!(!allows(r, "https://lims.example.org/other/api/"));
        assert!(!allows(r, "http://lims.example.org/api/"));
        assert!(!allows(r, "https://lims.example.org:8443/api/"));
        assert!(!allows(r, "https://lims.example.org.evil.com/api/"));
        assert!(!allows(r, "https://evil.com/lims.example.org/api/"));
        assert!(!allows(r, "https://sub.lims.example.org/api/"));
        assert!(!allows(r, "https://lims.example.org./api/"));
        // Dot segments cannot climb out of the prefix.
        assert!(!allows(r, "https://lims.example.org/api/../admin"));
        assert!(!allows(r, "https://lims.example.org/api/%2e%2e/admin"));
        // An explicit default port is the same port.
        assert!(allows(
            "http://lims.example.org:80/",
            "http://lims.example.org/x"
        ));
        // A host-only registration allows every path on that origin.
        assert!(allows(
            "http://127.0.0.1:9999",
            "http://127.0.0.1:9999/anything/at/all"
        ));
        assert!(!allows("http://127.0.0.1:9999", "http://127.0.0.1:9998/"));
        assert!(!allows("http://127.0.0.1:9999", "http://127.0.0.2:9999/"));
        // Without the trailing slash the prefix still ends on a segment boundary.
        assert!(allows(
            "https://lims.example.org/api",
            "https://lims.example.org/api/x"
        ));
        assert!(!allows(
            "https://lims.example.org/api",
            "https://lims.example.org/api-x"
        ));
    }

    #[test]
    fn the_user_at_host_trick_cannot_reach_another_host() {
        // Parsed, the host is evil.com; and user info is refused anyway.
        assert!(TargetUrl::parse("https://lims.example.org@evil.com/api/").is_err());
        let registered = [reg("https://lims.example.org/")];
        assert!(!is_allowed(
            &registered,
            &target("https://evil.com/?https://lims.example.org/")
        ));
    }

    #[test]
    fn idna_hosts_match_their_punycode() {
        assert!(allows(
            "https://bücher.example/",
            "https://xn--bcher-kva.example/x"
        ));
        assert!(allows(
            "https://xn--bcher-kva.example/",
            "https://BÜCHER.example/x"
        ));
    }
}
