//! The cold-start benchmark's second floor: what every function pays
//! before its own code, the DynamoDB, SQS and Secrets Manager clients
//! built from the environment (no call made), then lambda_runtime
//! answering each event with the number of clients.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
    let clients = (dynamo, sqs, secrets);
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
        let _held = &clients;
        async { Ok::<Value, Error>(json!({"clients": 3})) }
    }))
    .await
}
