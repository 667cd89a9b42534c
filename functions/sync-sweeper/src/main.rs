//! The sync sweeper Lambda, on a schedule: re-enqueues sync jobs that are
//! due (queued or failed transiently, their message lost or delayed) and
//! running jobs whose lease expired. Builds its state once, then serves.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use tms_runtime::{Config, Engine};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tms_runtime::init_logging();
    let cfg = Config::from_env(Engine::Aws)?;
    let app = tms_runtime::build_app_without_tpgateway(&cfg).await?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| {
        let (app, cfg) = (app.clone(), cfg.clone());
        async move {
            tms_runtime::sweep(&app, &cfg)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
