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

pub const COOKIE_NAME: &str = "labhook_session";

/// Pages that anonymous visitors may see.
const PUBLIC_PAGES: &[&str] = &["/sign-in"];

/// Who is calling: the signed-in user, or nobody.
#[derive(Debug, Clone, Default)]
pub struct Caller(pub Option<CurrentUser>);

/// The session token from the request's `Cookie` headers, if it carries one of ours.
pub fn token_from_headers(headers: &HeaderMap) -> Option<SessionToken> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .and_then(|(_, value)| SessionToken::from_cookie_value(value.trim()))
}

/// `Set-Cookie` value that stores the session in the browser: HttpOnly (no script can read
/// it) and SameSite=Lax (other sites cannot make the browser send it with their POSTs).
pub fn set_cookie(token: &SessionToken, config: &Config) -> HeaderValue {
    let secure = if config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{COOKIE_NAME}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        token.expose(),
        config.session_ttl.as_secs()
    );
    HeaderValue::from_str(&value).expect("BUG: session tokens are URL-safe base64")
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(config: &Config) -> HeaderValue {
    let secure = if config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .expect("BUG: constant cookie")
}

/// Looks the session up and records the [`Caller`] for everything downstream.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let is_asset = path.starts_with("/pkg/") || path == "/favicon.ico";
    let user = match token_from_headers(req.headers()) {
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
        (true, true) => Redirect::to("/").into_response(),
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
    fn finds_our_cookie_among_others() {
        let token = "a".repeat(43);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {COOKIE_NAME}={token}; x=y")).unwrap(),
        );
        assert_eq!(
            token_from_headers(&headers).map(|t| t.expose().to_owned()),
            Some(token)
        );
    }
}
