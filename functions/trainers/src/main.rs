//! The trainers Lambda: `/trainers`. Behind the Lambda authorizer. Builds
//! its state once, then serves.

use tms_http::Resource;
use tms_runtime::{Config, Engine};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tms_runtime::init_logging();
    let cfg = Config::from_env(Engine::Aws)?;
    let app = tms_runtime::build_app(&cfg).await?;
    // The API Gateway Lambda authorizer checked the token.
    let actor = tms_http::ActorSource::Authorizer;
    let router = tms_http::router(app, actor, &[Resource::Trainers]);
    lambda_http::run(router).await
}
