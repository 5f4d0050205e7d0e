//! The authorisation matrix: every server function, every page and every backend route ×
//! (anonymous, lab user, another lab user of the same organisation, org admin, admin of
//! another organisation), with the answer each must get — walked over HTTP against the real
//! app. A route that exists but is missing from the table fails the test: a new door cannot
//! be added without deciding who may use it.

use std::collections::BTreeSet;

use reqwest::{header, Client, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{client, spawn_app, TestApp, ADMIN, LAB_USER, OTHER_ADMIN};

const OTHER_LAB_USER: (&str, &str) = ("lab2@demo.lab", "second-lab-pass");

/// Who calls, in the order of each row's expectations.
const ROLES: [&str; 5] = [
    "anonymous",
    "lab user (owner)",
    "another lab user",
    "org admin",
    "admin of another organisation",
];

/// The objects the rows name: all of the demo organisation, owned by or granted to the lab
/// user where that matters. Objects a row destroys come one per role.
struct Fixtures {
    device: i64,
    channel: i64,
    lab_user: i64,
    subscription: i64,
    delivery: i64,
    /// One per role, for the rows that delete them.
    subscriptions_to_delete: Vec<i64>,
    tokens_to_revoke: Vec<i64>,
    /// The lab user's API tokens, one per role.
    api_tokens_to_revoke: Vec<i64>,
    urls_to_remove: Vec<i64>,
    devices_to_delete: Vec<i64>,
    channels_to_remove: Vec<i64>,
    /// A person whose password the rows reset (not the lab user: their session goes on).
    spare_person: i64,
}

enum Call {
    /// A server function with a url-encoded form.
    Form(Vec<(String, String)>),
    /// A server function with a JSON body.
    Json(Value),
}

struct Row {
    route: &'static str,
    call: fn(&Fixtures, usize) -> Call,
    expect: [u16; 5],
}

fn form(pairs: &[(&str, String)]) -> Call {
    Call::Form(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

/// The last hour of the lab user's subscription, as the Replay form sends it.
fn replay_form(f: &Fixtures) -> Call {
    let now = server::clock::now_ms();
    let minute = |ms: i64| server::clock::rfc3339(ms)[..16].to_owned();
    form(&[
        ("id", f.subscription.to_string()),
        ("since", minute(now - 3_600_000)),
        ("until", minute(now + 120_000)),
    ])
}

fn input(f: &Fixtures) -> Value {
    json!({
        "display_name": "Matrix",
        "url": "http://127.0.0.1:9999/matrix",
        "headers": [],
        "triggers": [{"channel_id": f.channel, "event_type": "data_point.created"}]
    })
}

/// Server functions, in the order they are called (sign-out last: it ends the session).
fn server_functions() -> Vec<Row> {
    vec![
        Row {
            route: "who_am_i",
            call: |_, _| form(&[]),
            expect: [401, 200, 200, 200, 200],
        },
        // Public: anyone may try; these are unknown accounts.
        Row {
            route: "sign_in",
            call: |_, role| {
                form(&[
                    ("email", format!("nobody{role}@demo.lab")),
                    ("password", "wrong password".into()),
                ])
            },
            expect: [401, 401, 401, 401, 401],
        },
        Row {
            route: "admin/audit",
            call: |_, _| form(&[("page", "1".into())]),
            expect: [401, 403, 403, 200, 200],
        },
        Row {
            route: "admin/settings",
            call: |_, _| form(&[]),
            expect: [401, 403, 403, 200, 200],
        },
        // Each admin sets their own organisation's switch to what it is.
        Row {
            route: "admin/set_webhooks_enabled",
            call: |_, role| form(&[("enabled", (role != 4).to_string())]),
            expect: [401, 403, 403, 200, 200],
        },
        // Each admin sets their own organisation's records settings to what they are.
        Row {
            route: "admin/set_reasons_required",
            call: |_, _| form(&[("required", "false".into())]),
            expect: [401, 403, 403, 200, 200],
        },
        Row {
            route: "admin/set_time_zone",
            call: |_, _| form(&[("zone", "UTC".into())]),
            expect: [401, 403, 403, 200, 200],
        },
        Row {
            route: "admin/register_url",
            call: |_, role| {
                form(&[
                    ("url", format!("https://matrix{role}.example.org/")),
                    ("note", String::new()),
                ])
            },
            expect: [401, 403, 403, 200, 200],
        },
        Row {
            route: "admin/remove_url",
            call: |f, role| form(&[("id", f.urls_to_remove[role].to_string())]),
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/list",
            call: |_, _| form(&[]),
            expect: [401, 200, 200, 200, 200],
        },
        Row {
            route: "devices/classes",
            call: |_, _| form(&[]),
            expect: [401, 200, 200, 200, 200],
        },
        // Each admin adds a device to their own organisation.
        Row {
            route: "devices/create",
            call: |_, role| {
                Call::Json(json!({"input": {
                    "name": format!("Matrix device {role}"), "vendor": "", "model": "",
                    "device_class": "Custom",
                    "channels": [{"name": "level", "unit": "%", "value_type": "number",
                                  "min": 0.0, "max": 100.0, "labels": []}]
                }}))
            },
            expect: [401, 403, 403, 200, 200],
        },
        // Restoring what is not archived changes nothing (the fixtures stay as they are).
        Row {
            route: "devices/set_archived",
            call: |f, _| {
                form(&[
                    ("device_id", f.device.to_string()),
                    ("archived", "false".into()),
                ])
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/update",
            call: |f, _| {
                Call::Json(json!({"device_id": f.device, "input": {
                    "name": "Matrix renamed", "vendor": "", "model": "", "device_class": "Custom"
                }}))
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/trends",
            call: |f, _| {
                form(&[
                    ("device_id", f.device.to_string()),
                    ("window", "hour".into()),
                ])
            },
            expect: [401, 200, 404, 200, 404],
        },
        Row {
            route: "devices/add_channel",
            call: |f, role| {
                Call::Json(json!({"device_id": f.device, "input": {
                    "name": format!("matrix {role}"), "unit": "", "value_type": "text",
                    "min": null, "max": null, "labels": []
                }}))
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/update_channel",
            call: |f, role| {
                Call::Json(
                    json!({"device_id": f.device, "channel_id": f.channels_to_remove[role],
                    "input": {"name": format!("spare {role}"), "unit": "", "value_type": "number",
                              "min": null, "max": null, "labels": []}}),
                )
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/channel_uses",
            call: |f, _| {
                form(&[
                    ("device_id", f.device.to_string()),
                    ("channel_id", f.channel.to_string()),
                ])
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/remove_channel",
            call: |f, role| {
                form(&[
                    ("device_id", f.device.to_string()),
                    ("channel_id", f.channels_to_remove[role].to_string()),
                ])
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/delete",
            call: |f, role| form(&[("device_id", f.devices_to_delete[role].to_string())]),
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/access",
            call: |f, _| form(&[("device_id", f.device.to_string())]),
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/set_access",
            call: |f, _| {
                form(&[
                    ("device_id", f.device.to_string()),
                    ("user_id", f.lab_user.to_string()),
                    ("granted", "true".into()),
                ])
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/tokens",
            call: |f, _| form(&[("device_id", f.device.to_string())]),
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/create_token",
            call: |f, _| {
                form(&[
                    ("device_id", f.device.to_string()),
                    ("label", "matrix".into()),
                ])
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "devices/revoke_token",
            call: |f, role| {
                form(&[
                    ("device_id", f.device.to_string()),
                    ("token_id", f.tokens_to_revoke[role].to_string()),
                ])
            },
            expect: [401, 403, 403, 200, 404],
        },
        // The other organisation has the feature off: its admin is refused every subscription
        // door with that reason (403) before any id is looked at.
        Row {
            route: "subscriptions/list",
            call: |_, _| form(&[("page", "1".into())]),
            expect: [401, 200, 200, 200, 403],
        },
        Row {
            route: "subscriptions/catalogue",
            call: |_, _| form(&[]),
            expect: [401, 200, 200, 200, 403],
        },
        Row {
            route: "subscriptions/show",
            call: |f, _| form(&[("id", f.subscription.to_string())]),
            expect: [401, 200, 404, 200, 403],
        },
        // Opened for editing: the owner only (an admin may switch off or delete, not edit).
        Row {
            route: "subscriptions/get",
            call: |f, _| form(&[("id", f.subscription.to_string())]),
            expect: [401, 200, 404, 403, 403],
        },
        // The other lab user may not see the channel (422: not one they may choose).
        Row {
            route: "subscriptions/create",
            call: |f, _| Call::Json(json!({ "input": input(f) })),
            expect: [401, 200, 422, 200, 403],
        },
        Row {
            route: "subscriptions/update",
            call: |f, _| Call::Json(json!({ "id": f.subscription, "input": input(f) })),
            expect: [401, 200, 404, 403, 403],
        },
        Row {
            route: "subscriptions/set_active",
            call: |f, _| {
                form(&[
                    ("id", f.subscription.to_string()),
                    ("active", "true".into()),
                ])
            },
            expect: [401, 200, 404, 200, 403],
        },
        Row {
            route: "subscriptions/rotate_secret",
            call: |f, _| form(&[("id", f.subscription.to_string())]),
            expect: [401, 200, 404, 403, 403],
        },
        Row {
            route: "deliveries/list",
            call: |f, _| {
                form(&[
                    ("subscription_id", f.subscription.to_string()),
                    ("page", "1".into()),
                ])
            },
            expect: [401, 200, 404, 200, 403],
        },
        // The fixture delivery is still queued (nothing listens at its target): who may send
        // it again is told so (409); who may not, is refused first.
        Row {
            route: "subscriptions/send_test_event",
            call: |f, _| form(&[("id", f.subscription.to_string())]),
            expect: [401, 200, 404, 200, 403],
        },
        Row {
            route: "deliveries/per_hour",
            call: |f, _| form(&[("subscription_id", f.subscription.to_string())]),
            expect: [401, 200, 404, 200, 403],
        },
        Row {
            route: "subscriptions/replay_preview",
            call: |f, _| replay_form(f),
            expect: [401, 200, 404, 200, 403],
        },
        Row {
            route: "subscriptions/replay_start",
            call: |f, _| replay_form(f),
            expect: [401, 200, 404, 200, 403],
        },
        Row {
            route: "subscriptions/replays",
            call: |f, _| form(&[("id", f.subscription.to_string())]),
            expect: [401, 200, 404, 200, 403],
        },
        // No such replay: nobody finds it (and the door is shut to the anonymous first).
        Row {
            route: "subscriptions/replay_cancel",
            call: |_, _| form(&[("replay_id", "999999".into())]),
            expect: [401, 404, 404, 404, 404],
        },
        Row {
            route: "deliveries/redeliver",
            call: |f, _| form(&[("id", f.delivery.to_string())]),
            expect: [401, 409, 404, 409, 403],
        },
        Row {
            route: "deliveries/detail",
            call: |f, _| form(&[("id", f.delivery.to_string())]),
            expect: [401, 200, 404, 200, 403],
        },
        Row {
            route: "subscriptions/delete",
            call: |f, role| form(&[("id", f.subscriptions_to_delete[role].to_string())]),
            expect: [401, 200, 404, 200, 403],
        },
        // Everyone's own notices.
        Row {
            route: "notifications/list",
            call: |_, _| form(&[]),
            expect: [401, 200, 200, 200, 200],
        },
        Row {
            route: "notifications/mark_read",
            call: |_, _| form(&[]),
            expect: [401, 200, 200, 200, 200],
        },
        Row {
            route: "people/list",
            call: |_, _| form(&[]),
            expect: [401, 403, 403, 200, 200],
        },
        // Each admin adds someone to their own organisation.
        Row {
            route: "people/add",
            call: |_, role| {
                Call::Json(json!({"input": {
                    "name": format!("Matrix {role}"), "email": format!("matrix{role}@example.org"),
                    "role": "lab_user"
                }}))
            },
            expect: [401, 403, 403, 200, 200],
        },
        // Setting what is already so changes nothing (the fixtures stay as they are).
        Row {
            route: "people/change_role",
            call: |f, _| {
                form(&[
                    ("user_id", f.lab_user.to_string()),
                    ("role", "lab_user".into()),
                ])
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "people/set_deactivated",
            call: |f, _| {
                form(&[
                    ("user_id", f.lab_user.to_string()),
                    ("deactivated", "false".into()),
                ])
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "people/reset_password",
            call: |f, _| form(&[("user_id", f.spare_person.to_string())]),
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            route: "people/devices",
            call: |f, _| form(&[("user_id", f.lab_user.to_string())]),
            expect: [401, 403, 403, 200, 404],
        },
        // Everyone's own API tokens; an org admin's list has the organisation's too.
        Row {
            route: "api_tokens/list",
            call: |_, _| form(&[]),
            expect: [401, 200, 200, 200, 200],
        },
        Row {
            route: "api_tokens/create",
            call: |_, role| {
                Call::Json(
                    json!({"input": {"label": format!("matrix {role}"), "scopes": ["read"], "expires_in_days": 1}}),
                )
            },
            expect: [401, 200, 200, 200, 200],
        },
        // The lab user's token: theirs, and their organisation admin's to revoke.
        Row {
            route: "api_tokens/revoke",
            call: |f, role| form(&[("id", f.api_tokens_to_revoke[role].to_string())]),
            expect: [401, 200, 404, 200, 404],
        },
        Row {
            route: "api/reference",
            call: |_, _| form(&[]),
            expect: [401, 200, 200, 200, 200],
        },
        // Public: whoever holds a link; these are no links.
        Row {
            route: "password/link",
            call: |_, _| form(&[("token", "x".repeat(43))]),
            expect: [422, 422, 422, 422, 422],
        },
        Row {
            route: "password/set",
            call: |_, _| {
                form(&[
                    ("token", "x".repeat(43)),
                    ("password", "long enough password".into()),
                ])
            },
            expect: [422, 422, 422, 422, 422],
        },
        Row {
            route: "sign_out",
            call: |_, _| form(&[]),
            expect: [200, 200, 200, 200, 200],
        },
    ]
}

/// Pages (GET): anonymous visitors are sent to sign in (303); signed-in visitors get the page
/// with the status of what it shows (its main data is loaded before the answer is sent);
/// `{id}` is the lab user's subscription.
const PAGES: &[(&str, [u16; 5])] = &[
    ("/sign-in", [200, 303, 303, 303, 303]),
    ("/", [303, 200, 200, 200, 200]),
    ("/devices", [303, 200, 200, 200, 200]),
    // The other organisation has the feature off.
    ("/subscriptions", [303, 200, 200, 200, 403]),
    ("/subscriptions/new", [303, 200, 200, 200, 403]),
    ("/subscriptions/{id}", [303, 200, 404, 200, 403]),
    ("/subscriptions/{id}/edit", [303, 200, 404, 403, 403]),
    ("/admin", [303, 403, 403, 200, 200]),
    ("/admin/audit", [303, 403, 403, 200, 200]),
    ("/users", [303, 403, 403, 200, 200]),
    ("/api-tokens", [303, 200, 200, 200, 200]),
    ("/api", [303, 200, 200, 200, 200]),
    // A link that is not valid: the page says so, to anyone.
    ("/set-password?token=not-a-link", [422, 422, 422, 422, 422]),
];

/// The backend's own routes (`server::http::ROUTES`): health for everyone; ingest only with a
/// device token, never with a session.
const BACKEND: &[(&str, &str, [u16; 5])] = &[
    ("GET", "/healthz", [200, 200, 200, 200, 200]),
    ("GET", "/readyz", [200, 200, 200, 200, 200]),
    // Served only with the operator's metrics token, which this server has none of.
    ("GET", "/metrics", [404, 404, 404, 404, 404]),
    (
        "POST",
        "/api/v1/devices/{device_id}/data_points",
        [401, 401, 401, 401, 401],
    ),
    (
        "GET",
        "/api/v1/devices/{device_id}/channels/{name}",
        [401, 401, 401, 401, 401],
    ),
    // The records' download from the audit trail and delivery log pages: administrators of
    // their own organisation's (a download, not a page: no sign-in redirect).
    (
        "GET",
        "/admin/records/{chain}/export?from=2000-01-01",
        [401, 403, 403, 200, 200],
    ),
];

async fn fixtures(app: &TestApp, lab: &Client, admin: &Client) -> Fixtures {
    let pool = &app.state.pool;
    let lab_user: i64 =
        server::db::with_db!(pool, db => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(LAB_USER.0)
        .fetch_one(db)
        .await)
        .unwrap();
    let (device, channel): (i64, i64) = server::db::with_db!(pool, db => sqlx::query_as(
        "SELECT d.id, c.id FROM device_access a JOIN devices d ON d.id = a.device_id
         JOIN channels c ON c.device_id = d.id WHERE a.user_id = $1 ORDER BY d.id, c.id LIMIT 1",
    )
    .bind(lab_user)
    .fetch_one(db)
    .await)
    .unwrap();
    let mut subscriptions = Vec::new();
    for _ in 0..6 {
        let f = Fixtures {
            device,
            channel,
            lab_user,
            subscription: 0,
            delivery: 0,
            subscriptions_to_delete: vec![],
            tokens_to_revoke: vec![],
            api_tokens_to_revoke: vec![],
            urls_to_remove: vec![],
            devices_to_delete: vec![],
            channels_to_remove: vec![],
            spare_person: 0,
        };
        let res = app
            .call_json(lab, "subscriptions/create", &json!({ "input": input(&f) }))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let id: i64 =
            server::db::with_db!(pool, db => sqlx::query_scalar("SELECT MAX(id) FROM subscriptions")
            .fetch_one(db)
            .await)
            .unwrap();
        subscriptions.push(id);
    }
    let subscription = subscriptions.remove(0);
    let mut tokens = Vec::new();
    for role in 0..5 {
        let created: Value = app
            .call_form(
                admin,
                "devices/create_token",
                &[
                    ("device_id", &device.to_string()),
                    ("label", &format!("t{role}")),
                ],
            )
            .await
            .json()
            .await
            .unwrap();
        tokens.push(created["id"].as_i64().expect("a token id"));
    }
    let mut urls = Vec::new();
    for role in 0..5 {
        let registered: Value = app
            .call_form(
                admin,
                "admin/register_url",
                &[
                    ("url", &format!("https://remove{role}.example.org/")),
                    ("note", ""),
                ],
            )
            .await
            .json()
            .await
            .unwrap();
        urls.push(registered["id"].as_i64().expect("a registered URL id"));
    }
    let mut devices_to_delete = Vec::new();
    for role in 0..5 {
        let res = app
            .call_json(
                admin,
                "devices/create",
                &json!({"input": {"name": format!("Unused {role}"), "vendor": "", "model": "",
                                  "device_class": "Custom", "channels": []}}),
            )
            .await;
        devices_to_delete.push(res.json::<i64>().await.expect("a device id"));
    }
    let mut channels_to_remove = Vec::new();
    for role in 0..5 {
        let res = app
            .call_json(
                admin,
                "devices/add_channel",
                &json!({"device_id": device, "input": {"name": format!("spare {role}"), "unit": "",
                        "value_type": "text", "min": null, "max": null, "labels": []}}),
            )
            .await;
        channels_to_remove.push(res.json::<i64>().await.expect("a channel id"));
    }
    // A delivery of the lab user's subscription: an event on its channel.
    let channel_name: String =
        server::db::with_db!(pool, db => sqlx::query_scalar("SELECT name FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_one(db)
        .await)
        .unwrap();
    server::devices::ingest::record(
        &app.state,
        device,
        None,
        vec![server::devices::ingest::RawPoint {
            channel: channel_name,
            timestamp: None,
            value: json!(1),
        }],
    )
    .await
    .ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let delivery = loop {
        let found: Option<i64> =
            server::db::with_db!(pool, db => sqlx::query_scalar("SELECT id FROM deliveries WHERE subscription_id = $1 LIMIT 1")
                .bind(subscription)
                .fetch_optional(db)
                .await)
                .unwrap();
        if let Some(id) = found {
            break id;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery was made");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    Fixtures {
        device,
        channel,
        lab_user,
        subscription,
        delivery,
        subscriptions_to_delete: subscriptions,
        tokens_to_revoke: tokens,
        api_tokens_to_revoke: {
            let mut ids = Vec::new();
            for role in 0..5 {
                let created: Value = app
                    .call_json(
                        lab,
                        "api_tokens/create",
                        &json!({"input": {"label": format!("api {role}"), "scopes": ["read"], "expires_in_days": 1}}),
                    )
                    .await
                    .json()
                    .await
                    .unwrap();
                ids.push(created["id"].as_i64().expect("an API token id"));
            }
            ids
        },
        urls_to_remove: urls,
        channels_to_remove,
        spare_person: {
            let res = app
                .call_json(
                    admin,
                    "people/add",
                    &json!({"input": {"name": "Spare", "email": "spare@demo.lab", "role": "lab_user"}}),
                )
                .await;
            res.json::<(i64, Value)>().await.expect("a person").0
        },
        devices_to_delete,
    }
}

#[tokio::test]
async fn every_door_answers_each_role_as_the_table_says() {
    let app = spawn_app().await;
    // The second lab user of the demo organisation, made as the command line makes users.
    let demo: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .fetch_one(db)
        .await)
        .unwrap();
    server::orgs::create_user(
        &app.state.pool,
        server::orgs::NewUser {
            organisation_id: demo,
            email: server::domain::Email::parse(OTHER_LAB_USER.0).unwrap(),
            name: "Second Labuser".into(),
            role: server::domain::Role::LabUser,
            password: server::domain::Password::parse(OTHER_LAB_USER.1).unwrap(),
        },
    )
    .await
    .unwrap();
    let clients = [
        client(),
        app.signed_in(LAB_USER.0, LAB_USER.1).await,
        app.signed_in(OTHER_LAB_USER.0, OTHER_LAB_USER.1).await,
        app.signed_in(ADMIN.0, ADMIN.1).await,
        app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await,
    ];
    let f = fixtures(&app, &clients[1], &clients[3]).await;

    // Every route of the app is in the table.
    let functions = server_functions();
    let listed: BTreeSet<String> = functions
        .iter()
        .map(|r| format!("/api/{}", r.route))
        .collect();
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths()
        .map(|(path, _)| path.to_owned())
        .collect();
    assert_eq!(
        registered, listed,
        "server functions and the table differ: decide who may call a new one"
    );
    let pages: BTreeSet<String> = leptos_axum::generate_route_list(app::App)
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    let listed_pages: BTreeSet<String> = PAGES
        .iter()
        .map(|(p, _)| p.split('?').next().unwrap_or(p).to_owned())
        .collect();
    assert_eq!(pages, listed_pages, "pages and the table differ");
    let backend: BTreeSet<(String, String)> = server::http::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let listed_backend: BTreeSet<(String, String)> = BACKEND
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), p.split('?').next().unwrap_or(p).to_owned()))
        .collect();
    assert_eq!(
        backend, listed_backend,
        "backend routes and the table differ"
    );

    let mut wrong = Vec::new();
    // Pages and backend routes first: the server functions end with signing out.
    for (path, expect) in PAGES {
        let path = path.replace("{id}", &f.subscription.to_string());
        for (role, c) in clients.iter().enumerate() {
            let got = c
                .get(app.url(&path))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if got != expect[role] {
                wrong.push(format!(
                    "GET {path} as {}: {got} (table: {})",
                    ROLES[role], expect[role]
                ));
            }
        }
    }
    for (method, path, expect) in BACKEND {
        let path = path
            .replace("{device_id}", &f.device.to_string())
            .replace("{name}", "weight")
            .replace("{chain}", "audit");
        for (role, c) in clients.iter().enumerate() {
            let req = match *method {
                "GET" => c.get(app.url(&path)),
                _ => c
                    .post(app.url(&path))
                    .json(&json!([{"channel": "x", "value": 1}])),
            };
            let got = req.send().await.unwrap().status().as_u16();
            if got != expect[role] {
                wrong.push(format!(
                    "{method} {path} as {}: {got} (table: {})",
                    ROLES[role], expect[role]
                ));
            }
        }
    }
    for row in &functions {
        for (role, c) in clients.iter().enumerate() {
            let req = c
                .post(app.url(&format!("/api/{}", row.route)))
                .header(header::ACCEPT, "application/json");
            let req = match (row.call)(&f, role) {
                Call::Form(pairs) => req.form(&pairs),
                Call::Json(body) => req.json(&body),
            };
            let res = req.send().await.unwrap();
            let got = res.status().as_u16();
            if got != row.expect[role] {
                let body = res.text().await.unwrap_or_default();
                wrong.push(format!(
                    "{} as {}: {got} (table: {}) {body:.200}",
                    row.route, ROLES[role], row.expect[role]
                ));
            }
            // One replay of a subscription runs at a time: the next role's start waits until
            // the dispatcher has fed this one (a slow machine may not have yet).
            if row.route == "subscriptions/replay_start" {
                wait_until_no_replay_runs(&app, f.subscription).await;
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "answers that differ from the table:\n{}",
        wrong.join("\n")
    );
}

async fn wait_until_no_replay_runs(app: &TestApp, subscription: i64) {
    for _ in 0..400 {
        let running: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
            "SELECT COUNT(*) FROM replays WHERE subscription_id = $1 AND status = 'running'",
        )
        .bind(subscription)
        .fetch_one(db)
        .await)
        .unwrap();
        if running == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the replays of subscription {subscription} were not fed in 10 s");
}
