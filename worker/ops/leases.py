"""Read and rewrite the KCL lease table: which worker holds which shard, and where its checkpoint is."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_dynamodb.client import DynamoDBClient

# What KCL writes instead of a sequence number (ExtendedSequenceNumber's sentinels).
SENTINELS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", "SHARD_END")


@dataclass(frozen=True)
class Lease:
    shard_id: str
    owner: str | None
    checkpoint: str | None
    counter: int
    sub_sequence: int = 0
    parents: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    hash_range: tuple[str, str] | None = None  # (starting, ending) hash key, as KCL 2+ stores them
    checkpoint_owner: str | None = None  # KCL 3 graceful hand-off in progress


def read_leases(dynamodb: DynamoDBClient, application_name: str) -> list[Lease]:
    leases: list[Lease] = []
    paginator = dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=application_name, ConsistentRead=True):
        for item in page.get("Items", []):
            start, end = item.get("startingHashKey", {}).get("S"), item.get("endingHashKey", {}).get("S")
            leases.append(
                Lease(
                    shard_id=item["leaseKey"]["S"],
                    owner=item.get("leaseOwner", {}).get("S"),
                    checkpoint=item.get("checkpoint", {}).get("S"),
                    counter=int(item.get("leaseCounter", {}).get("N", "0")),
                    sub_sequence=int(item.get("checkpointSubSequenceNumber", {}).get("N", "0")),
                    parents=tuple(sorted(item.get("parentShardId", {}).get("SS", []))),
                    children=tuple(sorted(item.get("childShardIds", {}).get("SS", []))),
                    hash_range=(start, end) if start is not None and end is not None else None,
                    checkpoint_owner=item.get("checkpointOwner", {}).get("S"),
                )
            )
    return sorted(leases, key=lambda lease: lease.shard_id)


def live_owners(dynamodb: DynamoDBClient, application_name: str, watch_s: float) -> dict[str, list[str]]:
    """Workers renewing a lease right now: owner -> shards. A live worker renews each lease (bumps its
    counter) every failover time / 3; a lease whose counter stands still for `watch_s` (more than the
    failover time) belongs to a worker that is gone, even if its name is still on it."""
    before = {lease.shard_id: lease for lease in read_leases(dynamodb, application_name)}
    deadline = time.monotonic() + watch_s
    live: dict[str, list[str]] = {}
    while True:
        for lease in read_leases(dynamodb, application_name):
            old = before.get(lease.shard_id)
            if lease.owner and (old is None or old.counter != lease.counter or old.owner != lease.owner):
                shards = live.setdefault(lease.owner, [])
                if lease.shard_id not in shards:
                    shards.append(lease.shard_id)
        if live or time.monotonic() >= deadline:
            return live
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))


class LeaseChanged(RuntimeError):
    """A lease changed between the plan and its rewrite: a worker took it, or another rewind ran."""


def rewrite_checkpoint(dynamodb: DynamoDBClient, application_name: str, lease: Lease, checkpoint: str) -> None:
    """Point a lease at a new checkpoint and free it, only if nobody touched it since it was read.

    The owner is removed so the next worker takes the lease at once; the counter is bumped so a worker
    that still believed it held the lease fails its next renewal instead of checkpointing over ours.
    """
    try:
        dynamodb.update_item(
            TableName=application_name,
            Key={"leaseKey": {"S": lease.shard_id}},
            UpdateExpression=(
                "SET #cp = :cp, checkpointSubSequenceNumber = :zero, leaseCounter = :next,"
                " ownerSwitchesSinceCheckpoint = :zero"
                " REMOVE leaseOwner, checkpointOwner, pendingCheckpoint, pendingCheckpointSubSequenceNumber,"
                " pendingCheckpointState"
            ),
            ConditionExpression="leaseCounter = :counter",
            ExpressionAttributeNames={"#cp": "checkpoint"},
            ExpressionAttributeValues={
                ":cp": {"S": checkpoint},
                ":zero": {"N": "0"},
                ":next": {"N": str(lease.counter + 1)},
                ":counter": {"N": str(lease.counter)},
            },
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise LeaseChanged(
            f"the lease of {lease.shard_id} changed since it was read (counter {lease.counter}):"
            " a worker is running or another rewind ran; stop the fleet and run the command again"
        ) from None


def checkpoint_lag(lease: Lease, last_produced: str | None) -> str:
    """How far a shard's checkpoint is from the last record produced into it, in words."""
    if last_produced is None:
        return "no records produced"
    if lease.checkpoint in (None, "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
        return f"not checkpointed yet ({lease.checkpoint})"
    if lease.checkpoint == "SHARD_END":
        return "shard ended"
    if int(lease.checkpoint) >= int(last_produced):
        return "0 (checkpoint at the last record produced)"
    return "behind the last record produced"
