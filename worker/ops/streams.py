"""Create (or reuse) a Kinesis stream and wait until it is ACTIVE."""

from __future__ import annotations

import time
from typing import Any


def create_stream(kinesis: Any, name: str, shards: int, timeout_s: float = 60.0) -> None:
    try:
        kinesis.create_stream(StreamName=name, ShardCount=shards)
    except kinesis.exceptions.ResourceInUseException:
        pass  # already there: reuse it
    deadline = time.monotonic() + timeout_s
    while True:
        status = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
        if status == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"stream {name} still {status} after {timeout_s:.0f} s")
        time.sleep(0.2)


def delete_stream(kinesis: Any, name: str) -> None:
    try:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    except kinesis.exceptions.ResourceNotFoundException:
        pass
