//! An instrument's OPC UA server as a device's source, set up from the command line
//! (`labhook add-source`) and read by the real server: each mistake is one clear line and
//! nothing is half-made; once added, `labhook serve` stores the instrument's values.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{instrument::Instrument, process::call};

fn labhook(db: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_labhook"))
        .args(["--database", db])
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

const ORG: &str = "QC Lab Basel";
const DEVICE: &str = "Incubator 7";
const TEMPERATURE: &str = "Temperature=ns=2;s=Incubator.Temperature,sampling=100";

#[tokio::test]
async fn a_source_is_added_from_the_command_line_and_the_server_reads_the_instrument() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.db");
    let db = db.to_str().unwrap();
    assert!(labhook(db, &["create-organisation", ORG]).status.success());
    let made = labhook(
        db,
        &[
            "create-device",
            "--organisation",
            ORG,
            "--name",
            DEVICE,
            "--class",
            "Incubator",
            "--channel",
            "Temperature:°C:number:0:100",
            "--channel",
            "State::text",
        ],
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut instrument = Instrument::start().await;
    let endpoint = instrument.endpoint();

    let add = |device: &str, endpoint: &str, map: &str| {
        labhook(
            db,
            &[
                "add-source",
                "--organisation",
                ORG,
                "--device",
                device,
                "--endpoint",
                endpoint,
                "--map",
                map,
            ],
        )
    };
    for (device, endpoint, map, says) in [
        (
            DEVICE,
            "http://127.0.0.1/",
            TEMPERATURE,
            "starts with opc.tcp://",
        ),
        (
            DEVICE,
            "opc.tcp://user:pw@10.0.0.7/",
            TEMPERATURE,
            "cannot hold a user name",
        ),
        (
            DEVICE,
            endpoint.as_str(),
            "Temperature=ns=2;x=What",
            "is not an OPC UA node id",
        ),
        (
            DEVICE,
            endpoint.as_str(),
            "Weight=ns=2;s=Balance.Weight",
            "has no channel named \"Weight\"",
        ),
        (
            DEVICE,
            endpoint.as_str(),
            "Temperature=ns=2;s=T,sampling=5",
            "from 50 ms to one hour",
        ),
        (
            "Incubator 8",
            endpoint.as_str(),
            TEMPERATURE,
            "There is no device named \"Incubator 8\"",
        ),
    ] {
        let out = add(device, endpoint, map);
        assert!(!out.status.success(), "{map}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
    }
    let added = add(DEVICE, endpoint.as_str(), TEMPERATURE);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(String::from_utf8_lossy(&added.stdout).contains("now reads 1 variable"));
    let again = add(DEVICE, endpoint.as_str(), TEMPERATURE);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already has a source"));

    // The real server, which connects to the instrument by itself.
    let port = crate::process::free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_labhook"))
        .args([
            "--database",
            db,
            "serve",
            "--allow-loopback-targets",
            "--listen",
        ])
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    crate::process::wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    instrument.set("Temperature", "37.2").await;
    let pool = server::db::open(std::path::Path::new(db)).await.unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let stored: Vec<f64> = server::db::with_db!(&pool, db => sqlx::query_scalar(
            "SELECT p.value FROM data_points p JOIN channels c ON c.id = p.channel_id
             WHERE c.name = 'Temperature' ORDER BY p.timestamp",
        )
        .fetch_all(db)
        .await)
        .unwrap();
        if stored.contains(&37.2) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the server stored {stored:?} in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audited: i64 = server::db::with_db!(&pool, db => sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'source added'",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    assert_eq!(audited, 1);

    // The Devices page shows the source and its state; the endpoint to org admins only.
    for (email, role) in [("admin@qc.lab", "org_admin"), ("ana@qc.lab", "lab_user")] {
        let made = labhook(
            db,
            &[
                "create-user",
                "--organisation",
                ORG,
                "--email",
                email,
                "--name",
                email,
                "--role",
                role,
                "--password",
                "long enough password",
            ],
        );
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
    }
    let base = format!("http://127.0.0.1:{port}");
    let signed_in = async |email: &str| {
        let c = crate::helpers::client();
        let form = [("email", email), ("password", "long enough password")];
        call(&c, &base, "sign_in", &form).await;
        c
    };
    let (admin, ana) = (
        signed_in("admin@qc.lab").await,
        signed_in("ana@qc.lab").await,
    );
    let card = async |c: &reqwest::Client| -> Value {
        let list = call(c, &base, "devices/list", &[]).await;
        let found = list
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == DEVICE)
            .cloned();
        found.unwrap_or(Value::Null)
    };
    let seen = card(&admin).await;
    assert_eq!(
        seen["source"]["endpoint"],
        Value::from(endpoint.clone()),
        "{seen}"
    );
    assert_eq!(seen["source"]["connected"], true, "{seen}");
    assert_eq!(seen["source"]["variables"], 1, "{seen}");
    let (device_id, ana_id): (i64, i64) = server::db::with_db!(&pool, db => sqlx::query_as(
        "SELECT (SELECT id FROM devices WHERE name = $1), (SELECT id FROM users WHERE email = 'ana@qc.lab')",
    )
    .bind(DEVICE)
    .fetch_one(db)
    .await)
    .unwrap();
    let (device, user) = (device_id.to_string(), ana_id.to_string());
    let grant = [
        ("device_id", device.as_str()),
        ("user_id", user.as_str()),
        ("granted", "true"),
    ];
    call(&admin, &base, "devices/set_access", &grant).await;
    let seen = card(&ana).await;
    assert_eq!(seen["source"]["endpoint"], Value::Null, "{seen}");
    assert_eq!(seen["source"]["connected"], true, "{seen}");

    // The instrument goes away: the card says so, in words, and the device is offline.
    instrument.stop().await;
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = card(&admin).await;
        // The device and its source are read one after the other: both are seen changed once
        // the second read is after the (one) commit that changed them.
        let (source, online) = (&seen["source"], &seen["online"]);
        if source["connected"] == false && source["error"].is_string() && *online == false {
            break;
        }
        assert!(Instant::now() < until, "after 30 s: {seen}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.kill().unwrap();
    server.wait().unwrap();
}
