//! `labhook records-key`, `sign-records` and `verify-records` through the real binary, beside a
//! running server, on either engine: a sound installation passes, an edit made in the
//! database is named and the command fails, a key that is not the installation's is refused.

use std::process::{Command, Output};

const CHANNEL: &str = "--channel=absorbance:AU:number";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn records_are_signed_and_verified_from_the_command_line_and_an_edit_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("records.db");
    let port = crate::process::free_port();
    // The server makes the secrets key (and with it the records key) on its first start.
    let _server = crate::process::start_server(&db, port, None);
    crate::process::wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    let (database, serving) = server::harness::process_database_args(&db);
    let run = |command: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_labhook"));
        cmd.args(&database).args(command).env("RUST_LOG", "warn");
        // The records commands read the key file where `serve` was told it is.
        if command[0] != "create-device" {
            cmd.args(&serving);
        }
        cmd.output().expect("the binary runs")
    };
    for name in ["Plate Reader 7", "Plate Reader 8"] {
        let out = run(&[
            "create-device",
            "--organisation",
            "Demo Lab",
            "--name",
            name,
            CHANNEL,
        ]);
        assert!(out.status.success(), "{}", text(&out));
    }

    let key = run(&["records-key"]);
    assert!(key.status.success(), "{}", text(&key));
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("lhrk_"), "{key}");
    let signed = run(&["sign-records"]);
    assert!(signed.status.success(), "{}", text(&signed));
    assert!(text(&signed).contains(&key), "{}", text(&signed));

    let sound = run(&["verify-records", "--public-key", &key]);
    assert!(sound.status.success(), "{}", text(&sound));
    assert!(
        text(&sound).contains("every chain is sound"),
        "{}",
        text(&sound)
    );

    // A key of another installation: the signatures are not its.
    let other = server::records::RecordsKey::of(&server::domain::sealed::SecretsKey::generate())
        .public()
        .to_string();
    let refused = run(&["verify-records", "--public-key", &other]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("is not signed by this installation's key"),
        "{}",
        text(&refused)
    );

    // An export of the audit trail, checked offline with the public key alone.
    let export = dir.path().join("audit.jsonl");
    let exported = run(&[
        "export-records",
        "--organisation",
        "Demo Lab",
        "--chain",
        "audit",
        "--from",
        "2000-01-01",
        "--output",
        export.to_str().unwrap(),
    ]);
    assert!(exported.status.success(), "{}", text(&exported));
    let verify_export = |file: &std::path::Path, key: &str| {
        Command::new(env!("CARGO_BIN_EXE_labhook"))
            .args(["verify-export", file.to_str().unwrap(), "--public-key", key])
            .output()
            .expect("the binary runs")
    };
    let sound = verify_export(&export, &key);
    assert!(sound.status.success(), "{}", text(&sound));
    assert!(
        text(&sound).contains("sound: \"Demo Lab\"'s audit chain"),
        "{}",
        text(&sound)
    );
    let refused = verify_export(&export, &other);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("not signed by this installation's key"),
        "{}",
        text(&refused)
    );
    // The file edited: the entry's line is named.
    let edited = std::fs::read_to_string(&export)
        .unwrap()
        .replace("Plate Reader 8", "Plate Reader 9");
    let edited_file = dir.path().join("edited.jsonl");
    std::fs::write(&edited_file, edited).unwrap();
    let caught = verify_export(&edited_file, &key);
    assert!(!caught.status.success());
    assert!(
        text(&caught).contains("does not match its hash (altered)"),
        "{}",
        text(&caught)
    );
    // A bad day is refused in words, before anything is written.
    let bad = run(&[
        "export-records",
        "--organisation",
        "Demo Lab",
        "--chain",
        "audit",
        "--from",
        "yesterday",
    ]);
    assert!(!bad.status.success());
    assert!(
        text(&bad).contains("--from must be a day"),
        "{}",
        text(&bad)
    );

    // The newest device entry's name edited in the database, behind Labhook's back.
    let location: server::db::Location = database[1].parse().unwrap();
    let pool = server::db::connect(&location).await.unwrap();
    let edited: i64 = server::db::with_db!(&pool, db => sqlx::query_scalar(
        "SELECT MAX(id) FROM audit_log WHERE subject LIKE '%Plate Reader 8%'",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    let unguard = match location {
        server::db::Location::Postgres(_) => {
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"
        }
        server::db::Location::Sqlite(_) => "DROP TRIGGER audit_log_no_update",
    };
    server::db::with_db!(&pool, db => sqlx::query(unguard)
        .execute(db)
        .await
        .map(server::db::Done::from))
    .unwrap();
    server::db::with_db!(&pool, db => sqlx::query("UPDATE audit_log SET subject = 'Plate Reader 9' WHERE id = $1")
        .bind(edited)
        .execute(db)
        .await
        .map(server::db::Done::from))
    .unwrap();
    let caught = run(&["verify-records"]);
    assert!(!caught.status.success());
    let said = text(&caught);
    assert!(
        said.contains(&format!("audit_log row {edited} "))
            && said.contains("does not match its hash (altered)")
            && said.contains("1 of "),
        "{said}"
    );
}

/// The command line's changes give their reason with `--reason` when the organisation
/// requires one: without it the command says so and changes nothing.
#[tokio::test]
async fn the_command_line_gives_its_reason_when_one_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("reasons.db");
    let port = crate::process::free_port();
    let _server = crate::process::start_server(&db, port, None);
    let base = format!("http://127.0.0.1:{port}");
    crate::process::wait_healthy(&base).await;
    let admin = crate::process::signed_in_admin(&base).await;
    crate::process::call(
        &admin,
        &base,
        "admin/set_reasons_required",
        &[("required", "true")],
    )
    .await;
    let (database, _) = server::harness::process_database_args(&db);
    let run = |more: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_labhook"))
            .args(&database)
            .args([
                "create-device",
                "--organisation",
                "Demo Lab",
                "--name",
                "Plate Reader 9",
                CHANNEL,
            ])
            .args(more)
            .env("RUST_LOG", "warn")
            .output()
            .expect("the binary runs")
    };
    let refused = run(&[]);
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("requires a reason for every change")
            && text(&refused).contains("--reason"),
        "{}",
        text(&refused)
    );
    let made = run(&["--reason", "IQ/OQ of the new reader done (QA-77)"]);
    assert!(made.status.success(), "{}", text(&made));

    // Adding a person is a change as well, audited like one added on the Users page.
    let add = |more: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_labhook"))
            .args(&database)
            .args([
                "create-user",
                "--organisation",
                "Demo Lab",
                "--email",
                "qa@demo.lab",
                "--name",
                "Quinn A.",
                "--password",
                "a long enough password",
            ])
            .args(more)
            .env("RUST_LOG", "warn")
            .output()
            .expect("the binary runs")
    };
    let refused = add(&[]);
    assert!(!refused.status.success());
    assert!(text(&refused).contains("--reason"), "{}", text(&refused));
    let added = add(&["--reason", "New QA reviewer (HR-5)"]);
    assert!(added.status.success(), "{}", text(&added));

    let location: server::db::Location = database[1].parse().unwrap();
    let pool = server::db::connect(&location).await.unwrap();
    let person: (String, String, Option<String>) =
        server::db::with_db!(&pool, db => sqlx::query_as(
        "SELECT actor_name, action, reason FROM audit_log WHERE subject = 'Quinn A.'",
    )
    .fetch_one(db)
    .await)
        .unwrap();
    assert_eq!(
        person,
        (
            "Command line".to_owned(),
            "added".to_owned(),
            Some("New QA reviewer (HR-5)".to_owned())
        )
    );
    let kept: Vec<(String, Option<String>)> = server::db::with_db!(&pool, db => sqlx::query_as(
        "SELECT subject, reason FROM audit_log WHERE subject LIKE '%Plate Reader 9%'",
    )
    .fetch_all(db)
    .await)
    .unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        kept[0].1.as_deref(),
        Some("IQ/OQ of the new reader done (QA-77)")
    );
}
