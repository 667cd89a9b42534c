"""LocalStack init hook: creates the TMS table, sync queues and secrets
when LocalStack is ready, from infra/resources.json (the ONE definition
that tms-bootstrap and the tests read too; template.yaml declares the
same, and a test keeps them in step).

Mount it into the container (see README, "With Docker and LocalStack"):

    -v "$PWD/infra/localstack/ready.d:/etc/localstack/init/ready.d:ro"
    -v "$PWD/infra/resources.json:/opt/tms/resources.json:ro"

Environment (all optional): TMS_RESOURCES_JSON (/opt/tms/resources.json),
TMS_TABLE_NAME (tms), TMS_SYNC_QUEUE_NAME (tms-sync), TMS_SYNC_DLQ_NAME
(tms-sync-dlq), TMS_AUTH_SECRET_ID (tms/auth), TMS_PII_SECRET_ID
(tms/pii), TMS_TPGATEWAY_SECRET_ID (tms/tpgateway) with
TMS_TPGATEWAY_SECRET_FILE (its JSON document; no secret without it),
AWS_ENDPOINT_URL (http://localhost:4566, LocalStack inside its container).

Like tms-bootstrap, it changes nothing that exists: a secret keeps its
value. The generated secrets have the forms the template generates: the
signing key {"signing_key": <32 random bytes, standard base64>} and the
national-id keys {"current_key_id": "k1", "hash_key_id": "k1", "keys":
{"k1": <32 random bytes, base64url without padding>}}.

tests/integration/infra_bootstrap.rs runs this file against moto and
compares what it made with what tms-bootstrap makes.
"""

import base64
import json
import os
import secrets

import boto3
from botocore.exceptions import ClientError


def env(name, default):
    value = os.environ.get(name, "").strip()
    return value or default


def client(service):
    return boto3.client(
        service,
        endpoint_url=env("AWS_ENDPOINT_URL", "http://localhost:4566"),
        region_name=env("AWS_REGION", env("AWS_DEFAULT_REGION", "ap-southeast-1")),
        aws_access_key_id=env("AWS_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=env("AWS_SECRET_ACCESS_KEY", "test"),
    )


def ensure_table(ddb, name, table):
    try:
        ddb.describe_table(TableName=name)
        return "kept"
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    attrs = {table["partition_key"], table["sort_key"]}
    gsis = []
    for g in table["global_secondary_indexes"]:
        if g["projection"] != "ALL":
            raise SystemExit(f"GSI {g['name']}: only projection ALL is supported")
        attrs.update([g["partition_key"], g["sort_key"]])
        gsis.append(
            {
                "IndexName": g["name"],
                "KeySchema": [
                    {"AttributeName": g["partition_key"], "KeyType": "HASH"},
                    {"AttributeName": g["sort_key"], "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        )
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs)],
        KeySchema=[
            {"AttributeName": table["partition_key"], "KeyType": "HASH"},
            {"AttributeName": table["sort_key"], "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=gsis,
    )
    ddb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"AttributeName": table["ttl_attribute"], "Enabled": True},
    )
    return "created"


def queue_arn(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def ensure_queues(sqs, main_name, dlq_name, res):
    dlq_url = sqs.create_queue(
        QueueName=dlq_name,
        Attributes={"MessageRetentionPeriod": str(res["sync_dlq"]["message_retention_seconds"])},
    )["QueueUrl"]
    q = res["sync_queue"]
    redrive = {"deadLetterTargetArn": queue_arn(sqs, dlq_url), "maxReceiveCount": q["max_receive_count"]}
    main_url = sqs.create_queue(
        QueueName=main_name,
        Attributes={
            "VisibilityTimeout": str(q["visibility_timeout_seconds"]),
            "MessageRetentionPeriod": str(q["message_retention_seconds"]),
            "ReceiveMessageWaitTimeSeconds": str(q["receive_message_wait_time_seconds"]),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    allow = {"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn(sqs, main_url)]}
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"RedriveAllowPolicy": json.dumps(allow)})
    return main_url, dlq_url


def ensure_secret(sm, name, make):
    try:
        sm.describe_secret(SecretId=name)
        return "kept"
    except ClientError as e:
        if e.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    try:
        sm.create_secret(Name=name, SecretString=make())
        return "created"
    except ClientError as e:
        if e.response["Error"]["Code"] == "ResourceExistsException":
            return "kept"
        raise


def signing_key_document():
    return json.dumps({"signing_key": base64.b64encode(secrets.token_bytes(32)).decode()})


def pii_keys_document():
    key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return json.dumps({"current_key_id": "k1", "hash_key_id": "k1", "keys": {"k1": key}})


def main():
    with open(env("TMS_RESOURCES_JSON", "/opt/tms/resources.json"), encoding="utf-8") as f:
        res = json.load(f)
    table = env("TMS_TABLE_NAME", "tms")
    print(f"tms: table {table}: {ensure_table(client('dynamodb'), table, res['table'])}")
    main_url, dlq_url = ensure_queues(
        client("sqs"), env("TMS_SYNC_QUEUE_NAME", "tms-sync"), env("TMS_SYNC_DLQ_NAME", "tms-sync-dlq"), res
    )
    print(f"tms: sync queue: {main_url}")
    print(f"tms: sync dlq: {dlq_url}")
    sm = client("secretsmanager")
    made = [
        (env("TMS_AUTH_SECRET_ID", "tms/auth"), signing_key_document),
        (env("TMS_PII_SECRET_ID", "tms/pii"), pii_keys_document),
    ]
    tpg_file = env("TMS_TPGATEWAY_SECRET_FILE", "")
    if tpg_file:
        with open(tpg_file, encoding="utf-8") as f:
            doc = f.read()
        made.append((env("TMS_TPGATEWAY_SECRET_ID", "tms/tpgateway"), lambda: doc))
    for name, make in made:
        print(f"tms: secret {name}: {ensure_secret(sm, name, make)}")


if __name__ == "__main__":
    main()
