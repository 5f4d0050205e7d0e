//! Reasons for changes (EU GMP Annex 11 §9): once an organisation requires them, no change is
//! made without one — whichever service makes it, replays, redeliveries and switches included —
//! and the reason is kept in the audit trail, in the entry's link, and in the exports.

use serde_json::json;
use server::{
    admin, audit,
    clock::now_ms,
    dispatcher::Stepper,
    domain::Reason,
    records::{self, export::verify_export, verify::verify_all, Chain, RecordsKey},
    subscriptions::{self, replay::ReplayInput},
    Error,
};

use crate::{helpers::spawn_stepping, receiver::TestReceiver};

const HOTPLATE: (&str, &str) = ("Hotplate Stirrer RCT digital", "temperature");

/// Whether `result` is the refusal of a change without a reason.
fn refused_for_no_reason<T: std::fmt::Debug>(what: &str, result: server::Result<T>) {
    match result {
        Err(Error::Invalid(errors)) if errors.iter().any(|e| e.field == "reason") => {
            assert_eq!(errors[0].message, Reason::MISSING, "{what}");
        }
        other => panic!("{what} without a reason: {other:?}"),
    }
}

#[tokio::test]
async fn a_required_reason_is_asked_of_every_change_and_kept_in_its_link() {
    let app = spawn_stepping(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let (subscription, _) = app
        .subscribe(&receiver, "/", HOTPLATE, &["data_point.created"], vec![])
        .await;
    let (device, token) = app.token_for(HOTPLATE.0).await;
    let res = app
        .post_points(
            device,
            &token,
            &json!([{"channel": "temperature", "value": 21}]),
        )
        .await;
    assert_eq!(res.status(), 202);
    let mut stepper = Stepper::new(&app.state);
    while stepper.step(now_ms()).await.unwrap().claimed > 0 {}
    let delivery: i64 = app.scalar("SELECT MAX(id) FROM deliveries").await;
    let state = &app.state;
    let admin = app.admin().await;
    let entries = || async { app.count("audit_log").await };

    // Requiring reasons is recorded under the rule as it was: it needs none.
    admin::set_reasons_required(state, &admin, true)
        .await
        .unwrap();
    let before = entries().await;

    refused_for_no_reason(
        "registering a URL",
        admin::register_url(state, &admin, "https://lims.example.org/", "QC").await,
    );
    refused_for_no_reason(
        "switching a subscription off",
        subscriptions::set_active(state, &admin, subscription, false).await,
    );
    refused_for_no_reason(
        "deleting a subscription",
        subscriptions::delete(state, &admin, subscription).await,
    );
    refused_for_no_reason(
        "rotating its secret",
        subscriptions::rotate_secret(state, &admin, subscription).await,
    );
    refused_for_no_reason(
        "redelivering",
        subscriptions::redeliver(state, &admin, delivery).await,
    );
    let replay = ReplayInput {
        since: now_ms() - 3_600_000,
        until: now_ms() + 1,
        channel_id: None,
        event_type: None,
    };
    refused_for_no_reason(
        "replaying",
        subscriptions::replay::start(state, &admin, subscription, &replay).await,
    );
    refused_for_no_reason(
        "switching the feature off",
        admin::set_webhooks_enabled(state, &admin, false).await,
    );
    refused_for_no_reason(
        "no longer requiring reasons",
        admin::set_reasons_required(state, &admin, false).await,
    );
    // Nothing of it happened, and nothing was recorded.
    assert_eq!(entries().await, before);
    let s = subscriptions::get(state, &admin, subscription)
        .await
        .unwrap();
    assert!(s.active);
    assert_eq!(app.count("replays").await, 0);
    assert_eq!(
        app.scalar::<i64>(
            "SELECT COUNT(*) FROM registered_urls WHERE url LIKE 'https://lims.example.org%'"
        )
        .await,
        0
    );
    // A test event changes nothing: it needs no reason.
    subscriptions::send_test_event(state, &admin, subscription, None, None)
        .await
        .unwrap();

    // With a reason, the change is made and the reason kept beside it.
    let why = admin.clone().because(Some(
        Reason::parse("reason", "CAPA-112: the LIMS moves tonight").unwrap(),
    ));
    subscriptions::redeliver(state, &why, delivery)
        .await
        .unwrap();
    subscriptions::set_active(state, &why, subscription, false)
        .await
        .unwrap();
    let trail = audit::list(&state.pool, &admin, None, 1).await.unwrap();
    let newest = &trail.items[0];
    assert_eq!(newest.action, "deactivated", "{newest:?}");
    assert_eq!(
        newest.reason.as_deref(),
        Some("CAPA-112: the LIMS moves tonight")
    );
    assert_eq!(
        trail.items[1].action, "delivery sent again",
        "{:?}",
        trail.items[1]
    );
    assert_eq!(
        trail.items[1].reason.as_deref(),
        Some("CAPA-112: the LIMS moves tonight")
    );

    // The reason is part of its entry's link: the chains stay sound, the export carries it and
    // verifies, and an export whose reason was edited is caught.
    let key = RecordsKey::of(&state.secrets).public();
    for report in verify_all(&state.pool, &key).await.unwrap() {
        assert!(report.is_sound(), "{report:?}");
    }
    let org = admin.organisation_id;
    let request = records::export::ExportRequest::new(org, Chain::Audit, 0, now_ms() + 1).unwrap();
    let mut out = Vec::new();
    records::export::export(
        &state.pool,
        &RecordsKey::of(&state.secrets),
        request,
        &mut out,
    )
    .await
    .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(verify_export(&text, &key).is_sound());
    let with_reason = text
        .lines()
        .filter(|l| l.contains("\"reason\":\"CAPA-112: the LIMS moves tonight\""))
        .count();
    assert_eq!(with_reason, 2, "{text}");
    let edited = text.replacen("CAPA-112: the LIMS", "CAPA-113: the LIMS", 1);
    let problem = verify_export(&edited, &key).problem.unwrap_or_default();
    assert!(problem.ends_with("(altered)"), "{problem}");
    let dropped = text.replacen(",\"reason\":\"CAPA-112: the LIMS moves tonight\"", "", 1);
    let problem = verify_export(&dropped, &key).problem.unwrap_or_default();
    assert!(problem.ends_with("(altered)"), "{problem}");

    // No longer requiring reasons needs one; then changes go through without.
    admin::set_reasons_required(state, &why, false)
        .await
        .unwrap();
    subscriptions::set_active(state, &admin, subscription, true)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_reason_is_one_bounded_text() {
    assert!(Reason::parse("reason", "  ").is_err());
    assert!(Reason::parse("reason", &"x".repeat(501)).is_err());
    let app = spawn_stepping(|_| {}).await;
    let admin = app.admin().await;
    // The time zone, like every setting, is checked where it is saved.
    match admin::set_time_zone(&app.state, &admin, "Mars/Olympus").await {
        Err(Error::Invalid(e)) => assert_eq!(e[0].field, "time_zone"),
        other => panic!("{other:?}"),
    }
    admin::set_time_zone(&app.state, &admin, "Europe/Vienna")
        .await
        .unwrap();
    let s = server::settings::webhook_settings(&app.state.pool, &admin)
        .await
        .unwrap();
    assert_eq!(s.time_zone.as_str(), "Europe/Vienna");
}
