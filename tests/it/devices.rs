use reqwest::StatusCode;
use serde_json::Value;

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
    sqlx::query_scalar("SELECT id FROM devices WHERE name = ?")
        .bind(name)
        .fetch_one(&app.state.pool)
        .await
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
    let other_admin_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE email = ?")
        .bind(OTHER_ADMIN.0)
        .fetch_one(&app.state.pool)
        .await
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
