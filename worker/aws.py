"""boto3 clients for the configured endpoints (the local stack, or AWS when none is set)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from worker.config import Config

_RETRIES = BotoConfig(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=5, read_timeout=30)
# Sinks retry with their own backoff, entry by entry, and never give up: the SDK's retries stay short.
_SINK = BotoConfig(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=30,
                   max_pool_connections=4)


def kinesis(cfg: Config) -> Any:
    return boto3.client(
        "kinesis", region_name=cfg.kinesis.region, endpoint_url=cfg.kinesis.endpoint or None, config=_RETRIES
    )


def dynamodb(cfg: Config) -> Any:
    return boto3.client(
        "dynamodb",
        region_name=cfg.kinesis.region,
        endpoint_url=cfg.kinesis.dynamodb_endpoint or None,
        config=_RETRIES,
    )


def firehose(cfg: Config) -> Any:
    return boto3.client("firehose", region_name=cfg.kinesis.region, endpoint_url=cfg.firehose_endpoint or None,
                        config=_SINK)


def s3(cfg: Config) -> Any:
    config = _SINK.merge(BotoConfig(s3={"addressing_style": "path"})) if cfg.s3_endpoint else _SINK
    return boto3.client("s3", region_name=cfg.kinesis.region, endpoint_url=cfg.s3_endpoint or None, config=config)


def rekognition(cfg: Config) -> Any:
    # Rekognition has no local server here (moto does not model stream processors or IndexFaces):
    # the operator commands that use it always talk to the region's Rekognition.
    return boto3.client("rekognition", region_name=cfg.kinesis.region, config=_RETRIES)


def sns(cfg: Config) -> Any:
    return boto3.client("sns", region_name=cfg.kinesis.region, endpoint_url=cfg.sns_endpoint or None, config=_SINK)


def sqs(cfg: Config) -> Any:
    """Only the local tests and benchmarks read alerts back through an SQS subscription."""
    return boto3.client("sqs", region_name=cfg.kinesis.region, endpoint_url=cfg.sns_endpoint or None, config=_SINK)
