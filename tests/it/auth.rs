use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{client, error_of, spawn_app, ADMIN, LAB_USER};

#[tokio::test]
async fn signing_in_sets_an_http_only_session_cookie_and_identifies_the_user() {
    let app = spawn_app().await;
    let c = client();
    let res = app
        .call_form(
            &c,
            "sign_in",
            &[
                ("email", ADMIN.0),
                ("password", ADMIN.1),
                ("next", "/admin"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res
        .headers()
        .get(header::SET_COOKIE)
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("labhook_session="));
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert_eq!(res.json::<String>().await.unwrap(), "/admin");

    let me: Value = app
        .call_form(&c, "who_am_i", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "admin@demo.lab");
    assert_eq!(me["organisation"], "Demo Lab");
    assert_eq!(me["is_org_admin"], true);
}

#[tokio::test]
async fn sign_in_only_sends_people_to_paths_of_this_site() {
    let app = spawn_app().await;
    for (next, expected) in [
        ("/admin", "/admin"),
        ("/\t/evil.example", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
    ] {
        let res = app
            .call_form(
                &client(),
                "sign_in",
                &[("email", ADMIN.0), ("password", ADMIN.1), ("next", next)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        let to: String = res.json().await.unwrap();
        assert_eq!(to, expected, "next = {next:?}");
    }
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_account_get_the_same_answer() {
    let app = spawn_app().await;
    let wrong_password = app
        .call_form(
            &client(),
            "sign_in",
            &[("email", LAB_USER.0), ("password", "nope nope nope")],
        )
        .await;
    assert!(wrong_password.headers().get(header::SET_COOKIE).is_none());
    let unknown = app
        .call_form(
            &client(),
            "sign_in",
            &[("email", "ghost@demo.lab"), ("password", "nope nope nope")],
        )
        .await;
    let (s1, b1) = error_of(wrong_password).await;
    let (s2, b2) = error_of(unknown).await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!((s1, &b1), (s2, &b2));
    assert_eq!(
        b1,
        json!({ "Refused": "The email or password is not correct." })
    );
}

#[tokio::test]
async fn repeated_failures_slow_down_further_attempts_even_with_the_right_password() {
    let app = spawn_app().await;
    for _ in 0..3 {
        let res = app
            .call_form(
                &client(),
                "sign_in",
                &[("email", LAB_USER.0), ("password", "guess guess guess")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app
        .call_form(
            &client(),
            "sign_in",
            &[("email", LAB_USER.0), ("password", LAB_USER.1)],
        )
        .await;
    let (status, body) = error_of(res).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(body["Refused"]
        .as_str()
        .unwrap()
        .starts_with("Too many failed sign-ins"));

    // Another account is not affected.
    let res = app
        .call_form(
            &client(),
            "sign_in",
            &[("email", ADMIN.0), ("password", ADMIN.1)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // After the wait, the right password works again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = app
        .call_form(
            &client(),
            "sign_in",
            &[("email", LAB_USER.0), ("password", LAB_USER.1)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn server_functions_refuse_callers_without_a_session() {
    let app = spawn_app().await;
    let (status, body) = error_of(app.call_form(&client(), "who_am_i", &[]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!("Unauthenticated"));

    // A forged cookie is no better than none.
    let res = client()
        .post(app.url("/api/who_am_i"))
        .header(
            header::COOKIE,
            format!("labhook_session={}", "A".repeat(43)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn pages_send_anonymous_visitors_to_the_sign_in_page_and_back() {
    let app = spawn_app().await;
    let res = client()
        .get(app.url("/subscriptions?page=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[header::LOCATION],
        "/sign-in?next=%2Fsubscriptions%3Fpage%3D2"
    );

    let res = client().get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Sign in"));

    // Signed in, the page renders, and the sign-in page sends us home.
    let c = app.signed_in(ADMIN.0, ADMIN.1).await;
    let res = c.get(app.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Ada Admin"));
    let res = c.get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let c = client();
    let res = app
        .call_form(
            &c,
            "sign_in",
            &[("email", LAB_USER.0), ("password", LAB_USER.1)],
        )
        .await;
    // Keep a copy of the cookie, as a thief would.
    let stolen = res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let replay = || async {
        client()
            .post(app.url("/api/who_am_i"))
            .header(header::COOKIE, &stolen)
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(replay().await, StatusCode::OK);

    let res = app.call_form(&c, "sign_out", &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(
        app.call_form(&c, "who_am_i", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(replay().await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_unknown_page_is_a_404_with_a_way_back() {
    let app = spawn_app().await;
    let c = app.signed_in(LAB_USER.0, LAB_USER.1).await;
    let res = c.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.text().await.unwrap().contains("Page not found"));
}

/// A page of another site cannot make a signed-in browser change anything (CSRF): by
/// `Sec-Fetch-Site` or by `Origin`, before anything is read or written. Our own pages can.
#[tokio::test]
async fn cross_site_requests_that_change_something_are_refused() {
    let app = spawn_app().await;
    let admin = app.signed_in(ADMIN.0, ADMIN.1).await;
    let enabled = || async {
        server::db::with_db!(&app.state.pool, db => sqlx::query_scalar::<_, bool>("SELECT webhooks_enabled FROM organisations WHERE id = 1")
            .fetch_one(db)
            .await)
            .unwrap()
    };
    assert!(enabled().await);
    let switch_off = |headers: &'static [(&'static str, &'static str)]| {
        let (app, admin) = (&app, &admin);
        async move {
            let mut req = admin
                .post(app.url("/api/admin/set_webhooks_enabled"))
                .header(header::ACCEPT, "application/json")
                .form(&[("enabled", "false")]);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            req.send().await.unwrap()
        }
    };
    for refused in [
        &[("origin", "http://evil.example")][..],
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site")][..],
        &[("origin", "null")][..],
    ] {
        let res = switch_off(refused).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{refused:?}");
        let body: Value = res.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("another site"));
        assert!(enabled().await, "nothing changed for {refused:?}");
    }
    // Sign-in from another site is refused too (no login CSRF).
    let res = client()
        .post(app.url("/api/sign_in"))
        .header("origin", "https://evil.example")
        .form(&[("email", ADMIN.0), ("password", ADMIN.1)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let own_origin = format!("http://{}", app.address);
    let res = admin
        .post(app.url("/api/admin/set_webhooks_enabled"))
        .header(header::ACCEPT, "application/json")
        .header("origin", own_origin)
        .header("sec-fetch-site", "same-origin")
        .form(&[("enabled", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(!enabled().await);
}

/// Every page carries the security headers, and its inline scripts carry the nonce of its
/// Content-Security-Policy (Playwright proves the hydrated app works under it).
#[tokio::test]
async fn pages_carry_a_content_security_policy_whose_nonce_their_scripts_carry() {
    let app = spawn_app().await;
    let res = client().get(app.url("/sign-in")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers().clone();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    assert_eq!(h["x-frame-options"], "DENY");
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("object-src 'none'"), "{csp}");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce")
        .to_owned();
    assert!(nonce.len() >= 20);
    let html = res.text().await.unwrap();
    let scripts = html.matches("<script").count();
    assert!(scripts > 0);
    assert_eq!(
        html.matches(&format!("nonce=\"{nonce}\"")).count(),
        scripts,
        "every script carries the nonce:\n{html}"
    );
    // A fresh nonce per response.
    let again = client().get(app.url("/sign-in")).send().await.unwrap();
    assert_ne!(
        again.headers()["content-security-policy"].to_str().unwrap(),
        csp
    );
}

/// The failure throttle counts before it checks the password, in one step: a parallel burst
/// of guesses gets no more tries than a sequence would (three free ones), the rest are told
/// when to come back.
#[tokio::test]
async fn a_parallel_burst_of_guesses_gets_no_more_tries_than_a_sequence() {
    let app = spawn_app().await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..20 {
        let url = app.url("/api/sign_in");
        guesses.spawn(async move {
            let res = client()
                .post(url)
                .form(&[("email", LAB_USER.0), ("password", &format!("guess {i}"))])
                .send()
                .await
                .unwrap();
            let retry_after = res.headers().get(header::RETRY_AFTER).cloned();
            (res.status(), retry_after)
        });
    }
    let answers = guesses.join_all().await;
    let tried = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(tried, 3, "{answers:?}");
    assert_eq!(throttled.len(), 17, "{answers:?}");
    assert!(
        throttled.iter().all(|(_, r)| r.is_some()),
        "Retry-After on each"
    );
}

/// One address gets a limited number of sign-in attempts a minute, right or wrong, whichever
/// accounts they name; the answer says when to come back.
#[tokio::test]
async fn one_address_gets_a_limited_number_of_sign_ins_a_minute() {
    let dir = tempfile::tempdir().unwrap();
    let config = server::config::Config {
        sign_ins_per_minute: 5,
        ..server::harness::throwaway_config(dir.path().join("t.db"))
    };
    let app = labhook::startup::Application::build(config).await.unwrap();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run(std::future::pending()));
    let sign_in = |email: &'static str, password: &'static str| {
        let base = base.clone();
        async move {
            client()
                .post(format!("{base}/api/sign_in"))
                .form(&[("email", email), ("password", password)])
                .send()
                .await
                .unwrap()
        }
    };
    for _ in 0..4 {
        assert_eq!(sign_in(ADMIN.0, ADMIN.1).await.status(), StatusCode::OK);
    }
    assert_eq!(
        sign_in("nobody@demo.lab", "x").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = sign_in(ADMIN.0, ADMIN.1).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Too many sign-ins from your address"),
        "{body}"
    );
}

/// An IPv6 client cannot walk past the per-address limit by rotating through the addresses
/// of its /64 network: the network shares a few addresses' allowance. (Behind a trusted
/// proxy, the client's address is the proxy's `X-Forwarded-For`.)
#[tokio::test]
async fn rotating_ipv6_addresses_of_one_network_are_limited_together() {
    let dir = tempfile::tempdir().unwrap();
    let config = server::config::Config {
        sign_ins_per_minute: 2,
        behind_proxy: true,
        ..server::harness::throwaway_config(dir.path().join("t.db"))
    };
    let app = labhook::startup::Application::build(config).await.unwrap();
    let base = format!("http://{}", app.address());
    tokio::spawn(app.run(std::future::pending()));
    // Each try names another made-up account, so that no account's failure throttle answers.
    let sign_in_from = |address: String| {
        let base = base.clone();
        async move {
            let email = format!("nobody-{address}@demo.lab").replace(':', "-");
            client()
                .post(format!("{base}/api/sign_in"))
                .header("x-forwarded-for", address)
                .form(&[("email", email.as_str()), ("password", "x")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let mut limited_after = None;
    for i in 1..=40u32 {
        if sign_in_from(format!("2001:db8:5:6::{i:x}")).await == StatusCode::TOO_MANY_REQUESTS {
            limited_after = Some(i - 1);
            break;
        }
    }
    assert_eq!(
        limited_after,
        Some(8),
        "each address alone has two a minute"
    );
    // Another /64 is not affected; the same host's /64 also refuses the password links' door.
    assert_eq!(
        sign_in_from("2001:db8:5:7::1".into()).await,
        StatusCode::UNAUTHORIZED
    );
    let res = client()
        .post(format!("{base}/api/password/set"))
        .header("x-forwarded-for", "2001:db8:5:6::ffff")
        .form(&[("token", "made-up"), ("password", "a long enough password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A client that trickles its headers is cut off after the header-read timeout, and a body
/// larger than any request needs is refused before it is read.
#[tokio::test]
async fn slow_headers_and_oversized_bodies_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let config = server::config::Config {
        header_read_timeout: std::time::Duration::from_secs(1),
        ..server::harness::throwaway_config(dir.path().join("t.db"))
    };
    let app = labhook::startup::Application::build(config).await.unwrap();
    let address = app.address();
    tokio::spawn(app.run(std::future::pending()));

    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(8),
        slow.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the connection was still open after 8 s");
    assert!(
        !String::from_utf8_lossy(&rest).contains("200 OK"),
        "{}",
        String::from_utf8_lossy(&rest)
    );

    let res = client()
        .post(format!("http://{address}/api/sign_in"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(vec![b'a'; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Password checks are bounded: past the checks that may run at once, a sign-in waits only
/// briefly for its turn, then is told to come back (429 with Retry-After) instead of piling
/// ~19 MiB of hashing memory onto the server.
#[tokio::test]
async fn password_checks_run_a_few_at_a_time_and_the_rest_are_told_to_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = server::config::Config {
        password_checks: Some(1),
        password_check_wait: std::time::Duration::ZERO,
        sign_ins_per_minute: 1000,
        ..server::harness::throwaway_config(dir.path().join("t.db"))
    };
    let app = labhook::startup::Application::build(config).await.unwrap();
    let url = format!("http://{}/api/sign_in", app.address());
    tokio::spawn(app.run(std::future::pending()));
    let mut sign_ins = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = url.clone();
        sign_ins.spawn(async move {
            let res = client()
                .post(url)
                .form(&[("email", ADMIN.0), ("password", ADMIN.1)])
                .send()
                .await
                .unwrap();
            let retry_after = res.headers().contains_key(header::RETRY_AFTER);
            (res.status(), retry_after, res.text().await.unwrap())
        });
    }
    let answers = sign_ins.join_all().await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(
        answers.iter().any(|(s, _, _)| *s == StatusCode::OK),
        "{answers:?}"
    );
    assert!(!busy.is_empty(), "{answers:?}");
    assert!(
        busy.iter()
            .all(|(_, retry_after, body)| *retry_after
                && body.contains("Many people are signing in")),
        "{busy:?}"
    );
}
