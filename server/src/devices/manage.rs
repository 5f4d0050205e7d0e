//! Org admins manage their organisation's devices and channels: the rules for a device (a name
//! unique in the organisation, a known device class, valid channels) checked here once, for
//! the Devices page, the command line and the API alike. Every change is audited.

use crate::db::{shared::News, Conn, Pool};
use serde_json::json;

use super::Device;
use crate::{
    audit::{self, Actor, AuditKind, Entry},
    auth::CurrentUser,
    clock::now_ms,
    domain::{
        channel_definition::{ChannelDefinition, ChannelInput, POINTS_COUNTED_UP_TO},
        device::parse_device_class,
        parse_name, Reason,
    },
    error::ResultExt,
    AppState, Error, FieldError, Result,
};

/// Most channels one device may have.
pub const MAX_CHANNELS: usize = 50;

/// A device as typed, not yet checked.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct DeviceInput {
    pub name: String,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub model: String,
    pub device_class: String,
    #[serde(default)]
    pub channels: Vec<ChannelInput>,
}

/// A checked device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceDefinition {
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub device_class: String,
    pub channels: Vec<ChannelDefinition>,
}

/// Checks a device and its channels together; every problem is reported, each by its field.
pub fn validate(input: &DeviceInput) -> std::result::Result<DeviceDefinition, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = parse_name("name", &input.name, 100).map_err(field_errors);
    let class = parse_device_class(&input.device_class).map_err(field_errors);
    let mut short = |field: &str, raw: &str| -> String {
        let v = raw.trim();
        if v.chars().count() > 100 || v.chars().any(char::is_control) {
            errors.push(FieldError::new(
                field,
                format!("The {field} can be at most 100 characters on one line."),
            ));
        }
        v.to_owned()
    };
    let vendor = short("vendor", &input.vendor);
    let model = short("model", &input.model);
    if input.channels.len() > MAX_CHANNELS {
        errors.push(FieldError::new(
            "channels",
            format!("A device can have at most {MAX_CHANNELS} channels."),
        ));
    }
    let mut channels = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, c) in input.channels.iter().enumerate() {
        match ChannelDefinition::parse(c, &format!("channels[{i}].")) {
            Ok(c) => {
                if !seen.insert(c.name.to_lowercase()) {
                    errors.push(FieldError::new(
                        format!("channels[{i}].name"),
                        format!("Two channels are called {:?}.", c.name),
                    ));
                }
                channels.push(c);
            }
            Err(e) => errors.extend(e),
        }
    }
    let name = name.map_err(|e| errors.extend(e)).ok();
    let class = class.map_err(|e| errors.extend(e)).ok();
    match (name, class) {
        (Some(name), Some(device_class)) if errors.is_empty() => Ok(DeviceDefinition {
            name,
            vendor,
            model,
            device_class,
            channels,
        }),
        _ => Err(errors),
    }
}

fn name_taken(name: &str) -> Error {
    Error::Invalid(vec![FieldError::new(
        "name",
        format!("A device named {name:?} exists already in your organisation."),
    )])
}

fn field_errors(e: Error) -> Vec<FieldError> {
    match e {
        Error::Invalid(fields) => fields,
        other => vec![FieldError::new("", other.to_string())],
    }
}

/// Creates a device with its channels in the admin's organisation (Devices → Add device).
pub async fn create(state: &AppState, admin: &CurrentUser, input: &DeviceInput) -> Result<i64> {
    admin.require_org_admin()?;
    let definition = validate(input).map_err(Error::Invalid)?;
    let admin = admin.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                create_in(
                    conn,
                    admin.organisation_id,
                    &definition,
                    Actor::User(&admin),
                )
                .await
            })
        })
        .await
}

/// Creates a device from the command line (no server need be running).
pub async fn create_from_command_line(
    pool: &Pool,
    organisation_id: i64,
    input: &DeviceInput,
    reason: Option<&Reason>,
) -> Result<i64> {
    let definition = validate(input).map_err(Error::Invalid)?;
    let mut tx = pool.begin_write().await?;
    let id = create_in(
        &mut tx,
        organisation_id,
        &definition,
        Actor::CommandLine(reason),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn create_in(
    conn: &mut Conn,
    organisation_id: i64,
    d: &DeviceDefinition,
    actor: Actor<'_>,
) -> Result<i64> {
    let taken: bool = crate::db::with_db!(conn, db, engine => sqlx::query_scalar(
        &format!("SELECT EXISTS (SELECT 1 FROM devices WHERE organisation_id = $1 AND {same_name})", same_name = crate::db::dialect::equal_nocase(engine, "name", "$2")),
    )
    .bind(organisation_id)
    .bind(&d.name)
    .fetch_one(db)
    .await)?;
    if taken {
        return Err(name_taken(&d.name));
    }
    let id: i64 = crate::db::with_db!(conn, db => sqlx::query_scalar(
        "INSERT INTO devices (organisation_id, name, vendor, model, device_class, simulated, created_at)
         VALUES ($1, $2, $3, $4, $5, FALSE, $6) RETURNING id",
    )
    .bind(organisation_id)
    .bind(&d.name)
    .bind(&d.vendor)
    .bind(&d.model)
    .bind(&d.device_class)
    .bind(now_ms())
    .fetch_one(db)
    .await)
    .on_unique_violation("devices.organisation_id", || name_taken(&d.name))?;
    for c in &d.channels {
        super::channels::insert(conn, id, c).await?;
    }
    audit::record(
        conn,
        organisation_id,
        actor,
        Entry {
            kind: AuditKind::Device,
            action: "created",
            subject: d.name.clone(),
            before: None,
            after: Some(json!({
                "vendor": d.vendor,
                "model": d.model,
                "device_class": d.device_class,
                "channels": d.channels.iter().map(super::channels::describe).collect::<Vec<_>>(),
            })),
        },
    )
    .await?;
    Ok(id)
}

/// Every device of an organisation with its channels, by name (the command line's
/// `list-devices`).
pub async fn list_for_organisation(
    pool: &Pool,
    organisation_id: i64,
) -> Result<Vec<super::DeviceWithChannels>> {
    let devices: Vec<Device> =
        crate::db::with_db!(pool, db, engine => sqlx::query_as::<_, super::DeviceRow>(&format!(
        "SELECT {} FROM devices d WHERE d.organisation_id = $1 ORDER BY {nc_d_name}",
        super::DEVICE_COLUMNS
    , nc_d_name = crate::db::dialect::nocase(engine, "d.name")))
    .bind(organisation_id)
    .fetch_all(db)
    .await)?
        .into_iter()
        .map(Device::from)
        .collect();
    let mut out = Vec::with_capacity(devices.len());
    let mut conn = pool.acquire().await?;
    for device in devices {
        let channels = super::channels_of(&mut conn, device.id).await?;
        out.push(super::DeviceWithChannels { device, channels });
    }
    Ok(out)
}

/// Archives or restores a device (org admins). An archived device is hidden from the channel
/// picker and sends nothing (its tokens are refused); its data, its delivery history and the
/// triggers that chose it are kept — shown as "device archived" — until it is restored.
pub async fn set_archived(
    state: &AppState,
    admin: &CurrentUser,
    device_id: i64,
    archived: bool,
) -> Result<()> {
    admin.require_org_admin()?;
    let admin = admin.clone();
    state
        .write_and_tell(News::Tokens, move |conn| {
            Box::pin(async move {
                let device = super::organisation_device_in(&mut *conn, &admin, device_id).await?;
                let changed = crate::db::with_db!(conn, db => sqlx::query(
                    "UPDATE devices SET archived_at = $1
                     WHERE id = $2 AND (archived_at IS NULL) = $3",
                )
                .bind(archived.then(now_ms))
                .bind(device.id)
                .bind(archived)
                .execute(db)
                .await
                .map(crate::db::Done::from))?
                .rows_affected();
                if changed == 0 {
                    return Ok(());
                }
                audit::record(
                    conn,
                    admin.organisation_id,
                    Actor::User(&admin),
                    Entry {
                        kind: AuditKind::Device,
                        action: if archived { "archived" } else { "restored" },
                        subject: device.name,
                        before: Some(json!({ "archived": !archived })),
                        after: Some(json!({ "archived": archived })),
                    },
                )
                .await
            })
        })
        .await?;
    // Its tokens are looked up again, and refused while it is archived.
    super::tokens::forget_cached_tokens(state);
    Ok(())
}

/// Deletes a device nothing refers to yet (no data, no events, no subscription chose it, no
/// token was made): one made by mistake. Anything else is archived instead, and the answer
/// says so.
pub async fn delete(state: &AppState, admin: &CurrentUser, device_id: i64) -> Result<()> {
    admin.require_org_admin()?;
    let admin = admin.clone();
    state
        .write_revoking(move |conn| {
            Box::pin(async move {
                let device = super::organisation_device_in(&mut *conn, &admin, device_id).await?;
                // Counted up to a bound: only whether it has a history matters here. A device
                // that was ever in contact has events (its "seen" time says so without
                // reading them).
                let (points, triggers, tokens, events): (i64, i64, i64, bool) = crate::db::with_db!(conn, db => sqlx::query_as(
                    "SELECT
                       (SELECT COUNT(*) FROM (SELECT 1 FROM data_points p
                                              JOIN channels c ON c.id = p.channel_id
                                              WHERE c.device_id = $1 LIMIT $2) AS counted),
                       (SELECT COUNT(*) FROM subscription_triggers WHERE device_id = $1),
                       (SELECT COUNT(*) FROM device_tokens WHERE device_id = $1),
                       (SELECT last_seen_at IS NOT NULL FROM devices WHERE id = $1)",
                )
                .bind(device.id)
                .bind(POINTS_COUNTED_UP_TO)
                .fetch_one(db)
                .await)?;
                let mut uses = Vec::new();
                if points >= POINTS_COUNTED_UP_TO {
                    uses.push(format!("{POINTS_COUNTED_UP_TO} or more data points"));
                } else if points > 0 || events {
                    uses.push(format!("{points} data points"));
                }
                if triggers > 0 {
                    uses.push(format!("{triggers} subscription trigger events"));
                }
                if tokens > 0 {
                    uses.push(format!("{tokens} device tokens"));
                }
                if !uses.is_empty() {
                    return Err(Error::Conflict(format!(
                        "{} cannot be deleted: it has {}. Archive it instead: it is hidden and sends nothing, and its history is kept.",
                        device.name,
                        uses.join(", ")
                    )));
                }
                crate::db::with_db!(conn, db => sqlx::query("DELETE FROM devices WHERE id = $1")
                    .bind(device.id)
                    .execute(db)
                    .await
                    .map(crate::db::Done::from))?;
                audit::record(
                    conn,
                    admin.organisation_id,
                    Actor::User(&admin),
                    Entry {
                        kind: AuditKind::Device,
                        action: "deleted",
                        subject: device.name,
                        before: None,
                        after: None,
                    },
                )
                .await
            })
        })
        .await
}

/// A device's details as typed (Devices → Edit): its channels are changed on their own.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct DetailsInput {
    pub name: String,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub model: String,
    pub device_class: String,
}

/// Renames a device or changes its vendor, model or class (org admins), under the same rules
/// as creating one; audited with what changed.
pub async fn update_details(
    state: &AppState,
    admin: &CurrentUser,
    device_id: i64,
    input: &DetailsInput,
) -> Result<()> {
    admin.require_org_admin()?;
    let d = validate(&DeviceInput {
        name: input.name.clone(),
        vendor: input.vendor.clone(),
        model: input.model.clone(),
        device_class: input.device_class.clone(),
        channels: vec![],
    })
    .map_err(Error::Invalid)?;
    let admin = admin.clone();
    state
        .write(move |conn| {
            Box::pin(async move {
                let before = super::organisation_device_in(&mut *conn, &admin, device_id).await?;
                let taken: bool = crate::db::with_db!(conn, db, engine => sqlx::query_scalar(
                    &format!("SELECT EXISTS (SELECT 1 FROM devices
                     WHERE organisation_id = $1 AND {same_name} AND id <> $3)", same_name = crate::db::dialect::equal_nocase(engine, "name", "$2")),
                )
                .bind(admin.organisation_id)
                .bind(&d.name)
                .bind(device_id)
                .fetch_one(db)
                .await)?;
                if taken {
                    return Err(name_taken(&d.name));
                }
                crate::db::with_db!(conn, db => sqlx::query(
                    "UPDATE devices SET name = $1, vendor = $2, model = $3, device_class = $4 WHERE id = $5",
                )
                .bind(&d.name)
                .bind(&d.vendor)
                .bind(&d.model)
                .bind(&d.device_class)
                .bind(device_id)
                .execute(db)
                .await
                .map(crate::db::Done::from))
                .on_unique_violation("devices.organisation_id", || name_taken(&d.name))?;
                let details = |name: &str, vendor: &str, model: &str, class: &str| {
                    json!({ "name": name, "vendor": vendor, "model": model, "device_class": class })
                };
                audit::record(
                    conn,
                    admin.organisation_id,
                    Actor::User(&admin),
                    Entry {
                        kind: AuditKind::Device,
                        action: "updated",
                        subject: d.name.clone(),
                        before: Some(details(
                            &before.name,
                            &before.vendor,
                            &before.model,
                            &before.device_class,
                        )),
                        after: Some(details(&d.name, &d.vendor, &d.model, &d.device_class)),
                    },
                )
                .await
            })
        })
        .await
}
