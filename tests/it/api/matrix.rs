//! The authorisation matrix of the API v2: every route × (no token, the lab user who owns the
//! objects, another lab user of the organisation, its org admin, the admin of another
//! organisation), each with a token of every scope. A route missing from the table fails the
//! test. The answers are the pages' (`tests/it/matrix.rs`): same services, same rules.

use std::collections::BTreeSet;

use reqwest::{Client, Method};
use serde_json::{json, Value};

use super::{channel_id, token};
use crate::helpers::{spawn_app, TestApp, ADMIN, LAB_USER, OTHER_ADMIN};

const OTHER_LAB_USER: (&str, &str) = ("lab2@demo.lab", "second-lab-pass");

struct Fixtures {
    subscription: String,
    to_delete: Vec<String>,
    replays: Vec<String>,
    delivery: String,
    device: i64,
    channel: i64,
    organisation: i64,
}

struct Row {
    method: Method,
    /// The route as the router names it.
    route: &'static str,
    path: fn(&Fixtures, usize) -> String,
    body: fn(&Fixtures) -> Option<Value>,
    expect: [u16; 5],
}

fn none(_: &Fixtures) -> Option<Value> {
    None
}

fn rows() -> Vec<Row> {
    use Method as M;
    vec![
        Row {
            method: M::GET,
            route: "/api/v2/webhook_subscriptions",
            path: |_, _| "/api/v2/webhook_subscriptions".into(),
            body: none,
            // The other organisation has the feature off.
            expect: [401, 200, 200, 200, 403],
        },
        // Another lab user may not subscribe to a device they were not granted.
        Row {
            method: M::POST,
            route: "/api/v2/webhook_subscriptions",
            path: |_, _| "/api/v2/webhook_subscriptions".into(),
            body: |f| Some(super::new_subscription(f.channel, "matrix")),
            expect: [401, 200, 422, 200, 403],
        },
        Row {
            method: M::GET,
            route: "/api/v2/webhook_subscriptions/{id}",
            path: |f, _| format!("/api/v2/webhook_subscriptions/{}", f.subscription),
            body: none,
            expect: [401, 200, 404, 200, 403],
        },
        // Only the owner changes it (an admin may switch it off: see the subscriptions tests).
        Row {
            method: M::PATCH,
            route: "/api/v2/webhook_subscriptions/{id}",
            path: |f, _| format!("/api/v2/webhook_subscriptions/{}", f.subscription),
            body: |_| Some(json!({"data": {"attributes": {"display_name": "Matrix"}}})),
            expect: [401, 200, 404, 403, 403],
        },
        Row {
            method: M::DELETE,
            route: "/api/v2/webhook_subscriptions/{id}",
            path: |f, role| format!("/api/v2/webhook_subscriptions/{}", f.to_delete[role]),
            body: none,
            expect: [401, 200, 404, 200, 403],
        },
        Row {
            method: M::POST,
            route: "/api/v2/webhook_subscriptions/{id}/test_event",
            path: |f, _| {
                format!(
                    "/api/v2/webhook_subscriptions/{}/test_event",
                    f.subscription
                )
            },
            body: none,
            expect: [401, 202, 404, 202, 403],
        },
        Row {
            method: M::POST,
            route: "/api/v2/webhook_subscriptions/{id}/rotate_secret",
            path: |f, _| {
                format!(
                    "/api/v2/webhook_subscriptions/{}/rotate_secret",
                    f.subscription
                )
            },
            body: none,
            expect: [401, 200, 404, 403, 403],
        },
        Row {
            method: M::GET,
            route: "/api/v2/webhook_subscriptions/{id}/replays",
            path: |f, _| format!("/api/v2/webhook_subscriptions/{}/replays", f.subscription),
            body: none,
            expect: [401, 200, 404, 200, 403],
        },
        Row {
            method: M::POST,
            route: "/api/v2/webhook_subscriptions/{id}/replays",
            path: |f, _| format!("/api/v2/webhook_subscriptions/{}/replays", f.subscription),
            body: |_| {
                Some(json!({"data": {"attributes": {
                "since": server::clock::rfc3339(server::clock::now_ms() - 3_600_000),
                "until": server::clock::rfc3339(server::clock::now_ms() + 60_000), "preview": true}}}))
            },
            expect: [401, 200, 404, 200, 403],
        },
        Row {
            method: M::DELETE,
            route: "/api/v2/replays/{id}",
            path: |f, role| format!("/api/v2/replays/{}", f.replays[role]),
            body: none,
            expect: [401, 200, 404, 200, 404],
        },
        Row {
            method: M::GET,
            route: "/api/v2/webhook_logs",
            path: |_, _| "/api/v2/webhook_logs".into(),
            body: none,
            expect: [401, 200, 200, 200, 403],
        },
        Row {
            method: M::GET,
            route: "/api/v2/webhook_logs/{id}",
            path: |f, _| format!("/api/v2/webhook_logs/{}", f.delivery),
            body: none,
            expect: [401, 200, 404, 200, 403],
        },
        // Still being retried: nobody may queue it twice; others do not find it.
        Row {
            method: M::POST,
            route: "/api/v2/webhook_logs/{id}/redeliver",
            path: |f, _| format!("/api/v2/webhook_logs/{}/redeliver", f.delivery),
            body: none,
            expect: [401, 409, 404, 409, 403],
        },
        Row {
            method: M::GET,
            route: "/api/v2/organisations",
            path: |_, _| "/api/v2/organisations".into(),
            body: none,
            expect: [401, 200, 200, 200, 200],
        },
        Row {
            method: M::GET,
            route: "/api/v2/organisations/{id}",
            path: |f, _| format!("/api/v2/organisations/{}", f.organisation),
            body: none,
            expect: [401, 200, 200, 200, 404],
        },
        // Setting the feature to what it is: only its admins may.
        Row {
            method: M::PATCH,
            route: "/api/v2/organisations/{id}",
            path: |f, _| format!("/api/v2/organisations/{}", f.organisation),
            body: |_| {
                Some(json!({"data": {"attributes": {"settings": {"features": ["webhooks"]}}}}))
            },
            expect: [401, 403, 403, 200, 404],
        },
        Row {
            method: M::GET,
            route: "/api/v2/devices",
            path: |_, _| "/api/v2/devices".into(),
            body: none,
            expect: [401, 200, 200, 200, 200],
        },
        Row {
            method: M::GET,
            route: "/api/v2/devices/{id}",
            path: |f, _| format!("/api/v2/devices/{}", f.device),
            body: none,
            expect: [401, 200, 404, 200, 404],
        },
        Row {
            method: M::GET,
            route: "/api/v2/channels",
            path: |_, _| "/api/v2/channels".into(),
            body: none,
            expect: [401, 200, 200, 200, 200],
        },
        Row {
            method: M::GET,
            route: "/api/v2/channels/{id}",
            path: |f, _| format!("/api/v2/channels/{}", f.channel),
            body: none,
            expect: [401, 200, 404, 200, 404],
        },
        Row {
            method: M::GET,
            route: "/api/v2/data_points",
            path: |f, _| format!("/api/v2/data_points?filter[channel_id]={}", f.channel),
            body: none,
            expect: [401, 200, 404, 200, 404],
        },
        // Public, like any API's reference.
        Row {
            method: M::GET,
            route: "/api/v2/openapi.json",
            path: |_, _| "/api/v2/openapi.json".into(),
            body: none,
            expect: [200, 200, 200, 200, 200],
        },
        Row {
            method: M::GET,
            route: "/api/v2/records/{chain}/export",
            path: |_, _| "/api/v2/records/audit/export?from=2000-01-01".into(),
            body: none,
            // The organisation's whole records: its administrators' business.
            expect: [401, 403, 403, 200, 200],
        },
    ]
}

async fn fixtures(app: &TestApp, lab: &str, admin: &Client) -> Fixtures {
    let http = Client::new();
    let channel = channel_id(app, "Barcode Scanner Bench 2", "barcode").await;
    let create = || async {
        let res = http
            .post(app.url("/api/v2/webhook_subscriptions"))
            .bearer_auth(lab)
            .body(super::new_subscription(channel, "matrix").to_string())
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        body["data"]["id"]
            .as_str()
            .expect("a subscription")
            .to_owned()
    };
    let subscription = create().await;
    let mut to_delete = Vec::new();
    for _ in 0..5 {
        to_delete.push(create().await);
    }
    let device: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT device_id FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_one(db)
        .await)
        .unwrap();
    let device_token = app.device_token(admin, device).await;
    app.send_points(
        device,
        &device_token,
        &json!([{"channel": "barcode", "value": "M-1"}]),
    )
    .await;
    app.wait_for_fan_out().await;
    let delivery: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT MIN(id) FROM deliveries WHERE subscription_id = $1")
            .bind(subscription.parse::<i64>().unwrap())
            .fetch_one(db)
            .await)
            .unwrap();
    let mut replays = Vec::new();
    for _ in 0..5 {
        let res = http
            .post(app.url(&format!(
                "/api/v2/webhook_subscriptions/{subscription}/replays"
            )))
            .bearer_auth(lab)
            .body(
                json!({"data": {"attributes": {
                "since": server::clock::rfc3339(server::clock::now_ms() - 3_600_000),
                "until": server::clock::rfc3339(server::clock::now_ms() + 60_000)}}})
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        let body: Value = res.json().await.unwrap();
        let replay = body["data"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("a replay, not {body}"))
            .to_owned();
        // One replay of a subscription runs at a time: the next starts once the dispatcher
        // has fed this one.
        wait_until_replay_done(app, &replay).await;
        replays.push(replay);
    }
    Fixtures {
        subscription,
        to_delete,
        replays,
        delivery: delivery.to_string(),
        device,
        channel,
        organisation: server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
            .fetch_one(db)
            .await)
            .unwrap(),
    }
}

async fn wait_until_replay_done(app: &TestApp, replay: &str) {
    for _ in 0..400 {
        let status: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT status FROM replays WHERE id = $1")
            .bind(replay.parse::<i64>().unwrap())
            .fetch_one(db)
            .await)
            .unwrap();
        if status != "running" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("replay {replay} was not fed in 10 s");
}

#[tokio::test]
async fn every_api_route_answers_each_role_as_the_table_says() {
    let app = spawn_app().await;
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
    let all = ["read", "write", "delete"];
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let tokens = [
        String::new(),
        token(&app, &app.signed_in(LAB_USER.0, LAB_USER.1).await, &all).await,
        token(
            &app,
            &app.signed_in(OTHER_LAB_USER.0, OTHER_LAB_USER.1).await,
            &all,
        )
        .await,
        token(&app, &admin, &all).await,
        token(
            &app,
            &app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await,
            &all,
        )
        .await,
    ];
    let f = fixtures(&app, &tokens[1], &admin).await;

    let rows = rows();
    let listed: BTreeSet<(String, String)> = rows
        .iter()
        .map(|r| (r.method.to_string(), r.route.to_owned()))
        .collect();
    let routes: BTreeSet<(String, String)> = server::http::api_v2::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        routes, listed,
        "API routes and the table differ: decide who may call a new one"
    );

    let http = Client::new();
    let mut wrong = Vec::new();
    for row in &rows {
        for (role, token) in tokens.iter().enumerate() {
            let path = (row.path)(&f, role);
            let mut req = http.request(row.method.clone(), app.url(&path));
            if !token.is_empty() {
                req = req.bearer_auth(token);
            }
            if let Some(body) = (row.body)(&f) {
                req = req.body(body.to_string());
            }
            let got = req.send().await.unwrap().status().as_u16();
            if got != row.expect[role] {
                wrong.push(format!(
                    "{} {path} with the token of {}: {got} (table: {})",
                    row.method,
                    [
                        "nobody",
                        "the lab user",
                        "another lab user",
                        "the org admin",
                        "another organisation's admin"
                    ][role],
                    row.expect[role]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
