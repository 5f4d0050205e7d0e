//! What browsers need to be told: cross-site requests that change something are refused, and
//! every response carries the security headers (a Content-Security-Policy with a fresh nonce
//! for the inline scripts of hydration, no sniffing, no framing, no referrer to other sites).

use axum::{
    extract::Request,
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use rand::RngCore;

/// The nonce of this response's Content-Security-Policy: the page's inline scripts carry it
/// (the app hands it to Leptos), nothing injected can.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

impl CspNonce {
    fn fresh() -> Self {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        CspNonce(URL_SAFE_NO_PAD.encode(bytes))
    }
}

/// Refuses a state-changing request that a browser sent from another site (CSRF): by
/// `Sec-Fetch-Site` where the browser sends it, else by comparing `Origin` with the host the
/// request was sent to. Requests without either (scripts, devices, curl) carry no ambient
/// browser credentials to abuse and pass. Runs before anything is read or changed.
pub async fn refuse_cross_site(req: Request, next: Next) -> Response {
    if is_safe(req.method()) || is_same_site(req.headers()) {
        return next.run(req).await;
    }
    tracing::warn!(
        method = %req.method(),
        path = %req.uri().path(),
        origin = ?req.headers().get(header::ORIGIN),
        "refused a cross-site request"
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({
            "error": "forbidden",
            "message": "This request came from another site and was refused. Use Labhook's own pages.",
        })
        .to_string(),
    )
        .into_response()
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Whether a state-changing request may proceed.
pub fn is_same_site(headers: &HeaderMap) -> bool {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        // "none": typed in or bookmarked by the user; "same-origin": our own pages.
        Some("same-origin" | "none") => return true,
        Some(_) => return false,
        None => {}
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let origin = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok());
    match (origin, host) {
        (Some(origin), Some(host)) => {
            let Some(origin_host) = origin.host_str() else {
                return false;
            };
            let authority = match (origin.port(), origin.port_or_known_default()) {
                (Some(port), _) => format!("{origin_host}:{port}"),
                (None, _) => origin_host.to_owned(),
            };
            // The Host header omits the default port; so does the URL parser's port().
            authority.eq_ignore_ascii_case(&host)
                || origin
                    .port_or_known_default()
                    .is_some_and(|p| format!("{origin_host}:{p}").eq_ignore_ascii_case(&host))
        }
        // "Origin: null" (sandboxed frames, some redirects) or no Host: not ours.
        _ => false,
    }
}

/// Adds the security headers; pages get a Content-Security-Policy with a fresh nonce, which
/// is put into the request's extensions for the renderer.
pub async fn security_headers(mut req: Request, next: Next) -> Response {
    let nonce = CspNonce::fresh();
    req.extensions_mut().insert(nonce.clone());
    let mut res = next.run(req).await;
    let headers = res.headers_mut();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        nonce.0
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp).expect("BUG: the policy is ASCII"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_site_requests_pass_and_cross_site_ones_do_not() {
        for (pairs, expected) in [
            (vec![], true),
            (vec![("host", "127.0.0.1:3000")], true),
            (vec![("sec-fetch-site", "same-origin")], true),
            (vec![("sec-fetch-site", "none")], true),
            (vec![("sec-fetch-site", "cross-site")], false),
            (vec![("sec-fetch-site", "same-site")], false),
            (
                vec![
                    ("host", "127.0.0.1:3000"),
                    ("origin", "http://127.0.0.1:3000"),
                ],
                true,
            ),
            (
                vec![("host", "lab.example"), ("origin", "https://lab.example")],
                true,
            ),
            (
                vec![
                    ("host", "lab.example:443"),
                    ("origin", "https://lab.example"),
                ],
                true,
            ),
            (
                vec![("host", "LAB.example"), ("origin", "https://lab.example")],
                true,
            ),
            (
                vec![
                    ("host", "127.0.0.1:3000"),
                    ("origin", "http://evil.example"),
                ],
                false,
            ),
            (
                vec![
                    ("host", "127.0.0.1:3000"),
                    ("origin", "http://127.0.0.1:3001"),
                ],
                false,
            ),
            (vec![("host", "127.0.0.1:3000"), ("origin", "null")], false),
            (vec![("origin", "http://127.0.0.1:3000")], false),
            // Sec-Fetch-Site wins over a forged-looking Origin either way.
            (
                vec![
                    ("sec-fetch-site", "cross-site"),
                    ("host", "a"),
                    ("origin", "http://a"),
                ],
                false,
            ),
        ] {
            assert_eq!(is_same_site(&headers(&pairs)), expected, "{pairs:?}");
        }
    }
}

/// How long browsers may keep the bundle's files. A file named after its content
/// (`/pkg/labhook.<hash>.wasm`, a release build's) never changes under its name: kept for a
/// year without asking. Any other file of `/pkg/` is asked for again each time (answered 304
/// when unchanged), so that a new build is never hidden behind a stale copy.
pub async fn cache_headers(req: Request, next: Next) -> Response {
    let lifetime = req.uri().path().strip_prefix("/pkg/").map(|file| {
        if is_hashed(file) {
            IMMUTABLE
        } else {
            "no-cache"
        }
    });
    let mut res = next.run(req).await;
    if let Some(lifetime) = lifetime {
        if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static(lifetime));
        }
    }
    res
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `labhook.3q2+7w….wasm`, `chunk_12.3q2+7w….wasm`: a name, the content's hash, an extension
/// (cargo-leptos' hashes are base64url of at least 16 characters).
fn is_hashed(file: &str) -> bool {
    let parts: Vec<&str> = file.split('.').collect();
    parts.len() == 3
        && parts[1].len() >= 16
        && parts[1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod cache_tests {
    use super::is_hashed;

    #[test]
    fn only_names_with_a_content_hash_are_kept_for_good() {
        assert!(is_hashed("labhook.VsNpDd5KNgrvmKbVjQq6Pg.wasm"));
        assert!(is_hashed("labhook.uDZ-mhH3y_X9a2bvF2MkCA.css"));
        // The split build's pieces: its loader, its manifest, a route's and a shared chunk.
        assert!(is_hashed("__wasm_split.fJSLZdltFdMXOfpo4DbgAQ.js"));
        assert!(is_hashed(
            "__wasm_split_manifest.VhucpyASLWDDhSam164ixA.json"
        ));
        assert!(is_hashed(
            "split___devices_route_view_9747230910754413494.cQ08DxYxx-N50yJGApafUg.wasm"
        ));
        assert!(is_hashed("chunk_100.XzTRTL77RioB2zNgKf1VUQ.wasm"));
        assert!(!is_hashed("labhook.wasm"));
        assert!(!is_hashed("labhook_bg.wasm"));
        assert!(!is_hashed("labhook.js"));
        assert!(!is_hashed("labhook.short.js"));
    }
}
