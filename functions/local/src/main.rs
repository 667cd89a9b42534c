//! `tms-local`: the whole system in one process on the embedded default
//! (SQLite file): every router in one HTTP server, plus the sync worker and
//! sweeper loops. Set TMS_ENGINE=aws (and AWS_ENDPOINT_URL) to run the same
//! on DynamoDB and SQS.
//!
//! TPGateway: the secret document in the file named by
//! TMS_TPGATEWAY_SECRET_FILE (e.g. UAT); without it, a fake TPGateway is
//! started in this process on a loopback port (TMS_FAKE_TPGATEWAY_BIND,
//! default 127.0.0.1:0) and the worker syncs to it.

use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tms_http::Resource;
use tms_runtime::{Config, Engine, ServerLimits};
use tower::Layer;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// How long a stopping server waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tms_runtime::init_logging();
    let mut cfg = Config::from_env(Engine::Embedded)?;
    let limits = ServerLimits::from_env()?;
    let fake = if cfg.tpgateway.secret_file.is_none() {
        let bind = std::env::var("TMS_FAKE_TPGATEWAY_BIND")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "127.0.0.1:0".into());
        let addr: std::net::SocketAddr = bind.parse().map_err(|_| {
            format!("TMS_FAKE_TPGATEWAY_BIND must be an address like 127.0.0.1:9090, got {bind:?}")
        })?;
        let latency = match std::env::var("TMS_FAKE_TPGATEWAY_LATENCY_MS") {
            Ok(v) if !v.trim().is_empty() => {
                Duration::from_millis(v.trim().parse().map_err(|_| {
                    format!(
                        "TMS_FAKE_TPGATEWAY_LATENCY_MS must be a number of milliseconds, got {v:?}"
                    )
                })?)
            }
            _ => Duration::ZERO,
        };
        let fake = tms_fake_tpgateway::FakeTpg::start_on(
            tms_fake_tpgateway::FakeConfig {
                latency,
                ..tms_fake_tpgateway::FakeConfig::oauth()
            },
            addr,
        )
        .await?;
        cfg.tpgateway.inline_secret = Some(fake.secret_json().to_string());
        tracing::info!(base_url = %fake.base_url(), "no TMS_TPGATEWAY_SECRET_FILE: syncing to the in-process fake TPGateway");
        Some(fake)
    } else {
        None
    };
    if cfg.auth.secret_file.is_none() {
        // No key file: a random signing key for this process (tokens end
        // with it).
        cfg.auth.inline_secret = Some(tms_runtime::random_auth_secret());
    }
    // The national-id keys: TMS_PII_SECRET_FILE, or a key file kept
    // beside the embedded database (made on first start).
    if cfg.engine == tms_runtime::Engine::Embedded || cfg.pii.secret_file.is_some() {
        tms_runtime::ensure_local_pii_keys(&mut cfg)?;
    }
    if cfg.auth.bootstrap_admin.is_none() {
        cfg.auth.bootstrap_admin = Some((
            tms_runtime::config::LOCAL_ADMIN_EMAIL.into(),
            tms_runtime::config::LOCAL_ADMIN_PASSWORD.into(),
        ));
    }
    let app = tms_runtime::build_app(&cfg).await?;
    tms_runtime::ensure_bootstrap_admin(&app, &cfg).await?;
    let mut router = tms_http::router(app.clone(), tms_runtime::actor_source(&app), &Resource::ALL);
    if !cfg.cors_origins.is_empty() {
        router = router.layer(cors(&cfg.cors_origins)?);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers: Vec<_> = (0..cfg.worker_loops)
        .map(|_| {
            tokio::spawn(tms_runtime::loops::worker(
                app.clone(),
                cfg.worker_visibility_timeout,
                stop_rx.clone(),
            ))
        })
        .collect();
    let sweeper = tokio::spawn(tms_runtime::loops::sweeper(
        app,
        cfg.sweep_interval,
        cfg.requeue_after,
        stop_rx,
    ));
    let listener = tokio::net::TcpListener::bind(&cfg.bind).await?;
    tracing::info!(address = %listener.local_addr()?, engine = ?cfg.engine, "TMS listening");
    serve(listener, router, limits, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = sweeper.await;
    if let Some(f) = fake {
        f.shutdown().await;
    }
    tracing::info!("TMS stopped");
    Ok(())
}

/// CORS for the configured origins: the methods and headers the API uses,
/// and the response headers a browser client needs to read.
fn cors(origins: &[String]) -> Result<tower_http::cors::CorsLayer, Box<dyn std::error::Error>> {
    use axum::http::{header, HeaderName, HeaderValue, Method};
    let origins = origins
        .iter()
        .map(|o| HeaderValue::from_str(o))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tower_http::cors::CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-correlation-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            HeaderName::from_static("x-correlation-id"),
            HeaderName::from_static("idempotent-replayed"),
        ])
        .max_age(Duration::from_secs(600)))
}

/// Serves HTTP/1.1 with hyper's own connection builder rather than
/// `axum::serve`, because only the builder exposes a header read timeout and
/// a header size limit; the request body timeout is a layer around the
/// router. Stops accepting when `shutdown` completes, then lets requests in
/// flight finish for up to `DRAIN`.
async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let service =
        TowerToHyperService::new(RequestBodyTimeoutLayer::new(limits.body_timeout).layer(router));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.max_header_bytes);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Typically out of file descriptors: back off instead of
                    // spinning on accept.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Responses are written whole; Nagle would only delay them.
        let _ = stream.set_nodelay(true);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service.clone()));
        tokio::spawn(async move {
            // Client resets, header timeouts and stalled bodies end here;
            // they are the client's doing, not the server's.
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {
            tracing::warn!("requests still in flight at shutdown were dropped");
        }
    }
}
