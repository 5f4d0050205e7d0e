//! Devices and channels, who may see them, and the trigger events their data causes.

pub mod access;
pub mod channels;
pub mod events;
pub mod history;
pub mod ingest;
pub mod liveness;
pub mod manage;
pub mod points;
pub mod readback;
pub mod tokens;

use crate::db::{Conn, Pool};

use crate::{
    auth::{
        scope::{self, Scoped},
        CurrentUser,
    },
    clock::now_ms,
    domain::{
        channel::{ChannelSpec, ChannelState, Reading, ValueType},
        device::{parse_device_class, DeviceStatus},
        parse_name,
    },
    error::ResultExt,
    Error, Result,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    pub id: i64,
    pub organisation_id: i64,
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub device_class: String,
    pub status: DeviceStatus,
    pub last_seen_at: Option<i64>,
    /// Archived: hidden from the picker, sends nothing; history kept.
    pub archived: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub id: i64,
    pub device_id: i64,
    pub name: String,
    pub unit: String,
    pub spec: ChannelSpec,
    pub state: ChannelState,
    /// "May be written by replies": receivers' replies may store data points on it.
    pub reply_writable: bool,
}

/// A device with its channels, as the Devices page and the channel picker show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceWithChannels {
    pub device: Device,
    pub channels: Vec<Channel>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeviceRow {
    id: i64,
    organisation_id: i64,
    name: String,
    vendor: String,
    model: String,
    device_class: String,
    status: String,
    last_seen_at: Option<i64>,
    archived: bool,
}

impl From<DeviceRow> for Device {
    fn from(r: DeviceRow) -> Self {
        Device {
            id: r.id,
            organisation_id: r.organisation_id,
            name: r.name,
            vendor: r.vendor,
            model: r.model,
            device_class: r.device_class,
            status: DeviceStatus::parse(&r.status),
            last_seen_at: r.last_seen_at,
            archived: r.archived,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ChannelRow {
    id: i64,
    device_id: i64,
    name: String,
    unit: String,
    value_type: String,
    min_value: Option<f64>,
    max_value: Option<f64>,
    enum_labels: Option<String>,
    last_timestamp: Option<i64>,
    last_value: Option<f64>,
    last_str_value: Option<String>,
    in_range: Option<bool>,
    reply_writable: bool,
}

impl From<ChannelRow> for Channel {
    fn from(r: ChannelRow) -> Self {
        let last = r.last_timestamp.map(|_| Reading {
            number: r.last_value,
            text: r.last_str_value,
        });
        Channel {
            id: r.id,
            device_id: r.device_id,
            name: r.name,
            unit: r.unit,
            spec: ChannelSpec {
                value_type: ValueType::parse(&r.value_type).unwrap_or(ValueType::String),
                min: r.min_value,
                max: r.max_value,
                enum_labels: r
                    .enum_labels
                    .and_then(|s| serde_json::from_str(&s).ok())
                    .unwrap_or_default(),
            },
            state: ChannelState {
                last_timestamp: r.last_timestamp,
                last,
                in_range: r.in_range,
            },
            reply_writable: r.reply_writable,
        }
    }
}

const DEVICE_COLUMNS: &str = "d.id, d.organisation_id, d.name, d.vendor, d.model, d.device_class, \
     d.status, d.last_seen_at, d.archived_at IS NOT NULL AS archived";
const CHANNEL_COLUMNS: &str = "c.id, c.device_id, c.name, c.unit, c.value_type, c.min_value, \
     c.max_value, c.enum_labels, c.last_timestamp, c.last_value, c.last_str_value, c.in_range, \
     c.reply_writable";

/// The devices the user may see and choose from, by name, each with its channels (archived
/// devices are left out: they are hidden from the picker).
pub async fn visible_devices(pool: &Pool, user: &CurrentUser) -> Result<Vec<DeviceWithChannels>> {
    devices_with_channels(pool, user, false).await
}

/// The Devices page: what [`visible_devices`] gives, and for org admins their archived
/// devices too (to restore them).
pub async fn devices_page(pool: &Pool, user: &CurrentUser) -> Result<Vec<DeviceWithChannels>> {
    devices_with_channels(pool, user, user.is_org_admin()).await
}

async fn devices_with_channels(
    pool: &Pool,
    user: &CurrentUser,
    include_archived: bool,
) -> Result<Vec<DeviceWithChannels>> {
    let archived = if include_archived {
        ""
    } else {
        " AND d.archived_at IS NULL"
    };
    let devices: Vec<Device> =
        crate::db::with_db!(pool, db, engine => sqlx::query_as::<_, DeviceRow>(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d WHERE {}{archived} ORDER BY {nc_d_name}",
        scope::DEVICE
    , nc_d_name = crate::db::dialect::nocase(engine, "d.name")))
    .scoped(user)
    .fetch_all(db)
    .await)?
        .into_iter()
        .map(Device::from)
        .collect();
    let channels: Vec<Channel> =
        crate::db::with_db!(pool, db => sqlx::query_as::<_, ChannelRow>(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels c JOIN devices d ON d.id = c.device_id
         WHERE {}{archived} AND c.removed_at IS NULL ORDER BY c.id",
        scope::DEVICE
    ))
    .scoped(user)
    .fetch_all(db)
    .await)?
        .into_iter()
        .map(Channel::from)
        .collect();
    Ok(devices
        .into_iter()
        .map(|device| DeviceWithChannels {
            channels: channels
                .iter()
                .filter(|c| c.device_id == device.id)
                .cloned()
                .collect(),
            device,
        })
        .collect())
}

/// One device the user may see; any other id (another organisation's, an ungranted one, or
/// none at all) is "not found".
pub async fn visible_device(pool: &Pool, user: &CurrentUser, device_id: i64) -> Result<Device> {
    let mut conn = pool.acquire().await?;
    visible_device_in(&mut conn, user, device_id).await
}

async fn visible_device_in(conn: &mut Conn, user: &CurrentUser, device_id: i64) -> Result<Device> {
    crate::db::with_db!(conn, db => sqlx::query_as::<_, DeviceRow>(&format!(
        "SELECT {DEVICE_COLUMNS} FROM devices d WHERE d.id = $4 AND {}",
        scope::DEVICE
    ))
    .scoped(user)
    .bind(device_id)
    .fetch_optional(db)
    .await)?
    .map(Device::from)
    .ok_or_else(|| Error::not_found("Device"))
}

/// A device of the admin's own organisation (for managing access and tokens).
pub async fn organisation_device(
    pool: &Pool,
    admin: &CurrentUser,
    device_id: i64,
) -> Result<Device> {
    admin.require_org_admin()?;
    visible_device(pool, admin, device_id).await
}

/// [`organisation_device`] inside a transaction.
pub async fn organisation_device_in(
    conn: &mut Conn,
    admin: &CurrentUser,
    device_id: i64,
) -> Result<Device> {
    admin.require_org_admin()?;
    visible_device_in(conn, admin, device_id).await
}

pub(crate) async fn channels_of(conn: &mut Conn, device_id: i64) -> Result<Vec<Channel>> {
    Ok(
        crate::db::with_db!(conn, db => sqlx::query_as::<_, ChannelRow>(&format!(
        "SELECT {CHANNEL_COLUMNS} FROM channels c
         WHERE c.device_id = $1 AND c.removed_at IS NULL ORDER BY c.id"
    ))
    .bind(device_id)
    .fetch_all(db)
    .await)?
        .into_iter()
        .map(Channel::from)
        .collect(),
    )
}

/// A device to be created (demo data, the command line).
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub device_class: String,
    pub simulated: bool,
    pub channels: Vec<NewChannel>,
}

#[derive(Debug, Clone)]
pub struct NewChannel {
    pub name: String,
    pub unit: String,
    pub spec: ChannelSpec,
    pub reply_writable: bool,
}

pub async fn create_device(pool: &Pool, organisation_id: i64, d: NewDevice) -> Result<i64> {
    let name = parse_name("name", &d.name, 100)?;
    let class = parse_device_class(&d.device_class)?;
    let mut tx = pool.begin_write().await?;
    let id: i64 = crate::db::with_db!(tx, db => sqlx::query_scalar(
        "INSERT INTO devices (organisation_id, name, vendor, model, device_class, simulated, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(organisation_id)
    .bind(&name)
    .bind(d.vendor.trim())
    .bind(d.model.trim())
    .bind(class)
    .bind(d.simulated)
    .bind(now_ms())
    .fetch_one(db)
    .await)
    .on_unique_violation("devices.organisation_id", || {
        Error::Conflict(format!("A device named {name:?} exists already."))
    })?;
    for c in d.channels {
        let cname = parse_name("channel", &c.name, 100)?;
        if c.spec.value_type == ValueType::Enum && c.spec.enum_labels.is_empty() {
            return Err(Error::invalid(
                "enum_labels",
                "An enum channel needs its labels.",
            ));
        }
        let definition = crate::domain::channel_definition::ChannelDefinition {
            name: cname,
            unit: c.unit.trim().to_owned(),
            spec: c.spec,
            reply_writable: c.reply_writable,
        };
        channels::insert(&mut tx, id, &definition).await?;
    }
    tx.commit().await?;
    Ok(id)
}
