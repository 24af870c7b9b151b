"""Read the KCL lease table: which worker holds which shard, and where its checkpoint is."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_dynamodb.client import DynamoDBClient


@dataclass(frozen=True)
class Lease:
    shard_id: str
    owner: str | None
    checkpoint: str | None
    counter: int


def read_leases(dynamodb: DynamoDBClient, application_name: str) -> list[Lease]:
    leases: list[Lease] = []
    paginator = dynamodb.get_paginator("scan")
    for page in paginator.paginate(TableName=application_name, ConsistentRead=True):
        for item in page.get("Items", []):
            leases.append(
                Lease(
                    shard_id=item["leaseKey"]["S"],
                    owner=item.get("leaseOwner", {}).get("S"),
                    checkpoint=item.get("checkpoint", {}).get("S"),
                    counter=int(item.get("leaseCounter", {}).get("N", "0")),
                )
            )
    return sorted(leases, key=lambda lease: lease.shard_id)


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
