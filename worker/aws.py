"""boto3 clients for the configured endpoints (the local stack, or AWS when none is set)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from worker.config import Config

_RETRIES = BotoConfig(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=5, read_timeout=30)


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
