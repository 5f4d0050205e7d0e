//! OPC UA sources against a real OPC UA server we did not write (`instrument.rs`): the
//! instrument's values arrive as data points and as webhooks, a session made again stores no
//! value twice, the instrument going away and coming back shows in the source's state, a bad
//! node is reported without stopping the others, and the outbound policy holds.

use std::time::{Duration, Instant};

use serde_json::Value;
use server::{
    devices::manage::{self, DeviceInput},
    domain::channel_definition::{ChannelDefinition, ChannelInput},
    sources::{self, MappingSpec, Sources},
};

use crate::{
    helpers::{spawn_dispatching, TestServer},
    instrument::Instrument,
    receiver::TestReceiver,
};

const DEVICE: &str = "Incubator 7";
const CREATED: &str = "data_point.created";

/// The device, made as `labhook create-device` makes it, and its source as `labhook
/// add-source` adds it.
async fn incubator(app: &TestServer, endpoint: &str, maps: &[&str]) -> i64 {
    let admin = app.admin().await;
    let channels = ["Temperature:°C:number:0:100", "State::text"]
        .iter()
        .map(|raw| ChannelInput::from(ChannelDefinition::parse_cli(raw).unwrap()))
        .collect();
    let input = DeviceInput {
        name: DEVICE.into(),
        vendor: "Test".into(),
        model: "asyncua".into(),
        device_class: "Incubator".into(),
        channels,
    };
    let id = manage::create_from_command_line(&app.state.pool, admin.organisation_id, &input, None)
        .await
        .unwrap();
    let maps: Vec<MappingSpec> = maps
        .iter()
        .map(|m| MappingSpec::parse_cli(m).unwrap())
        .collect();
    sources::add_from_command_line(
        &app.state.pool,
        admin.organisation_id,
        DEVICE,
        endpoint,
        &maps,
        None,
    )
    .await
    .unwrap();
    id
}

const TEMPERATURE: &str = "Temperature=ns=2;s=Incubator.Temperature,sampling=100";
const STATE: &str = "State=ns=2;s=Incubator.State,sampling=100";

async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < until, "waited 30 s for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn values(app: &TestServer, channel_id: i64) -> Vec<f64> {
    server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT value FROM data_points WHERE channel_id = $1 ORDER BY timestamp",
    )
    .bind(channel_id)
    .fetch_all(db)
    .await)
    .unwrap()
}

async fn status(app: &TestServer, device_id: i64) -> String {
    app.scalar(&format!(
        "SELECT status FROM devices WHERE id = {device_id}"
    ))
    .await
}

async fn source_state(app: &TestServer, device_id: i64) -> (Option<i64>, Option<String>) {
    sources::state_of(&app.state.pool, device_id)
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn instrument_values_arrive_as_data_points_and_webhooks_and_none_is_stored_twice() {
    let mut instrument = Instrument::start().await;
    let app = spawn_dispatching(|_| {}).await;
    let receiver = TestReceiver::start().await;
    let device_id = incubator(&app, &instrument.endpoint(), &[TEMPERATURE, STATE]).await;
    let temperature = app.channel_id(device_id, "Temperature").await;
    app.subscribe(
        &receiver,
        "/lims",
        (DEVICE, "Temperature"),
        &[CREATED],
        vec![],
    )
    .await;
    let running = Sources::spawn(app.state.clone());

    // The value the instrument has when the session starts, then a change.
    eventually("the first value", async || {
        (values(&app, temperature).await == [20.0]).then_some(())
    })
    .await;
    instrument.set("Temperature", "30.5").await;
    eventually("the change", async || {
        (values(&app, temperature).await == [20.0, 30.5]).then_some(())
    })
    .await;
    let hooks = receiver.wait_for(2, Duration::from_secs(30)).await;
    let sent: Vec<Value> = hooks
        .iter()
        .map(|h| h.json()["data"]["data_point"]["value"].clone())
        .collect();
    assert!(
        sent.contains(&Value::from(30.5)),
        "webhooks carried {sent:?}"
    );
    let state_channel = app.channel_id(device_id, "State").await;
    let text: Option<String> = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar(
        "SELECT last_str_value FROM channels WHERE id = $1",
    )
    .bind(state_channel)
    .fetch_one(db)
    .await)
    .unwrap();
    assert_eq!(text.as_deref(), Some("Idle"));
    let (connected, error) = source_state(&app, device_id).await;
    assert!(
        connected.is_some() && error.is_none(),
        "{connected:?} {error:?}"
    );
    // Online while its session is, however long it stays quiet (a deadband may keep it so).
    let an_hour_on = server::clock::now_ms() + 3_600_000;
    server::devices::liveness::mark_silent_devices_offline(
        &app.state,
        an_hour_on,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert_eq!(status(&app, device_id).await, "online");

    // A new session (the server restarted) is sent the current values again: not stored twice.
    running.shutdown().await;
    let running = Sources::spawn(app.state.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(values(&app, temperature).await, [20.0, 30.5]);
    instrument.set("Temperature", "31").await;
    eventually("a change after the new session", async || {
        (values(&app, temperature).await == [20.0, 30.5, 31.0]).then_some(())
    })
    .await;

    // The instrument goes away: the source says so; it comes back: values flow again.
    let status_events = async || -> i64 {
        app.scalar(&format!(
            "SELECT COUNT(*) FROM events WHERE device_id = {device_id} AND event_type = 'device.status_changed'"
        ))
        .await
    };
    let before = status_events().await;
    let port = instrument.stop().await;
    let error = eventually("the lost connection", async || {
        source_state(&app, device_id).await.1
    })
    .await;
    assert!(!error.is_empty());
    // Offline at once, with the event subscribers of device status get.
    eventually("offline", async || {
        (status(&app, device_id).await == "offline").then_some(())
    })
    .await;
    assert_eq!(status_events().await, before + 1);
    let mut instrument = Instrument::start_on(port).await;
    eventually("connected again", async || {
        let (connected, error) = source_state(&app, device_id).await;
        (connected.is_some() && error.is_none()).then_some(())
    })
    .await;
    instrument.set("Temperature", "36.6").await;
    eventually(
        "a value from the instrument after its restart",
        async || {
            values(&app, temperature)
                .await
                .contains(&36.6)
                .then_some(())
        },
    )
    .await;
    assert_eq!(status(&app, device_id).await, "online");
    running.shutdown().await;
}

#[tokio::test]
async fn a_bad_node_is_reported_and_the_other_variables_still_arrive() {
    let instrument = Instrument::start().await;
    let app = spawn_dispatching(|_| {}).await;
    let device_id = incubator(
        &app,
        &instrument.endpoint(),
        &[TEMPERATURE, "State=ns=2;s=Incubator.Missing"],
    )
    .await;
    let temperature = app.channel_id(device_id, "Temperature").await;
    let running = Sources::spawn(app.state.clone());
    eventually("the temperature", async || {
        (values(&app, temperature).await == [20.0]).then_some(())
    })
    .await;
    let error = eventually("the report", async || source_state(&app, device_id).await.1).await;
    assert!(
        error.contains("State (ns=2;s=Incubator.Missing)") && error.contains("BadNodeIdUnknown"),
        "{error}"
    );
    running.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_the_outbound_policy_refuses_is_not_connected_to_and_says_why() {
    let instrument = Instrument::start().await;
    let app = spawn_dispatching(|c| c.dispatcher.outbound.allow_loopback = false).await;
    let device_id = incubator(&app, &instrument.endpoint(), &[TEMPERATURE]).await;
    let temperature = app.channel_id(device_id, "Temperature").await;
    let running = Sources::spawn(app.state.clone());
    let error = eventually("the refusal", async || {
        source_state(&app, device_id).await.1
    })
    .await;
    assert!(error.contains("127.0.0.1, a loopback address"), "{error}");
    assert!(values(&app, temperature).await.is_empty());
    running.shutdown().await;
}

#[tokio::test]
async fn the_simulator_leaves_a_demo_device_with_a_source_to_its_instrument() {
    let app = spawn_dispatching(|_| {}).await;
    let admin = app.admin().await;
    let incubator = app.device_id("CO2 Incubator Heracell").await;
    let maps = [MappingSpec::parse_cli("temperature=ns=2;s=Incubator.Temperature").unwrap()];
    // Nothing listens there: only the simulator could write to it.
    sources::add_from_command_line(
        &app.state.pool,
        admin.organisation_id,
        "CO2 Incubator Heracell",
        "opc.tcp://127.0.0.1:9/",
        &maps,
        None,
    )
    .await
    .unwrap();
    let points_of = async |device_id: i64, same: bool| -> i64 {
        app.scalar(&format!(
            "SELECT COUNT(*) FROM data_points p JOIN channels c ON c.id = p.channel_id
             WHERE c.device_id {} {device_id}",
            if same { "=" } else { "<>" }
        ))
        .await
    };
    let simulator = tokio::spawn(server::simulator::run(app.state.clone()));
    // Its first round feeds every simulated device at once (but one it may keep quiet).
    eventually("simulated data", async || {
        (points_of(incubator, false).await > 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    simulator.abort();
    assert_eq!(points_of(incubator, true).await, 0);
}

#[tokio::test]
async fn the_installations_opc_ua_key_is_made_on_first_use_and_kept_from_other_users() {
    use std::os::unix::fs::PermissionsExt;
    let instrument = Instrument::start().await;
    let app = spawn_dispatching(|_| {}).await;
    incubator(&app, &instrument.endpoint(), &[TEMPERATURE]).await;
    let running = Sources::spawn(app.state.clone());
    let pki = server::subscriptions::key_file(&app.state.config).with_extension("opcua-pki");
    let key = pki.join("private/private.pem");
    eventually("the key", async || key.exists().then_some(())).await;
    let mode = std::fs::metadata(&pki).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{:o}", mode);
    assert!(pki.join("own/cert.der").exists());
    running.shutdown().await;
}
