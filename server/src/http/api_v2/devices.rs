//! `devices`, `channels` (list, show) and `data_points` (list): what the caller may see on the
//! Devices page — org admins their organisation's devices (archived ones with `hidden_at`),
//! lab users the devices they were granted.

use axum::{
    extract::{Path, RawQuery, State},
    http::StatusCode,
};
use serde_json::{json, Value};

use super::{
    caller::Caller,
    document::{
        belongs_to, many, meta, one, parse_time, Accepts, ApiResult, Document, ListQuery, Resource,
    },
    subscriptions::path_id,
};
use crate::{
    api_tokens::Scope,
    clock::now_ms,
    devices::{self, points, Channel, Device, DeviceWithChannels},
    AppState, Error,
};

const DEVICE: &str = "device";
const CHANNEL: &str = "channel";

pub const DEVICES: Accepts = Accepts {
    collection: "devices",
    kind: DEVICE,
    filters: &["id", "name", "status"],
    sorts: &["name", "id"],
    attributes: &[
        "display_name",
        "name",
        "status",
        "vendor",
        "model",
        "device_class",
        "last_seen_at",
        "archived",
    ],
    includes: &["channels"],
    default_page_size: super::document::DEFAULT_PAGE_SIZE,
    max_page_size: super::document::MAX_PAGE_SIZE,
};

pub const CHANNELS: Accepts = Accepts {
    collection: "channels",
    kind: CHANNEL,
    filters: &["id", "device_id", "name"],
    sorts: &["id", "name"],
    attributes: &[
        "name",
        "unit",
        "type_sym",
        "specific_attributes",
        "status",
        "disabled",
        "last_value",
        "last_timestamp",
        "reply_writable",
    ],
    includes: &["device"],
    default_page_size: super::document::DEFAULT_PAGE_SIZE,
    max_page_size: super::document::MAX_PAGE_SIZE,
};

pub const DATA_POINTS: Accepts = Accepts {
    collection: "data_points",
    kind: "data_point",
    filters: &["channel_id", "timestamp"],
    sorts: &["timestamp"],
    attributes: &[],
    includes: &[],
    default_page_size: 1000,
    max_page_size: 10_000,
};

/// Without `filter[timestamp]`, the last week (as the reference does).
const DEFAULT_WINDOW_MS: i64 = 7 * 86_400_000;

fn device_resource(d: &DeviceWithChannels) -> Resource {
    let v = &d.device;
    let channels: Vec<Value> = d
        .channels
        .iter()
        .map(|c| json!({ "id": c.id.to_string(), "type": CHANNEL }))
        .collect();
    Resource::new(
        DEVICE,
        "devices",
        v.id,
        json!({
            "display_name": v.name,
            "name": v.name,
            "status": v.status.as_str(),
            "vendor": v.vendor,
            "model": v.model,
            "device_class": v.device_class,
            "last_seen_at": super::document::optional_time(v.last_seen_at),
            // Laboperator hides devices; ours are archived (only org admins see those).
            "archived": v.archived,
        }),
    )
    .related("channels", json!({ "data": channels }))
}

fn channel_resource(device: &Device, c: &Channel) -> Resource {
    let mut specific = serde_json::Map::new();
    if let Some(min) = c.spec.min {
        specific.insert("min".into(), json!(min));
    }
    if let Some(max) = c.spec.max {
        specific.insert("max".into(), json!(max));
    }
    if !c.spec.enum_labels.is_empty() {
        specific.insert(
            "enum".into(),
            json!((0..c.spec.enum_labels.len()).collect::<Vec<_>>()),
        );
        specific.insert("enumLabels".into(), json!(c.spec.enum_labels));
    }
    let last_value = c.state.last.as_ref().map(|r| match (&r.text, r.number) {
        (Some(t), _) => json!(t),
        (None, Some(n)) => json!(n),
        (None, None) => Value::Null,
    });
    Resource::new(
        CHANNEL,
        "channels",
        c.id,
        json!({
            "name": c.name,
            "unit": c.unit,
            "type_sym": c.spec.value_type.as_str(),
            "specific_attributes": specific,
            "status": device.status.as_str(),
            "disabled": device.archived,
            "last_value": last_value,
            "last_timestamp": super::document::optional_time(c.state.last_timestamp),
            "reply_writable": c.reply_writable,
        }),
    )
    .related("device", belongs_to(DEVICE, device.id))
}

fn matches(q: &ListQuery, name: &str, value: &str) -> bool {
    q.filters
        .get(name)
        .is_none_or(|wanted| wanted.iter().any(|w| w.eq_ignore_ascii_case(value)))
}

/// One page of an in-memory list (an organisation has tens of devices, not millions).
fn page_of<T>(q: &ListQuery, items: Vec<T>) -> crate::paging::Page<T> {
    let total = items.len() as i64;
    let page = q.page();
    let items = items
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .collect();
    page.of(items, total)
}

fn with_included(mut doc: Document, included: Vec<Value>) -> Document {
    if !included.is_empty() {
        doc.1["included"] = Value::Array(included);
    }
    doc
}

pub async fn list_devices(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(raw.as_deref(), &DEVICES)?;
    let mut all: Vec<DeviceWithChannels> = devices::devices_page(&state.pool, &caller.user)
        .await?
        .into_iter()
        .filter(|d| {
            matches(&q, "id", &d.device.id.to_string())
                && matches(&q, "name", &d.device.name)
                && matches(&q, "status", d.device.status.as_str())
        })
        .collect();
    if q.sort.as_ref().is_some_and(|(s, _)| s == "id") {
        all.sort_by_key(|d| d.device.id);
    }
    if q.sort.as_ref().is_some_and(|(_, descending)| *descending) {
        all.reverse();
    }
    let page = page_of(&q, all);
    let included: Vec<Value> = if q.include.iter().any(|i| i == "channels") {
        let fields = q.fields.get(CHANNEL);
        page.items
            .iter()
            .flat_map(|d| {
                d.channels
                    .iter()
                    .map(|c| channel_resource(&d.device, c).render(fields))
            })
            .collect()
    } else {
        vec![]
    };
    let doc = many(page, &q, DEVICE, |d| device_resource(&d));
    Ok(with_included(doc, included))
}

pub async fn show_device(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(
        raw.as_deref(),
        &Accepts {
            filters: &[],
            sorts: &[],
            ..DEVICES
        },
    )?;
    let id = path_id(&id)?;
    let d = devices::devices_page(&state.pool, &caller.user)
        .await?
        .into_iter()
        .find(|d| d.device.id == id)
        .ok_or_else(|| Error::not_found("Device"))?;
    let included = if q.include.iter().any(|i| i == "channels") {
        let fields = q.fields.get(CHANNEL);
        d.channels
            .iter()
            .map(|c| channel_resource(&d.device, c).render(fields))
            .collect()
    } else {
        vec![]
    };
    Ok(with_included(
        one(StatusCode::OK, device_resource(&d), &q),
        included,
    ))
}

async fn visible_channels(
    state: &AppState,
    caller: &crate::api_tokens::ApiCaller,
) -> crate::Result<Vec<(Device, Channel)>> {
    Ok(devices::devices_page(&state.pool, &caller.user)
        .await?
        .into_iter()
        .flat_map(|d| {
            let device = d.device;
            d.channels.into_iter().map(move |c| (device.clone(), c))
        })
        .collect())
}

pub async fn list_channels(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(raw.as_deref(), &CHANNELS)?;
    let mut all: Vec<(Device, Channel)> = visible_channels(&state, &caller)
        .await?
        .into_iter()
        .filter(|(d, c)| {
            matches(&q, "id", &c.id.to_string())
                && matches(&q, "device_id", &d.id.to_string())
                && matches(&q, "name", &c.name)
        })
        .collect();
    if q.sort.as_ref().is_some_and(|(s, _)| s == "name") {
        all.sort_by_key(|(_, c)| c.name.to_lowercase());
    }
    if q.sort.as_ref().is_some_and(|(_, descending)| *descending) {
        all.reverse();
    }
    let page = page_of(&q, all);
    let included: Vec<Value> = if q.include.iter().any(|i| i == "device") {
        let mut seen = std::collections::BTreeMap::new();
        for (d, _) in &page.items {
            seen.entry(d.id).or_insert_with(|| {
                device_resource(&DeviceWithChannels {
                    device: d.clone(),
                    channels: vec![],
                })
                .render(q.fields.get(DEVICE))
            });
        }
        seen.into_values().collect()
    } else {
        vec![]
    };
    let doc = many(page, &q, CHANNEL, |(d, c)| channel_resource(&d, &c));
    Ok(with_included(doc, included))
}

pub async fn show_channel(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(
        raw.as_deref(),
        &Accepts {
            filters: &[],
            sorts: &[],
            ..CHANNELS
        },
    )?;
    let id = path_id(&id)?;
    let (d, c) = visible_channels(&state, &caller)
        .await?
        .into_iter()
        .find(|(_, c)| c.id == id)
        .ok_or_else(|| Error::not_found("Channel"))?;
    let included = if q.include.iter().any(|i| i == "device") {
        vec![device_resource(&DeviceWithChannels {
            device: d.clone(),
            channels: vec![],
        })
        .render(q.fields.get(DEVICE))]
    } else {
        vec![]
    };
    Ok(with_included(
        one(StatusCode::OK, channel_resource(&d, &c), &q),
        included,
    ))
}

/// `[[timestamp, value, str_value, channel_id], …]`, as the reference hands data points out.
/// `filter[timestamp]=<from>,<to>` (RFC 3339 or milliseconds; either side may be empty).
pub async fn list_data_points(
    State(state): State<AppState>,
    Caller(caller): Caller,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    caller.require(Scope::Read)?;
    let q = ListQuery::parse(raw.as_deref(), &DATA_POINTS)?;
    let channels = q.filter_ids("channel_id")?;
    let now = now_ms();
    let window = q.filters.get("timestamp").cloned().unwrap_or_default();
    let bound = |i: usize, default: i64| -> ApiResult<i64> {
        match window.get(i).map(|s| s.trim()).filter(|s| !s.is_empty()) {
            Some(raw) => parse_time("filter[timestamp]", raw),
            None => Ok(default),
        }
    };
    let until = bound(1, now + 1)?;
    let since = bound(0, until.saturating_sub(DEFAULT_WINDOW_MS))?;
    let newest_first = q.sort.as_ref().is_some_and(|(_, descending)| *descending);
    let page = points::list(
        &state.pool,
        &caller.user,
        &channels,
        since,
        until,
        q.page(),
        newest_first,
    )
    .await?;
    let (number, size, total) = (page.page, page.per_page, page.total);
    let data: Vec<Value> = page
        .items
        .iter()
        .map(|p| json!([p.timestamp, p.value, p.str_value, p.channel_id]))
        .collect();
    let n = data.len();
    let mut m = meta(number, size, total, vec![]);
    m["recordsSize"] = json!(n);
    if let Some(o) = m.as_object_mut() {
        o.remove("recordsOrder");
    }
    Ok(Document(StatusCode::OK, json!({ "data": data, "meta": m })))
}
