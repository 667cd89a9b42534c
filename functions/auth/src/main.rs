//! The auth Lambda: `/auth/login`, `/auth/refresh`, `/auth/logout`, the
//! routes served without an access token (no authorizer in front). Reads
//! the signing key from Secrets Manager. Builds its state once, then
//! serves.

use tms_http::Resource;
use tms_runtime::{Config, Engine};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    tms_runtime::init_logging();
    let cfg = Config::from_env(Engine::Aws)?;
    let app = tms_runtime::build_app(&cfg).await?;
    let actor = tms_http::ActorSource::Authorizer;
    let router = tms_http::router(app, actor, &[Resource::Auth]);
    lambda_http::run(router).await
}
