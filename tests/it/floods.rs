//! Floods against the real binary, as an attacker or a careless integrator would send them:
//! bounded loops, local addresses only. Each test measures what the flood cost the server (its
//! peak memory, from /proc) and checks that other people are still served meanwhile.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use reqwest::{Client, StatusCode};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    task::JoinSet,
};

use crate::process::{free_port, start_server_with, wait_healthy, Server};

/// The server process's peak resident memory so far (VmHWM), in MiB.
pub fn peak_rss_mib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.id())).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

/// Asks for the sign-in page; answers whether it came within `patience`.
pub async fn sign_in_page_answers(base: &str, patience: Duration) -> bool {
    let c = Client::builder().timeout(patience).build().unwrap();
    matches!(c.get(format!("{base}/sign-in")).send().await, Ok(r) if r.status() == StatusCode::OK)
}

/// 400 set-password requests with made-up links at once (the per-address limit raised, so
/// that the flood reaches the link check): each costs one indexed read, no password hash —
/// before, each hashed first (~19 MiB, ~50 ms) and 400 of them took the server to gigabytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_password_links_costs_no_hashing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start_server_with(
        &dir.path().join("flood.db"),
        port,
        None,
        &[
            "--sign-ins-per-minute",
            "100000",
            "--max-connections-per-address",
            "1000",
        ],
    );
    wait_healthy(&base).await;
    let before = peak_rss_mib(&server);

    let client = Client::new();
    let mut flood = JoinSet::new();
    for i in 0..400 {
        let (client, base) = (client.clone(), base.clone());
        flood.spawn(async move {
            let token = format!("{:0>43}", i);
            let res = client
                .post(format!("{base}/api/password/set"))
                .form(&[
                    ("token", token.as_str()),
                    ("password", "a long enough password"),
                ])
                .send()
                .await
                .unwrap();
            (res.status(), res.text().await.unwrap())
        });
    }
    let answered_meanwhile = sign_in_page_answers(&base, Duration::from_secs(10)).await;
    let answers = flood.join_all().await;
    let peak = peak_rss_mib(&server);
    eprintln!("peak RSS during the flood: {peak} MiB");
    assert!(
        answers
            .iter()
            .all(|(s, body)| *s == StatusCode::UNPROCESSABLE_ENTITY
                && body.contains("not valid any more")),
        "{:?}",
        answers
            .iter()
            .find(|(s, _)| *s != StatusCode::UNPROCESSABLE_ENTITY)
    );
    assert!(
        answered_meanwhile,
        "the sign-in page did not answer during the flood"
    );
    assert!(
        peak < 250,
        "peak memory {peak} MiB (before the flood {before} MiB)"
    );
}

/// Sign-ins whose clients hang up while their password is being checked: the check keeps its
/// turn until it is done, so no more checks run at once than the pool allows, however many
/// clients come and go — before, a hung-up client gave its turn to the next while its hash
/// ran on, and memory grew with every wave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_that_hang_up_mid_check_do_not_pile_up_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let server = start_server_with(
        &dir.path().join("hangups.db"),
        port,
        None,
        &["--sign-ins-per-minute", "100000"],
    );
    wait_healthy(&base).await;
    let client = Arc::new(
        Client::builder()
            .timeout(Duration::from_millis(30))
            .build()
            .unwrap(),
    );
    // Ten waves of 60 clients, each giving up after 30 ms.
    // Made-up accounts: no account's failure throttle stops them before the check.
    for w in 0..10 {
        let mut wave = JoinSet::new();
        for i in 0..60 {
            let (client, base) = (client.clone(), base.clone());
            wave.spawn(async move {
                let email = format!("nobody-{w}-{i}@flood.example");
                let _ = client
                    .post(format!("{base}/api/sign_in"))
                    .form(&[("email", email.as_str()), ("password", "wrong password")])
                    .send()
                    .await;
            });
        }
        wave.join_all().await;
    }
    let answered = sign_in_page_answers(&base, Duration::from_secs(10)).await;
    let peak = peak_rss_mib(&server);
    eprintln!("peak RSS during the flood: {peak} MiB");
    assert!(answered, "the sign-in page did not answer after the flood");
    assert!(peak < 250, "peak memory {peak} MiB");
}

/// 800 long polls of one device token at once (fewer than the 1,500 of the report, to stay
/// within a default limit of open files): past the token's few waiting requests they
/// are refused at once (429), those waiting take no database connection, and the pages and
/// `/readyz` go on answering — before, every poll was admitted, each commit woke them all to
/// query again, and the sign-in page did not answer for the whole run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_long_polls_of_one_token_does_not_starve_the_pages() {
    use crate::process::subscribe_receiver;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    // The per-address connection cap raised so that the polls reach the waiter caps.
    let server = start_server_with(
        &dir.path().join("polls.db"),
        port,
        None,
        &["--max-connections-per-address", "1000"],
    );
    wait_healthy(&base).await;
    // A receiver nobody listens on: the subscription only gives the dispatcher work.
    let feed = subscribe_receiver(&base, free_port()).await;
    let url = format!(
        "{base}/api/v1/devices/{}/channels/temperature?after=0&wait=15",
        feed.device_id
    );
    let client = Client::new();
    let mut polls = JoinSet::new();
    for _ in 0..800 {
        let (client, url, token) = (client.clone(), url.clone(), feed.token.clone());
        polls.spawn(async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .map(|r| r.status())
                .ok()
        });
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let answered = sign_in_page_answers(&base, Duration::from_secs(10)).await;
    let ready = Client::new()
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map(|r| r.status());
    // Data keeps flowing meanwhile: the waiting polls are answered.
    let res = client
        .post(feed.url(&base))
        .bearer_auth(&feed.token)
        .json(&serde_json::json!([{"channel": "temperature", "value": 21.5}]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let statuses = polls.join_all().await;
    let ok = statuses
        .iter()
        .filter(|s| **s == Some(StatusCode::OK))
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == Some(StatusCode::TOO_MANY_REQUESTS))
        .count();
    assert!(answered, "the sign-in page did not answer during the flood");
    assert_eq!(ready.ok(), Some(StatusCode::OK), "/readyz during the flood");
    // Those that came after the value was written are answered at once, like the few that
    // waited for it.
    assert!(ok > 0, "{ok} answered");
    assert!(refused > 600, "{refused} refused");
    assert_eq!(ok + refused, 800, "{statuses:?}");
    let peak = peak_rss_mib(&server);
    eprintln!("peak RSS during the flood: {peak} MiB");
    assert!(peak < 250, "peak memory {peak} MiB");
}

/// A connection from `from` to the server's port (loopback: any 127.x address is this
/// machine's).
async fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("a loopback address to connect from");
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap()
}

/// Sends one `GET /healthz` on `stream`; the answer's first line, or `None` when the server
/// closed the connection (or said nothing within `patience`).
async fn health_over(mut stream: TcpStream, patience: Duration) -> Option<String> {
    let asked = stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: labhook\r\nConnection: close\r\n\r\n")
        .await;
    if asked.is_err() {
        return None;
    }
    let mut answer = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await;
    if !matches!(read, Ok(Ok(_))) && answer.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&answer);
    text.lines()
        .next()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
}

/// One client address may hold only so many connections: its next ones are closed at once,
/// while other addresses are served; and in all only so many are served, the next waiting
/// until one closes. Connections that never send a byte are the cheapest flood there is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_capped_per_client_and_in_all() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = start_server_with(
        &dir.path().join("connections.db"),
        port,
        None,
        &[
            "--max-connections",
            "12",
            "--max-connections-per-address",
            "4",
        ],
    );
    wait_healthy(&base).await;
    let patience = Duration::from_secs(5);
    let ok = Some("HTTP/1.1 200 OK".to_owned());

    // Every connection meant to stay open comes from an address nobody used before: the
    // server counts a closed connection out only once it has seen the close, so reusing an
    // address right after a connection ended could meet a count that is a moment stale.
    let address = |n: u8| [127, 0, 0, n];

    // Four idle connections from .5 hold its share: the fifth is closed unanswered.
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from(address(5), port).await);
    }
    let fifth = connect_from(address(5), port).await;
    assert_eq!(
        health_over(fifth, patience).await,
        None,
        "a fifth connection"
    );
    // Another address is served meanwhile.
    let other = connect_from(address(6), port).await;
    assert_eq!(health_over(other, patience).await, ok, "another address");
    // One of the four closes: .5 is served again.
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        again = health_over(connect_from(address(5), port).await, patience).await;
        if again.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(again, ok, "a place given back");

    // Twelve in all: .5's three, four each from .7 and .8, one from .9...
    for (from, n) in [(7, 4), (8, 4), (9, 1)] {
        for _ in 0..n {
            held.push(connect_from(address(from), port).await);
        }
    }
    // ...so a thirteenth, from a fresh address, waits unanswered...
    let waiting = tokio::spawn(health_over(
        connect_from(address(10), port).await,
        Duration::from_secs(20),
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "served past the cap in all");
    // ...until one closes.
    drop(held.pop());
    assert_eq!(waiting.await.unwrap(), ok, "the waiting connection");
}
