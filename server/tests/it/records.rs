//! Tamper-evident records (docs/records.md): the database is edited behind Labhook's back —
//! as someone with the database file or a database login would — and `verify_all` must name
//! the row; what Labhook removes on purpose (retention, a deleted subscription's log) stays
//! sound.

use serde_json::json;
use server::{
    clock::now_ms,
    db::Done,
    dispatcher::Stepper,
    records::{self, audit_content, link, verify::verify_all, Chain, RecordsKey},
    retention::Cutoffs,
};

use crate::{
    helpers::{spawn_stepping, TestServer},
    receiver::TestReceiver,
};

const HOTPLATE: (&str, &str) = ("Hotplate Stirrer RCT digital", "temperature");

/// A server whose demo organisation has audit entries (a registered URL, a subscription, a
/// device token) and five delivered attempts.
async fn with_records() -> (TestServer, TestReceiver, i64) {
    let app = spawn_stepping(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let (subscription, _) = app
        .subscribe(&receiver, "/", HOTPLATE, &["data_point.created"], vec![])
        .await;
    let (device, token) = app.token_for(HOTPLATE.0).await;
    for value in 1..=5 {
        let res = app
            .post_points(
                device,
                &token,
                &json!([{"channel": "temperature", "value": value}]),
            )
            .await;
        assert_eq!(res.status(), 202);
    }
    let mut stepper = Stepper::new(&app.state);
    while stepper.step(now_ms()).await.unwrap().claimed > 0 {}
    assert_eq!(app.count("delivery_attempts").await, 5);
    (app, receiver, subscription)
}

async fn exec(app: &TestServer, sql: &str) {
    server::db::with_db!(&app.state.pool, db => sqlx::query(sql).execute(db).await.map(Done::from))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The demo organisation's report on `chain`.
async fn verdict(app: &TestServer, chain: Chain) -> records::verify::ChainReport {
    let key = RecordsKey::of(&app.state.secrets).public();
    let reports = verify_all(&app.state.pool, &key).await.unwrap();
    let demo: i64 = app
        .scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .await;
    reports
        .into_iter()
        .find(|r| r.organisation_id == demo && r.chain == chain)
        .expect("a report of the demo organisation's chain")
}

/// Every chain of every organisation is sound.
async fn all_sound(app: &TestServer) {
    let key = RecordsKey::of(&app.state.secrets).public();
    for r in verify_all(&app.state.pool, &key).await.unwrap() {
        assert!(r.is_sound(), "{r:?}");
    }
}

/// The chained rows' ids of a table, in link order.
async fn linked_ids(app: &TestServer, table: &str) -> Vec<i64> {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(&format!(
        "SELECT id FROM {table} WHERE seq IS NOT NULL
           AND organisation_id = (SELECT id FROM organisations WHERE name = 'Demo Lab')
         ORDER BY seq"
    ))
    .fetch_all(db)
    .await)
    .unwrap()
}

/// Lets the test edit the audit trail, as the database's owner could.
async fn drop_append_only_guards(app: &TestServer) {
    exec(app, "DROP TRIGGER audit_log_no_update ON audit_log").await;
    exec(app, "DROP TRIGGER audit_log_no_delete ON audit_log").await;
}

/// Keeps the tables as they are, to be put back after each edit.
async fn keep(app: &TestServer) {
    for t in ["audit_log", "delivery_attempts", "record_checkpoints"] {
        exec(app, &format!("CREATE TABLE kept_{t} AS SELECT * FROM {t}")).await;
    }
}

async fn put_back(app: &TestServer) {
    for t in ["audit_log", "delivery_attempts", "record_checkpoints"] {
        exec(app, &format!("DELETE FROM {t}")).await;
        exec(app, &format!("INSERT INTO {t} SELECT * FROM kept_{t}")).await;
    }
    all_sound(app).await;
}

#[tokio::test]
async fn every_kind_of_edit_to_each_kind_of_row_is_caught_and_the_row_named() {
    let (app, _receiver, _) = with_records().await;
    records::checkpoint(&app.state).await.unwrap();
    all_sound(&app).await;
    let audit = verdict(&app, Chain::Audit).await;
    assert!(audit.links >= 3, "{audit:?}");
    assert!(audit.checkpoints >= 1, "{audit:?}");
    assert_eq!(verdict(&app, Chain::Deliveries).await.links, 5);

    if server::harness::engine() == server::db::Engine::Sqlite {
        exec(&app, "DROP TRIGGER audit_log_no_update").await;
        exec(&app, "DROP TRIGGER audit_log_no_delete").await;
    } else {
        drop_append_only_guards(&app).await;
    }
    keep(&app).await;

    for (chain, table, column) in [
        (Chain::Audit, "audit_log", "subject"),
        (Chain::Deliveries, "delivery_attempts", "error_message"),
    ] {
        let ids = linked_ids(&app, table).await;
        let (second, third, last) = (ids[1], ids[2], *ids.last().unwrap());
        let cases = [
            (
                format!("UPDATE {table} SET {column} = 'edited' WHERE id = {second}"),
                format!("{table} row {second} (link 2): its content does not match its hash (altered)"),
            ),
            (
                format!("DELETE FROM {table} WHERE id = {second}"),
                format!("links 2–2 before {table} row {third} (link 3) are missing and no signed removal covers them (deleted)"),
            ),
            (
                format!("DELETE FROM {table} WHERE id = {last}"),
                format!("links {n}–{n}, the end of the chain, are missing", n = ids.len()),
            ),
            // Two rows' places swapped.
            (
                format!(
                    "UPDATE {table} SET id = -1 WHERE id = {second}; \
                     UPDATE {table} SET id = {second} WHERE id = {third}; \
                     UPDATE {table} SET id = {third} WHERE id = -1"
                ),
                format!("{table} row {second} (link 3) comes before the row of the link before it (reordered)"),
            ),
        ];
        for (edit, expected) in cases {
            for statement in edit.split("; ") {
                exec(&app, statement).await;
            }
            let report = verdict(&app, chain).await;
            let problem = report
                .problem
                .clone()
                .unwrap_or_else(|| panic!("{edit} was not noticed: {report:?}"));
            assert!(
                problem.starts_with(&expected),
                "{edit}: expected {expected:?}, found {problem:?}"
            );
            put_back(&app).await;
        }
    }
}

#[tokio::test]
async fn rows_added_without_a_link_or_past_the_head_are_named() {
    let (app, _receiver, _) = with_records().await;
    let ids = linked_ids(&app, "delivery_attempts").await;
    let copy = |id: i64, seq: &str| {
        format!(
            "INSERT INTO delivery_attempts (id, delivery_id, number, started_at, duration_ms,
               request_headers, organisation_id, seq, prev_hash, hash)
             SELECT 1000000, delivery_id, number + 10, started_at, duration_ms, request_headers,
               organisation_id, {seq}, hash, hash FROM delivery_attempts WHERE id = {id}"
        )
    };
    // A copy of a row without a link, in the middle of the log.
    exec(&app, &copy(ids[1], "NULL")).await;
    let problem = verdict(&app, Chain::Deliveries).await.problem.unwrap();
    assert_eq!(
        problem,
        "delivery_attempts row 1000000 has no link but was written after the chain began (inserted)"
    );
    exec(&app, "DELETE FROM delivery_attempts WHERE id = 1000000").await;
    all_sound(&app).await;
    // One appended past the last link.
    let last = *ids.last().unwrap();
    exec(&app, &copy(last, &format!("{}", ids.len() + 1))).await;
    let problem = verdict(&app, Chain::Deliveries).await.problem.unwrap();
    assert!(
        problem.starts_with(&format!(
            "delivery_attempts row 1000000 (link {})",
            ids.len() + 1
        )),
        "{problem}"
    );
}

#[tokio::test]
async fn a_chain_rewritten_with_fresh_hashes_is_caught_by_the_signed_checkpoint() {
    let (app, _receiver, _) = with_records().await;
    records::checkpoint(&app.state).await.unwrap();
    if server::harness::engine() == server::db::Engine::Sqlite {
        exec(&app, "DROP TRIGGER audit_log_no_update").await;
    } else {
        drop_append_only_guards(&app).await;
    }
    // Someone who knows the chain rule edits the second entry and recomputes every link after
    // it, and the head: only the signature tells.
    type Entry = (
        i64,
        i64,
        i64,
        String,
        Option<i64>,
        String,
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Entry> = server::db::with_db!(&app.state.pool, db => sqlx::query_as(
        "SELECT id, organisation_id, seq, prev_hash, actor_id, actor_name, at, kind, action, subject, before, after
         FROM audit_log WHERE seq IS NOT NULL
           AND organisation_id = (SELECT id FROM organisations WHERE name = 'Demo Lab')
         ORDER BY seq",
    )
    .fetch_all(db)
    .await)
    .unwrap();
    let mut prev = rows[0].3.clone();
    for (i, r) in rows.iter().enumerate() {
        let subject = if i == 1 {
            "nothing happened".to_owned()
        } else {
            r.9.clone()
        };
        let content = audit_content(
            r.4,
            &r.5,
            r.6,
            &r.7,
            &r.8,
            &subject,
            r.10.as_deref(),
            r.11.as_deref(),
        );
        let hash = link(Chain::Audit, r.1, r.2, &prev, &content);
        server::db::with_db!(&app.state.pool, db => sqlx::query(
            "UPDATE audit_log SET subject = $1, prev_hash = $2, hash = $3 WHERE id = $4",
        )
        .bind(&subject)
        .bind(&prev)
        .bind(&hash)
        .bind(r.0)
        .execute(db)
        .await
        .map(Done::from))
        .unwrap();
        prev = hash;
    }
    exec(
        &app,
        &format!("UPDATE record_chains SET head = '{prev}' WHERE chain = 'audit' AND organisation_id = {}", rows[0].1),
    )
    .await;
    let problem = verdict(&app, Chain::Audit).await.problem.unwrap();
    assert!(
        problem.contains("differs from what checkpoint") && problem.contains("rewritten"),
        "{problem}"
    );

    // A checkpoint re-signed by anyone without the key is refused as well.
    exec(&app, "UPDATE record_checkpoints SET head = 'f00d'").await;
    let problem = verdict(&app, Chain::Audit).await.problem.unwrap();
    assert!(
        problem.contains("is not signed by this installation's key"),
        "{problem}"
    );
}

#[tokio::test]
async fn retention_and_a_deleted_subscriptions_log_are_reported_as_removed_not_as_tampering() {
    let (app, _receiver, subscription) = with_records().await;
    records::checkpoint(&app.state).await.unwrap();
    // The first three deliveries are old enough for retention.
    exec(
        &app,
        "UPDATE deliveries SET created_at = 0 WHERE id IN (SELECT id FROM deliveries ORDER BY id LIMIT 3)",
    )
    .await;
    let pruned = server::retention::prune(
        &app.state,
        Cutoffs {
            deliveries: 1,
            data_points: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(pruned.deliveries, 3);
    let report = verdict(&app, Chain::Deliveries).await;
    assert!(report.is_sound(), "{report:?}");
    assert_eq!((report.links, report.removed), (2, 3));

    // A removal's record edited (to hide more than was removed) is refused.
    exec(
        &app,
        "UPDATE record_removals SET reason = 'retention of everything'",
    )
    .await;
    let problem = verdict(&app, Chain::Deliveries).await.problem.unwrap();
    assert!(
        problem.contains("is not signed by this installation's key"),
        "{problem}"
    );
    exec(&app, "UPDATE record_removals SET reason = 'retention'").await;

    // The subscription deleted: the rest of its log goes, signed as removed.
    let admin = app.admin().await;
    server::subscriptions::delete(&app.state, &admin, subscription)
        .await
        .unwrap();
    while server::subscriptions::cleanup::step(&app.state)
        .await
        .unwrap()
    {}
    assert_eq!(app.count("delivery_attempts").await, 0);
    let report = verdict(&app, Chain::Deliveries).await;
    assert!(report.is_sound(), "{report:?}");
    assert_eq!((report.links, report.removed), (0, 5));
    all_sound(&app).await;
}
