//! The records' exports through both doors: the API v2 with an org admin's token, and the
//! audit trail page's download with the session. What comes back verifies offline with the
//! installation's public key; mistakes are told in words.

use reqwest::StatusCode;

use super::{token, Api};
use crate::helpers::{spawn_app, ADMIN};

#[tokio::test]
async fn an_admin_exports_the_audit_trail_through_the_api_and_the_page_and_it_verifies() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let admin_token = token(&app, &admin, &["read"]).await;
    let key = server::records::RecordsKey::of(&app.state.secrets).public();

    // Making the token was itself audited: the export holds at least that.
    let res = reqwest::Client::new()
        .get(app.url("/api/v2/records/audit/export?from=2000-01-01"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    assert!(res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"labhook-audit-"));
    let text = res.text().await.unwrap();
    let report = server::records::export::verify_export(&text, &key);
    assert!(report.is_sound(), "{report:?}\n{text}");
    assert!(report.records >= 1, "{report:?}");
    assert_eq!(report.organisation, "Demo Lab");

    // Compressed as browsers ask for it, the stream still ends properly (the compression
    // layer polls it once more after its end).
    let res = reqwest::Client::new()
        .get(app.url("/api/v2/records/audit/export?from=2000-01-01"))
        .bearer_auth(&admin_token)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let compressed = res.bytes().await.expect("the whole compressed body");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut text,
    )
    .expect("a complete gzip stream");
    assert!(server::records::export::verify_export(&text, &key).is_sound());

    // The page's download, with the session, is the same export.
    let res = admin
        .get(app.url("/admin/records/deliveries/export?from=2000-01-01&to=2100-01-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let report = server::records::export::verify_export(&res.text().await.unwrap(), &key);
    assert!(report.is_sound(), "{report:?}");

    // The readable copy: a PDF that reads back as text with each entry, its hash and how to
    // verify.
    let res = admin
        .get(app.url("/admin/records/audit/export?from=2000-01-01&format=pdf"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/pdf"
    );
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("audit.pdf");
    std::fs::write(&pdf, res.bytes().await.unwrap()).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext (poppler-utils, installed by scripts/tools.sh) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let (subject, hash): (String, String) = server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT subject, hash FROM audit_log WHERE organisation_id = (SELECT id FROM organisations WHERE name = 'Demo Lab')
         AND seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    for expected in [
        "Audit trail",
        "Demo Lab",
        subject.as_str(),
        hash.as_str(),
        "How to verify",
        &key.to_string(),
        "page 1 of",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} is not in the PDF:\n{text}"
        );
    }

    // Mistakes, in words.
    let api = Api::new(&app, &admin_token);
    let bad = api.get("/api/v2/records/audit/export?from=last+week").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.detail().contains("from must be a day"),
        "{}",
        bad.detail()
    );
    let missing = api.get("/api/v2/records/audit/export").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.detail().contains("Say from when"),
        "{}",
        missing.detail()
    );
    let backwards = api
        .get("/api/v2/records/audit/export?from=2026-12-02&to=2026-12-01")
        .await;
    assert_eq!(backwards.status, StatusCode::BAD_REQUEST);
    assert!(backwards.detail().contains("must end after it starts"));
    let unknown = api
        .get("/api/v2/records/payroll/export?from=2000-01-01")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.detail().contains("audit or deliveries"));

    // A loop of exports is refused before it crowds the database.
    let mut limited = None;
    for _ in 0..20 {
        let res = admin
            .get(app.url("/admin/records/audit/export?from=2000-01-01"))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(res);
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
        res.bytes().await.unwrap();
    }
    let limited = limited.expect("twenty exports in a row are limited");
    assert!(limited.headers().contains_key("retry-after"));
}
