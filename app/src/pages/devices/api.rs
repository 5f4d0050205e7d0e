//! What the Devices page reads and changes: the views sent to the browser and the server
//! functions behind them, each a thin door onto `server::devices`.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Json;

use crate::errors::AppError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceView {
    pub id: i64,
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub device_class: String,
    pub online: bool,
    pub last_seen_at: Option<i64>,
    /// Archived: hidden from the picker, sends nothing (org admins see it, to restore it).
    pub archived: bool,
    pub channels: Vec<ChannelView>,
    /// Fed by an instrument's OPC UA server (docs/opcua.md), not by the ingest API.
    pub source: Option<SourceView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceView {
    /// The instrument's endpoint: org admins only.
    pub endpoint: Option<String>,
    pub connected: bool,
    /// What last went wrong, in words.
    pub error: Option<String>,
    pub variables: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    pub id: i64,
    pub name: String,
    pub unit: String,
    /// "0 – 310 °C", when the channel has a safe range.
    pub range: Option<String>,
    pub last_value: Option<String>,
    pub last_at: Option<i64>,
    pub out_of_range: bool,
    /// A value the channel accepts, as JSON (for the example request).
    pub example: String,
    /// number, text, yes_no or choice; with the range and choices, to edit it.
    pub value_type: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub labels: Vec<String>,
    /// "May be written by replies".
    pub reply_writable: bool,
}

/// A device's recent number values, for the channels' small charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendsView {
    pub since: i64,
    pub until: i64,
    pub points: Vec<TrendPoint>,
}

/// One bucket of time of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrendPoint {
    pub channel_id: i64,
    pub at: i64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub count: i64,
}

/// What removing a channel would take with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelUsesView {
    pub channel: String,
    /// "LIMS sync (Ana Lab)": the subscriptions that chose it, with their owners.
    pub subscriptions: Vec<String>,
    pub data_points: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantView {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub granted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenView {
    pub id: i64,
    pub label: String,
    pub hint: String,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
}

/// A device as the Add device dialog sends it (checked by `server::devices::manage`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewDeviceInput {
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub device_class: String,
    pub channels: Vec<NewChannelInput>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewChannelInput {
    pub name: String,
    pub unit: String,
    /// number, text, yes_no or choice.
    pub value_type: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub labels: Vec<String>,
    #[serde(default)]
    pub reply_writable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub id: i64,
    pub token: String,
}

#[cfg(feature = "ssr")]
mod convert {
    use super::*;
    use server::domain::channel_definition::ChannelInput;

    impl From<NewChannelInput> for ChannelInput {
        fn from(c: NewChannelInput) -> Self {
            ChannelInput {
                name: c.name,
                unit: c.unit,
                value_type: c.value_type,
                min: c.min,
                max: c.max,
                labels: c.labels,
                reply_writable: c.reply_writable,
            }
        }
    }
    use server::devices::{access::Grant, tokens::TokenInfo, Channel, DeviceWithChannels};
    use server::domain::device::DeviceStatus;

    pub fn range(c: &Channel) -> Option<String> {
        if !c.spec.has_range() {
            return None;
        }
        let unit = if c.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", c.unit)
        };
        Some(match (c.spec.min, c.spec.max) {
            (Some(min), Some(max)) => format!("{min} – {max}{unit}"),
            (Some(min), None) => format!("≥ {min}{unit}"),
            (None, Some(max)) => format!("≤ {max}{unit}"),
            (None, None) => return None,
        })
    }

    impl From<DeviceWithChannels> for DeviceView {
        fn from(d: DeviceWithChannels) -> Self {
            DeviceView {
                id: d.device.id,
                name: d.device.name,
                vendor: d.device.vendor,
                model: d.device.model,
                device_class: d.device.device_class,
                online: d.device.status == DeviceStatus::Online,
                last_seen_at: d.device.last_seen_at,
                archived: d.device.archived,
                source: None,
                channels: d
                    .channels
                    .iter()
                    .map(|c| ChannelView {
                        id: c.id,
                        name: c.name.clone(),
                        unit: c.unit.clone(),
                        range: range(c),
                        last_value: c.state.last.as_ref().map(|r| c.spec.display(r)),
                        last_at: c.state.last_timestamp,
                        out_of_range: c.state.in_range == Some(false),
                        example: c.spec.example_value().to_string(),
                        value_type: server::domain::channel_definition::value_type_word(
                            c.spec.value_type,
                        )
                        .to_owned(),
                        min: c.spec.min,
                        max: c.spec.max,
                        labels: c.spec.enum_labels.clone(),
                        reply_writable: c.reply_writable,
                    })
                    .collect(),
            }
        }
    }

    impl From<Grant> for GrantView {
        fn from(g: Grant) -> Self {
            GrantView {
                user_id: g.user_id,
                name: g.name,
                email: g.email,
                granted: g.granted,
            }
        }
    }

    impl From<TokenInfo> for TokenView {
        fn from(t: TokenInfo) -> Self {
            TokenView {
                id: t.id,
                label: t.label,
                hint: t.hint,
                created_at: t.created_at,
                created_by: t.created_by,
                last_used_at: t.last_used_at,
                revoked: t.revoked_at.is_some(),
            }
        }
    }
}

#[server(endpoint = "devices/list")]
pub async fn list_devices() -> Result<Vec<DeviceView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let devices = server::devices::devices_page(&state.pool, &user).await?;
    let mut sources: std::collections::HashMap<i64, server::sources::SourceStatus> =
        server::sources::visible_to(&state.pool, &user)
            .await?
            .into_iter()
            .map(|s| (s.device_id, s))
            .collect();
    Ok(devices
        .into_iter()
        .map(|d| {
            let source = sources.remove(&d.device.id).map(|s| SourceView {
                endpoint: s.endpoint,
                connected: s.connected,
                error: s.error,
                variables: s.variables,
            });
            DeviceView {
                source,
                ..DeviceView::from(d)
            }
        })
        .collect())
}

#[server(endpoint = "devices/access")]
pub async fn device_access(device_id: i64) -> Result<Vec<GrantView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let grants = server::devices::access::list(&state.pool, &user, device_id).await?;
    Ok(grants.into_iter().map(GrantView::from).collect())
}

#[server(endpoint = "devices/set_access")]
pub async fn set_device_access(
    device_id: i64,
    user_id: i64,
    granted: bool,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::subscriptions::set_device_access(&state, &user, device_id, user_id, granted).await?;
    Ok(())
}

#[server(endpoint = "devices/tokens")]
pub async fn device_tokens(device_id: i64) -> Result<Vec<TokenView>, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let tokens = server::devices::tokens::list(&state.pool, &user, device_id).await?;
    Ok(tokens.into_iter().map(TokenView::from).collect())
}

#[server(endpoint = "devices/create_token")]
pub async fn create_device_token(
    device_id: i64,
    label: String,
    reason: Option<String>,
) -> Result<NewToken, AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    let created = server::devices::tokens::create(&state, &user, device_id, &label).await?;
    Ok(NewToken {
        id: created.id,
        token: created.token,
    })
}

/// The device classes a device may have (Laboperator's).
#[server(endpoint = "devices/classes")]
pub async fn device_classes() -> Result<Vec<String>, AppError> {
    crate::ssr::caller().await?;
    Ok(server::domain::device::DEVICE_CLASSES
        .iter()
        .map(|c| (*c).to_owned())
        .collect())
}

/// Creates a device with its channels (org admins); answers its id.
#[server(endpoint = "devices/create", input = Json)]
pub async fn create_device(input: NewDeviceInput, reason: Option<String>) -> Result<i64, AppError> {
    use server::devices::manage::DeviceInput;
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    let input = DeviceInput {
        name: input.name,
        vendor: input.vendor,
        model: input.model,
        device_class: input.device_class,
        channels: input.channels.into_iter().map(Into::into).collect(),
    };
    Ok(server::devices::manage::create(&state, &user, &input).await?)
}

/// A device's details as the Edit dialog sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceDetailsInput {
    pub name: String,
    pub vendor: String,
    pub model: String,
    pub device_class: String,
}

/// Renames a device or changes its vendor, model or class (org admins).
#[server(endpoint = "devices/update", input = Json)]
pub async fn update_device(
    device_id: i64,
    input: DeviceDetailsInput,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    let input = server::devices::manage::DetailsInput {
        name: input.name,
        vendor: input.vendor,
        model: input.model,
        device_class: input.device_class,
    };
    server::devices::manage::update_details(&state, &user, device_id, &input).await?;
    Ok(())
}

/// Archives or restores a device (org admins).
#[server(endpoint = "devices/set_archived")]
pub async fn set_device_archived(
    device_id: i64,
    archived: bool,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::devices::manage::set_archived(&state, &user, device_id, archived).await?;
    Ok(())
}

/// Deletes a device nothing refers to yet (org admins).
#[server(endpoint = "devices/delete")]
pub async fn delete_device(device_id: i64, reason: Option<String>) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::devices::manage::delete(&state, &user, device_id).await?;
    Ok(())
}

#[server(endpoint = "devices/revoke_token")]
pub async fn revoke_device_token(
    device_id: i64,
    token_id: i64,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::devices::tokens::revoke(&state, &user, device_id, token_id).await?;
    Ok(())
}

/// Adds a channel to a device (org admins); answers its id.
#[server(endpoint = "devices/add_channel", input = Json)]
pub async fn add_channel(
    device_id: i64,
    input: NewChannelInput,
    reason: Option<String>,
) -> Result<i64, AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    Ok(server::devices::channels::add(&state, &user, device_id, &input.into()).await?)
}

/// Changes a channel (org admins); takes effect for the next data point.
#[server(endpoint = "devices/update_channel", input = Json)]
pub async fn update_channel(
    device_id: i64,
    channel_id: i64,
    input: NewChannelInput,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::devices::channels::update(&state, &user, device_id, channel_id, &input.into()).await?;
    Ok(())
}

/// What removing a channel would take with it (asked before confirming).
#[server(endpoint = "devices/channel_uses")]
pub async fn channel_uses(device_id: i64, channel_id: i64) -> Result<ChannelUsesView, AppError> {
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let uses = server::subscriptions::channel_uses(&state, &user, device_id, channel_id).await?;
    Ok(ChannelUsesView {
        channel: uses.channel,
        subscriptions: uses
            .subscriptions
            .into_iter()
            .map(|s| format!("{} ({})", s.name, s.owner))
            .collect(),
        data_points: uses.data_points,
    })
}

/// Removes a channel with its data points and the triggers that chose it (org admins).
#[server(endpoint = "devices/remove_channel")]
pub async fn remove_channel(
    device_id: i64,
    channel_id: i64,
    reason: Option<String>,
) -> Result<(), AppError> {
    let user = crate::ssr::changer(reason).await?;
    let state = crate::ssr::state()?;
    server::subscriptions::remove_channel(&state, &user, device_id, channel_id).await?;
    Ok(())
}

/// The last hour or day of a device's number channels (`window`: hour or day).
#[server(endpoint = "devices/trends")]
pub async fn device_trends(device_id: i64, window: String) -> Result<TrendsView, AppError> {
    use server::devices::history;
    let user = crate::ssr::caller().await?;
    let state = crate::ssr::state()?;
    let window = history::Window::parse(&window)?;
    let recent = history::recent(&state.pool, &user, device_id, window).await?;
    Ok(TrendsView {
        since: recent.since,
        until: recent.until,
        points: recent
            .buckets
            .into_iter()
            .map(|b| TrendPoint {
                channel_id: b.channel_id,
                at: b.at,
                min: b.min,
                max: b.max,
                mean: b.mean,
                count: b.count,
            })
            .collect(),
    })
}
