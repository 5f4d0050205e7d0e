//! The session cookie and the middleware that turns it into the caller's identity.
//!
//! Every request passes [`resolve`], which puts a [`Caller`] into the request extensions; pages
//! then pass [`require_for_pages`], which sends anonymous visitors to the sign-in page. Server
//! functions read the same [`Caller`] and decide for themselves (they answer 401, not a
//! redirect).

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue, Method},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

use crate::{
    auth::{self, CurrentUser, SessionToken},
    config::Config,
    AppState,
};

/// The session cookie over plain HTTP (a lab's loopback or intranet install).
pub const COOKIE_NAME: &str = "labhook_session";
/// The session cookie over HTTPS: the `__Host-` prefix makes browsers accept it only when
/// Secure, for this host and path `/`, so a neighbouring subdomain cannot plant one.
pub const SECURE_COOKIE_NAME: &str = "__Host-labhook_session";

/// Pages that anonymous visitors may see.
const PUBLIC_PAGES: &[&str] = &["/sign-in", "/set-password"];

/// Who is calling: the signed-in user, or nobody.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<CurrentUser>);

/// Whether this request reached us over HTTPS: the operator says so (`--secure-cookies`), or
/// a proxy the operator trusts (`--behind-proxy`) says `X-Forwarded-Proto: https`.
pub fn is_https(headers: &HeaderMap, config: &Config) -> bool {
    config.secure_cookies
        || (config.behind_proxy
            && headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

/// The client's address: the connection's peer, or — behind a proxy the operator trusts —
/// the address that proxy appended last to `X-Forwarded-For` (entries before it are whatever
/// the client claimed).
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<std::net::SocketAddr>,
    config: &Config,
) -> Option<std::net::IpAddr> {
    if config.behind_proxy {
        // Only the last entry is the proxy's own; anything unreadable there is not trusted.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|a| a.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    peer.map(|p| p.ip())
}

fn cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The session token from the request's `Cookie` headers, if it carries one of ours (over
/// HTTPS only the `__Host-` one).
pub fn token_from_headers(headers: &HeaderMap, config: &Config) -> Option<SessionToken> {
    let name = cookie_name(is_https(headers, config));
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .and_then(|(_, value)| SessionToken::from_cookie_value(value.trim()))
}

/// `Set-Cookie` value that stores the session in the browser: HttpOnly (no script can read
/// it), SameSite=Lax (other sites cannot make the browser send it with their POSTs), and over
/// HTTPS Secure with the `__Host-` prefix.
pub fn set_cookie(token: &SessionToken, headers: &HeaderMap, config: &Config) -> HeaderValue {
    let https = is_https(headers, config);
    let value = format!(
        "{}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        cookie_name(https),
        token.expose(),
        config.session_ttl.as_secs(),
        if https { "; Secure" } else { "" },
    );
    HeaderValue::from_str(&value).expect("BUG: session tokens are URL-safe base64")
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(headers: &HeaderMap, config: &Config) -> HeaderValue {
    let https = is_https(headers, config);
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        cookie_name(https),
        if https { "; Secure" } else { "" },
    ))
    .expect("BUG: constant cookie")
}

/// Looks the session up and records the [`Caller`] for everything downstream.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let is_asset = path.starts_with("/pkg/") || path == "/favicon.ico";
    let user = match token_from_headers(req.headers(), &state.config) {
        Some(token) if !is_asset => match auth::user_for_session(&state.pool, &token).await {
            Ok(user) => user,
            Err(e) => return e.into_response(),
        },
        _ => None,
    };
    req.extensions_mut().insert(Caller(user));
    next.run(req).await
}

/// Sends anonymous page requests to the sign-in page, remembering where they wanted to go.
/// Signed-in visitors of the sign-in page go home.
pub async fn require_for_pages(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if req.method() != Method::GET || path.starts_with("/api/") {
        return next.run(req).await;
    }
    let signed_in = req
        .extensions()
        .get::<Caller>()
        .is_some_and(|c| c.0.is_some());
    let public = PUBLIC_PAGES.contains(&path);
    match (signed_in, public) {
        (false, false) => {
            let wanted = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            Redirect::to(&format!("/sign-in?next={}", encode_query_value(wanted))).into_response()
        }
        (true, true) if path == "/sign-in" => Redirect::to("/").into_response(),
        _ => next.run(req).await,
    }
}

fn encode_query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where to go after signing in: only paths of this site, so the sign-in page cannot be used
/// to bounce users to another site. `next` is read the way a browser reads a link — tabs and
/// line breaks dropped, backslashes taken for slashes, dot segments resolved — and whatever
/// does not stay on this site becomes "/".
pub fn safe_next(next: Option<&str>) -> String {
    let base = url::Url::parse("http://labhook.invalid/").expect("BUG: the base URL parses");
    let Some(resolved) = next
        .filter(|n| n.starts_with('/'))
        .and_then(|n| base.join(n).ok())
    else {
        return "/".to_owned();
    };
    let local = &resolved[url::Position::BeforePath..];
    if resolved.origin() == base.origin() && !local.starts_with("//") {
        local.to_owned()
    } else {
        "/".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_only_allows_local_paths() {
        assert_eq!(
            safe_next(Some("/subscriptions?page=2")),
            "/subscriptions?page=2"
        );
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
        // What browsers make of these: //evil.example.
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("/\n/evil.example")), "/");
        assert_eq!(safe_next(Some("/\r\n/evil.example/x")), "/");
        assert_eq!(safe_next(Some("/.//evil.example")), "/");
        assert_eq!(safe_next(Some("javascript:alert(1)")), "/");
        assert_eq!(
            safe_next(Some("/admin/audit?kind=device")),
            "/admin/audit?kind=device"
        );
    }

    #[test]
    fn the_cookie_is_host_prefixed_and_secure_over_https_only() {
        let token = SessionToken::generate();
        let mut config = Config::for_database(std::path::PathBuf::from("x.db"));
        let plain = HeaderMap::new();
        let cookie = set_cookie(&token, &plain, &config);
        assert!(cookie.to_str().unwrap().starts_with("labhook_session="));
        assert!(!cookie.to_str().unwrap().contains("Secure"));
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        // A forwarded header counts only from a proxy the operator trusts.
        assert!(!is_https(&proxied, &config));
        config.behind_proxy = true;
        let cookie = set_cookie(&token, &proxied, &config);
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.starts_with("__Host-labhook_session="), "{cookie}");
        assert!(
            cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.contains("Domain")
        );
        assert!(clear_cookie(&proxied, &config)
            .to_str()
            .unwrap()
            .starts_with("__Host-labhook_session=;"));
    }

    #[test]
    fn the_client_address_is_the_peer_unless_a_trusted_proxy_says_otherwise() {
        let peer: std::net::SocketAddr = "10.0.0.5:40000".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 203.0.113.9"),
        );
        let mut config = Config::for_database(std::path::PathBuf::from("x.db"));
        assert_eq!(
            client_address(&headers, Some(peer), &config),
            Some(peer.ip())
        );
        config.behind_proxy = true;
        assert_eq!(
            client_address(&headers, Some(peer), &config),
            Some("203.0.113.9".parse().unwrap()),
            "the proxy's own entry, not what the client claimed"
        );
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4, junk"));
        assert_eq!(
            client_address(&headers, Some(peer), &config),
            Some(peer.ip())
        );
    }

    #[test]
    fn finds_our_cookie_among_others() {
        let token = "a".repeat(43);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {COOKIE_NAME}={token}; x=y")).unwrap(),
        );
        let mut config = Config::for_database(std::path::PathBuf::from("x.db"));
        assert_eq!(
            token_from_headers(&headers, &config).map(|t| t.expose().to_owned()),
            Some(token.clone())
        );
        // Over HTTPS only the __Host- cookie counts.
        config.secure_cookies = true;
        assert_eq!(token_from_headers(&headers, &config), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{SECURE_COOKIE_NAME}={token}")).unwrap(),
        );
        assert_eq!(
            token_from_headers(&headers, &config).map(|t| t.expose().to_owned()),
            Some(token)
        );
    }
}
