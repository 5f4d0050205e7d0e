//! Serving HTTP connections: axum's router on hyper, with the limits `axum::serve` leaves
//! unset. A client gets a few seconds (`Config::header_read_timeout`) to send a request's headers (a slow client trickling bytes
//! cannot hold a connection and its memory for ever) and at most 64 KiB of them; each request
//! knows the peer's address (`ConnectInfo`) for per-address limits. At most
//! [`MAX_CONNECTIONS`] are open at once: past it, new ones wait in the listen backlog until
//! one closes, rather than taking file descriptors and memory without end. On shutdown,
//! listening stops and open connections finish their requests (the caller bounds how long).

use std::{future::Future, sync::Arc, time::Duration};

use axum::{body::Body, extract::ConnectInfo, Router};
use hyper::{body::Incoming, Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

/// Largest request head (request line and headers) read.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 2048;

/// Serves `router` on `listener` until `shutdown`; a client gets `header_read_timeout` to send
/// each request's headers.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(30))
        .max_header_list_size(MAX_HEAD_BYTES as u32);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
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
            let _open = permit;
            if let Err(e) = connection.await {
                tracing::debug!(error = ?e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
