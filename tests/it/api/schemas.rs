//! The API's answers against two documents: the OpenAPI document it serves (every answer of a
//! walk through every operation must fit the schema listed for its status), and Laboperator's
//! reference (`tests/reference/`, a copy of the subset we follow), whose request examples are
//! replayed here.
//!
//! The reference's schemas disagree with its own examples in places (ids are integers in the
//! schemas and strings in the examples; `triggers` is a string in the schema and a list in
//! the examples; nulls where no schema allows them — the reference is OpenAPI 3.0, without
//! `nullable`). So an answer of ours passes when every place where it does not fit the
//! reference schema is a place where the reference's own example does not fit it either;
//! our nulls (an attribute with no value, e.g. no answer yet) are read as absent.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{channel_id, new_subscription, token, Answer, Api};
use crate::helpers::{spawn_app, ADMIN, LAB_USER};

fn validator(
    components: &Value,
    schema: &Value,
    draft: jsonschema::Draft,
) -> jsonschema::Validator {
    let mut root = schema.clone();
    root["components"] = components.clone();
    jsonschema::options()
        .with_draft(draft)
        .build(&root)
        .unwrap_or_else(|e| panic!("not a schema: {e}"))
}

/// Where `instance` does not fit, with array positions written as `*`.
fn misfits(v: &jsonschema::Validator, instance: &Value) -> BTreeSet<String> {
    v.iter_errors(instance)
        .map(|e| {
            let path = e.instance_path().to_string();
            path.split('/')
                .map(|p| if p.parse::<usize>().is_ok() { "*" } else { p })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

/// Checks an answer against the served document's schema for its operation and status.
fn fits_served(doc: &Value, method: &str, path: &str, answer: &Answer) {
    let status = answer.status.as_u16().to_string();
    let response = &doc["paths"][path][method]["responses"][&status];
    assert!(
        !response.is_null(),
        "{method} {path} answered {status}, which the document does not list: {}",
        answer.body
    );
    let schema = &response["content"]["application/vnd.api+json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {status} has no JSON:API schema"
    );
    let v = validator(&doc["components"], schema, jsonschema::Draft::Draft202012);
    let errors: Vec<String> = v
        .iter_errors(&answer.body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status} does not fit the served document: {errors:?}\n{}",
        answer.body
    );
    assert_eq!(
        answer.content_type, "application/vnd.api+json",
        "{method} {path}"
    );
}

#[tokio::test]
async fn every_answer_fits_the_served_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(app.url("/api/v2/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    // Every route is documented.
    for (method, path) in server::http::api_v2::ROUTES {
        if *path == server::http::api_v2::OPENAPI {
            continue;
        }
        assert!(
            doc["paths"][path][method.to_lowercase()].is_object(),
            "{method} {path} is not in the document"
        );
    }

    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let api = Api::new(&app, &token(&app, &lab, &["read", "write", "delete"]).await);
    let read_only = Api::new(&app, &token(&app, &lab, &["read"]).await);
    let admin_api = Api::new(&app, &token(&app, &admin, &["read", "write"]).await);
    let channel = channel_id(&app, "Barcode Scanner Bench 2", "barcode").await;
    let device: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT device_id FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_one(db)
        .await)
        .unwrap();
    let org: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .fetch_one(db)
        .await)
        .unwrap();
    let token_of_device = app.device_token(&admin, device).await;
    app.send_points(
        device,
        &token_of_device,
        &json!([{"channel": "barcode", "value": "S-1"}]),
    )
    .await;

    const SUBS: &str = "/api/v2/webhook_subscriptions";
    const SUB: &str = "/api/v2/webhook_subscriptions/{id}";
    let created = api.post(SUBS, &new_subscription(channel, "walk")).await;
    fits_served(&doc, "post", SUBS, &created);
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();
    let one = format!("{SUBS}/{id}");
    let mut elsewhere = new_subscription(channel, "x");
    elsewhere["data"]["attributes"]["url"] = json!("https://elsewhere.example/");
    let mut walk: Vec<(&str, &str, Answer)> = vec![
        ("get", SUBS, api.get(SUBS).await),
        ("get", SUBS, Api::new(&app, "lhp_nope").get(SUBS).await),
        (
            "get",
            SUBS,
            api.get(&format!("{SUBS}?filter[hair]=1")).await,
        ),
        (
            "post",
            SUBS,
            read_only.post(SUBS, &new_subscription(channel, "x")).await,
        ),
        (
            "post",
            SUBS,
            api.post(SUBS, &json!({"data": {"type": "device"}})).await,
        ),
        ("post", SUBS, api.post(SUBS, &json!({"nothing": 1})).await),
        ("post", SUBS, api.post(SUBS, &elsewhere).await),
        ("get", SUB, api.get(&one).await),
        ("get", SUB, api.get(&format!("{SUBS}/999999")).await),
        (
            "patch",
            SUB,
            api.patch(
                &one,
                &json!({"data": {"attributes": {"display_name": "Walked"}}}),
            )
            .await,
        ),
        (
            "patch",
            SUB,
            admin_api
                .patch(
                    &one,
                    &json!({"data": {"attributes": {"url": "http://127.0.0.1:9999/b"}}}),
                )
                .await,
        ),
        (
            "post",
            "/api/v2/webhook_subscriptions/{id}/test_event",
            api.post(
                &format!("{one}/test_event"),
                &json!({"data": {"attributes": {"sample": "S-2"}}}),
            )
            .await,
        ),
        (
            "post",
            "/api/v2/webhook_subscriptions/{id}/rotate_secret",
            api.post(&format!("{one}/rotate_secret"), &json!({})).await,
        ),
        (
            "get",
            "/api/v2/webhook_subscriptions/{id}/replays",
            api.get(&format!("{one}/replays")).await,
        ),
    ];
    let window = |preview: bool| {
        json!({"data": {"attributes": {
        "since": server::clock::rfc3339(server::clock::now_ms() - 3_600_000),
        "until": server::clock::rfc3339(server::clock::now_ms() + 60_000), "preview": preview}}})
    };
    walk.push((
        "post",
        "/api/v2/webhook_subscriptions/{id}/replays",
        api.post(&format!("{one}/replays"), &window(true)).await,
    ));
    let started = api.post(&format!("{one}/replays"), &window(false)).await;
    let replay = started.body["data"]["id"]
        .as_str()
        .unwrap_or("0")
        .to_owned();
    walk.push((
        "post",
        "/api/v2/webhook_subscriptions/{id}/replays",
        started,
    ));
    walk.push((
        "delete",
        "/api/v2/replays/{id}",
        api.delete(&format!("/api/v2/replays/{replay}")).await,
    ));
    let logs = api
        .get(&format!("/api/v2/webhook_logs?filter[container_id]={id}"))
        .await;
    let log = logs.body["data"][0]["id"].as_str().unwrap().to_owned();
    walk.push(("get", "/api/v2/webhook_logs", logs));
    walk.push((
        "get",
        "/api/v2/webhook_logs/{id}",
        api.get(&format!("/api/v2/webhook_logs/{log}")).await,
    ));
    walk.push((
        "post",
        "/api/v2/webhook_logs/{id}/redeliver",
        api.post(&format!("/api/v2/webhook_logs/{log}/redeliver"), &json!({}))
            .await,
    ));
    walk.push((
        "get",
        "/api/v2/organisations",
        api.get("/api/v2/organisations").await,
    ));
    let org_path = format!("/api/v2/organisations/{org}");
    walk.push((
        "get",
        "/api/v2/organisations/{id}",
        admin_api.get(&org_path).await,
    ));
    walk.push((
        "patch",
        "/api/v2/organisations/{id}",
        admin_api
            .patch(
                &org_path,
                &json!({"data": {"attributes": {"settings": {"features": ["webhooks"]}}}}),
            )
            .await,
    ));
    walk.push((
        "patch",
        "/api/v2/organisations/{id}",
        api.patch(
            &org_path,
            &json!({"data": {"attributes": {"settings": {"features": []}}}}),
        )
        .await,
    ));
    walk.push((
        "get",
        "/api/v2/devices",
        api.get("/api/v2/devices?include=channels").await,
    ));
    walk.push((
        "get",
        "/api/v2/devices/{id}",
        api.get(&format!("/api/v2/devices/{device}?include=channels"))
            .await,
    ));
    walk.push((
        "get",
        "/api/v2/channels",
        api.get("/api/v2/channels?include=device").await,
    ));
    walk.push((
        "get",
        "/api/v2/channels/{id}",
        api.get(&format!("/api/v2/channels/{channel}?include=device"))
            .await,
    ));
    walk.push((
        "get",
        "/api/v2/data_points",
        api.get(&format!("/api/v2/data_points?filter[channel_id]={channel}"))
            .await,
    ));
    walk.push((
        "get",
        "/api/v2/data_points",
        api.get("/api/v2/data_points?filter[timestamp]=never").await,
    ));
    walk.push(("delete", SUB, read_only.delete(&one).await));
    walk.push(("delete", SUB, api.delete(&one).await));

    let statuses: BTreeSet<u16> = walk.iter().map(|(_, _, a)| a.status.as_u16()).collect();
    assert_eq!(
        statuses,
        BTreeSet::from([200, 202, 400, 401, 403, 404, 409, 422]),
        "the walk covers every status the API answers with"
    );
    for (method, path, answer) in &walk {
        fits_served(&doc, method, path, answer);
    }
    examples_are_real(&doc, &walk);
}

/// The document's examples, recorded from the walk above.
const EXAMPLES_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/server/src/http/api_v2/openapi/examples.json"
);

/// Every member's place in `value` (`/data/*/attributes/url`), whatever the values.
fn shape(value: &Value, at: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(o) => {
            for (k, v) in o {
                let here = format!("{at}/{k}");
                out.insert(here.clone());
                shape(v, &here, out);
            }
        }
        Value::Array(a) => {
            for v in a {
                shape(v, &format!("{at}/*"), out);
            }
        }
        _ => {}
    }
}

/// The first answer of each operation and status is the document's example of it: recorded
/// with `LABHOOK_RECORD_API_EXAMPLES=1`, otherwise checked to still have the live answer's
/// shape and to be what the served document shows.
fn examples_are_real(doc: &Value, walk: &[(&str, &str, Answer)]) {
    let mut live = BTreeMap::new();
    for (method, path, answer) in walk {
        live.entry(format!("{method} {path} {}", answer.status.as_u16()))
            .or_insert_with(|| answer.body.clone());
    }
    if std::env::var_os("LABHOOK_RECORD_API_EXAMPLES").is_some() {
        // Secrets of the throw-away instance still look like secrets to scanners.
        let text = serde_json::to_string_pretty(&live)
            .unwrap()
            .split('"')
            .map(|part| {
                if part.starts_with("whsec_") {
                    "whsec_…shown once…"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("\"")
            + "\n";
        std::fs::write(EXAMPLES_FILE, text).unwrap();
        return;
    }
    let again = "record them again: LABHOOK_RECORD_API_EXAMPLES=1 cargo test --features labhook/ssr api::schemas";
    let recorded: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(EXAMPLES_FILE).unwrap()).unwrap();
    assert_eq!(
        recorded.keys().collect::<Vec<_>>(),
        live.keys().collect::<Vec<_>>(),
        "the recorded examples are not this walk's answers: {again}"
    );
    for (key, example) in &recorded {
        let (mut then, mut now) = (BTreeSet::new(), BTreeSet::new());
        shape(example, "", &mut then);
        shape(&live[key], "", &mut now);
        assert_eq!(
            then, now,
            "{key}: the answer's shape is not its example's any more: {again}"
        );
        let (method, rest) = key.split_once(' ').unwrap();
        let (path, status) = rest.rsplit_once(' ').unwrap();
        let served = &doc["paths"][path][method]["responses"][status]["content"]
            ["application/vnd.api+json"]["example"];
        assert_eq!(
            served, example,
            "{key}: the served document does not show the recorded example"
        );
    }
}

/// The reference's schema and examples for an operation's answer.
fn reference_answer<'r>(
    reference: &'r Value,
    path: &str,
    method: &str,
    status: &str,
) -> (&'r Value, Vec<Value>) {
    let content = &reference["paths"][path][method]["responses"][status]["content"]
        ["application/vnd.api+json"];
    let examples = content["examples"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, e)| e["value"].clone())
        .collect();
    (&content["schema"], examples)
}

/// `value` without its null members, at any depth (also in arrays: the reference's data
/// point quadruple "always" has a null `value` or `str_value`, which its schema does not allow).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn fits_reference(reference: &Value, path: &str, method: &str, status: &str, ours: &Value) {
    let ours = &without_nulls(ours);
    let (schema, examples) = reference_answer(reference, path, method, status);
    assert!(
        !schema.is_null(),
        "the reference has no schema for {method} {path} {status}"
    );
    assert!(
        !examples.is_empty(),
        "the reference has no example for {method} {path} {status}"
    );
    let v = validator(&reference["components"], schema, jsonschema::Draft::Draft4);
    let tolerated: BTreeSet<String> = examples.iter().flat_map(|e| misfits(&v, e)).collect();
    let ours_misfit = misfits(&v, ours);
    let beyond: Vec<&String> = ours_misfit.difference(&tolerated).collect();
    assert!(
        beyond.is_empty(),
        "{method} {path} {status} departs from the reference's schema where its own example does not: {beyond:?}\n{ours}"
    );
}

#[tokio::test]
async fn the_references_examples_work_and_answers_have_its_shapes() {
    let reference: Value = serde_json::from_str(include_str!(
        "../../reference/laboperator-api-v2-subset.json"
    ))
    .unwrap();
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let api = Api::new(&app, &token(&app, &lab, &["read", "write", "delete"]).await);
    let admin_api = Api::new(&app, &token(&app, &admin, &["read", "write"]).await);
    let channel = channel_id(&app, "Barcode Scanner Bench 2", "barcode").await;

    // The reference's create example, with our registered URL and one of our channel ids for
    // its opaque trigger id "6".
    let body = &reference["paths"]["/webhook_subscriptions"]["post"]["requestBody"]["content"]
        ["application/vnd.api+json"]["example"];
    let mut create = body.clone();
    assert_eq!(create["data"]["attributes"]["triggers"], json!(["6"]));
    create["data"]["attributes"]["url"] = json!("http://127.0.0.1:9999/from-the-reference");
    create["data"]["attributes"]["triggers"] = json!([channel.to_string()]);
    let created = api.post("/api/v2/webhook_subscriptions", &create).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(
        created.body["data"]["attributes"]["headers"],
        json!({"a": "b"})
    );
    fits_reference(
        &reference,
        "/webhook_subscriptions",
        "post",
        "200",
        &created.body,
    );
    let id = created.body["data"]["id"].as_str().unwrap().to_owned();

    // Its update example, as it stands.
    let patch = &reference["paths"]["/webhook_subscriptions/{id}"]["patch"]["requestBody"]
        ["content"]["application/vnd.api+json"]["example"];
    let updated = api
        .patch(&format!("/api/v2/webhook_subscriptions/{id}"), patch)
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    fits_reference(
        &reference,
        "/webhook_subscriptions/{id}",
        "patch",
        "200",
        &updated.body,
    );

    let device: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT device_id FROM channels WHERE id = $1")
        .bind(channel)
        .fetch_one(db)
        .await)
        .unwrap();
    let org: i64 = server::db::with_db!(&app.state.pool, db => sqlx::query_scalar("SELECT id FROM organisations WHERE name = 'Demo Lab'")
        .fetch_one(db)
        .await)
        .unwrap();
    let token_of_device = app.device_token(&admin, device).await;
    app.send_points(
        device,
        &token_of_device,
        &json!([{"channel": "barcode", "value": "S-9"}]),
    )
    .await;
    // A test event from the channel's latest value (an empty body is allowed).
    let test = api
        .post(
            &format!("/api/v2/webhook_subscriptions/{id}/test_event"),
            &json!({}),
        )
        .await;
    assert_eq!(test.status, StatusCode::ACCEPTED, "{}", test.body);

    for (path, ours, call) in [
        (
            "/webhook_subscriptions",
            "/api/v2/webhook_subscriptions".to_owned(),
            &api,
        ),
        (
            "/webhook_subscriptions/{id}",
            format!("/api/v2/webhook_subscriptions/{id}"),
            &api,
        ),
        ("/webhook_logs", "/api/v2/webhook_logs".to_owned(), &api),
        (
            "/webhook_logs/{id}",
            format!(
                "/api/v2/webhook_logs/{}",
                test.body["data"]["id"].as_str().unwrap()
            ),
            &api,
        ),
        (
            "/organisations/{id}",
            format!("/api/v2/organisations/{org}"),
            &admin_api,
        ),
        ("/devices", "/api/v2/devices".to_owned(), &api),
        ("/devices/{id}", format!("/api/v2/devices/{device}"), &api),
        ("/channels", "/api/v2/channels".to_owned(), &api),
        (
            "/channels/{id}",
            format!("/api/v2/channels/{channel}"),
            &api,
        ),
        (
            "/data_points",
            format!("/api/v2/data_points?filter[channel_id]={channel}"),
            &api,
        ),
    ] {
        let answer = call.get(&ours).await;
        assert_eq!(answer.status, StatusCode::OK, "{ours}: {}", answer.body);
        fits_reference(&reference, path, "get", "200", &answer.body);
    }
    // Errors in the reference's `Errors` shape.
    let unauthorised = Api::new(&app, "lhp_x")
        .get("/api/v2/webhook_subscriptions")
        .await;
    fits_reference(
        &reference,
        "/webhook_subscriptions",
        "get",
        "401",
        &unauthorised.body,
    );
    let bad_filter = api
        .get("/api/v2/webhook_subscriptions?filter[webhook_subscriptions][hair]=1")
        .await;
    fits_reference(
        &reference,
        "/webhook_subscriptions",
        "get",
        "400",
        &bad_filter.body,
    );
    let missing = api.get("/api/v2/webhook_subscriptions/999999").await;
    fits_reference(
        &reference,
        "/webhook_subscriptions/{id}",
        "get",
        "404",
        &missing.body,
    );
    let deleted = api
        .delete(&format!("/api/v2/webhook_subscriptions/{id}"))
        .await;
    fits_reference(
        &reference,
        "/webhook_subscriptions/{id}",
        "delete",
        "200",
        &deleted.body,
    );
}
