//! Exports of the records (docs/records.md) over HTTP: the audit trail and delivery log pages'
//! download (`/admin/records/{chain}/export`, with the session) and the API v2's
//! (`/api/v2/records/{chain}/export`, with a token) answer alike — JSON Lines, streamed from
//! one snapshot as it is read, so an export of a year never sits in memory; or, with
//! `format=pdf`, the readable copy of a bounded range.

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    Extension,
};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncReadExt;

use super::{
    api_v2::{caller::Caller as ApiCaller, document::ApiError},
    session::Caller,
};
use crate::{
    api_tokens::Scope,
    auth::CurrentUser,
    clock::now_ms,
    rate::KeyedLimit,
    records::{
        export::{export, parse_time, ExportRequest},
        pdf::export_pdf,
        Chain, RecordsKey,
    },
    AppState, Error,
};

pub const PAGE_EXPORT: &str = "/admin/records/{chain}/export";

/// Exports an organisation may start a second (bursts of this many pass): each reads its
/// whole range, so a loop of them is refused rather than left to crowd the database.
const EXPORTS_PER_SECOND: u32 = 1;
const EXPORT_BURST: u32 = 5;

/// The longest an export may hold its snapshot (and a pooled connection): a client that reads a
/// large range slowly gets what was read by then, without the seal, so that `verify-export`
/// calls it incomplete; a shorter range goes through.
const EXPORT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

struct ExportLimit(KeyedLimit<i64>);

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    from: Option<String>,
    to: Option<String>,
    /// `jsonl` (the default) or `pdf`.
    format: Option<String>,
}

/// Checks everything a caller can get wrong, then streams.
async fn stream(
    state: &AppState,
    user: &CurrentUser,
    chain: &str,
    query: ExportQuery,
) -> crate::Result<Response> {
    user.require_org_admin()?;
    let chain = Chain::parse(chain).ok_or_else(|| {
        Error::NotFound(format!(
            "There are no records called {chain:?}: audit or deliveries."
        ))
    })?;
    let from = parse_time(
        query.from.as_deref().ok_or_else(|| Error::BadRequest {
            code: "missing_from",
            message:
                "Say from when to export: from=2026-12-01 (a day, UTC) or a moment in RFC 3339."
                    .into(),
        })?,
        "from",
    )?;
    let to = match query.to.as_deref() {
        Some(to) if !to.is_empty() => parse_time(to, "to")?,
        _ => now_ms(),
    };
    let request = ExportRequest::new(user.organisation_id, chain, from, to)?;
    let pdf = match query.format.as_deref() {
        None | Some("" | "jsonl") => false,
        Some("pdf") => true,
        Some(other) => {
            return Err(Error::BadRequest {
                code: "unknown_format",
                message: format!("There is no export format {other:?}: jsonl or pdf."),
            })
        }
    };
    let limit =
        state.part(|_| ExportLimit(KeyedLimit::per_second(EXPORTS_PER_SECOND, EXPORT_BURST)));
    limit
        .0
        .check(&user.organisation_id)
        .map_err(|retry_after| Error::RateLimited {
            message: "Too many exports at once for this organisation: try again shortly.".into(),
            retry_after,
        })?;

    let name = |extension: &str| {
        format!(
            "labhook-{}-{}-{}.{extension}",
            chain.as_str(),
            user.organisation_id,
            chrono::DateTime::from_timestamp_millis(from)
                .map(|d| d.format("%Y%m%d").to_string())
                .unwrap_or_default()
        )
    };
    if pdf {
        // Made whole (it is bounded), in a task of its own: a client that goes away does not
        // drop it half-way with its snapshot open.
        let (pool, key) = (state.pool.clone(), RecordsKey::of(&state.secrets));
        let bytes = tokio::spawn(async move { export_pdf(&pool, &key, request).await })
            .await
            .map_err(|e| anyhow::Error::new(e).context("making the PDF"))??;
        return Ok(download(Body::from(bytes), "application/pdf", &name("pdf")));
    }

    // The export runs in a task of its own that writes into a pipe; the response reads the
    // other end. A client that goes away closes the pipe: the task's next write fails and it
    // ends, with its snapshot.
    let (reader, mut writer) = tokio::io::duplex(64 * 1024);
    let (pool, key) = (state.pool.clone(), RecordsKey::of(&state.secrets));
    let request = request.with_deadline(tokio::time::Instant::now() + EXPORT_DEADLINE);
    tokio::spawn(async move {
        if let Err(e) = export(&pool, &key, request, &mut writer).await {
            tracing::warn!(error = ?anyhow::Error::from(e), "an export was cut short");
        }
    });
    // The pipe's reader is the stream's state, handed from one chunk to the next. Fused: the
    // compression layer polls once more after the end, which `unfold` alone answers with a
    // panic.
    let body = futures_util::stream::unfold(reader, |mut reader| async move {
        let mut chunk = vec![0u8; 64 * 1024];
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok::<_, std::io::Error>(chunk), reader))
            }
        }
    })
    .fuse();
    Ok(download(
        Body::from_stream(body),
        "application/x-ndjson",
        &name("jsonl"),
    ))
}

fn download(body: Body, content_type: &'static str, filename: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
            .expect("BUG: the file name is ASCII"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The pages' download, with the session.
pub async fn page_export(
    State(state): State<AppState>,
    Extension(Caller(user)): Extension<Caller>,
    Path(chain): Path<String>,
    Query(query): Query<ExportQuery>,
) -> Response {
    let Some(user) = user else {
        return Error::Unauthenticated.into_response();
    };
    match stream(&state, &user, &chain, query).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

/// The API v2's, with a token that may read.
pub async fn api_export(
    State(state): State<AppState>,
    ApiCaller(caller): ApiCaller,
    Path(chain): Path<String>,
    Query(query): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    Ok(stream(&state, &caller.user, &chain, query).await?)
}
