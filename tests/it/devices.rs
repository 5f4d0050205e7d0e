use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{error_of, spawn_app, TestApp, ADMIN, LAB_USER, OTHER_ADMIN};

async fn device_names(app: &TestApp, c: &reqwest::Client) -> Vec<String> {
    let res = app.call_form(c, "devices/list", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let list: Vec<Value> = res.json().await.unwrap();
    list.iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect()
}

async fn device_id(app: &TestApp, name: &str) -> i64 {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM devices WHERE name = $1")
        .bind(name)
        .fetch_one(db)
        .await)
        .unwrap()
}

#[tokio::test]
async fn a_lab_user_sees_only_granted_devices_and_an_admin_sees_all() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    assert_eq!(device_names(&app, &admin).await.len(), 9);
    let visible = device_names(&app, &lab).await;
    assert_eq!(
        visible,
        [
            "Analytical Balance XPR204",
            "Barcode Scanner Bench 2",
            "CO2 Incubator Heracell",
            "Density Meter DMA 4500 M",
            "Hotplate Stirrer RCT digital"
        ]
    );
    assert!(!visible.contains(&"Centrifuge 5425".to_owned()));
}

#[tokio::test]
async fn device_administration_is_for_org_admins_of_the_same_organisation() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let other = app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await;
    let balance = device_id(&app, "Analytical Balance XPR204")
        .await
        .to_string();
    let centrifuge = device_id(&app, "Centrifuge 5425").await.to_string();

    // A lab user: refused, even for a device they can see.
    for (f, args) in [
        ("devices/access", vec![("device_id", balance.as_str())]),
        ("devices/tokens", vec![("device_id", balance.as_str())]),
        (
            "devices/create_token",
            vec![("device_id", balance.as_str()), ("label", "x")],
        ),
    ] {
        let (status, body) = error_of(app.call_form(&lab, f, &args).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{f}");
        assert_eq!(
            body["Forbidden"],
            "Only an organisation administrator can do this."
        );
    }

    // Another organisation's admin: the device does not exist for them.
    for (f, args) in [
        ("devices/access", vec![("device_id", centrifuge.as_str())]),
        ("devices/tokens", vec![("device_id", centrifuge.as_str())]),
        (
            "devices/create_token",
            vec![("device_id", centrifuge.as_str()), ("label", "x")],
        ),
        (
            "devices/revoke_token",
            vec![("device_id", centrifuge.as_str()), ("token_id", "1")],
        ),
        (
            "devices/set_access",
            vec![
                ("device_id", centrifuge.as_str()),
                ("user_id", "2"),
                ("granted", "true"),
            ],
        ),
    ] {
        let (status, body) = error_of(app.call_form(&other, f, &args).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{f}");
        assert_eq!(body["NotFound"], "Device not found.");
    }
    let names = device_names(&app, &other).await;
    assert_eq!(names, ["Ultra-Low Freezer", "UV-Vis Spectrophotometer"]);
    assert_eq!(app.count("device_tokens").await, 0);
}

#[tokio::test]
async fn granting_and_revoking_access_changes_what_a_lab_user_sees() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let centrifuge = device_id(&app, "Centrifuge 5425").await.to_string();

    let grants: Vec<Value> = app
        .call_form(&admin, "devices/access", &[("device_id", &centrifuge)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0]["email"], "lab@demo.lab");
    assert_eq!(grants[0]["granted"], false);
    let lab_id = grants[0]["user_id"].to_string();

    let res = app
        .call_form(
            &admin,
            "devices/set_access",
            &[
                ("device_id", &centrifuge),
                ("user_id", &lab_id),
                ("granted", "true"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(device_names(&app, &lab)
        .await
        .contains(&"Centrifuge 5425".to_owned()));

    let res = app
        .call_form(
            &admin,
            "devices/set_access",
            &[
                ("device_id", &centrifuge),
                ("user_id", &lab_id),
                ("granted", "false"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!device_names(&app, &lab)
        .await
        .contains(&"Centrifuge 5425".to_owned()));

    // Users of another organisation cannot be granted anything.
    let other_admin_id: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(OTHER_ADMIN.0)
        .fetch_one(db)
        .await)
        .unwrap();
    let (status, _) = error_of(
        app.call_form(
            &admin,
            "devices/set_access",
            &[
                ("device_id", &centrifuge),
                ("user_id", &other_admin_id.to_string()),
                ("granted", "true"),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_device_token_is_shown_once_and_works_for_ingest() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let scanner = device_id(&app, "Barcode Scanner Bench 2").await;
    let created: Value = app
        .call_form(
            &admin,
            "devices/create_token",
            &[
                ("device_id", &scanner.to_string()),
                ("label", "Bench connector"),
            ],
        )
        .await
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("lhd_"));

    // The list never contains the secret again.
    let listed = app
        .call_form(
            &admin,
            "devices/tokens",
            &[("device_id", &scanner.to_string())],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(&token));
    assert!(listed.contains("Bench connector"));

    let res = reqwest::Client::new()
        .post(app.url(&format!("/api/v1/devices/{scanner}/data_points")))
        .bearer_auth(&token)
        .json(&serde_json::json!([{"channel": "barcode", "value": "LAB-00000042"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let list: Vec<Value> = app
        .call_form(&lab, "devices/list", &[])
        .await
        .json()
        .await
        .unwrap();
    let scanner_view = list.iter().find(|d| d["id"] == scanner).unwrap();
    assert_eq!(scanner_view["online"], true);
    assert_eq!(scanner_view["channels"][0]["last_value"], "LAB-00000042");
}

/// Access holds at send time: revoking it stops the lab user's webhooks of that device at
/// once (pending ones cancelled, new events not fanned out), the subscription shows why, the
/// audit trail records it, and granting access again does not revive the triggers.
#[tokio::test]
async fn revoking_access_stops_webhooks_of_that_device_and_granting_again_does_not_revive_them() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let centrifuge = device_id(&app, "Centrifuge 5425").await;
    let lab_id: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(LAB_USER.0)
        .fetch_one(db)
        .await)
        .unwrap();
    let set_access = |granted: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let res = app
                .call_form(
                    admin,
                    "devices/set_access",
                    &[
                        ("device_id", &centrifuge.to_string()),
                        ("user_id", &lab_id.to_string()),
                        ("granted", granted),
                    ],
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    set_access("true").await;
    let rotation: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM channels WHERE device_id = $1 AND name = 'rotation'")
            .bind(centrifuge)
            .fetch_one(db)
            .await)
            .unwrap();
    // The demo's registered URL, where nothing listens: deliveries stay pending (retrying).
    let res = app
        .call_json(
            &lab,
            "subscriptions/create",
            &serde_json::json!({"input": {
                "display_name": "Spin log", "url": "http://127.0.0.1:9999/spins", "headers": [],
                "triggers": [{"channel_id": rotation, "event_type": "data_point.created"}]
            }}),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
    let subscription: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM subscriptions")
        .fetch_one(db)
        .await)
        .unwrap();
    let token = app.device_token(&admin, centrifuge).await;
    let send = |value: f64| {
        let (app, token) = (&app, &token);
        async move {
            let (status, _) = app
                .send_points(
                    centrifuge,
                    token,
                    &json!([{"channel": "rotation", "value": value}]),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED);
            app.wait_for_fan_out().await;
        }
    };
    let deliveries = || async {
        server::db::with_db!(&app.state.pool, db => sqlx::query_as::<_, (String,)>("SELECT status FROM deliveries ORDER BY id")
            .fetch_all(db)
            .await)
            .unwrap()
            .into_iter()
            .map(|(s,)| s)
            .collect::<Vec<_>>()
    };

    send(1000.0).await;
    assert_eq!(deliveries().await.len(), 1);

    set_access("false").await;
    // Waiting for a retry, it is cancelled at once; if its attempt was in flight right then,
    // it is cancelled when it falls due again (the retry after 5 s) instead of being sent.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while deliveries().await != ["cancelled"] {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            deliveries().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let attempts: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM delivery_attempts")
        .fetch_one(db)
        .await)
        .unwrap();
    assert!(attempts <= 1, "nothing was sent after the revocation");
    send(2000.0).await;
    assert_eq!(
        deliveries().await.len(),
        1,
        "nothing new for a device it cannot see"
    );

    let shown: Value = app
        .call_form(
            &lab,
            "subscriptions/get",
            &[("id", &subscription.to_string())],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["triggers"][0]["lost_access"],
        "access to Centrifuge 5425 was revoked"
    );
    let audited: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'triggers no longer accessible'",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    assert_eq!(audited, 1);

    set_access("true").await;
    send(3000.0).await;
    assert_eq!(
        deliveries().await.len(),
        1,
        "access granted again revives nothing"
    );
}

/// An archived device is hidden from the picker and from lab users, sends nothing (its token
/// is refused with the reason), keeps its history, and comes back when restored. A device
/// with data cannot be deleted (the answer says to archive it); an unused one can. Each change
/// is audited.
#[tokio::test]
async fn archive_restore_and_delete_a_device() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let lab_id: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(LAB_USER.0)
        .fetch_one(db)
        .await)
        .unwrap();
    let (device, name): (i64, String) = server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT d.id, d.name FROM device_access a JOIN devices d ON d.id = a.device_id
         WHERE a.user_id = $1 ORDER BY d.id LIMIT 1",
    )
    .bind(lab_id)
    .fetch_one(db)
    .await)
    .unwrap();
    let token = app.device_token(&admin, device).await;
    let channel: String =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT name FROM channels WHERE device_id = $1 ORDER BY id LIMIT 1")
            .bind(device)
            .fetch_one(db)
            .await)
            .unwrap();
    let value_of_channel: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT value_type FROM channels WHERE device_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(device)
    .fetch_one(db)
    .await)
    .unwrap();
    let sample = match value_of_channel.as_str() {
        "float" => serde_json::json!(1.0),
        "boolean" => serde_json::json!(true),
        "enum" => {
            let labels: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
                "SELECT enum_labels FROM channels WHERE device_id = $1 ORDER BY id LIMIT 1",
            )
            .bind(device)
            .fetch_one(db)
            .await)
            .unwrap();
            serde_json::from_str::<Vec<String>>(&labels).unwrap()[0]
                .clone()
                .into()
        }
        _ => serde_json::json!("S-1"),
    };
    let send = || async {
        reqwest::Client::new()
            .post(app.url(&format!("/api/v1/devices/{device}/data_points")))
            .bearer_auth(&token)
            .json(&serde_json::json!([{"channel": channel, "value": sample}]))
            .send()
            .await
            .unwrap()
    };
    assert_eq!(send().await.status(), StatusCode::ACCEPTED);

    let archive = |archived: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let res = app
                .call_form(
                    admin,
                    "devices/set_archived",
                    &[("device_id", &device.to_string()), ("archived", archived)],
                )
                .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    archive("true").await;
    assert!(
        !device_names(&app, &lab).await.contains(&name),
        "hidden from the lab user"
    );
    let catalogue = app
        .call_form(&admin, "subscriptions/catalogue", &[])
        .await
        .text()
        .await
        .unwrap();
    assert!(!catalogue.contains(&name), "hidden from the picker");
    let admin_list: Vec<Value> = app
        .call_form(&admin, "devices/list", &[])
        .await
        .json()
        .await
        .unwrap();
    let shown = admin_list
        .iter()
        .find(|d| d["id"] == device)
        .expect("admins still see it");
    assert_eq!(shown["archived"], true);
    let refused = send().await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.unwrap().contains("archived"));

    let (status, body) = error_of(
        app.call_form(
            &admin,
            "devices/delete",
            &[("device_id", &device.to_string())],
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.to_string().contains("Archive it instead"), "{body}");

    archive("false").await;
    assert!(device_names(&app, &lab).await.contains(&name));
    assert_eq!(
        send().await.status(),
        StatusCode::ACCEPTED,
        "it sends again"
    );

    // One made by mistake goes for good.
    let unused: i64 = app
        .call_json(
            &admin,
            "devices/create",
            &serde_json::json!({"input": {"name": "Made by mistake", "vendor": "", "model": "",
                                          "device_class": "Custom", "channels": []}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .call_form(
            &admin,
            "devices/delete",
            &[("device_id", &unused.to_string())],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!device_names(&app, &admin)
        .await
        .contains(&"Made by mistake".to_owned()));
    let actions: Vec<String> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE kind = 'device' AND action IN ('archived', 'restored', 'deleted', 'created') ORDER BY id",
    )
    .fetch_all(db)
    .await)
    .unwrap();
    assert_eq!(actions, ["archived", "restored", "created", "deleted"]);
}

/// An org admin renames a device or changes its details under the creation rules (a name
/// taken in the organisation is refused, whatever its case); the change is audited.
#[tokio::test]
async fn an_admin_edits_a_devices_details() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let centrifuge = device_id(&app, "Centrifuge 5425").await;
    let update = |name: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            app.call_json(
                admin,
                "devices/update",
                &serde_json::json!({"device_id": centrifuge, "input": {
                    "name": name, "vendor": "Eppendorf", "model": "5425 R", "device_class": "custom"
                }}),
            )
            .await
        }
    };
    let (status, body) = error_of(update("hotplate stirrer rct digital").await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("exists already"), "{body}");
    assert_eq!(update("Centrifuge 5425 R").await.status(), StatusCode::OK);
    let (name, model, class): (String, String, String) =
        server::db::with_db!(&app.state.pool, db => sqlx::query_as("SELECT name, model, device_class FROM devices WHERE id = $1")
            .bind(centrifuge)
            .fetch_one(db)
            .await)
            .unwrap();
    assert_eq!(
        (name.as_str(), model.as_str(), class.as_str()),
        ("Centrifuge 5425 R", "5425 R", "Custom")
    );
    let audited: String = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT before || ' → ' || after FROM audit_log WHERE action = 'updated' AND kind = 'device'",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    assert!(
        audited.contains("Centrifuge 5425\"") && audited.contains("Centrifuge 5425 R"),
        "{audited}"
    );
}

/// A token revoked by another writer of the database — another instance on the same Postgres
/// — stores nothing from the next request on, although this server found it valid a moment
/// ago (and keeps valid tokens in memory): ingest looks its tokens up again in its own
/// transaction.
#[tokio::test]
async fn a_token_revoked_behind_this_server_s_back_stores_nothing() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let hotplate = device_id(&app, "Hotplate Stirrer RCT digital").await;
    let token = app.device_token(&admin, hotplate).await;
    let point = json!([{"channel": "temperature", "value": 40.5}]);
    let (status, _) = app.send_points(hotplate, &token, &point).await;
    assert_eq!(status, StatusCode::ACCEPTED, "valid, and now remembered");

    let mut other_writer = app.state.pool.begin_write().await.unwrap();
    server::db::with_db!(&mut *other_writer, db => sqlx::query(
        "UPDATE device_tokens SET revoked_at = 1 WHERE device_id = $1 AND revoked_at IS NULL",
    )
    .bind(hotplate)
    .execute(db)
    .await
    .map(drop))
    .unwrap();
    other_writer.commit().await.unwrap();

    let stored = || async {
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM data_points p JOIN channels c ON c.id = p.channel_id
             WHERE c.device_id = $1",
        )
        .bind(hotplate)
        .fetch_one(db)
        .await)
        .unwrap()
    };
    let before = stored().await;
    let (status, body) = app.send_points(hotplate, &token, &point).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(stored().await, before, "nothing stored");
}
