//! The HTTP API's Lambda authorizer: checks the access token of the
//! Authorization header (the same check as the local server's middleware)
//! and hands the user id and roles to the functions in the authorizer
//! context (simple responses). Builds its state once, reads the signing
//! key (an explicit warm-up, `TMS_AUTHORIZER_WARM_UP`), then serves.

use aws_lambda_events::event::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use lambda_runtime::{service_fn, LambdaEvent};
use tms_runtime::{Config, Engine};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tms_runtime::init_logging();
    let cfg = Config::from_env(Engine::Aws)?;
    let keys = tms_runtime::authorizer::keys(&cfg).await;
    tms_runtime::authorizer::warm_up(&cfg, &keys).await;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| {
            let keys = keys.clone();
            async move {
                Ok::<ApiGatewayV2CustomAuthorizerSimpleResponse, lambda_runtime::Error>(
                    tms_runtime::authorizer::authorize(&keys, &event.payload).await,
                )
            }
        },
    ))
    .await
}
