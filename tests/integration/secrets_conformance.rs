//! The secrets conformance suite (`tms_ports::conformance::secrets`) on
//! both adapters: `secrets_local_<name>` on a file of the local adapter,
//! `secrets_aws_<name>` on a Secrets Manager secret on the local
//! AWS-compatible server.

use async_trait::async_trait;
use tms_adapters::local_secrets::LocalSecrets;
use tms_adapters::secretsmanager::SecretsManagerSecrets;
use tms_ports::conformance::secrets::{self as conformance, SecretsUnderTest};
use tms_ports::Secrets;

struct LocalFile {
    secrets: LocalSecrets,
    path: std::path::PathBuf,
}

impl LocalFile {
    fn new() -> Self {
        let path =
            std::env::temp_dir().join(format!("tms-secret-{}.json", uuid::Uuid::new_v4().simple()));
        LocalFile {
            secrets: LocalSecrets::new().with_file("tpgateway", path.clone()),
            path,
        }
    }
}

impl Drop for LocalFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[async_trait]
impl SecretsUnderTest for LocalFile {
    fn secrets(&self) -> &dyn Secrets {
        &self.secrets
    }
    fn id(&self) -> String {
        "tpgateway".into()
    }
    fn missing_id(&self) -> String {
        "no-such-secret".into()
    }
    async fn set(&self, value: &str) {
        std::fs::write(&self.path, value).expect("write the secret file");
    }
}

struct Aws {
    client: aws_sdk_secretsmanager::Client,
    secrets: SecretsManagerSecrets,
    name: String,
}

impl Aws {
    async fn new() -> Self {
        let client = aws_sdk_secretsmanager::Client::new(&tms_tests::aws_config().await);
        Aws {
            secrets: SecretsManagerSecrets::new(client.clone()),
            client,
            name: tms_tests::unique_name("tms-secret"),
        }
    }
}

#[async_trait]
impl SecretsUnderTest for Aws {
    fn secrets(&self) -> &dyn Secrets {
        &self.secrets
    }
    fn id(&self) -> String {
        self.name.clone()
    }
    fn missing_id(&self) -> String {
        format!("{}-missing", self.name)
    }
    async fn set(&self, value: &str) {
        let put = self
            .client
            .put_secret_value()
            .secret_id(&self.name)
            .secret_string(value)
            .send()
            .await;
        if put.is_err() {
            self.client
                .create_secret()
                .name(&self.name)
                .secret_string(value)
                .send()
                .await
                .expect("create the secret");
        }
    }
}

macro_rules! run_sqlite {
    ($name:ident) => {{
        conformance::$name(&LocalFile::new()).await;
    }};
}
macro_rules! run_aws {
    ($name:ident) => {{
        conformance::$name(&Aws::new().await).await;
    }};
}

tms_tests::on_both_engines! {
    reads_the_current_value => secrets_local_reads_the_current_value, secrets_aws_reads_the_current_value;
    missing_is_not_found => secrets_local_missing_is_not_found, secrets_aws_missing_is_not_found;
    values_cannot_be_printed => secrets_local_values_cannot_be_printed, secrets_aws_values_cannot_be_printed;
}
