"""The AWS resources a worker writes to, created on the local stack (Terraform creates them on AWS).

Locally the archive is one bucket with one prefix per delivery stream; moto's Firehose writes each
PutRecordBatch into it as an object, which is how tests and the fault suite see what was archived.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.config import Config

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_firehose.client import FirehoseClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient

ARCHIVE_BUCKET = "facewatch-archive"
LOCAL_ROLE = "arn:aws:iam::123456789012:role/facewatch-firehose"


def ensure_bucket(s3: S3Client, name: str) -> None:
    try:
        s3.create_bucket(Bucket=name)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass


def ensure_delivery_stream(firehose: FirehoseClient, name: str, bucket: str) -> None:
    existing = firehose.list_delivery_streams(Limit=10000)["DeliveryStreamNames"]
    if name in existing:
        return
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": LOCAL_ROLE,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": f"{name}/",
            "BufferingHints": {"SizeInMBs": 64, "IntervalInSeconds": 60},
            "CompressionFormat": "UNCOMPRESSED",
        },
    )


def ensure_local_resources(cfg: Config, archive_bucket: str = ARCHIVE_BUCKET) -> dict[str, str]:
    """Buckets and delivery streams named by `cfg`, on the configured (local) endpoints; idempotent."""
    from worker import aws

    if not cfg.aws_endpoint_url:
        raise RuntimeError("refusing to create resources on AWS: Terraform owns them there (infra/terraform)")
    s3 = aws.s3(cfg)
    ensure_bucket(s3, archive_bucket)
    ensure_bucket(s3, cfg.quarantine.bucket)
    if cfg.firehose.enabled:
        firehose = aws.firehose(cfg)
        for stream in (cfg.firehose.raw_stream, cfg.firehose.tracks_stream):
            ensure_delivery_stream(firehose, stream, archive_bucket)
    return {"archive_bucket": archive_bucket, "quarantine_bucket": cfg.quarantine.bucket}


def delete_local_delivery_streams(cfg: Config) -> None:
    """Remove the delivery streams named by `cfg` (tests and the fault suite make their own; Firehose
    allows 50 per account and region, and moto enforces it)."""
    from worker import aws

    if not cfg.aws_endpoint_url:
        raise RuntimeError("refusing to delete resources on AWS: Terraform owns them there (infra/terraform)")
    firehose = aws.firehose(cfg)
    for stream in (cfg.firehose.raw_stream, cfg.firehose.tracks_stream):
        try:
            firehose.delete_delivery_stream(DeliveryStreamName=stream)
        except firehose.exceptions.ResourceNotFoundException:
            pass


def ensure_alert_topic(cfg: Config, name: str) -> tuple[str, str]:
    """An SNS topic with an SQS queue subscribed (what a subscriber gets), on the local stack."""
    from worker import aws

    if not cfg.aws_endpoint_url:
        raise RuntimeError("refusing to create an alert topic on AWS: Terraform owns it there (infra/terraform)")
    sns, sqs = aws.sns(cfg), aws.sqs(cfg)
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    return topic, queue


def drain_queue(sqs: SQSClient, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every message waiting in an SQS queue; each body as the SNS envelope (a dict),
    with the time SQS received it (`SentTimestamp`, epoch ms) under `_sent_ms`."""
    import orjson

    out: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["SentTimestamp"]
        ).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            body = orjson.loads(message["Body"])
            body["_sent_ms"] = int(message.get("Attributes", {}).get("SentTimestamp", 0))
            out.append(body)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def delete_alert_topic(cfg: Config, topic_arn: str, queue_url: str) -> None:
    from worker import aws

    aws.sns(cfg).delete_topic(TopicArn=topic_arn)
    aws.sqs(cfg).delete_queue(QueueUrl=queue_url)
