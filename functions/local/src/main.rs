//! `tms-local`: the whole system in one process on the embedded default
//! (SQLite file): every router in one HTTP server, plus the sync worker and
//! sweeper loops. Set TMS_ENGINE=aws (and AWS_ENDPOINT_URL) to run the same
//! on DynamoDB and SQS.

use tms_http::Resource;
use tms_runtime::{Config, Engine};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tms_runtime::init_logging();
    let cfg = Config::from_env(Engine::Embedded)?;
    let app = tms_runtime::build_app(&cfg).await?;
    let router = tms_http::router(app.clone(), tms_runtime::actor_source(&cfg), &Resource::ALL);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = tokio::spawn(tms_runtime::loops::worker(
        app.clone(),
        cfg.worker_visibility_timeout,
        stop_rx.clone(),
    ));
    let sweeper = tokio::spawn(tms_runtime::loops::sweeper(
        app,
        cfg.sweep_interval,
        cfg.requeue_after,
        stop_rx,
    ));
    let listener = tokio::net::TcpListener::bind(&cfg.bind).await?;
    tracing::info!(address = %listener.local_addr()?, engine = ?cfg.engine, "TMS listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let _ = stop_tx.send(true);
    let _ = tokio::join!(worker, sweeper);
    tracing::info!("TMS stopped");
    Ok(())
}
