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
