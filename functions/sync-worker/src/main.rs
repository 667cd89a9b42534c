//! The sync worker Lambda: an SQS batch of sync job messages, handled
//! concurrently; the records to retry come back as `batchItemFailures`.
//! Builds its state once, then serves.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use tms_runtime::{Config, Engine};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tms_runtime::init_logging();
    let cfg = Config::from_env(Engine::Aws)?;
    let app = tms_runtime::build_app(&cfg).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move {
            Ok::<SqsBatchResponse, lambda_runtime::Error>(
                tms_runtime::sqs_events::handle_event(&app, event.payload).await,
            )
        }
    }))
    .await
}
