//! Demo data for a first start: two organisations, so that isolation can be tried out.
//! The credentials are listed in the README.

use crate::db::Pool;

use crate::{
    devices::{self, access, NewChannel, NewDevice},
    domain::{
        channel::{ChannelSpec, ValueType},
        Email, Password, Role,
    },
    orgs::{self, NewUser},
    Result,
};

pub const DEMO_ORGANISATION: &str = "Demo Lab";
pub const OTHER_ORGANISATION: &str = "Northwind Analytics";

/// (organisation, role, email, name, password)
pub const DEMO_USERS: &[(&str, Role, &str, &str, &str)] = &[
    (
        DEMO_ORGANISATION,
        Role::OrgAdmin,
        "admin@demo.lab",
        "Ada Admin",
        "demo-admin-pass",
    ),
    (
        DEMO_ORGANISATION,
        Role::LabUser,
        "lab@demo.lab",
        "Lars Labuser",
        "demo-lab-pass",
    ),
    (
        OTHER_ORGANISATION,
        Role::OrgAdmin,
        "admin@northwind.lab",
        "Nora Northwind",
        "other-admin-pass",
    ),
];

/// Fills an empty database with the demo organisations and users. Does nothing (and returns
/// false) when any organisation exists already: a real installation is never touched.
pub async fn seed_if_empty(pool: &Pool) -> Result<bool> {
    if orgs::organisation_count(pool).await? > 0 {
        return Ok(false);
    }
    for org_name in [DEMO_ORGANISATION, OTHER_ORGANISATION] {
        let org = orgs::create_organisation(pool, org_name).await?;
        let mut lab_users = Vec::new();
        for (_, role, email, name, password) in DEMO_USERS.iter().filter(|u| u.0 == org_name) {
            let id = orgs::create_user(
                pool,
                NewUser {
                    organisation_id: org.id,
                    email: Email::parse(email)?,
                    name: (*name).to_owned(),
                    role: *role,
                    password: Password::parse(password)?,
                },
            )
            .await?;
            if *role == Role::LabUser {
                lab_users.push(id);
            }
        }
        if org_name == DEMO_ORGANISATION {
            enable_webhooks(pool, org.id, admin_id(pool, org.id).await?).await?;
        }
        for (device, granted) in demo_devices(org_name) {
            let id = devices::create_device(pool, org.id, device).await?;
            if granted {
                for user in &lab_users {
                    access::grant_initial(pool, *user, id).await?;
                }
            }
        }
    }
    tracing::info!("demo data created: see the README for the sign-in credentials");
    Ok(true)
}

/// The demo lab has the webhook feature on and two registered targets: a local receiver for
/// trying things out, and an example LIMS.
pub const DEMO_REGISTERED_URLS: &[(&str, &str)] = &[
    ("http://127.0.0.1:9999/", "Local test receiver"),
    ("https://lims.demo-lab.example/api/", "QC LIMS"),
];

/// Where `labhook demo-lims` listens (under the demo's registered local URL), and the signing
/// secret of the demo's subscription to it — published, like the demo passwords.
pub const DEMO_LIMS_URL: &str = "http://127.0.0.1:9999/lims";
pub const DEMO_LIMS_SECRET: &str = "whsec_ZGVtby1saW1zLXNlY3JldC1wdWJsaXNoZWQtaW4tUkVBRE1F";
const DEMO_LIMS_SUBSCRIPTION: &str = "Sample information (demo LIMS)";

/// The demo admin's subscription of the scanner's scans to the demo LIMS, using its reply —
/// unless the demo organisation has it already (or does not exist). The secret is stored in
/// clear here and sealed when the server starts (see `subscriptions::seal_open_secrets`).
/// Answers whether it was created.
pub async fn subscribe_demo_lims(pool: &Pool) -> Result<bool> {
    let target: Option<(i64, i64, i64, i64)> = crate::db::with_db!(pool, db => sqlx::query_as(
        "SELECT o.id, u.id, c.device_id, c.id FROM organisations o
         JOIN users u ON u.organisation_id = o.id AND u.email = $1
         JOIN devices d ON d.organisation_id = o.id AND d.name = 'Barcode Scanner Bench 2'
         JOIN channels c ON c.device_id = d.id AND c.name = 'barcode'
         WHERE o.name = $2 AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.organisation_id = o.id AND s.url = $3)",
    )
    .bind(DEMO_USERS[0].2)
    .bind(DEMO_ORGANISATION)
    .bind(DEMO_LIMS_URL)
    .fetch_optional(db)
    .await)?;
    let Some((organisation, owner, device, channel)) = target else {
        return Ok(false);
    };
    let now = crate::clock::now_ms();
    let mut tx = pool.begin_write().await?;
    let id: i64 = crate::db::with_db!(tx, db => sqlx::query_scalar(
        "INSERT INTO subscriptions (organisation_id, owner_id, display_name, url, active, active_since,
                                    secret, created_at, updated_at, use_replies)
         VALUES ($1, $2, $3, $4, TRUE, $5, $6, $7, $8, TRUE) RETURNING id",
    )
    .bind(organisation)
    .bind(owner)
    .bind(DEMO_LIMS_SUBSCRIPTION)
    .bind(DEMO_LIMS_URL)
    .bind(now)
    .bind(DEMO_LIMS_SECRET)
    .bind(now)
    .bind(now)
    .fetch_one(db)
    .await)?;
    crate::db::with_db!(tx, db => sqlx::query(
        "INSERT INTO subscription_triggers (subscription_id, channel_id, device_id, event_type)
         VALUES ($1, $2, $3, 'data_point.created')",
    )
    .bind(id)
    .bind(channel)
    .bind(device)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    tx.commit().await?;
    Ok(true)
}

async fn admin_id(pool: &Pool, organisation_id: i64) -> Result<i64> {
    Ok(crate::db::with_db!(pool, db => sqlx::query_scalar(
        "SELECT id FROM users WHERE organisation_id = $1 AND role = 'org_admin' ORDER BY id LIMIT 1",
    )
    .bind(organisation_id)
    .fetch_one(db)
    .await)?)
}

async fn enable_webhooks(pool: &Pool, organisation_id: i64, admin: i64) -> Result<()> {
    let now = crate::clock::now_ms();
    crate::db::with_db!(pool, db => sqlx::query(
        "UPDATE organisations SET webhooks_enabled = TRUE, webhooks_enabled_since = $1 WHERE id = $2",
    )
    .bind(now)
    .bind(organisation_id)
    .execute(db)
    .await
    .map(crate::db::Done::from))?;
    for (url, note) in DEMO_REGISTERED_URLS {
        crate::db::with_db!(pool, db => sqlx::query(
            "INSERT INTO registered_urls (organisation_id, url, note, created_at, created_by) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(organisation_id)
        .bind(url)
        .bind(note)
        .bind(now)
        .bind(admin)
        .execute(db)
        .await
        .map(crate::db::Done::from))?;
    }
    Ok(())
}

fn float(name: &str, unit: &str, min: Option<f64>, max: Option<f64>) -> NewChannel {
    NewChannel {
        name: name.into(),
        unit: unit.into(),
        spec: ChannelSpec {
            value_type: ValueType::Float,
            min,
            max,
            enum_labels: vec![],
        },
        reply_writable: false,
    }
}

fn written_by_replies(c: NewChannel) -> NewChannel {
    NewChannel {
        reply_writable: true,
        ..c
    }
}

fn text(name: &str) -> NewChannel {
    NewChannel {
        name: name.into(),
        unit: String::new(),
        spec: ChannelSpec {
            value_type: ValueType::String,
            min: None,
            max: None,
            enum_labels: vec![],
        },
        reply_writable: false,
    }
}

fn states(name: &str, labels: &[&str]) -> NewChannel {
    NewChannel {
        name: name.into(),
        unit: String::new(),
        spec: ChannelSpec {
            value_type: ValueType::Enum,
            min: None,
            max: None,
            enum_labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        },
        reply_writable: false,
    }
}

fn flag(name: &str) -> NewChannel {
    NewChannel {
        name: name.into(),
        unit: String::new(),
        spec: ChannelSpec {
            value_type: ValueType::Boolean,
            min: None,
            max: None,
            enum_labels: vec![],
        },
        reply_writable: false,
    }
}

fn device(
    name: &str,
    vendor: &str,
    model: &str,
    class: &str,
    channels: Vec<NewChannel>,
) -> NewDevice {
    NewDevice {
        name: name.into(),
        vendor: vendor.into(),
        model: model.into(),
        device_class: class.into(),
        simulated: true,
        channels,
    }
}

/// The demo organisation's lab, and whether its lab user has access to each device.
fn demo_devices(org: &str) -> Vec<(NewDevice, bool)> {
    if org != DEMO_ORGANISATION {
        return vec![
            (
                device(
                    "UV-Vis Spectrophotometer",
                    "Agilent",
                    "Cary 60",
                    "Analyzer",
                    vec![
                        float("absorbance", "AU", Some(0.0), Some(3.0)),
                        text("sample_id"),
                    ],
                ),
                true,
            ),
            (
                device(
                    "Ultra-Low Freezer",
                    "Thermo Fisher",
                    "TSX600",
                    "Heating/Cooling Unit",
                    vec![
                        float("temperature", "°C", Some(-86.0), Some(-70.0)),
                        flag("door_open"),
                    ],
                ),
                true,
            ),
        ];
    }
    vec![
        (
            device(
                "Analytical Balance XPR204",
                "Mettler Toledo",
                "XPR204",
                "Balance",
                vec![
                    float("weight", "mg", Some(0.0), Some(220_000.0)),
                    states("status", &["stable", "unstable", "overload"]),
                ],
            ),
            true,
        ),
        (
            device(
                "Hotplate Stirrer RCT digital",
                "IKA",
                "RCT digital",
                "Heat Control",
                vec![
                    float("temperature", "°C", Some(0.0), Some(310.0)),
                    float("rotation", "rpm", Some(0.0), Some(1500.0)),
                ],
            ),
            true,
        ),
        (
            device(
                "Rotary Evaporator Hei-VAP",
                "Heidolph",
                "Hei-VAP Core",
                "Evaporator",
                vec![
                    float("rotation", "rpm", Some(10.0), Some(280.0)),
                    float("bath_temperature", "°C", Some(20.0), Some(90.0)),
                    float("vacuum", "mbar", Some(1.0), Some(1013.0)),
                ],
            ),
            false,
        ),
        (
            device(
                "Centrifuge 5425",
                "Eppendorf",
                "5425",
                "Custom",
                vec![
                    float("rotation", "rpm", Some(0.0), Some(15_060.0)),
                    states("lid", &["closed", "open"]),
                ],
            ),
            false,
        ),
        (
            device(
                "Thermostat PRO RP 845",
                "Lauda",
                "PRO RP 845",
                "Heating/Cooling Unit",
                vec![
                    float("temperature", "°C", Some(-40.0), Some(200.0)),
                    float("setpoint", "°C", Some(-40.0), Some(200.0)),
                ],
            ),
            false,
        ),
        (
            device(
                "Density Meter DMA 4500 M",
                "Anton Paar",
                "DMA 4500 M",
                "Analyzer",
                vec![
                    text("sample_id"),
                    float("density", "g/cm³", Some(0.6), Some(1.8)),
                    states(
                        "measurement_status",
                        &["idle", "measuring", "done", "error"],
                    ),
                ],
            ),
            true,
        ),
        (
            device(
                "Barcode Scanner Bench 2",
                "Zebra",
                "DS2208",
                "Custom",
                // What the LIMS answers for a scanned sample is written back here.
                vec![
                    text("barcode"),
                    written_by_replies(text("sample_info")),
                    written_by_replies(text("method")),
                ],
            ),
            true,
        ),
        (
            device(
                "CO2 Incubator Heracell",
                "Thermo Fisher",
                "Heracell VIOS 160i",
                "Incubator",
                vec![
                    float("temperature", "°C", Some(36.5), Some(37.5)),
                    float("co2", "%", Some(4.5), Some(5.5)),
                    float("humidity", "%", Some(85.0), Some(98.0)),
                    flag("door_open"),
                ],
            ),
            true,
        ),
        (
            device(
                "pH Meter SevenExcellence",
                "Mettler Toledo",
                "S479",
                "Probe",
                vec![
                    float("ph", "pH", Some(0.0), Some(14.0)),
                    float("temperature", "°C", Some(0.0), Some(100.0)),
                    float("potential", "mV", Some(-500.0), Some(500.0)),
                ],
            ),
            false,
        ),
    ]
}
