//! `organisations`, `devices`, `channels` and `data_points` over the API: what each role may
//! read and change, with the same answers as the pages give.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{channel_id, token, Api};
use crate::helpers::{spawn_app, ADMIN, LAB_USER, OTHER_ADMIN};

fn names(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attributes"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_organisation_is_read_by_its_people_and_changed_by_its_admins() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab_api = Api::new(&app, &token(&app, &lab, &["read", "write"]).await);
    let admin_api = Api::new(&app, &token(&app, &admin, &["read", "write"]).await);
    let org: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .fetch_one(db)
        .await)
        .unwrap();
    let other: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM organisations WHERE name != 'Demo Lab'")
        .fetch_one(db)
        .await)
        .unwrap();
    let path = format!("/api/v2/organisations/{org}");

    let seen = lab_api.get(&path).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.body["data"]["attributes"]["name"], "Demo Lab");
    assert_eq!(
        seen.body["data"]["attributes"]["settings"],
        json!({"features": ["webhooks"]}),
        "no registered URLs for lab users"
    );
    assert_eq!(
        lab_api
            .get(&format!("/api/v2/organisations/{other}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let listed = lab_api.get("/api/v2/organisations").await;
    assert_eq!(listed.body["meta"]["recordsTotal"], 1);

    let admin_view = admin_api.get(&path).await;
    let approved =
        admin_view.body["data"]["attributes"]["settings"]["security"]["approvedWebhooks"].clone();
    assert_eq!(
        approved,
        json!([
            "http://127.0.0.1:9999/",
            "https://lims.demo-lab.example/api/"
        ])
    );

    let change = |features: Value, urls: Value| {
        json!({"data": {"type": "organisation",
        "attributes": {"settings": {"features": features, "security": {"approvedWebhooks": urls}}}}})
    };
    let refused = lab_api
        .patch(&path, &change(json!([]), approved.clone()))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let bad = admin_api
        .patch(
            &path,
            &change(
                json!(["webhooks"]),
                json!(["http://127.0.0.1:9999/", "not a url"]),
            ),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.body["errors"][0]["source"]["pointer"],
        "/data/attributes/settings/security/approvedWebhooks/1"
    );
    assert_eq!(
        app.count(&format!("registered_urls WHERE organisation_id = {org}"))
            .await,
        2,
        "nothing changed"
    );
    let other_path = format!("/api/v2/organisations/{other}");
    assert_eq!(
        admin_api
            .patch(&other_path, &change(json!([]), json!([])))
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Switched off, the feature refuses the subscriptions API; one URL dropped, one added.
    let off = admin_api
        .patch(
            &path,
            &change(
                json!([]),
                json!(["http://127.0.0.1:9999/", "https://lims2.demo-lab.example/"]),
            ),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(
        off.body["data"]["attributes"]["settings"],
        json!({"features": [],
        "security": {"approvedWebhooks": ["http://127.0.0.1:9999/", "https://lims2.demo-lab.example/"]}})
    );
    assert_eq!(
        lab_api.get("/api/v2/webhook_subscriptions").await.status,
        StatusCode::FORBIDDEN
    );
    let on = admin_api
        .patch(
            &path,
            &json!({"data": {"attributes": {"settings": {"features": ["webhooks"]}}}}),
        )
        .await;
    assert_eq!(
        on.body["data"]["attributes"]["settings"]["features"],
        json!(["webhooks"])
    );
    assert_eq!(
        lab_api.get("/api/v2/webhook_subscriptions").await.status,
        StatusCode::OK
    );
    let audited: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE organisation_id = $1")
            .bind(org)
            .fetch_one(db)
            .await)
            .unwrap();
    assert!(
        audited >= 4,
        "switching and registering are audited as on the page"
    );
}

#[tokio::test]
async fn devices_channels_and_data_points_are_what_the_user_may_see() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab_api = Api::new(&app, &token(&app, &lab, &["read"]).await);
    let admin_api = Api::new(&app, &token(&app, &admin, &["read"]).await);
    let other = app.signed_in(OTHER_ADMIN.0, OTHER_ADMIN.1).await;
    let other_api = Api::new(&app, &token(&app, &other, &["read"]).await);

    let lab_devices = lab_api.get("/api/v2/devices?page[size]=100").await;
    assert_eq!(lab_devices.status, StatusCode::OK);
    assert_eq!(
        names(&lab_devices.body),
        [
            "Analytical Balance XPR204",
            "Barcode Scanner Bench 2",
            "CO2 Incubator Heracell",
            "Density Meter DMA 4500 M",
            "Hotplate Stirrer RCT digital"
        ]
    );
    assert_eq!(
        admin_api.get("/api/v2/devices").await.body["meta"]["recordsTotal"],
        9
    );
    let centrifuge: i64 =
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM devices WHERE name = 'Centrifuge 5425'")
            .fetch_one(db)
            .await)
            .unwrap();
    assert_eq!(
        lab_api
            .get(&format!("/api/v2/devices/{centrifuge}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other_api
            .get(&format!("/api/v2/devices/{centrifuge}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let shown = admin_api
        .get(&format!("/api/v2/devices/{centrifuge}?include=channels"))
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(
        shown.body["data"]["relationships"]["channels"]["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(shown.body["included"][1]["attributes"]["type_sym"], "enum");
    assert_eq!(
        shown.body["included"][1]["attributes"]["specific_attributes"]["enumLabels"],
        json!(["closed", "open"])
    );
    let paged = lab_api
        .get("/api/v2/devices?page[size]=2&page[number]=3")
        .await;
    assert_eq!(
        paged.body["meta"],
        json!({"pageNumber": 3, "pageSize": 2, "pagesTotal": 3,
        "recordsTotal": 5, "recordsSize": 1, "recordsOrder": [paged.body["data"][0]["id"].as_str().unwrap().parse::<i64>().unwrap()]})
    );

    let hotplate = channel_id(&app, "Hotplate Stirrer RCT digital", "temperature").await;
    let device: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT device_id FROM channels WHERE id = $1")
        .bind(hotplate)
        .fetch_one(db)
        .await)
        .unwrap();
    let channels = lab_api
        .get(&format!(
            "/api/v2/channels?filter[device_id]={device}&include=device"
        ))
        .await;
    assert_eq!(names(&channels.body), ["temperature", "rotation"]);
    assert_eq!(
        channels.body["included"][0]["attributes"]["name"],
        "Hotplate Stirrer RCT digital"
    );
    let lid = channel_id(&app, "Centrifuge 5425", "lid").await;
    assert_eq!(
        lab_api.get(&format!("/api/v2/channels/{lid}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Data points sent by the device come back, by time, in the reference's quadruples.
    let device_token = app.device_token(&admin, device).await;
    let t0 = server::clock::now_ms() - 60_000;
    let points: Vec<Value> = (0..5)
        .map(|i| json!({"channel": "temperature", "value": 20.0 + i as f64, "timestamp": server::clock::rfc3339(t0 + i * 1000)}))
        .collect();
    let (status, _) = app.send_points(device, &device_token, &json!(points)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let from = server::clock::rfc3339(t0 + 1000);
    let got = lab_api
        .get(&format!("/api/v2/data_points?filter[data_points][channel_id]={hotplate}&filter[timestamp]={from},&page[size]=3"))
        .await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.body);
    assert_eq!(
        got.body["data"],
        json!([
            [t0 + 1000, 21.0, null, hotplate],
            [t0 + 2000, 22.0, null, hotplate],
            [t0 + 3000, 23.0, null, hotplate]
        ])
    );
    assert_eq!(got.body["meta"]["recordsTotal"], 4);
    assert_eq!(got.body["meta"]["pagesTotal"], 2);
    let newest = lab_api
        .get(&format!(
            "/api/v2/data_points?filter[channel_id]={hotplate}&sort=-timestamp&page[size]=1"
        ))
        .await;
    assert_eq!(newest.body["data"][0][1], 24.0);
    // A channel the user may not see; a window that is not one.
    assert_eq!(
        lab_api
            .get(&format!("/api/v2/data_points?filter[channel_id]={lid}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let bad = lab_api
        .get(&format!(
            "/api/v2/data_points?filter[channel_id]={hotplate}&filter[timestamp]=yesterday"
        ))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.body["errors"][0]["source"]["parameter"],
        "filter[timestamp]"
    );
    // Numbers past the calendar are refused in words, never overflowed.
    let extreme = lab_api
        .get(&format!(
            "/api/v2/data_points?filter[channel_id]={hotplate}&filter[timestamp]=,-9223372036854775808"
        ))
        .await;
    assert_eq!(extreme.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        extreme.body["errors"][0]["source"]["parameter"],
        "filter[timestamp]"
    );
}
