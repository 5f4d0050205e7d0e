//! `labhook demo-lims`: a tiny LIMS stand-in for the demo — the help article's example made
//! runnable. It receives the demo scanner's webhooks, verifies their Standard Webhooks
//! signature with the subscription's secret (given on its command line), and answers each
//! scanned sample number with plausible sample information and the method for its analysis,
//! in the reply shape Labhook writes back to the scanner's channels.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};

use crate::{clock::now_ms, domain::signature::SigningSecret};

/// How far a webhook's timestamp may be from this clock, as the specification suggests.
const TOLERANCE_SECS: i64 = 5 * 60;

/// The stand-in's routes: it answers webhooks on any path.
pub fn router(secret: SigningSecret) -> Router {
    Router::new()
        .route("/", post(receive))
        .route("/{*path}", post(receive))
        .with_state(Arc::new(secret))
}

/// Serves the stand-in until the process ends.
pub async fn serve(listen: SocketAddr, secret: SigningSecret) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "demo LIMS listening");
    axum::serve(listener, router(secret)).await
}

async fn receive(
    State(secret): State<Arc<SigningSecret>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = verify(&secret, &headers, &body, now_ms() / 1000) {
        tracing::warn!(why, "demo LIMS refused a webhook");
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": why }))).into_response();
    }
    let event: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) => return (StatusCode::BAD_REQUEST, "not JSON").into_response(),
    };
    let kind = event["type"].as_str().unwrap_or_default();
    let sample = event["data"]["data_point"]["value"].as_str();
    match sample {
        // New scans, and test events built from one.
        Some(sample)
            if kind.starts_with("data_point.created")
                && event["data"]["channel"]["name"] == "barcode" =>
        {
            let (info, method) = sample_information(sample);
            tracing::info!(
                sample,
                "demo LIMS verified a scan and answered its sample information"
            );
            Json(json!({
                "data_points": [
                    { "channel": "sample_info", "value": info },
                    { "channel": "method", "value": method },
                ]
            }))
            .into_response()
        }
        // Anything else is acknowledged with nothing to write back.
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

/// Checks a webhook as a receiver should: signed with the secret, and recent.
pub fn verify(
    secret: &SigningSecret,
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
) -> Result<(), &'static str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signature)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err("missing webhook-id, webhook-timestamp or webhook-signature");
    };
    let timestamp: i64 = timestamp
        .parse()
        .map_err(|_| "webhook-timestamp is not a number")?;
    if (now_secs - timestamp).abs() > TOLERANCE_SECS {
        return Err("webhook-timestamp is too far from now");
    }
    if !secret.verifies(id, timestamp, body, signature) {
        return Err("the signature does not verify with this secret");
    }
    Ok(())
}

/// What a LIMS would know about a sample: (sample information, method parameters). Made up,
/// but the same sample number always gets the same answer.
pub fn sample_information(sample: &str) -> (String, String) {
    // FNV-1a: a stable hash, so that answers do not change between runs.
    let h = sample.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    const MATRICES: [(&str, &str); 5] = [
        (
            "river water",
            "HPLC-17: anions, IC column AS19, 1.0 mL/min, 30 °C",
        ),
        ("blood serum", "LC-MS/MS-04: C18, 0.4 mL/min, 40 °C, ESI+"),
        ("soil extract", "ICP-OES-02: metals, 1.2 kW, argon 12 L/min"),
        (
            "tablet, 500 mg",
            "HPLC-09: assay, C18, 1.0 mL/min, 25 °C, UV 254 nm",
        ),
        (
            "fermentation broth",
            "GC-FID-03: ethanol, DB-WAX, 40→220 °C",
        ),
    ];
    let (matrix, method) = MATRICES[(h % MATRICES.len() as u64) as usize];
    let ph = 5.5 + ((h >> 8) % 31) as f64 / 10.0;
    let priority = ["routine", "routine", "urgent"][((h >> 16) % 3) as usize];
    (
        format!("{sample}: {matrix}, pH {ph:.1}, priority {priority}"),
        method.to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::signature::{generate_secret, signature_header};

    fn signed(secret: &SigningSecret, body: &[u8], at: i64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("webhook-id", "msg_1".parse().unwrap());
        h.insert("webhook-timestamp", at.to_string().parse().unwrap());
        h.insert(
            "webhook-signature",
            signature_header(secret, None, "msg_1", at, body)
                .parse()
                .unwrap(),
        );
        h
    }

    #[test]
    fn only_recent_webhooks_signed_with_the_secret_are_accepted() {
        let secret = SigningSecret::parse(&generate_secret()).unwrap();
        let other = SigningSecret::parse(&generate_secret()).unwrap();
        let now = 1_800_000_000;
        assert_eq!(
            verify(&secret, &signed(&secret, b"{}", now), b"{}", now),
            Ok(())
        );
        assert!(verify(&secret, &signed(&other, b"{}", now), b"{}", now).is_err());
        assert!(verify(&secret, &signed(&secret, b"{}", now), b"{\"x\":1}", now).is_err());
        assert!(verify(&secret, &signed(&secret, b"{}", now - 600), b"{}", now).is_err());
        assert!(verify(&secret, &HeaderMap::new(), b"{}", now).is_err());
    }

    #[test]
    fn the_same_sample_gets_the_same_answer() {
        let (info, method) = sample_information("S-2026-0001");
        assert!(info.starts_with("S-2026-0001: "));
        assert!(!method.is_empty());
        assert_eq!(sample_information("S-2026-0001"), (info, method));
    }
}
