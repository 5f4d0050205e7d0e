//! One HTTP attempt: build the signed request, send it, read at most 64 KiB of the answer, and
//! say what happened in words the delivery log can show.

use std::{net::IpAddr, sync::Arc, time::Duration};

use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    header, redirect, Client,
};
use serde_json::{Map, Value as Json};

use crate::{
    config::DispatcherConfig,
    domain::{
        delivery::ErrorKind,
        headers::Headers,
        mask::{shown_header_value, shown_url},
        outbound::{OutboundPolicy, Refused},
        schedule::parse_retry_after,
        signature::{signature_header, SigningSecret},
        target_url::TargetUrl,
    },
};

/// Longest response body kept (and read).
pub const BODY_LIMIT: usize = 64 * 1024;
/// Most bytes of response headers kept (names and values).
pub const HEADERS_LIMIT: usize = 16 * 1024;

pub fn user_agent() -> String {
    format!("Labhook-Webhooks/{}", env!("CARGO_PKG_VERSION"))
}

/// Everything needed to send one subscription's webhooks.
pub struct Target {
    pub subscription_id: i64,
    pub organisation_id: i64,
    pub url: TargetUrl,
    pub headers: Headers,
    pub secret: SigningSecret,
    /// The previous secret, while it still signs after a rotation.
    pub previous_secret: Option<SigningSecret>,
}

/// How an attempt ended, before it is written down.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: i64,
    pub duration: Duration,
    /// What was sent, secret values masked (JSON object).
    pub request_headers: String,
    /// SHA-256 (hex) of the body sent; `None` when nothing was sent.
    pub request_body_sha256: Option<String>,
    pub response: Option<Response>,
    pub error: Option<(ErrorKind, String)>,
    /// The receiver's `host:port`, for saying what went wrong in plain words.
    pub address: String,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: String,
    pub body: String,
    pub retry_after: Option<Duration>,
}

impl Attempt {
    /// Not sent at all: the target lost its registration (checked again at send time).
    pub fn not_sent(started_at: i64, url: &TargetUrl) -> Self {
        Attempt {
            address: address_of(url),
            started_at,
            duration: Duration::ZERO,
            request_headers: "{}".into(),
            request_body_sha256: None,
            response: None,
            error: Some((
                ErrorKind::Unregistered,
                format!("{} is not a registered target URL any more", url.host()),
            )),
        }
    }

    pub fn was_sent(&self) -> bool {
        !matches!(self.error, Some((ErrorKind::Unregistered, _)))
    }

    pub fn succeeded(&self) -> bool {
        self.error.is_none()
            && self
                .response
                .as_ref()
                .is_some_and(|r| (200..300).contains(&r.status))
    }
}

#[derive(Clone)]
pub struct Sender {
    client: Client,
    policy: OutboundPolicy,
}

impl Sender {
    pub fn new(config: &DispatcherConfig) -> Self {
        // Host names are resolved by `PolicyResolver`, and the connection goes to the addresses
        // it returned, all of them checked: no second lookup between a check and the connect
        // for DNS rebinding to exploit. Proxies from the environment are ignored: a proxy would
        // make the connection, and its address is not the receiver's.
        let client = Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(redirect::Policy::none())
            .user_agent(user_agent())
            .pool_max_idle_per_host(512)
            .tcp_nodelay(true)
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver(config.outbound)))
            .build()
            .expect("BUG: the HTTP client configuration is valid");
        Self {
            client,
            policy: config.outbound,
        }
    }

    /// Sends one signed attempt. Never fails: every problem is part of the [`Attempt`].
    pub async fn send(&self, target: &Target, webhook_id: &str, body: Arc<str>) -> Attempt {
        let started_at = crate::clock::now_ms();
        let timestamp = started_at / 1000;
        let signature = signature_header(
            &target.secret,
            target.previous_secret.as_ref(),
            webhook_id,
            timestamp,
            body.as_bytes(),
        );
        let mut shown = Map::new();
        let mut request = self.client.post(target.url.url().clone());
        for h in target.headers.iter() {
            request = request.header(h.name.as_str(), h.value.expose());
            let value = shown_header_value(h.name.as_str(), h.value.expose(), h.secret);
            shown.insert(h.name.as_str().to_owned(), Json::from(value));
        }
        shown.insert("content-type".into(), "application/json".into());
        shown.insert("user-agent".into(), user_agent().into());
        shown.insert("webhook-id".into(), webhook_id.into());
        shown.insert("webhook-timestamp".into(), timestamp.to_string().into());
        shown.insert("webhook-signature".into(), signature.clone().into());
        let request = request
            .header(header::CONTENT_TYPE, "application/json")
            .header("webhook-id", webhook_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_string());

        let clock = std::time::Instant::now();
        // An address written in the URL is never looked up, so the resolver does not see it.
        let literal = match target.url.url().host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        let result = match literal.map(|ip| (ip, self.policy.check(ip))) {
            Some((ip, Err(refused))) => Err(blocked(ip, refused)),
            _ => read(request.send().await).await,
        }
        // The transport's messages quote the URL; the log shows it with credentials masked.
        .map_err(|(kind, message)| {
            let url = target.url.as_str();
            (kind, message.replace(url, &shown_url(url)))
        });
        let duration = clock.elapsed();
        let request_headers = Json::Object(shown).to_string();
        let request_body_sha256 = Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            body.as_bytes(),
        )));
        match result {
            Ok(response) => {
                let error = (300..400).contains(&response.status).then(|| {
                    let location =
                        response_header(&response.headers, "location").unwrap_or_default();
                    (
                        ErrorKind::Redirect,
                        format!("redirects are not followed (to {location:?})"),
                    )
                });
                Attempt {
                    started_at,
                    duration,
                    request_headers,
                    request_body_sha256,
                    response: Some(response),
                    error,
                    address: address_of(&target.url),
                }
            }
            Err(error) => Attempt {
                started_at,
                duration,
                request_headers,
                request_body_sha256,
                response: None,
                error: Some(error),
                address: address_of(&target.url),
            },
        }
    }
}

/// Status, headers and at most [`BODY_LIMIT`] bytes of the body.
async fn read(result: reqwest::Result<reqwest::Response>) -> Result<Response, (ErrorKind, String)> {
    let mut response = result.map_err(|e| classify(&e))?;
    let status = response.status().as_u16();
    let retry_after = (status == 429 || status == 503)
        .then(|| response.headers().get(header::RETRY_AFTER))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
    // Kept like the body: up to HEADERS_LIMIT bytes, the rest counted.
    let mut kept = Map::new();
    let (mut size, mut cut) = (0, 0);
    for (k, v) in response.headers() {
        let value = String::from_utf8_lossy(v.as_bytes());
        size += k.as_str().len() + value.len();
        if size > HEADERS_LIMIT {
            cut += 1;
            continue;
        }
        kept.insert(k.as_str().to_owned(), Json::from(value));
    }
    if cut > 0 {
        kept.insert(
            "…".into(),
            Json::from(format!("{cut} more headers cut at 16 KiB")),
        );
    }
    let headers = Json::Object(kept).to_string();
    let mut body = Vec::new();
    let mut truncated = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = BODY_LIMIT - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            // The status is what counts; a body cut short is recorded as far as it came.
            Err(e) if body.is_empty() && !(200..300).contains(&status) => return Err(classify(&e)),
            Err(_) => break,
        }
    }
    let mut body = String::from_utf8_lossy(&body).into_owned();
    if truncated {
        body.push_str("\n… (cut at 64 KiB)");
    }
    Ok(Response {
        status,
        headers,
        body,
        retry_after,
    })
}

fn response_header(headers_json: &str, name: &str) -> Option<String> {
    serde_json::from_str::<Map<String, Json>>(headers_json)
        .ok()?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}

/// Looks host names up and keeps only the addresses the outbound policy allows; when none is
/// left the connection fails with [`Blocked`], which the delivery log shows as such.
struct PolicyResolver(OutboundPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<_> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut first_refusal = None;
            let allowed: Vec<_> = found
                .into_iter()
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(refused) => {
                        first_refusal.get_or_insert((addr.ip(), refused));
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), first_refusal) {
                (true, Some((ip, refused))) => Err(Box::new(Blocked {
                    host: Some(host),
                    ip,
                    refused,
                })
                    as Box<dyn std::error::Error + Send + Sync>),
                _ => Ok(Box::new(allowed.into_iter()) as Addrs),
            }
        })
    }
}

/// A connection refused by the outbound policy, before anything was sent.
#[derive(Debug)]
struct Blocked {
    host: Option<String>,
    ip: IpAddr,
    refused: Refused,
}

impl std::fmt::Display for Blocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.host {
            Some(host) => write!(f, "{host} resolves to {}, ", self.ip)?,
            None => write!(f, "{} is ", self.ip)?,
        }
        write!(f, "{}: not sent", self.refused.describe())
    }
}

impl std::error::Error for Blocked {}

fn blocked(ip: IpAddr, refused: Refused) -> (ErrorKind, String) {
    let error = Blocked {
        host: None,
        ip,
        refused,
    };
    (ErrorKind::Blocked, error.to_string())
}

/// `host:port` of a target, as people name a receiver.
fn address_of(url: &TargetUrl) -> String {
    let u = url.url();
    match (u.host_str(), u.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => String::new(),
    }
}

/// Tells a timeout from a refused connection, a DNS failure and a TLS problem.
fn classify(e: &reqwest::Error) -> (ErrorKind, String) {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut io_kind = None;
    let mut blocked = None;
    while let Some(err) = source {
        if let Some(b) = err.downcast_ref::<Blocked>() {
            blocked = Some(b.to_string());
        }
        if !chain.is_empty() {
            chain.push_str(": ");
        }
        chain.push_str(&err.to_string());
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        source = err.source();
    }
    let lower = chain.to_lowercase();
    if let Some(message) = blocked {
        // The policy's own words; the transport's wrapping adds nothing.
        return (ErrorKind::Blocked, message);
    }
    let kind = if e.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) {
        ErrorKind::Timeout
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        ErrorKind::Dns
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake")
    {
        ErrorKind::Tls
    } else if e.is_redirect() {
        ErrorKind::Redirect
    } else if e.is_connect()
        || matches!(
            io_kind,
            Some(
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
            )
        )
    {
        ErrorKind::Connection
    } else {
        ErrorKind::Other
    };
    (kind, chain)
}

/// One webhook request being sent, for the `labhook_requests_in_flight` gauge.
pub(super) struct InFlight;

impl InFlight {
    pub(super) fn start() -> Self {
        metrics::gauge!("labhook_requests_in_flight").increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("labhook_requests_in_flight").decrement(1.0);
    }
}
