//! The bad-input corpus through the API: the same wrong target URLs and headers as through
//! the pages' server functions, in the API's shapes, plus what only a document can get wrong
//! (no `data`, wrong types, not JSON, too large) and wrong query parameters on every list.
//! Each gets a JSON:API 4xx with a message; nothing is stored.

use reqwest::{header, Client, Method};
use serde_json::{json, Map, Value};

use super::{channel_id, token};
use crate::{
    corpus::{bad_headers, bad_urls, counts, RESERVED_HEADERS},
    helpers::{spawn_app, ADMIN, LAB_USER},
};

/// The form's header rows as the API's header object, where they can be written as one.
fn as_api_headers(rows: &Value) -> Value {
    let Some(rows) = rows.as_array() else {
        // Not a list of rows (a single row, a line of text): in the API's shape still wrong.
        return match rows {
            Value::Object(_) => Value::Array(vec![rows.clone()]),
            other => other.clone(),
        };
    };
    let mut object = Map::new();
    for row in rows {
        let Some(name) = row["name"].as_str() else {
            return Value::Array(rows.clone());
        };
        let value = if row["secret"] == json!(true) {
            json!({"value": row["value"], "secret": true})
        } else {
            row["value"].clone()
        };
        object.insert(name.to_owned(), value);
    }
    Value::Object(object)
}

fn subscription(url: Value, headers: Value, triggers: Value) -> Vec<u8> {
    json!({"data": {"type": "webhook_subscription",
        "attributes": {"url": url, "headers": headers, "triggers": triggers}}})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn the_bad_input_corpus_through_the_api_gets_4xx_and_stores_nothing() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let lab_token = token(&app, &lab, &["read", "write", "delete"]).await;
    let admin_token = token(&app, &admin, &["read", "write"]).await;
    let channel = channel_id(&app, "Barcode Scanner Bench 2", "barcode").await;
    let foreign = channel_id(&app, "Ultra-Low Freezer", "temperature").await;
    let ok_url = json!("http://127.0.0.1:9999/hook");
    let ok_triggers = json!([format!("{channel}:data_point.created")]);
    // One to change, made before counting.
    let made = Client::new()
        .post(app.url("/api/v2/webhook_subscriptions"))
        .bearer_auth(&lab_token)
        .body(subscription(ok_url.clone(), json!({}), ok_triggers.clone()))
        .send()
        .await
        .unwrap();
    let made: Value = made.json().await.unwrap();
    let one = format!(
        "/api/v2/webhook_subscriptions/{}",
        made["data"]["id"].as_str().unwrap()
    );
    let org: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .fetch_one(db)
        .await)
        .unwrap();

    let mut cases: Vec<(String, Method, String, &str, Vec<u8>)> = Vec::new();
    let post = "/api/v2/webhook_subscriptions".to_owned();
    for (i, url) in bad_urls().into_iter().enumerate() {
        let body = subscription(url, json!({}), ok_triggers.clone());
        cases.push((
            format!("target URL #{i}"),
            Method::POST,
            post.clone(),
            &lab_token,
            body,
        ));
    }
    for (i, headers) in bad_headers().iter().enumerate() {
        let body = subscription(ok_url.clone(), as_api_headers(headers), ok_triggers.clone());
        cases.push((
            format!("headers #{i}"),
            Method::POST,
            post.clone(),
            &lab_token,
            body,
        ));
    }
    for reserved in RESERVED_HEADERS {
        let body = subscription(
            ok_url.clone(),
            json!({ *reserved: "1" }),
            ok_triggers.clone(),
        );
        cases.push((
            format!("reserved header {reserved}"),
            Method::POST,
            post.clone(),
            &lab_token,
            body,
        ));
    }
    for (i, triggers) in [
        json!([]),
        json!(null),
        json!("1:data_point.created"),
        json!(["999999:data_point.created"]),
        json!([format!("{foreign}:data_point.created")]),
        json!(["-1"]),
        json!([""]),
        json!([":"]),
        json!([format!("{channel}:nonsense")]),
        json!([format!("{channel}:")]),
        json!([format!("{channel}:DATA_POINT.CREATED")]),
        json!([5.5]),
        json!([null]),
        json!([{"channel_id": channel}]),
        json!([[channel]]),
        json!(["99999999999999999999:data_point.created"]),
    ]
    .into_iter()
    .enumerate()
    {
        let body = subscription(ok_url.clone(), json!({}), triggers);
        cases.push((
            format!("triggers #{i}"),
            Method::POST,
            post.clone(),
            &lab_token,
            body,
        ));
    }
    // What only a document can get wrong.
    for (i, raw) in [
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{}".to_vec(),
        b"{\"data\": []}".to_vec(),
        b"{\"data\": null}".to_vec(),
        b"{\"data\": {\"attributes\": []}}".to_vec(),
        b"{\"data\": {\"attributes\": \"url\"}}".to_vec(),
        b"{\"data\": {\"type\": 5, \"attributes\": {}}}".to_vec(),
        b"{\"data\": {\"type\": \"webhook_subscriptions\", \"attributes\": {}}}".to_vec(),
        b"{\"data\": {\"attributes\": {\"url\": \"http://127.0.0.1:9999/\", \"display_name\": 5}}}"
            .to_vec(),
        b"{\"data\": {\"attributes\": {\"url\": \"http://127.0.0.1:9999/\", \"active\": \"yes\"}}}"
            .to_vec(),
        b"{\"data\": {\"attributes\": {\"url\": \"http://127.0.0.1:9999/\", \"display_name\": \""
            .iter()
            .copied()
            .chain("n".repeat(300).into_bytes())
            .chain(b"\"}}}".iter().copied())
            .collect(),
        b"{\"data\": ".to_vec(),
        vec![0xff, 0xfe, 0x00],
        format!(
            "{{\"data\": {{\"attributes\": {{\"url\": \"{}\"}}}}}}",
            "a".repeat(300_000)
        )
        .into_bytes(),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((
            format!("document #{i}"),
            Method::POST,
            post.clone(),
            &lab_token,
            raw,
        ));
    }
    for (i, body) in [
        json!({"data": {"id": "424242", "attributes": {"active": false}}}),
        json!({"data": {"attributes": {"url": "https://evil.example/"}}}),
        json!({"data": {"attributes": {"headers": "X-Lab: 1"}}}),
        json!({"data": {"attributes": {"headers": {"X-Key": {"secret": true}}}}}),
        json!({"data": {"attributes": {"triggers": []}}}),
        json!({"data": {"attributes": {"active": 1}}}),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((
            format!("change #{i}"),
            Method::PATCH,
            one.clone(),
            &lab_token,
            body.to_string().into_bytes(),
        ));
    }
    let org_path = format!("/api/v2/organisations/{org}");
    for (i, body) in [
        json!({"data": {"attributes": {"settings": {"features": "webhooks"}}}}),
        json!({"data": {"attributes": {"settings": {"security": {"approvedWebhooks": ["ftp://lims.example/"]}}}}}),
        json!({"data": {"attributes": {"settings": {"security": {"approvedWebhooks": "https://lims.example/"}}}}}),
        json!({"data": {"attributes": {"name": "Renamed"}}}),
        json!({"data": {"type": "device", "attributes": {}}}),
        json!({"data": {"id": "999", "attributes": {}}}),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((format!("organisation #{i}"), Method::PATCH, org_path.clone(), &admin_token, body.to_string().into_bytes()));
    }
    for (i, body) in [
        json!({"data": {"attributes": {"since": "yesterday", "until": "today"}}}),
        json!({"data": {"attributes": {"since": "2026-11-01T00:00:00Z"}}}),
        json!({"data": {"attributes": {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}}}),
        json!({"data": {"attributes": {"since": "1990-01-01T00:00:00Z", "until": "1990-01-02T00:00:00Z"}}}),
        json!({"data": {"attributes": {"since": 5, "until": 6}}}),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((format!("replay #{i}"), Method::POST, format!("{one}/replays"), &lab_token, body.to_string().into_bytes()));
    }
    for query in [
        "/api/v2/webhook_subscriptions?page[number]=0",
        "/api/v2/webhook_subscriptions?page[size]=-1",
        "/api/v2/webhook_subscriptions?page[size]=abc",
        "/api/v2/webhook_subscriptions?sort=;DROP",
        "/api/v2/webhook_subscriptions?include=user",
        "/api/v2/webhook_subscriptions?colour=red",
        "/api/v2/webhook_subscriptions?fields[webhook_subscription]=secret",
        "/api/v2/webhook_logs?filter[status]=lost",
        "/api/v2/webhook_logs?filter[container_id]=1,2",
        "/api/v2/webhook_logs?filter[container_id]=abc",
        "/api/v2/webhook_logs?filter[container_id]=999999",
        "/api/v2/webhook_logs?filter[channels][name]=x",
        "/api/v2/devices?filter[hair]=brown",
        "/api/v2/devices?include=users",
        "/api/v2/channels?sort=unit",
        "/api/v2/data_points?filter[timestamp]=a,b",
        "/api/v2/data_points?filter[timestamp]=,-9223372036854775808",
        "/api/v2/data_points?filter[timestamp]=-9223372036854775808,9223372036854775807",
        "/api/v2/data_points?filter[channel_id]=abc",
        "/api/v2/data_points?filter[timestamp]=2026-11-02T00:00:00Z,2026-11-01T00:00:00Z",
        "/api/v2/data_points?page[size]=100000",
        "/api/v2/webhook_subscriptions/1e3",
        "/api/v2/webhook_logs/-1",
        "/api/v2/devices/99999999999999999999",
        "/api/v2/organisations/0",
    ] {
        cases.push((
            format!("GET {query}"),
            Method::GET,
            query.to_owned(),
            &lab_token,
            vec![],
        ));
    }
    assert!(cases.len() > 140, "{} cases", cases.len());

    // Each token may make 100 requests at once: a few lab tokens share the work, so that
    // every case is answered for what it is, never with 429.
    let mut lab_tokens = vec![lab_token.clone()];
    for _ in 0..3 {
        lab_tokens.push(token(&app, &lab, &["read", "write", "delete"]).await);
    }
    let before = counts(&app).await;
    let http = Client::new();
    let mut wrong = Vec::new();
    for (n, (what, method, path, token, body)) in cases.into_iter().enumerate() {
        let token = if token == lab_token {
            &lab_tokens[n % lab_tokens.len()]
        } else {
            token
        };
        let res = http
            .request(method, app.url(&path))
            .bearer_auth(token)
            .header(header::CONTENT_TYPE, "application/vnd.api+json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        let detail = body["errors"][0]["detail"].as_str().unwrap_or_default();
        if !(400..500).contains(&status)
            || status == 429
            || detail.is_empty()
            || content_type != "application/vnd.api+json"
        {
            wrong.push(format!("{what}: {status} {content_type} {body}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(
        counts(&app).await,
        before,
        "a refused input changed something"
    );
}
