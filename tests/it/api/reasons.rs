//! Reasons for changes through the doors people use: the pages' server functions, the API v2
//! (`meta.reason`, 422 with a pointer to it) and the readable export, which shows each reason
//! and the organisation's time zone beside UTC.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{channel_id, new_subscription, token, Api};
use crate::helpers::{spawn_app, ADMIN};

const WHY: &str = "CAPA-112: the QC LIMS moves to its new host tonight";

#[tokio::test]
async fn once_required_every_door_asks_for_a_reason_and_the_export_shows_it() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let api = Api::new(
        &app,
        &token(&app, &admin, &["read", "write", "delete"]).await,
    );
    let channel = channel_id(&app, "Barcode Scanner Bench 2", "barcode").await;
    let created = api
        .post(
            "/api/v2/webhook_subscriptions",
            &new_subscription(channel, "qc"),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v2/webhook_subscriptions/{id}");

    // The pages' door: the org admin requires reasons (no reason needed to require them) and
    // sets the time zone the readable copies use.
    for (f, form) in [
        ("admin/set_reasons_required", vec![("required", "true")]),
        (
            "admin/set_time_zone",
            vec![
                ("zone", "Europe/Vienna"),
                ("reason", "Our site is in Vienna"),
            ],
        ),
    ] {
        let res = app.call_form(&admin, f, &form).await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "{f}: {}",
            res.text().await.unwrap()
        );
    }
    let me: serde_json::Value = app
        .call_form(&admin, "who_am_i", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["reasons_required"], true);
    let res = app
        .call_form(
            &admin,
            "admin/register_url",
            &[("url", "https://lims.example.org/"), ("note", "QC")],
        )
        .await;
    assert!(res.status().is_client_error(), "{}", res.status());
    let text = res.text().await.unwrap();
    assert!(
        text.contains("requires a reason for every change"),
        "{text}"
    );

    // The API's door: each change without `meta.reason` is refused with a pointer to it, and
    // changes nothing.
    let off = json!({"data": {"type": "webhook_subscription", "id": id, "attributes": {"active": false}}});
    for (method, at, body) in [
        (
            Method::POST,
            "/api/v2/webhook_subscriptions".to_owned(),
            Some(new_subscription(channel, "another")),
        ),
        (Method::PATCH, path.clone(), Some(off.clone())),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/rotate_secret"), None),
    ] {
        let answer = api.call(method.clone(), &at, body.as_ref()).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {at}: {:?}",
            answer.body
        );
        assert_eq!(
            answer.body["errors"][0]["source"]["pointer"], "/meta/reason",
            "{:?}",
            answer.body
        );
        assert!(
            answer.detail().contains("requires a reason"),
            "{}",
            answer.detail()
        );
    }
    let still = api.get(&path).await;
    assert_eq!(still.body["data"]["attributes"]["active"], true);
    // A reason that is not text, or is too long, is named the same way.
    for reason in [json!(7), json!("x".repeat(501))] {
        let mut body = off.clone();
        body["meta"] = json!({ "reason": reason });
        let answer = api.patch(&path, &body).await;
        assert_eq!(
            answer.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            answer.body
        );
        assert_eq!(
            answer.body["errors"][0]["source"]["pointer"],
            "/meta/reason"
        );
    }

    // With a reason, the change is made; a deletion's reason comes in a body of only `meta`.
    let mut body = off.clone();
    body["meta"] = json!({ "reason": WHY });
    let answer = api.patch(&path, &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    assert_eq!(answer.body["data"]["attributes"]["active"], false);
    let answer = api
        .call(
            Method::DELETE,
            &path,
            Some(&json!({"meta": {"reason": "Replaced by #2"}})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);

    // The readable copy shows who, what and why, in Vienna's time and in UTC.
    let res = admin
        .get(app.url("/admin/records/audit/export?from=2000-01-01&format=pdf"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("audit.pdf");
    std::fs::write(&pdf, res.bytes().await.unwrap()).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args([pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils, installed by scripts/tools.sh) runs");
    let text = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    for expected in [
        "reason: CAPA-112: the QC LIMS moves",
        "reason: Replaced by #2",
        "reason: Our site is in Vienna",
        "Times in the organisation's time zone (Europe/Vienna) and in UTC",
        "time_zone: UTC -> Europe/Vienna",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} is not in the PDF:\n{text}"
        );
    }
    assert!(
        text.contains(" CET (") || text.contains(" CEST ("),
        "no local time in the PDF:\n{text}"
    );
}
