//! Serving HTTP connections: axum's router on hyper, with the limits `axum::serve` leaves
//! unset. A client gets a few seconds (`Config::header_read_timeout`) to send a request's
//! headers (a slow client trickling bytes cannot hold a connection and its memory for ever)
//! and at most 64 KiB of them; each request knows the peer's address (`ConnectInfo`) for
//! per-address limits.
//!
//! Connections are capped twice ([`ConnectionLimits`]):
//! - **in all**: past the cap, new ones wait in the listen backlog until one closes, rather
//!   than taking file descriptors and memory without end;
//! - **per client**: one address (for IPv6, one /64 network) may hold only so many at once;
//!   past that, a new connection of the same client is closed as soon as it is accepted —
//!   before a byte of it is parsed, so a flood of them costs the server an accept and a close
//!   each, and everybody else's requests are served meanwhile. Behind a proxy every
//!   connection comes from the proxy, so the proxy's own limits apply instead.
//!
//! On shutdown, listening stops and open connections finish their requests (the caller
//! bounds how long).

use std::{
    collections::HashMap,
    future::Future,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Body, extract::ConnectInfo, Router};
use hyper::{body::Incoming, Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

use crate::{
    config::{Config, ConnectionLimits},
    rate,
};

/// Largest request head (request line and headers) read.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How a server serves its connections.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    /// How long a client may take to send a request's headers.
    pub header_read_timeout: Duration,
    pub connections: ConnectionLimits,
    /// A proxy is in front: every peer is the proxy, so there is no per-client cap.
    pub behind_proxy: bool,
}

impl Serving {
    /// As the configuration says.
    pub fn of(config: &Config) -> Self {
        Self {
            header_read_timeout: config.header_read_timeout,
            connections: config.connections,
            behind_proxy: config.behind_proxy,
        }
    }
}

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    serving: Serving,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(serving.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .max_header_list_size(MAX_HEAD_BYTES as u32);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(serving.connections.total.max(1)));
    let per_client =
        (!serving.behind_proxy).then(|| PerClient::new(serving.connections.per_address));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = open.clone().acquire_owned() => permit.expect("BUG: never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!(error = ?e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let held = match &per_client {
            None => None,
            Some(per_client) => match per_client.hold(peer.ip()) {
                Some(held) => Some(held),
                None => {
                    // Closed unread; the permit goes back with it.
                    tracing::debug!(%peer, "too many connections from one client; closed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(move |req: Request<Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _open = (permit, held);
            if let Err(e) = connection.await {
                tracing::debug!(error = ?e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Whom a connection counts against: an IPv4 address (IPv4-mapped IPv6 ones included), or an
/// IPv6 /64 network — one host usually holds a whole /64 and can rotate through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    V4(u32),
    Network(u64),
}

impl Client {
    fn of(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            v6 => Self::Network(rate::network_of(v6).expect("BUG: an IPv6 address has a /64")),
        }
    }
}

/// The connections each client holds open.
#[derive(Clone)]
struct PerClient {
    cap: usize,
    open: Arc<Mutex<HashMap<Client, usize>>>,
}

impl PerClient {
    fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            open: Arc::default(),
        }
    }

    /// One more connection of `address`'s client, held until the guard drops; `None` when the
    /// client holds its cap already (a /64 network may hold [`rate::NETWORK_SHARE`] times as
    /// many as one IPv4 address).
    fn hold(&self, address: IpAddr) -> Option<Held> {
        let client = Client::of(address);
        let cap = match client {
            Client::V4(_) => self.cap,
            Client::Network(_) => self.cap.saturating_mul(rate::NETWORK_SHARE as usize),
        };
        let mut open = self.open.lock().expect("BUG: no panic while counting");
        let count = open.entry(client).or_insert(0);
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(Held {
            client,
            clients: self.clone(),
        })
    }
}

/// One open connection of a client; dropping it gives the place back.
struct Held {
    client: Client,
    clients: PerClient,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .open
            .lock()
            .expect("BUG: no panic while counting");
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                // Only clients with open connections are remembered: the map stays small.
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_client_holds_its_cap_and_gets_places_back_as_connections_close() {
        let clients = PerClient::new(2);
        let first = clients.hold(ip("192.0.2.1")).unwrap();
        let _second = clients.hold(ip("::ffff:192.0.2.1")).unwrap();
        assert!(
            clients.hold(ip("192.0.2.1")).is_none(),
            "the mapped form is the same client"
        );
        assert!(
            clients.hold(ip("192.0.2.2")).is_some(),
            "another address has its own"
        );
        drop(first);
        assert!(clients.hold(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn rotating_ipv6_addresses_of_one_network_share_its_cap() {
        let clients = PerClient::new(2);
        let held: Vec<_> = (0..20)
            .filter_map(|i| clients.hold(ip(&format!("2001:db8:1:2::{i:x}"))))
            .collect();
        assert_eq!(held.len(), 2 * rate::NETWORK_SHARE as usize);
        assert!(clients.hold(ip("2001:db8:1:3::1")).is_some(), "another /64");
        drop(held);
        assert!(
            clients.open.lock().unwrap().is_empty(),
            "closed clients are forgotten"
        );
    }
}
