//! `tms-bootstrap-admin`: creates the first Admin of an installation
//! against the real table, once (DynamoDB by default; TMS_ENGINE=embedded
//! for a local file). Reads TMS_BOOTSTRAP_ADMIN_EMAIL and
//! TMS_BOOTSTRAP_ADMIN_PASSWORD, the table and queue variables of the
//! Lambdas, and the signing-key secret (only to build the app). Does
//! nothing when a user with that e-mail exists.

use tms_runtime::{Config, Engine};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tms_runtime::init_logging();
    let cfg = Config::from_env(Engine::Aws)?;
    if cfg.auth.bootstrap_admin.is_none() {
        return Err("set TMS_BOOTSTRAP_ADMIN_EMAIL and TMS_BOOTSTRAP_ADMIN_PASSWORD".into());
    }
    let app = tms_runtime::build_app(&cfg).await?;
    tms_runtime::ensure_bootstrap_admin(&app, &cfg).await?;
    Ok(())
}
