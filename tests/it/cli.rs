//! The `labhook` binary's administration subcommands and its start-up errors.

use std::process::Command;

use reqwest::StatusCode;

use crate::helpers::client;

fn labhook(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_labhook"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("LABHOOK_PASSWORD")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn an_installation_is_set_up_and_maintained_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("real.db");
    let db = db.to_str().unwrap();

    let out = labhook(&["--database", db, "create-organisation", "QC Lab Basel"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_labhook"))
        .args([
            "--database",
            db,
            "create-user",
            "--organisation",
            "QC Lab Basel",
        ])
        .args([
            "--email",
            "Quinn@Example.org",
            "--name",
            "Quinn",
            "--role",
            "org_admin",
        ])
        .env("LABHOOK_PASSWORD", "first password!")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Mistakes get one clear line and a failure code.
    let out = labhook(&["--database", db, "create-organisation", "QC Lab Basel"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "labhook: An organisation named \"QC Lab Basel\" already exists."
    );
    let out = labhook(&[
        "--database",
        db,
        "create-user",
        "--organisation",
        "Nowhere",
        "--email",
        "a@b.org",
        "--name",
        "A",
        "--password",
        "long enough password",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "labhook: there is no organisation named \"Nowhere\""
    );

    // A password reset, read from standard input, ends the open sessions.
    let mut child = Command::new(env!("CARGO_BIN_EXE_labhook"))
        .args([
            "--database",
            db,
            "reset-password",
            "--email",
            "quinn@example.org",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"second password!\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The new password signs in to a server on that database; there is no demo data in it.
    let config = server::config::Config {
        seed_demo: true,
        ..server::config::Config::for_database(dir.path().join("real.db"))
    };
    let app = labhook::startup::Application::build(config).await.unwrap();
    let address = app.address();
    tokio::spawn(app.run(std::future::pending()));
    let sign_in = |password: &'static str| {
        let c = client();
        async move {
            c.post(format!("http://{address}/api/sign_in"))
                .form(&[("email", "quinn@example.org"), ("password", password)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(sign_in("first password!").await, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in("second password!").await, StatusCode::OK);
    let demo = client()
        .post(format!("http://{address}/api/sign_in"))
        .form(&[("email", "admin@demo.lab"), ("password", "demo-admin-pass")])
        .send()
        .await
        .unwrap();
    assert_eq!(demo.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn bad_configuration_stops_the_start_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"").unwrap();
    let db = file.join("labhook.db");
    let out = labhook(&[
        "--database",
        db.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.trim().lines().last().unwrap();
    assert!(
        last.starts_with("labhook: cannot create the database directory"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));

    let out = labhook(&["serve", "--retry-schedule", "0,soon"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("--retry-schedule: \"soon\" is not a duration"));

    let out = labhook(&["serve", "--listen", "not-an-address"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'not-an-address'"));
    // A PostgreSQL database that cannot be reached: said in one line with the reason, never
    // a file made under a directory called `postgres:`; its password never shown.
    let out = labhook(&[
        "--database",
        "postgres://labhook:s3cret@127.0.0.1:1/labhook",
        "serve",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(
            "labhook: cannot connect to the database postgres://labhook:***@127.0.0.1:1/labhook"
        ) && stderr.to_lowercase().contains("refused"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"));
    assert!(!std::path::Path::new("postgres:").exists());
    let out = labhook(&["--database", "mysql://db/labhook", "serve"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`mysql:` is not a database Labhook knows"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn serve_creates_demo_data_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let sign_in_as_demo_admin = |args: &'static [&'static str], db: &'static str| {
        let db = dir.path().join(db);
        async move {
            let port = crate::process::free_port();
            let mut server = Command::new(env!("CARGO_BIN_EXE_labhook"))
                .args(["--database", db.to_str().unwrap(), "serve", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .args(args)
                .env("RUST_LOG", "warn")
                .env_remove("LABHOOK_DEMO")
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let base = format!("http://127.0.0.1:{port}");
            crate::process::wait_healthy(&base).await;
            let status = client()
                .post(format!("{base}/api/sign_in"))
                .form(&[("email", "admin@demo.lab"), ("password", "demo-admin-pass")])
                .send()
                .await
                .unwrap()
                .status();
            server.kill().unwrap();
            server.wait().unwrap();
            status
        }
    };
    assert_eq!(
        sign_in_as_demo_admin(&[], "plain.db").await,
        StatusCode::UNAUTHORIZED
    );
    let users: i64 = {
        let pool = server::db::open(&dir.path().join("plain.db"))
            .await
            .unwrap();
        server::db::with_db!(&pool, db => sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(db)
            .await)
        .unwrap()
    };
    assert_eq!(users, 0, "an empty database stays empty without --demo");
    assert_eq!(
        sign_in_as_demo_admin(&["--demo"], "demo.db").await,
        StatusCode::OK
    );
}

#[test]
fn demo_data_is_refused_on_an_address_other_machines_reach() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("labhook.db");
    let out = labhook(&[
        "--database",
        db.to_str().unwrap(),
        "serve",
        "--demo",
        "--listen",
        "0.0.0.0:0",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--demo creates users whose passwords are published")
            && stderr.contains("--demo-on-public-address"),
        "{stderr}"
    );
    assert!(!db.exists(), "nothing was created");
}

/// A second server on the same SQLite file is refused with a clear line: two would both send
/// every webhook. Command-line administration still works beside a running server. (On
/// Postgres any number of instances serve one database: `tests/it/instances.rs`.)
#[tokio::test]
async fn a_second_server_on_the_same_database_is_refused() {
    if server::harness::engine() == server::db::Engine::Postgres {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("one.db");
    let port = crate::process::free_port();
    let mut first = crate::process::start_server(&db, port, None);
    crate::process::wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    // The same database as the first server's, on whichever engine the suite runs.
    let (database, serving) = server::harness::process_database_args(&db);
    let run = |command: &[&str], more: &[String]| {
        Command::new(env!("CARGO_BIN_EXE_labhook"))
            .args(&database)
            .args(command)
            .args(more)
            .output()
            .unwrap()
    };
    let out = run(&["serve", "--listen", "127.0.0.1:0"], &serving);
    let beside = run(&["create-organisation", "Beside the server"], &[]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another Labhook server is already serving"),
        "{stderr}"
    );
    assert!(
        beside.status.success(),
        "{}",
        String::from_utf8_lossy(&beside.stderr)
    );
}

/// A scripted install adds devices and their channels from the command line, under the same
/// rules as the Devices page: a clear line for each mistake, nothing half-made.
#[test]
fn devices_are_created_and_listed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("real.db");
    let db = db.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["--database", db];
        all.extend_from_slice(args);
        labhook(&all)
    };
    assert!(run(&["create-organisation", "QC Lab Basel"])
        .status
        .success());
    let out = run(&[
        "create-device",
        "--organisation",
        "QC Lab Basel",
        "--name",
        "Plate Reader 7",
        "--vendor",
        "Tecan",
        "--class",
        "Analyzer",
        "--channel",
        "absorbance:AU:number:0:4",
        "--channel",
        "lid::choice=open|closed",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("with 2 channels"));

    let listed = run(&["list-devices", "--organisation", "QC Lab Basel"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("Plate Reader 7\tAnalyzer"), "{listed}");
    assert!(listed.contains("absorbance\tAU\tnumber [0..4]"), "{listed}");
    assert!(listed.contains("lid\t-\tchoice (open|closed)"), "{listed}");

    for (args, says) in [
        (
            vec!["--name", "plate reader 7"],
            "A device named \"plate reader 7\" exists already",
        ),
        (
            vec!["--name", "X", "--channel", "t:°C:number:80:20"],
            "below the lowest",
        ),
        (
            vec!["--name", "X", "--class", "Toaster"],
            "device class must be one of",
        ),
        (
            vec![
                "--name",
                "X",
                "--channel",
                "a::text",
                "--channel",
                "A::text",
            ],
            "Two channels are called",
        ),
    ] {
        let mut all = vec!["create-device", "--organisation", "QC Lab Basel"];
        all.extend(args);
        let out = run(&all);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    }
    let listed = run(&["list-devices", "--organisation", "QC Lab Basel"]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|l| !l.starts_with('\t'))
            .count(),
        1,
        "nothing half-made"
    );
}
