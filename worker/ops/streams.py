"""Create (or reuse) a Kinesis stream and wait until it is ACTIVE."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_kinesis.client import KinesisClient


def create_stream(kinesis: KinesisClient, name: str, shards: int, timeout_s: float = 60.0) -> None:
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


def delete_stream(kinesis: KinesisClient, name: str) -> None:
    try:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    except kinesis.exceptions.ResourceNotFoundException:
        pass


def split_shard_in_half(kinesis: KinesisClient, stream: str, shard_id: str, timeout_s: float = 30.0) -> list[str]:
    """Split a shard at the middle of its hash range (as an operator resharding would); return the
    two children once the stream lists them."""
    shard = next(s for s in kinesis.list_shards(StreamName=stream)["Shards"] if s["ShardId"] == shard_id)
    lo, hi = int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"])
    kinesis.split_shard(StreamName=stream, ShardToSplit=shard_id, NewStartingHashKey=str((lo + hi) // 2))
    deadline = time.monotonic() + timeout_s
    while True:
        shards = kinesis.list_shards(StreamName=stream)["Shards"]
        children = [s["ShardId"] for s in shards if s.get("ParentShardId") == shard_id]
        if len(children) == 2:
            return children
        if time.monotonic() > deadline:
            raise TimeoutError(f"split of {shard_id} in {stream}: children not listed after {timeout_s:.0f} s")
        time.sleep(0.5)
