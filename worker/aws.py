"""boto3 clients for the configured endpoints (the local stack, or AWS when none is set)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotoConfig

from worker.config import Config

if TYPE_CHECKING:  # boto3-stubs: a development dependency, not in the image
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_firehose.client import FirehoseClient
    from mypy_boto3_kinesis.client import KinesisClient
    from mypy_boto3_rekognition.client import RekognitionClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sns.client import SNSClient
    from mypy_boto3_sqs.client import SQSClient

_RETRIES = BotoConfig(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=5, read_timeout=30)
# Sinks retry with their own backoff, entry by entry, and never give up: the SDK's retries stay short.
_SINK = BotoConfig(
    retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30, max_pool_connections=4
)


def kinesis(cfg: Config) -> KinesisClient:
    return boto3.client(
        "kinesis", region_name=cfg.kinesis.region, endpoint_url=cfg.kinesis.endpoint or None, config=_RETRIES
    )


def dynamodb(cfg: Config) -> DynamoDBClient:
    return boto3.client(
        "dynamodb",
        region_name=cfg.kinesis.region,
        endpoint_url=cfg.kinesis.dynamodb_endpoint or None,
        config=_RETRIES,
    )


def firehose(cfg: Config) -> FirehoseClient:
    return boto3.client(
        "firehose", region_name=cfg.kinesis.region, endpoint_url=cfg.firehose_endpoint or None, config=_SINK
    )


def s3(cfg: Config) -> S3Client:
    config = _SINK.merge(BotoConfig(s3={"addressing_style": "path"})) if cfg.s3_endpoint else _SINK
    return boto3.client("s3", region_name=cfg.kinesis.region, endpoint_url=cfg.s3_endpoint or None, config=config)


def rekognition(cfg: Config) -> RekognitionClient:
    # Rekognition has no local server here (moto does not model stream processors or IndexFaces):
    # the operator commands that use it always talk to the region's Rekognition.
    return boto3.client("rekognition", region_name=cfg.kinesis.region, config=_RETRIES)


def sns(cfg: Config) -> SNSClient:
    return boto3.client("sns", region_name=cfg.kinesis.region, endpoint_url=cfg.sns_endpoint or None, config=_SINK)


def sqs(cfg: Config) -> SQSClient:
    """Only the local tests and benchmarks read alerts back through an SQS subscription."""
    return boto3.client("sqs", region_name=cfg.kinesis.region, endpoint_url=cfg.sns_endpoint or None, config=_SINK)


def ecs(cfg: Config) -> Any:
    """ECS, to stop and restart the worker service around a rewind in place (`replay --stop-fleet`)."""
    return boto3.client(
        "ecs", region_name=cfg.kinesis.region, endpoint_url=cfg.aws_endpoint_url or None, config=_RETRIES
    )
