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
            None,
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

#[tokio::test]
async fn heads_are_signed_in_windows_each_once_and_only_when_they_moved() {
    let (app, _receiver, _) = with_records().await;
    let key = RecordsKey::of(&app.state.secrets);
    let heads: i64 = app.scalar("SELECT COUNT(*) FROM record_chains").await;
    assert!(heads >= 2, "the demo organisation has two chains: {heads}");
    // One head per window: every head is signed once, and the last window says it was the last.
    let mut after = records::Cursor::Start;
    let mut windows = 0;
    loop {
        let mut tx = app.state.pool.begin_write().await.unwrap();
        let (signed, next) = records::sign_heads(&mut tx, &key, false, &after, 1)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        windows += 1;
        assert!(signed <= 1);
        match next {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(
        windows,
        heads + 1,
        "the window after the last head is empty"
    );
    assert_eq!(app.count("record_checkpoints").await, heads);
    all_sound(&app).await;
    // Nothing moved since: nothing to sign.
    assert_eq!(records::checkpoint(&app.state).await.unwrap().signed, 0);
    assert_eq!(app.count("record_checkpoints").await, heads);
}

/// The demo organisation's export of `chain`, all of time, as text.
async fn export_text(app: &TestServer, chain: Chain) -> String {
    let demo: i64 = app
        .scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .await;
    let request = records::export::ExportRequest::new(demo, chain, 0, now_ms() + 1).unwrap();
    let mut out = Vec::new();
    records::export::export(
        &app.state.pool,
        &RecordsKey::of(&app.state.secrets),
        request,
        &mut out,
    )
    .await
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn an_export_verifies_offline_and_each_edit_to_it_is_named_by_its_line() {
    let (app, _receiver, _) = with_records().await;
    records::checkpoint(&app.state).await.unwrap();
    let key = RecordsKey::of(&app.state.secrets).public();
    let check = |text: &str| records::export::verify_export(text, &key);

    let deliveries = export_text(&app, Chain::Deliveries).await;
    let report = check(&deliveries);
    assert!(report.is_sound(), "{report:?}");
    assert_eq!((report.records, report.checkpoints), (5, 1));

    let audit = export_text(&app, Chain::Audit).await;
    let report = check(&audit);
    assert!(report.is_sound(), "{report:?}");
    assert_eq!(report.organisation, "Demo Lab");
    let entries: i64 = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE seq IS NOT NULL AND organisation_id = (SELECT id FROM organisations WHERE name = 'Demo Lab')")
        .await;
    assert_eq!(report.records, entries as u64);

    let lines: Vec<&str> = audit.lines().collect();
    let join = |lines: &[String]| lines.iter().map(|l| format!("{l}\n")).collect::<String>();
    let owned: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    // The records start after the header and the checkpoint.
    let first = owned
        .iter()
        .position(|l| l.contains("\"type\":\"record\""))
        .unwrap();
    let problem = |edited: Vec<String>| check(&join(&edited)).problem.unwrap_or_default();

    let mut altered = owned.clone();
    altered[first + 1] = altered[first + 1].replacen("\"action\":\"", "\"action\":\"x", 1);
    let said = problem(altered);
    assert!(
        said.starts_with(&format!("line {} ", first + 2)) && said.ends_with("(altered)"),
        "{said}"
    );

    let mut deleted = owned.clone();
    deleted.remove(first + 1);
    let said = problem(deleted);
    assert!(
        said.contains("are missing") && said.ends_with("(deleted)"),
        "{said}"
    );

    let mut reordered = owned.clone();
    reordered.swap(first + 1, first + 2);
    let said = problem(reordered);
    assert!(
        said.contains("repeats or goes back") || said.contains("are missing"),
        "{said}"
    );

    let mut added = owned.clone();
    added.push(owned[first].clone());
    assert!(problem(added).contains("comes after the seal (added)"));

    let mut renamed = owned.clone();
    renamed[0] = renamed[0].replace("Demo Lab", "Other Lab");
    assert!(problem(renamed).contains("the file was edited"));

    let mut cut = owned.clone();
    cut.pop();
    assert!(problem(cut).contains("has no seal"));

    let other = RecordsKey::of(&server::domain::sealed::SecretsKey::generate()).public();
    let report = records::export::verify_export(&audit, &other);
    assert!(report
        .problem
        .unwrap_or_default()
        .contains("not signed by this installation's key"),);

    // A range with nothing in it is an export of nothing, sealed all the same.
    let demo: i64 = app
        .scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .await;
    let request = records::export::ExportRequest::new(demo, Chain::Audit, 0, 1).unwrap();
    let mut out = Vec::new();
    let done = records::export::export(
        &app.state.pool,
        &RecordsKey::of(&app.state.secrets),
        request,
        &mut out,
    )
    .await
    .unwrap();
    assert_eq!(done.records, 0);
    let report = check(std::str::from_utf8(&out).unwrap());
    assert!(report.is_sound() && report.records == 0, "{report:?}");
    assert!(records::export::ExportRequest::new(demo, Chain::Audit, 5, 5).is_err());
}

#[tokio::test]
async fn an_export_across_retention_shows_the_gap_as_removed() {
    let (app, _receiver, _) = with_records().await;
    // The second and third attempts removed on purpose, signed, as retention does.
    let ids: Vec<i64> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT delivery_id FROM delivery_attempts ORDER BY seq LIMIT 2 OFFSET 1",
    )
    .fetch_all(db)
    .await)
    .unwrap();
    let key = RecordsKey::of(&app.state.secrets);
    let mut tx = app.state.pool.begin_write().await.unwrap();
    let removed = server::deliveries::removal::delete_finished_between(
        &mut tx,
        &key,
        ids[0].min(ids[1]),
        ids[0].max(ids[1]) + 1,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(removed, 2);
    all_sound(&app).await;
    let report =
        records::export::verify_export(&export_text(&app, Chain::Deliveries).await, &key.public());
    assert!(report.is_sound(), "{report:?}");
    assert_eq!((report.records, report.removed), (3, 2));
}

#[tokio::test]
async fn the_audit_trail_pages_by_link_with_the_entries_from_before_the_chains_last() {
    let app = spawn_stepping(|_| {}).await;
    let admin = app.admin().await;
    for i in 0..60 {
        server::admin::set_webhooks_enabled(&app.state, &admin, i % 2 == 0)
            .await
            .unwrap();
    }
    // The oldest ten as an installation upgraded from before the chains has them: no link, and
    // the chain begins after them.
    if server::harness::engine() == server::db::Engine::Sqlite {
        exec(&app, "DROP TRIGGER audit_log_no_update").await;
    } else {
        exec(
            &app,
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
        )
        .await;
    }
    let org = admin.organisation_id;
    exec(&app, &format!("UPDATE audit_log SET seq = NULL, prev_hash = NULL, hash = NULL WHERE organisation_id = {org} AND seq <= 10")).await;
    exec(
        &app,
        &format!(
            "UPDATE audit_log SET seq = seq - 10 WHERE organisation_id = {org} AND seq IS NOT NULL"
        ),
    )
    .await;
    exec(&app, &format!("UPDATE record_chains SET seq = seq - 10 WHERE organisation_id = {org} AND chain = 'audit'")).await;

    let all: Vec<i64> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT id FROM audit_log WHERE organisation_id = $1 ORDER BY id DESC",
    )
    .bind(org)
    .fetch_all(db)
    .await)
    .unwrap();
    let mut paged = Vec::new();
    for page in 1..=4 {
        let p = server::audit::list(&app.state.pool, &admin, None, page)
            .await
            .unwrap();
        assert_eq!(p.total, all.len() as i64);
        paged.extend(p.items.into_iter().map(|r| r.id));
    }
    assert_eq!(
        paged, all,
        "every entry once, newest first, across the pages"
    );
    // One kind, counted and paged by its index, agrees.
    let settings = server::audit::list(
        &app.state.pool,
        &admin,
        Some(server::audit::AuditKind::Settings),
        1,
    )
    .await
    .unwrap();
    let expected: i64 = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE organisation_id = {org} AND kind = 'settings'"
        ))
        .await;
    assert!(expected >= 59, "{expected}");
    assert_eq!(settings.total, expected);
    // Past the end: an empty page, not an error.
    let past = server::audit::list(&app.state.pool, &admin, None, 40)
        .await
        .unwrap();
    assert!(past.items.is_empty());
}

#[tokio::test]
async fn an_export_to_a_reader_that_stops_reading_ends_at_its_deadline_with_its_snapshot() {
    let (app, _receiver, _) = with_records().await;
    let demo: i64 = app
        .scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .await;
    let key = RecordsKey::of(&app.state.secrets);
    let request = records::export::ExportRequest::new(demo, Chain::Deliveries, 0, now_ms() + 1)
        .unwrap()
        .with_deadline(tokio::time::Instant::now() + std::time::Duration::from_millis(300));
    // A pipe of 16 bytes whose reader never reads: the first write waits for good.
    let (_reader, mut writer) = tokio::io::duplex(16);
    let started = std::time::Instant::now();
    let err = records::export::export(&app.state.pool, &key, request, &mut writer)
        .await
        .expect_err("the export gives up");
    assert!(format!("{:#}", anyhow::Error::from(err)).contains("deadline"));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Its snapshot ended: the connections it used serve fresh reads and writes.
    for _ in 0..3 {
        assert_eq!(
            export_text(&app, Chain::Deliveries).await.lines().count(),
            7
        );
    }
    server::admin::set_webhooks_enabled(&app.state, &app.admin().await, false)
        .await
        .unwrap();
    all_sound(&app).await;
}
