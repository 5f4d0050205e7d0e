//! Builds the running application from a [`Config`]: database, demo data, one axum router
//! (pages, server functions, the backend's APIs) and the background tasks. The binary and the
//! integration tests both start the app through [`Application`].

use std::{future::Future, net::SocketAddr};

use anyhow::Context;
use axum::{middleware, Router};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use server::{
    config::Config,
    http::{
        browser::{cache_headers, refuse_cross_site, security_headers, CspNonce},
        session::{require_for_pages, resolve},
    },
    AppState,
};
use tokio::net::TcpListener;
use tower_http::{compression::CompressionLayer, limit::RequestBodyLimitLayer};

/// The largest request body accepted anywhere.
pub const MAX_REQUEST_BODY: usize = 2 * 1024 * 1024;

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    /// Held while this process serves the database (see `server::db::lock_for_serving`).
    _lock: server::db::ServingLock,
}

impl Application {
    /// Opens the database (migrating it), seeds demo data when asked and the database is
    /// empty, and binds the listener. Errors are phrased for the person starting the server.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        // Before anything counts: what is recorded before the recorder exists is lost.
        server::telemetry::metrics();
        let pool = server::db::connect(&config.database).await?;
        // Two servers on one SQLite file would both send every webhook.
        let lock = server::db::lock_for_serving_at(&config.database, &pool).await?;
        if config.seed_demo {
            server::demo::seed_if_empty(&pool)
                .await
                .context("cannot create the demo data")?;
            if config.demo_lims && server::demo::subscribe_demo_lims(&pool).await? {
                tracing::info!(
                    url = server::demo::DEMO_LIMS_URL,
                    "the demo's scanner is subscribed to the demo LIMS (labhook demo-lims)"
                );
            }
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let key = server::subscriptions::secrets_key(&pool, &config).await?;
        let state = AppState::new(pool, config, key)
            .await
            .context("cannot start the database writer")?;
        let sealed = server::subscriptions::seal_open_secrets(&state)
            .await
            .context("cannot seal the stored secrets")?;
        if sealed > 0 {
            tracing::info!(
                subscriptions = sealed,
                "sealed secrets stored in clear by an older version"
            );
        }
        let router = router(state.clone());
        Ok(Self {
            listener,
            router,
            state,
            _lock: lock,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("BUG: a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets open requests finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = &self.state;
        let mut background = vec![tokio::spawn(server::devices::liveness::run(
            state.clone(),
            state.config.offline_after,
        ))];
        if state.config.simulate {
            tracing::info!("simulating the demo devices");
            background.push(tokio::spawn(server::simulator::run(state.clone())));
        }
        // Before the dispatcher: what other instances commit from now on wakes it.
        let instances = server::instances::Instances::spawn(state.clone());
        let dispatcher = server::dispatcher::Dispatcher::spawn(state.clone());
        let housekeeping = server::housekeeping::Housekeeping::spawn(state.clone());
        let sources = server::sources::Sources::spawn(state.clone());
        let grace = state.config.dispatcher.shutdown_grace;
        let serving = server::http::serve::Serving::of(&state.config);
        let (stopping, mut stop_seen) = tokio::sync::watch::channel(false);
        let signal = async move {
            shutdown.await;
            let _ = stopping.send(true);
        };
        let mut http_stopped = stop_seen.clone();
        let http = async move {
            let serve = server::http::serve::serve(self.listener, self.router, serving, signal);
            tokio::select! {
                result = serve => result.context("the web server stopped"),
                // Clients that keep their connections busy (or hang) cannot hold the process:
                // after the grace time, whatever is still open is closed. Writes they queued
                // are committed by the writer all the same.
                _ = async {
                    let _ = http_stopped.wait_for(|s| *s).await;
                    tokio::time::sleep(grace).await;
                } => {
                    tracing::warn!(?grace, "requests still open after the grace time; closing them");
                    Ok(())
                }
            }
        };
        // The dispatcher winds down at the same time as the web server, not after it, so that
        // SIGTERM is done within one grace time.
        tokio::pin!(http);
        let mut dispatcher = Some(dispatcher);
        let result = tokio::select! {
            result = &mut http => result,
            () = async { let _ = stop_seen.wait_for(|s| *s).await; } => {
                let dispatcher = dispatcher.take().expect("BUG: taken once");
                tokio::join!(&mut http, dispatcher.shutdown()).0
            }
        };
        if let Some(dispatcher) = dispatcher {
            dispatcher.shutdown().await;
        }
        housekeeping.shutdown().await;
        sources.shutdown().await;
        instances.shutdown().await;
        for task in background {
            task.abort();
        }
        result
    }
}

/// Whether this binary's bundle has hashed names: cargo-leptos writes the hashes to `hash.txt`
/// beside the release binary, where Leptos reads them for every page — and panics when hashing
/// is on and the file is missing, so the option follows the file (test binaries and plain
/// `cargo build`s have none and keep the plain names).
fn hashed_assets() -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")))
        .is_some_and(|file| file.is_file())
}

/// The whole HTTP surface: Leptos pages and server functions, then the backend's routes, all
/// behind the session middleware.
pub fn router(state: AppState) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name("labhook")
        .site_root(state.config.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .hash_files(hashed_assets())
        .site_addr(state.config.listen)
        .build();
    let routes = generate_route_list(app::App);
    let context = {
        let state = state.clone();
        move || {
            provide_context(state.clone());
            // The Content-Security-Policy's nonce of this response, for the inline scripts
            // Leptos writes (hydration, resolved resources).
            let nonce = use_context::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<CspNonce>().cloned());
            if let Some(CspNonce(nonce)) = nonce {
                provide_context(leptos::nonce::Nonce::from_value(nonce));
            }
        }
    };
    let pages = Router::new()
        .leptos_routes_with_context(&leptos_options, routes, context.clone(), {
            let options = leptos_options.clone();
            move || app::shell(options.clone())
        })
        .route_layer(middleware::from_fn(require_for_pages))
        .fallback(leptos_axum::file_and_error_handler_with_context(
            context,
            app::shell,
        ))
        .with_state(leptos_options);

    pages
        .merge(server::http::router(state.clone()))
        .layer(middleware::from_fn_with_state(state, resolve))
        // Cross-site requests are refused before the session is even looked up.
        .layer(middleware::from_fn(refuse_cross_site))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(cache_headers))
        .layer(CompressionLayer::new())
        // No request body is larger (the ingest API takes 1 MiB at most): bigger ones are
        // refused (413) before they are read.
        .layer(RequestBodyLimitLayer::new(MAX_REQUEST_BODY))
}
