//! Preparing a fresh server through its own HTTP API, as the demo admin would.

use serde_json::{json, Value};

/// As the demo admin: register the receiver, create a device token, subscribe.
pub async fn set_up(base: &str, receiver_port: u16, subscriptions: usize) -> (i64, String) {
    let c = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let call = |f: &str, form: Vec<(&str, String)>| {
        let req = c.post(format!("{base}/api/{f}")).form(&form);
        async move {
            let res = req.send().await.unwrap();
            assert!(res.status().is_success(), "{}", res.text().await.unwrap());
            res.json::<Value>().await.unwrap()
        }
    };
    call(
        "sign_in",
        vec![
            ("email", "admin@demo.lab".into()),
            ("password", "demo-admin-pass".into()),
        ],
    )
    .await;
    call(
        "admin/register_url",
        vec![
            ("url", format!("http://127.0.0.1:{receiver_port}/")),
            ("note", "load receiver".into()),
        ],
    )
    .await;
    let devices = call("devices/list", vec![]).await;
    let hotplate = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "Hotplate Stirrer RCT digital")
        .unwrap();
    let device_id = hotplate["id"].as_i64().unwrap();
    let channel_id = hotplate["channels"][0]["id"].as_i64().unwrap();
    let token = call(
        "devices/create_token",
        vec![
            ("device_id", device_id.to_string()),
            ("label", "load".into()),
        ],
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for n in 0..subscriptions {
        let res = c
            .post(format!("{base}/api/subscriptions/create"))
            .json(&json!({"input": {
                "display_name": format!("load {n}"),
                "url": format!("http://127.0.0.1:{receiver_port}/hooks/{n}"), "headers": [],
                "triggers": [{"channel_id": channel_id, "event_type": "data_point.created"}]
            }}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }
    (device_id, token)
}
