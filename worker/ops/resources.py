"""The AWS resources a worker writes to, created on the local stack (Terraform creates them on AWS).

Locally the archive is one bucket with one prefix per delivery stream; moto's Firehose writes each
PutRecordBatch into it as an object, which is how tests and the fault suite see what was archived.
"""

from __future__ import annotations

from typing import Any

from worker.config import Config

ARCHIVE_BUCKET = "facewatch-archive"
LOCAL_ROLE = "arn:aws:iam::123456789012:role/facewatch-firehose"


def ensure_bucket(s3: Any, name: str) -> None:
    try:
        s3.create_bucket(Bucket=name)
    except (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        pass


def ensure_delivery_stream(firehose: Any, name: str, bucket: str) -> None:
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
