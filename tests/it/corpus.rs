//! The bad-input corpus: hundreds of wrong inputs through the real doors — target URLs,
//! headers, triggers, registered URLs, ingest bodies, server-function payloads, query
//! strings, oversized and malformed bodies, bytes that are not UTF-8. Every one gets a 4xx
//! with a message; none a 5xx or a panic; and nothing is stored (row counts before and after).

use reqwest::{header, Client};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, ADMIN, LAB_USER};

/// One bad request.
struct Case {
    what: String,
    door: Door,
    body: Body,
}

enum Door {
    /// A server function as the lab user.
    AsLabUser(&'static str),
    /// A server function as the org admin.
    AsAdmin(&'static str),
    /// The ingest API with a valid device token.
    Ingest,
    /// A raw path (with its query string) as the lab user.
    Path(String),
}

enum Body {
    Json(Value),
    Form(Vec<(String, String)>),
    Raw(&'static str, Vec<u8>),
}

fn case(what: impl Into<String>, door: Door, body: Body) -> Case {
    Case {
        what: what.into(),
        door,
        body,
    }
}

/// The tables that a wrong input must leave untouched.
const TABLES: &[&str] = &[
    "subscriptions",
    "subscription_triggers",
    "registered_urls",
    "data_points",
    "events",
    "deliveries",
    "device_tokens",
    "device_access",
    "audit_log",
    "users",
    "organisations",
    "devices",
    "channels",
];

pub async fn counts(app: &TestApp) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(((*t).to_owned(), app.count(t).await));
    }
    out
}

fn subscription(url: Value, headers: Value, triggers: Value) -> Body {
    Body::Json(
        json!({"input": {"display_name": "", "url": url, "headers": headers, "triggers": triggers}}),
    )
}

/// Target URLs no subscription may have (the API's corpus sends them too).
pub fn bad_urls() -> Vec<Value> {
    vec![
        json!(""),
        json!(" "),
        json!("lims"),
        json!("127.0.0.1:9999/hook"),
        json!("ftp://127.0.0.1:9999/hook"),
        json!("file:///etc/passwd"),
        json!("javascript:alert(1)"),
        json!("data:text/plain,hi"),
        json!("http://"),
        json!("http://user:pass@127.0.0.1:9999/hook"),
        json!("http://user@127.0.0.1:9999/hook"),
        json!("http://127.0.0.1:9999/hook#frag"),
        json!("https://evil.example/hook"),
        json!("http://127.0.0.1:9998/hook"),
        json!("http://127.0.0.2:9999/hook"),
        json!("http://[::1]:9999/hook"),
        json!("http://localhost:9999/hook"),
        json!("http://127.0.0.1:99999/hook"),
        json!("http://127.0.0.1:-1/hook"),
        json!("http://127.0.0.1:9999/hook\nX-Injected: 1"),
        json!("http://127.0.0.1:9999/hook\r\n"),
        json!("http://127.0.0.1:9999/\u{0}"),
        json!(format!("http://127.0.0.1:9999/{}", "a".repeat(5000))),
        json!("http://exa mple.org/"),
        json!("http://%zz/"),
        json!("mailto:lab@example.org"),
        json!("//127.0.0.1:9999/hook"),
        json!(42),
        json!(null),
        json!(true),
        json!(["http://127.0.0.1:9999/hook"]),
        json!({"url": "http://127.0.0.1:9999/hook"}),
        json!("https://127.0.0.1:9999/hook"),
        json!("HTTP://127.0.0.1:9999@evil.example/"),
    ]
}

/// Custom headers no subscription may have, as the form sends them.
pub fn bad_headers() -> Vec<Value> {
    let long = "v".repeat(9000);
    vec![
        json!([{"name": "", "value": "1", "secret": false}]),
        json!([{"name": " ", "value": "1", "secret": false}]),
        json!([{"name": "X Lab", "value": "1", "secret": false}]),
        json!([{"name": "X-Lab:", "value": "1", "secret": false}]),
        json!([{"name": "X-Lab\n", "value": "1", "secret": false}]),
        json!([{"name": "X-Lab", "value": "a\r\nX-Injected: 1", "secret": false}]),
        json!([{"name": "X-Lab", "value": "a\nb", "secret": false}]),
        json!([{"name": "X-Lab", "value": "a\u{0}b", "secret": false}]),
        json!([{"name": "X-Lab", "value": null, "secret": false}]),
        json!([{"name": "X-Lab", "value": long, "secret": false}]),
        json!([{"name": "Ä-Lab", "value": "1", "secret": false}]),
        json!([{"name": "X-Lab", "value": "1"}, {"name": "x-lab", "value": "2"}]),
        json!((0..25)
            .map(|i| json!({"name": format!("X-H{i}"), "value": "1"}))
            .collect::<Vec<_>>()),
        json!([{"name": "a".repeat(200), "value": "1"}]),
        json!([{"name": 5, "value": "1"}]),
        json!([{"value": "1"}]),
        json!({"name": "X-Lab", "value": "1"}),
        json!("X-Lab: 1"),
    ]
}

/// Headers Labhook sets itself, or that would change the request's framing.
pub const RESERVED_HEADERS: &[&str] = &[
    "Host",
    "Content-Length",
    "Content-Type",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
    "Upgrade",
    "TE",
    "Trailer",
    "Proxy-Connection",
    "webhook-id",
    "Webhook-Timestamp",
    "WEBHOOK-SIGNATURE",
    "Content-Encoding",
    "Expect",
    "User-Agent",
    "Forwarded",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "x-forwarded-proto",
];

fn cases(channel: i64, other_org_channel: i64, device: i64) -> Vec<Case> {
    let mut c = Vec::new();
    let existing_device = device;
    let ok_triggers = json!([{"channel_id": channel, "event_type": "data_point.created"}]);
    let ok_url = json!("http://127.0.0.1:9999/hook");

    // Target URLs.
    let bad_urls = bad_urls();
    for (i, url) in bad_urls.into_iter().enumerate() {
        c.push(case(
            format!("target URL #{i} {url}"),
            Door::AsLabUser("subscriptions/create"),
            subscription(url, json!([]), ok_triggers.clone()),
        ));
    }

    // Custom headers.
    let bad_headers = bad_headers();
    for (i, headers) in bad_headers.into_iter().enumerate() {
        c.push(case(
            format!("headers #{i}"),
            Door::AsLabUser("subscriptions/create"),
            subscription(ok_url.clone(), headers, ok_triggers.clone()),
        ));
    }
    for reserved in RESERVED_HEADERS {
        c.push(case(
            format!("reserved header {reserved}"),
            Door::AsLabUser("subscriptions/create"),
            subscription(
                ok_url.clone(),
                json!([{"name": reserved, "value": "1", "secret": false}]),
                ok_triggers.clone(),
            ),
        ));
    }

    // Triggers.
    let bad_triggers: Vec<Value> = vec![
        json!([]),
        json!(null),
        json!([{"channel_id": 999_999, "event_type": "data_point.created"}]),
        json!([{"channel_id": other_org_channel, "event_type": "data_point.created"}]),
        json!([{"channel_id": -1, "event_type": "data_point.created"}]),
        json!([{"channel_id": channel, "event_type": "nonsense"}]),
        json!([{"channel_id": channel, "event_type": ""}]),
        json!([{"channel_id": channel, "event_type": "DATA_POINT.CREATED"}]),
        json!([{"channel_id": channel}]),
        json!([{"event_type": "data_point.created"}]),
        json!([{"channel_id": "one", "event_type": "data_point.created"}]),
        json!([{"channel_id": 1.5, "event_type": "data_point.created"}]),
        json!([{"channel_id": 9_223_372_036_854_775_807i64, "event_type": "data_point.created"}]),
        json!([{"channel_id": channel, "event_type": 7}]),
        json!((0..1001)
            .map(|i| json!({"channel_id": i, "event_type": "data_point.created"}))
            .collect::<Vec<_>>()),
        json!("all"),
        json!({"channel_id": channel, "event_type": "data_point.created"}),
    ];
    for (i, triggers) in bad_triggers.into_iter().enumerate() {
        c.push(case(
            format!("triggers #{i}"),
            Door::AsLabUser("subscriptions/create"),
            subscription(ok_url.clone(), json!([]), triggers),
        ));
    }
    // Advanced options (noisy channels) that do not fit their trigger, or are not options.
    let value_changed = json!([{"channel_id": channel, "event_type": "channel.value_changed"}]);
    let option = |o: Value| {
        let mut o = o;
        o["channel_id"] = json!(channel);
        o["event_type"] = json!("channel.value_changed");
        o
    };
    for (i, options) in [
        json!([{"channel_id": channel, "event_type": "data_point.created", "min_interval_seconds": 5}]),
        json!([{"channel_id": other_org_channel, "event_type": "channel.value_changed", "min_interval_seconds": 5}]),
        json!([option(json!({"dead_band": -1}))]),
        json!([option(json!({"dead_band": 0}))]),
        json!([option(json!({"min_interval_seconds": 0}))]),
        json!([option(json!({"min_interval_seconds": 1e9}))]),
        json!([option(json!({"min_interval_seconds": "ten"}))]),
        json!([option(json!({"settle_band": 0.1}))]),
        json!([option(json!({"settle_seconds": 5}))]),
        json!([option(json!({"settle_band": -0.1, "settle_seconds": 5}))]),
        json!({"dead_band": 1}),
        json!("fast"),
    ]
    .into_iter()
    .enumerate()
    {
        c.push(case(
            format!("trigger options #{i}"),
            Door::AsLabUser("subscriptions/create"),
            Body::Json(json!({"input": {"display_name": "", "url": ok_url, "headers": [],
                "triggers": value_changed, "trigger_options": options}})),
        ));
    }
    // Whole subscription payloads of the wrong shape.
    for (i, body) in [
        json!({}),
        json!({"input": null}),
        json!({"input": []}),
        json!({"input": "x"}),
        json!({"input": {"url": 42}}),
        json!({"input": {"display_name": "x".repeat(101), "url": "http://127.0.0.1:9999/", "headers": [], "triggers": []}}),
        json!({"input": {"display_name": "a\nb", "url": "http://127.0.0.1:9999/", "headers": [], "triggers": []}}),
        json!([1, 2, 3]),
        json!(null),
        json!("input"),
    ]
    .into_iter()
    .enumerate()
    {
        c.push(case(
            format!("subscription payload #{i}"),
            Door::AsLabUser("subscriptions/create"),
            Body::Json(body),
        ));
    }
    for (what, raw) in [
        ("truncated JSON", b"{\"input\": {".to_vec()),
        ("not JSON", b"input=1".to_vec()),
        ("not UTF-8", vec![0xff, 0xfe, 0x7b, 0x7d]),
        ("empty", vec![]),
        ("deeply nested", "[".repeat(10_000).into_bytes()),
    ] {
        c.push(case(
            format!("subscriptions/create: {what}"),
            Door::AsLabUser("subscriptions/create"),
            Body::Raw("application/json", raw),
        ));
        c.push(case(
            format!("subscriptions/update: {what}"),
            Door::AsLabUser("subscriptions/update"),
            Body::Raw("application/json", raw_clone(&c)),
        ));
    }

    // Server functions with form arguments.
    let forms: Vec<(&'static str, Vec<(&str, &str)>)> = vec![
        ("subscriptions/get", vec![]),
        ("subscriptions/get", vec![("id", "")]),
        ("subscriptions/get", vec![("id", "abc")]),
        ("subscriptions/get", vec![("id", "1.5")]),
        ("subscriptions/get", vec![("id", "99999999999999999999999")]),
        ("subscriptions/get", vec![("id", "-1")]),
        ("subscriptions/get", vec![("id", "0")]),
        ("subscriptions/show", vec![("id", "x")]),
        ("subscriptions/show", vec![("id", "424242")]),
        (
            "subscriptions/set_active",
            vec![("id", "424242"), ("active", "true")],
        ),
        ("subscriptions/set_active", vec![("id", "1")]),
        (
            "subscriptions/set_active",
            vec![("id", "1"), ("active", "maybe")],
        ),
        ("subscriptions/delete", vec![("id", "424242")]),
        ("subscriptions/delete", vec![("id", "")]),
        ("subscriptions/rotate_secret", vec![("id", "424242")]),
        ("subscriptions/list", vec![("page", "-1")]),
        ("subscriptions/list", vec![("page", "x")]),
        ("subscriptions/list", vec![("page", "99999999999")]),
        (
            "deliveries/list",
            vec![("subscription_id", "424242"), ("page", "1")],
        ),
        (
            "deliveries/list",
            vec![("subscription_id", "x"), ("page", "1")],
        ),
        ("deliveries/list", vec![("page", "1")]),
        ("deliveries/detail", vec![("id", "424242")]),
        ("deliveries/detail", vec![("id", "")]),
        ("devices/access", vec![("device_id", "1")]),
        ("devices/tokens", vec![("device_id", "1")]),
        (
            "devices/create_token",
            vec![("device_id", "1"), ("label", "x")],
        ),
        (
            "devices/set_access",
            vec![("device_id", "1"), ("user_id", "1"), ("granted", "true")],
        ),
        ("admin/settings", vec![]),
        (
            "admin/register_url",
            vec![("url", "https://x.example/"), ("note", "")],
        ),
        ("admin/audit", vec![("page", "1")]),
        ("sign_in", vec![("email", "lab@demo.lab")]),
        ("sign_in", vec![("password", "x")]),
        (
            "sign_in",
            vec![("email", "not an email"), ("password", "x")],
        ),
        ("sign_in", vec![("email", ""), ("password", "")]),
        (
            "sign_in",
            vec![("email", "a\u{0}@demo.lab"), ("password", "x")],
        ),
    ];
    for (name, args) in forms {
        c.push(case(
            format!("{name} {args:?}"),
            Door::AsLabUser(name),
            Body::Form(
                args.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
        ));
    }
    for (what, raw) in [
        ("not UTF-8", vec![b'i', b'd', b'=', 0xff, 0xfe]),
        ("no equals sign", b"id".to_vec()),
        ("bad percent-encoding", b"id=%zz".to_vec()),
    ] {
        c.push(case(
            format!("subscriptions/get: {what}"),
            Door::AsLabUser("subscriptions/get"),
            Body::Raw("application/x-www-form-urlencoded", raw),
        ));
    }

    // Admin doors with bad input.
    let admin_forms: Vec<(&'static str, Vec<(&str, String)>)> = vec![
        (
            "admin/register_url",
            vec![("url", String::new()), ("note", String::new())],
        ),
        (
            "admin/register_url",
            vec![("url", "lims".into()), ("note", String::new())],
        ),
        (
            "admin/register_url",
            vec![
                ("url", "ftp://lims.example/".into()),
                ("note", String::new()),
            ],
        ),
        (
            "admin/register_url",
            vec![
                ("url", "https://lims.example/?a=1".into()),
                ("note", String::new()),
            ],
        ),
        (
            "admin/register_url",
            vec![
                ("url", "https://lims.example/#x".into()),
                ("note", String::new()),
            ],
        ),
        (
            "admin/register_url",
            vec![
                ("url", "https://u:p@lims.example/".into()),
                ("note", String::new()),
            ],
        ),
        (
            "admin/register_url",
            vec![
                ("url", "http://127.0.0.1:9999/".into()),
                ("note", String::new()),
            ],
        ),
        (
            "admin/register_url",
            vec![
                ("url", "https://lims.example/".into()),
                ("note", "n".repeat(1000)),
            ],
        ),
        (
            "admin/register_url",
            vec![
                ("url", format!("https://{}.example/", "a".repeat(300))),
                ("note", String::new()),
            ],
        ),
        (
            "admin/register_url",
            vec![
                ("url", "https://lims.example/\n".into()),
                ("note", String::new()),
            ],
        ),
        ("admin/register_url", vec![("note", String::new())]),
        ("admin/remove_url", vec![("id", "424242".into())]),
        ("admin/remove_url", vec![("id", "x".into())]),
        (
            "admin/set_webhooks_enabled",
            vec![("enabled", "perhaps".into())],
        ),
        ("admin/set_webhooks_enabled", vec![]),
        (
            "admin/audit",
            vec![("page", "1".into()), ("kind", "nonsense".into())],
        ),
        ("devices/access", vec![("device_id", "424242".into())]),
        (
            "devices/set_access",
            vec![
                ("device_id", device.to_string()),
                ("user_id", "424242".into()),
                ("granted", "true".into()),
            ],
        ),
        (
            "devices/set_access",
            vec![
                ("device_id", device.to_string()),
                ("user_id", "1".into()),
                ("granted", "true".into()),
            ],
        ),
        (
            "devices/set_access",
            vec![
                ("device_id", device.to_string()),
                ("user_id", "2".into()),
                ("granted", "yes".into()),
            ],
        ),
        ("devices/tokens", vec![("device_id", "424242".into())]),
        (
            "devices/create_token",
            vec![("device_id", device.to_string()), ("label", String::new())],
        ),
        (
            "devices/create_token",
            vec![
                ("device_id", device.to_string()),
                ("label", "l".repeat(500)),
            ],
        ),
        (
            "devices/create_token",
            vec![("device_id", device.to_string()), ("label", "a\nb".into())],
        ),
        (
            "devices/create_token",
            vec![("device_id", "424242".into()), ("label", "x".into())],
        ),
        (
            "devices/revoke_token",
            vec![
                ("device_id", device.to_string()),
                ("token_id", "424242".into()),
            ],
        ),
        (
            "devices/revoke_token",
            vec![("device_id", device.to_string())],
        ),
    ];
    for (name, args) in admin_forms {
        c.push(case(
            format!(
                "{name} (admin) {}",
                args.iter()
                    .map(|(k, v)| format!("{k}={v:.40}"))
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            Door::AsAdmin(name),
            Body::Form(args.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
        ));
    }

    // New devices (Devices → Add device).
    let number = |name: &str| json!({"name": name, "unit": "", "value_type": "number", "min": null, "max": null, "labels": []});
    let device = |name: &str, class: &str, channels: Value| {
        Body::Json(
            json!({"input": {"name": name, "vendor": "", "model": "", "device_class": class, "channels": channels}}),
        )
    };
    for (what, body) in [
        ("no name", device("", "Custom", json!([number("t")]))),
        (
            "a name taken (other case)",
            device(
                "hotplate stirrer rct digital",
                "Custom",
                json!([number("t")]),
            ),
        ),
        (
            "a name with a line break",
            device("Reader\n2", "Custom", json!([number("t")])),
        ),
        (
            "an unknown class",
            device("Reader", "Toaster", json!([number("t")])),
        ),
        (
            "two channels of one name",
            device("Reader", "Custom", json!([number("t"), number("T")])),
        ),
        (
            "a channel without a name",
            device("Reader", "Custom", json!([number("")])),
        ),
        (
            "an unknown kind of value",
            device(
                "Reader",
                "Custom",
                json!([{"name": "t", "unit": "", "value_type": "colour", "min": null, "max": null, "labels": []}]),
            ),
        ),
        (
            "a range upside down",
            device(
                "Reader",
                "Custom",
                json!([{"name": "t", "unit": "", "value_type": "number", "min": 5.0, "max": 1.0, "labels": []}]),
            ),
        ),
        (
            "a range on text",
            device(
                "Reader",
                "Custom",
                json!([{"name": "t", "unit": "", "value_type": "text", "min": 1.0, "max": null, "labels": []}]),
            ),
        ),
        (
            "a choice of one",
            device(
                "Reader",
                "Custom",
                json!([{"name": "t", "unit": "", "value_type": "choice", "min": null, "max": null, "labels": ["a"]}]),
            ),
        ),
        (
            "51 channels",
            device(
                "Reader",
                "Custom",
                json!((0..51)
                    .map(|i| number(&format!("c{i}")))
                    .collect::<Vec<_>>()),
            ),
        ),
        (
            "channels not a list",
            device("Reader", "Custom", json!("t")),
        ),
    ] {
        c.push(case(
            format!("devices/create: {what}"),
            Door::AsAdmin("devices/create"),
            body,
        ));
    }
    c.push(case(
        "devices/create as a lab user",
        Door::AsLabUser("devices/create"),
        device("Reader", "Custom", json!([number("t")])),
    ));

    // Channels of an existing device (Devices → Add channel / Edit channel).
    let channel_input = |name: &str, value_type: &str, min: Value, max: Value, labels: Value| json!({"name": name, "unit": "", "value_type": value_type, "min": min, "max": max, "labels": labels});
    for (what, input) in [
        (
            "no name",
            channel_input("", "number", json!(null), json!(null), json!([])),
        ),
        (
            "an unknown kind of value",
            channel_input("t", "colour", json!(null), json!(null), json!([])),
        ),
        (
            "a range upside down",
            channel_input("t", "number", json!(5.0), json!(1.0), json!([])),
        ),
        (
            "a range on text",
            channel_input("t", "text", json!(1.0), json!(null), json!([])),
        ),
        (
            "a choice of one",
            channel_input("t", "choice", json!(null), json!(null), json!(["a"])),
        ),
        (
            "a unit of 200 characters",
            json!({"name": "t", "unit": "u".repeat(200), "value_type": "number", "min": null, "max": null, "labels": []}),
        ),
        ("not an object", json!("t")),
    ] {
        c.push(case(
            format!("devices/add_channel: {what}"),
            Door::AsAdmin("devices/add_channel"),
            Body::Json(json!({"device_id": existing_device, "input": input})),
        ));
        c.push(case(
            format!("devices/update_channel: {what}"),
            Door::AsAdmin("devices/update_channel"),
            Body::Json(
                json!({"device_id": existing_device, "channel_id": channel, "input": input}),
            ),
        ));
    }
    let fine = channel_input("fine", "number", json!(null), json!(null), json!([]));
    for (what, door, body) in [
        (
            "add_channel to an unknown device",
            "devices/add_channel",
            json!({"device_id": 999_999, "input": fine}),
        ),
        (
            "add_channel without a device",
            "devices/add_channel",
            json!({"input": fine}),
        ),
        (
            "update_channel of another organisation",
            "devices/update_channel",
            json!({"device_id": existing_device, "channel_id": other_org_channel, "input": fine}),
        ),
        (
            "remove_channel of another organisation",
            "devices/remove_channel",
            json!({"device_id": existing_device, "channel_id": other_org_channel}),
        ),
    ] {
        let body = match door {
            "devices/remove_channel" => Body::Form(vec![
                ("device_id".into(), existing_device.to_string()),
                ("channel_id".into(), other_org_channel.to_string()),
            ]),
            _ => Body::Json(body),
        };
        c.push(case(what, Door::AsAdmin(door), body));
    }
    c.push(case(
        "devices/add_channel as a lab user",
        Door::AsLabUser("devices/add_channel"),
        Body::Json(json!({"device_id": existing_device, "input": fine})),
    ));

    // People (More → Users → Add user).
    let person = |name: &str, email: &str, role: &str| {
        Body::Json(json!({"input": {"name": name, "email": email, "role": role}}))
    };
    for (what, body) in [
        ("no name", person("", "new@demo.lab", "lab_user")),
        (
            "a name with a line break",
            person("Pia\nPipette", "new@demo.lab", "lab_user"),
        ),
        ("no email", person("Pia", "", "lab_user")),
        (
            "an email without @",
            person("Pia", "pia.demo.lab", "lab_user"),
        ),
        (
            "an email with a space",
            person("Pia", "pia @demo.lab", "lab_user"),
        ),
        (
            "an email taken (other case)",
            person("Pia", "LAB@demo.lab", "lab_user"),
        ),
        (
            "an unknown role",
            person("Pia", "new@demo.lab", "superuser"),
        ),
        (
            "a role of another case",
            person("Pia", "new@demo.lab", "ORG_ADMIN"),
        ),
        ("not an object", Body::Json(json!({"input": "Pia"}))),
    ] {
        c.push(case(
            format!("people/add: {what}"),
            Door::AsAdmin("people/add"),
            body,
        ));
    }
    c.push(case(
        "people/add as a lab user",
        Door::AsLabUser("people/add"),
        person("Pia", "new@demo.lab", "lab_user"),
    ));
    for (what, token, password) in [
        ("a made-up link", "x".repeat(43), "long enough password"),
        (
            "a link of the wrong shape",
            "abc".to_owned(),
            "long enough password",
        ),
        ("no link", String::new(), "long enough password"),
    ] {
        c.push(case(
            format!("password/set: {what}"),
            Door::AsLabUser("password/set"),
            Body::Form(vec![
                ("token".into(), token),
                ("password".into(), password.into()),
            ]),
        ));
    }

    // Ingest bodies (with a valid token).
    let ingest: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("not JSON", b"temperature=20".to_vec()),
        ("truncated", b"[{\"channel\": \"temperature\"".to_vec()),
        ("not UTF-8", vec![b'[', 0xff, b']']),
        (
            "an object",
            br#"{"channel": "temperature", "value": 1}"#.to_vec(),
        ),
        ("a number", b"42".to_vec()),
        ("null", b"null".to_vec()),
        ("a string", br#""temperature""#.to_vec()),
        ("an empty list", b"[]".to_vec()),
        ("a list of numbers", b"[1, 2]".to_vec()),
        ("no channel", br#"[{"value": 1}]"#.to_vec()),
        ("no value", br#"[{"channel": "temperature"}]"#.to_vec()),
        (
            "unknown channel",
            br#"[{"channel": "nope", "value": 1}]"#.to_vec(),
        ),
        (
            "empty channel",
            br#"[{"channel": "", "value": 1}]"#.to_vec(),
        ),
        (
            "channel a number",
            br#"[{"channel": 5, "value": 1}]"#.to_vec(),
        ),
        (
            "value a string",
            br#"[{"channel": "temperature", "value": "warm"}]"#.to_vec(),
        ),
        (
            "value a list",
            br#"[{"channel": "temperature", "value": [1]}]"#.to_vec(),
        ),
        (
            "value an object",
            br#"[{"channel": "temperature", "value": {"v": 1}}]"#.to_vec(),
        ),
        (
            "value null",
            br#"[{"channel": "temperature", "value": null}]"#.to_vec(),
        ),
        (
            "value true",
            br#"[{"channel": "temperature", "value": true}]"#.to_vec(),
        ),
        (
            "value too big",
            br#"[{"channel": "temperature", "value": 1e400}]"#.to_vec(),
        ),
        (
            "NaN",
            br#"[{"channel": "temperature", "value": NaN}]"#.to_vec(),
        ),
        (
            "Infinity",
            br#"[{"channel": "temperature", "value": Infinity}]"#.to_vec(),
        ),
        (
            "timestamp text",
            br#"[{"channel": "temperature", "value": 1, "timestamp": "yesterday"}]"#.to_vec(),
        ),
        (
            "timestamp negative",
            br#"[{"channel": "temperature", "value": 1, "timestamp": -5}]"#.to_vec(),
        ),
        (
            "timestamp far future",
            br#"[{"channel": "temperature", "value": 1, "timestamp": "9999-01-01T00:00:00Z"}]"#
                .to_vec(),
        ),
        (
            "timestamp fraction",
            br#"[{"channel": "temperature", "value": 1, "timestamp": 1.5}]"#.to_vec(),
        ),
        (
            "timestamp object",
            br#"[{"channel": "temperature", "value": 1, "timestamp": {}}]"#.to_vec(),
        ),
        (
            "timestamp huge",
            br#"[{"channel": "temperature", "value": 1, "timestamp": 99999999999999999999}]"#
                .to_vec(),
        ),
        (
            "one good, one bad",
            br#"[{"channel": "temperature", "value": 1}, {"channel": "nope", "value": 1}]"#
                .to_vec(),
        ),
        (
            "trailing garbage",
            br#"[{"channel": "temperature", "value": 1}] x"#.to_vec(),
        ),
        (
            "too many points",
            serde_json::to_vec(
                &(0..1001)
                    .map(|i| json!({"channel": "temperature", "value": i}))
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
        ),
        ("over a MiB", {
            let mut v = b"[".to_vec();
            v.extend(std::iter::repeat_n(b' ', 1_100_000));
            v.push(b']');
            v
        }),
        ("deeply nested", "[".repeat(100_000).into_bytes()),
        (
            "channel with a line break",
            br#"[{"channel": "temp\nerature", "value": 1}]"#.to_vec(),
        ),
        (
            "duplicate keys",
            br#"[{"channel": "temperature", "channel": "nope", "value": 1}]"#.to_vec(),
        ),
    ];
    for (what, raw) in ingest {
        c.push(case(
            format!("ingest: {what}"),
            Door::Ingest,
            Body::Raw("application/json", raw),
        ));
    }

    // Query strings and paths.
    for path in [
        "/api/subscriptions/get?id=abc",
        "/api/subscriptions/list?page=-3",
        "/api/deliveries/detail?id=%00",
        "/api/subscriptions/show?id=1%0d%0aX-Injected:%201",
        "/api/v1/devices/abc/data_points",
        "/api/v1/devices/424242/data_points",
        "/api/v1/devices/-1/data_points",
        "/api/v1/devices/99999999999999999999999/data_points",
        "/api/nonexistent_function",
        "/api/subscriptions/create?input=1",
    ] {
        c.push(case(
            format!("path {path}"),
            Door::Path(path.to_owned()),
            Body::Raw("application/x-www-form-urlencoded", vec![]),
        ));
    }
    c
}

/// The raw body of the case just pushed (for pairs of doors that get the same bytes).
fn raw_clone(c: &[Case]) -> Vec<u8> {
    match &c.last().expect("a case").body {
        Body::Raw(_, raw) => raw.clone(),
        _ => vec![],
    }
}

async fn send(
    app: &TestApp,
    lab: &Client,
    admin: &Client,
    token: &str,
    device: i64,
    case: &Case,
) -> reqwest::Response {
    let (client, url) = match &case.door {
        Door::AsLabUser(name) => (lab, app.url(&format!("/api/{name}"))),
        Door::AsAdmin(name) => (admin, app.url(&format!("/api/{name}"))),
        Door::Ingest => (
            lab,
            app.url(&format!("/api/v1/devices/{device}/data_points")),
        ),
        Door::Path(path) => (lab, app.url(path)),
    };
    let mut req = client.post(url).header(header::ACCEPT, "application/json");
    if matches!(case.door, Door::Ingest) {
        req = req.bearer_auth(token);
    }
    let req = match &case.body {
        Body::Json(v) => req.json(v),
        Body::Form(pairs) => req.form(pairs),
        Body::Raw(content_type, raw) => req
            .header(header::CONTENT_TYPE, *content_type)
            .body(raw.clone()),
    };
    req.send().await.expect("an answer")
}

#[tokio::test]
async fn every_bad_input_gets_a_4xx_with_a_message_and_stores_nothing() {
    let app = spawn_app().await;
    let lab = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let pool = &app.state.pool;
    let lab_id: i64 =
        server::db::with_db!(pool, db => sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(LAB_USER.0)
        .fetch_one(db)
        .await)
        .unwrap();
    let (device, channel): (i64, i64) = server::db::with_db!(pool, db => sqlx::query_as(
        "SELECT d.id, c.id FROM device_access a JOIN devices d ON d.id = a.device_id
         JOIN channels c ON c.device_id = d.id WHERE a.user_id = $1 ORDER BY d.id, c.id LIMIT 1",
    )
    .bind(lab_id)
    .fetch_one(db)
    .await)
    .unwrap();
    let other_org_channel: i64 = server::db::with_db!(pool, db => sqlx::query_scalar(
        "SELECT c.id FROM channels c JOIN devices d ON d.id = c.device_id
         JOIN organisations o ON o.id = d.organisation_id WHERE o.name <> 'Demo Lab' LIMIT 1",
    )
    .fetch_one(db)
    .await)
    .unwrap();
    // The ingest cases go to a device whose channel is called "temperature".
    let hotplate: i64 =
        server::db::with_db!(pool, db => sqlx::query_scalar("SELECT id FROM devices WHERE name = 'Hotplate Stirrer RCT digital'")
            .fetch_one(db)
            .await)
            .unwrap();
    let token: Value = app
        .call_form(
            &admin,
            "devices/create_token",
            &[("device_id", &hotplate.to_string()), ("label", "corpus")],
        )
        .await
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();

    let cases = cases(channel, other_org_channel, device);
    assert!(cases.len() >= 200, "only {} cases", cases.len());
    let before = counts(&app).await;
    let mut wrong = Vec::new();
    for case in &cases {
        let res = send(&app, &lab, &admin, &token, hotplate, case).await;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        let has_message = body.trim().len() > 2 && body.chars().any(char::is_alphabetic);
        if !(400..500).contains(&status) || !has_message {
            wrong.push(format!("{}: {status} {body:.200}", case.what));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases were not answered 4xx with a message:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
    assert_eq!(counts(&app).await, before, "a bad input stored something");
    eprintln!(
        "bad-input corpus: {} cases, each a 4xx with a message, nothing stored",
        cases.len()
    );
}
