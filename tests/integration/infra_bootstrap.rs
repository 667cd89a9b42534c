//! The bootstrap's secrets against the local AWS-compatible server: the
//! signing key and the national-id keys are generated in the forms the
//! functions read, the TPGateway connection is stored only when given, and
//! a second run keeps every value (a key in use is never replaced).

use tms_infra::{local_secrets, SecretNames, SecretState};
use tms_tests::{aws_config, unique_name};

async fn value(client: &aws_sdk_secretsmanager::Client, name: &str) -> String {
    client
        .get_secret_value()
        .secret_id(name)
        .send()
        .await
        .expect("read the secret")
        .secret_string()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn infra_aws_bootstrap_secrets() {
    let client = aws_sdk_secretsmanager::Client::new(&aws_config().await);
    let names = SecretNames {
        auth: unique_name("tms-auth"),
        pii: unique_name("tms-pii"),
        tpgateway: unique_name("tms-tpgateway"),
    };
    let made = local_secrets(&client, &names, None)
        .await
        .expect("bootstrap");
    assert_eq!(
        made,
        vec![
            (names.auth.clone(), SecretState::Created),
            (names.pii.clone(), SecretState::Created),
        ],
        "no TPGateway secret without its document"
    );
    let auth = value(&client, &names.auth).await;
    let doc: serde_json::Value = serde_json::from_str(&auth).expect("JSON");
    assert!(tms_auth::key::SigningKey::from_base64(
        doc["signing_key"].as_str().unwrap_or_default()
    )
    .is_ok());
    let pii = value(&client, &names.pii).await;
    assert!(tms_auth::pii::PiiKeys::from_document(&pii).is_ok());

    let tpg = r#"{"base_url":"http://127.0.0.1:1"}"#.to_string();
    let again = local_secrets(&client, &names, Some(tpg.clone()))
        .await
        .expect("bootstrap again");
    assert_eq!(
        again,
        vec![
            (names.auth.clone(), SecretState::Kept),
            (names.pii.clone(), SecretState::Kept),
            (names.tpgateway.clone(), SecretState::Created),
        ]
    );
    assert_eq!(value(&client, &names.auth).await, auth, "kept as it was");
    assert_eq!(value(&client, &names.pii).await, pii, "kept as it was");
    assert_eq!(value(&client, &names.tpgateway).await, tpg);
}
