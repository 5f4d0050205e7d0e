//! Instruments that speak OPC UA as a device's source (docs/opcua.md): the device's values come
//! from the instrument's OPC UA server, subscribed, instead of from a program posting to the
//! ingest API. This module owns `device_sources` and `source_mappings`; [`session`] keeps one
//! source's OPC UA session, [`Sources`] runs a session for every source.

pub mod mapping;
mod session;
mod supervisor;

use std::time::Duration;

use serde_json::json;

pub use mapping::{MappingSpec, NodeAddress};
pub use supervisor::Sources;

use crate::{
    audit::{self, Actor, AuditKind, Entry},
    clock::now_ms,
    db::{Conn, Pool},
    domain::{opc_endpoint::OpcEndpoint, Reason},
    Error, Result,
};

/// A source as its session needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub device_id: i64,
    pub endpoint: OpcEndpoint,
    pub mappings: Vec<Mapping>,
}

/// One mapped variable, with its channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    pub channel_id: i64,
    pub channel: String,
    pub node: NodeAddress,
    pub sampling: Duration,
    pub deadband: Option<f64>,
}

/// Gives a device of the organisation, by name, an OPC UA source and maps variables to its
/// channels (`labhook add-source`). A device has one source: a second is refused.
pub async fn add_from_command_line(
    pool: &Pool,
    organisation_id: i64,
    device: &str,
    endpoint: &str,
    mappings: &[MappingSpec],
    reason: Option<&Reason>,
) -> Result<()> {
    let endpoint =
        OpcEndpoint::parse(endpoint).map_err(|e| Error::invalid("endpoint", e.to_string()))?;
    if mappings.is_empty() {
        return Err(Error::invalid(
            "map",
            "Map at least one variable to a channel.",
        ));
    }
    let mut tx = pool.begin_write().await?;
    let found: Option<(i64, String)> = crate::db::with_db!(&mut *tx, db, engine => sqlx::query_as(&format!(
        "SELECT id, name FROM devices WHERE organisation_id = $1 AND archived_at IS NULL AND {same}",
        same = crate::db::dialect::equal_nocase(engine, "name", "$2"),
    ))
    .bind(organisation_id)
    .bind(device.trim())
    .fetch_optional(db)
    .await)?;
    let Some((device_id, device_name)) = found else {
        return Err(Error::invalid(
            "device",
            format!("There is no device named {device:?}."),
        ));
    };
    let has_one: bool = crate::db::with_db!(&mut *tx, db => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM device_sources WHERE device_id = $1)",
    )
    .bind(device_id)
    .fetch_one(db)
    .await)?;
    if has_one {
        return Err(Error::Conflict(format!(
            "{device_name} already has a source."
        )));
    }
    crate::db::with_db!(&mut *tx, db => sqlx::query(
        "INSERT INTO device_sources (device_id, endpoint_url, created_at) VALUES ($1, $2, $3)",
    )
    .bind(device_id)
    .bind(endpoint.to_string())
    .bind(now_ms())
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    let mut described = Vec::new();
    for m in mappings {
        insert_mapping(&mut tx, device_id, &device_name, m).await?;
        described.push(json!({
            "channel": m.channel,
            "node": m.node.as_str(),
            "sampling_ms": m.sampling.as_millis() as u64,
            "deadband": m.deadband,
        }));
    }
    audit::record(
        &mut tx,
        organisation_id,
        Actor::CommandLine(reason),
        Entry {
            kind: AuditKind::Device,
            action: "source added",
            subject: device_name,
            before: None,
            after: Some(json!({ "endpoint": endpoint.to_string(), "mappings": described })),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn insert_mapping(
    conn: &mut Conn,
    device_id: i64,
    device: &str,
    m: &MappingSpec,
) -> Result<()> {
    let channel_id: Option<i64> = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "SELECT id FROM channels WHERE device_id = $1 AND name = $2 AND removed_at IS NULL",
    )
    .bind(device_id)
    .bind(&m.channel)
    .fetch_optional(db)
    .await)?;
    let Some(channel_id) = channel_id else {
        return Err(Error::invalid(
            "channel",
            format!("{device} has no channel named {:?}.", m.channel),
        ));
    };
    let taken: bool = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM source_mappings WHERE channel_id = $1 OR (device_id = $2 AND node_id = $3))",
    )
    .bind(channel_id)
    .bind(device_id)
    .bind(m.node.as_str())
    .fetch_one(db)
    .await)?;
    if taken {
        return Err(Error::invalid(
            "map",
            format!(
                "{:?} or {} is mapped twice: one variable a channel.",
                m.channel,
                m.node.as_str()
            ),
        ));
    }
    crate::db::with_db!(conn, db => sqlx::query(
        "INSERT INTO source_mappings (channel_id, device_id, node_id, sampling_ms, deadband)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(channel_id)
    .bind(device_id)
    .bind(m.node.as_str())
    .bind(m.sampling.as_millis() as i64)
    .bind(m.deadband)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    device_id: i64,
    endpoint_url: String,
    channel_id: i64,
    channel: String,
    node_id: String,
    sampling_ms: i64,
    deadband: Option<f64>,
}

/// Every source of a device that is not archived, with its mappings of channels that are not
/// removed: what should be running now.
pub async fn active(pool: &Pool) -> Result<Vec<Source>> {
    let rows: Vec<Row> = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT s.device_id, s.endpoint_url, m.channel_id, c.name AS channel, m.node_id,
                m.sampling_ms, m.deadband
         FROM device_sources s
         JOIN devices d ON d.id = s.device_id AND d.archived_at IS NULL
         JOIN source_mappings m ON m.device_id = s.device_id
         JOIN channels c ON c.id = m.channel_id AND c.removed_at IS NULL
         ORDER BY s.device_id, m.channel_id",
    )
    .fetch_all(db)
    .await)?;
    let mut sources: Vec<Source> = Vec::new();
    for r in rows {
        // Stored by the rules above; a row that no longer parses is skipped and said so.
        let (Ok(endpoint), Ok(node)) = (
            OpcEndpoint::parse(&r.endpoint_url),
            NodeAddress::parse(&r.node_id),
        ) else {
            tracing::warn!(
                device_id = r.device_id,
                node = r.node_id,
                "a stored source does not parse; skipped"
            );
            continue;
        };
        let mapping = Mapping {
            channel_id: r.channel_id,
            channel: r.channel,
            node,
            sampling: Duration::from_millis(r.sampling_ms.max(0) as u64),
            deadband: r.deadband,
        };
        match sources.last_mut() {
            Some(s) if s.device_id == r.device_id => s.mappings.push(mapping),
            _ => sources.push(Source {
                device_id: r.device_id,
                endpoint,
                mappings: vec![mapping],
            }),
        }
    }
    Ok(sources)
}

/// The session's state as last seen, shown on the device: connected (with what could not be
/// subscribed or stored, in words), or what went wrong — then the device goes offline at once.
/// Written only when it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionState {
    Connected(Option<String>),
    Failed(String),
}

pub(crate) async fn record_state(
    state: &crate::AppState,
    device_id: i64,
    seen: SessionState,
) -> Result<()> {
    let now = now_ms();
    let went_offline = state
        .write(move |conn| {
            Box::pin(async move {
                match seen {
                    SessionState::Connected(problem) => crate::db::with_db!(conn, db => sqlx::query(
                        "UPDATE device_sources
                         SET connected_at = COALESCE(connected_at, $2), last_error = $3,
                             last_error_at = CASE WHEN $3 IS NULL THEN last_error_at ELSE $2 END
                         WHERE device_id = $1",
                    )
                    .bind(device_id)
                    .bind(now)
                    .bind(problem)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?,
                    SessionState::Failed(error) => {
                        crate::db::with_db!(conn, db => sqlx::query(
                            "UPDATE device_sources SET connected_at = NULL, last_error = $2, last_error_at = $3
                             WHERE device_id = $1",
                        )
                        .bind(device_id)
                        .bind(error)
                        .bind(now)
                        .execute(db)
                        .await
                        .map(crate::db::Done::from))?;
                        return crate::devices::liveness::source_lost_in(conn, device_id, now).await;
                    }
                };
                Ok(false)
            })
        })
        .await?;
    if went_offline {
        state.events_added.notify_one();
    }
    Ok(())
}

/// A source's state as stored: (connected since, last error).
pub async fn state_of(
    pool: &Pool,
    device_id: i64,
) -> Result<Option<(Option<i64>, Option<String>)>> {
    Ok(crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT connected_at, last_error FROM device_sources WHERE device_id = $1",
    )
    .bind(device_id)
    .fetch_optional(db)
    .await)?)
}

/// A source as the Devices page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceStatus {
    pub device_id: i64,
    /// The instrument's endpoint: for org admins only.
    pub endpoint: Option<String>,
    pub connected: bool,
    /// What last went wrong, in words.
    pub error: Option<String>,
    pub variables: i64,
}

/// The sources of the organisation's devices as `user` may see them: their state, how many
/// variables each reads, and the endpoint when the user is an org admin. The caller shows
/// only those of devices the person may see.
pub async fn visible_to(pool: &Pool, user: &crate::auth::CurrentUser) -> Result<Vec<SourceStatus>> {
    let rows: Vec<(i64, String, Option<i64>, Option<String>, i64)> = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT s.device_id, s.endpoint_url, s.connected_at, s.last_error,
                (SELECT COUNT(*) FROM source_mappings m WHERE m.device_id = s.device_id)
         FROM device_sources s JOIN devices d ON d.id = s.device_id
         WHERE d.organisation_id = $1",
    )
    .bind(user.organisation_id)
    .fetch_all(db)
    .await)?;
    Ok(rows
        .into_iter()
        .map(
            |(device_id, endpoint, connected_at, error, variables)| SourceStatus {
                device_id,
                endpoint: user.is_org_admin().then_some(endpoint),
                connected: connected_at.is_some(),
                error,
                variables,
            },
        )
        .collect())
}
