"""Quarantine (dead letter): records that cannot be parsed, or that a sink refused for good.

Each entry keeps the reason, where the record came from (shard, sequence number) and the record's
original bytes, so nothing is lost and an operator can re-drive it after a fix. The S3 object is the
durable dead letter (what `worker quarantine list|redrive` reads); a copy goes to the quarantine index
so dashboards can count reasons (metadata only: the payload, which holds face ids and external image
ids, stays in the encrypted S3 object). One entry per record, however many of its documents a sink
refused. Ids and keys come from the record's position, so a re-delivered bad
record overwrites its own entry instead of adding a second one.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from worker.core.detections import day_of
from worker.documents import QuarantineSource
from worker.logs import get_logger
from worker.model import IndexOp, QuarantineEntry
from worker.retry import RetryPolicy
from worker.sinks.templates import index_name

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_s3.client import S3Client

MAX_ITEMS_INDEXED = 20  # the searchable copy lists this many refused documents; S3 keeps all
NOT_RETRYABLE_S3 = {"NoSuchBucket", "InvalidBucketName", "AllAccessDisabled", "InvalidArgument"}


def dead_letter_fields(entry: QuarantineEntry, worker_id: str, detail_chars: int) -> QuarantineSource:
    """What both copies of an entry hold: metadata and reasons, no personal data. The S3 object adds
    the original bytes (which hold face ids and external image ids) in an encrypted bucket."""
    return {
        "quarantine_id": entry.entry_id,
        "stage": entry.stage,
        "reason": entry.reason,
        "field": entry.field,
        "detail": entry.detail[:detail_chars],
        "shard_id": entry.shard_id,
        "sequence_number": entry.sequence_number,
        "partition_key": entry.partition_key,
        "arrival_time": entry.arrival_ms,
        "size_bytes": len(entry.payload),
        "refused_items": len(entry.items),
        "refused": [item.as_dict() for item in entry.items[:MAX_ITEMS_INDEXED]],
        "worker_id": worker_id,
    }


def searchable_op(entry: QuarantineEntry, prefix: str, worker_id: str) -> IndexOp:
    """The entry's copy in the quarantine index, by its arrival day."""
    return IndexOp(
        index=index_name(prefix, "quarantine", day_of(entry.arrival_ms / 1000.0)),
        doc_id=entry.entry_id,
        source=dict(dead_letter_fields(entry, worker_id, 1000)),
    )


def s3_key(entry: QuarantineEntry, prefix: str) -> str:
    # By arrival day, then reason: `list --reason` and lifecycle rules work on prefixes.
    day = datetime.fromtimestamp(entry.arrival_ms / 1000.0, tz=UTC).strftime("%Y/%m/%d")
    return f"{prefix}{day}/{entry.reason}/{entry.entry_id}.json"


def s3_body(entry: QuarantineEntry, worker_id: str) -> bytes:
    body: dict[str, Any] = dict(dead_letter_fields(entry, worker_id, 4000))
    body["refused"] = [item.as_dict() for item in entry.items]
    body["payload_b64"] = base64.b64encode(entry.payload).decode()
    if entry.document:
        body["document_b64"] = base64.b64encode(entry.document).decode()
    return orjson.dumps(body)


def _s3_retryable(exc: BaseException) -> tuple[str, str] | None:
    """S3 errors that may pass later; the bucket's own refusals (no such bucket, access) do not."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return None if code in NOT_RETRYABLE_S3 else ("quarantine_s3_retry", code)
    if isinstance(exc, BotoCoreError) and not isinstance(exc, ParamValidationError):
        return "quarantine_s3_unreachable", str(exc)[:200]
    return None


class QuarantineConfigError(RuntimeError):
    """The dead-letter bucket cannot take entries for a reason retrying will not fix."""


class QuarantineStore:
    """The S3 side of the quarantine: write entries (retrying until stored), list and read them back."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str, retry: RetryPolicy | None = None) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self.retry = retry or RetryPolicy(0.2, 10.0)
        self.log = get_logger().bind(sink="quarantine")

    def put(self, entries: list[QuarantineEntry], worker_id: str) -> None:
        for entry in entries:
            key, body = s3_key(entry, self.prefix), s3_body(entry, worker_id)
            try:
                self.retry.call(
                    partial(self.s3.put_object, Bucket=self.bucket, Key=key, Body=body, ContentType="application/json"),
                    _s3_retryable,
                    self.log,
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                raise QuarantineConfigError(f"quarantine bucket {self.bucket}: {code}") from exc

    def keys(self, reason: str | None = None, day: str | None = None, prefix: str | None = None) -> Iterator[str]:
        """Keys of entries, optionally of one reason and/or one arrival day (YYYY-MM-DD)."""
        base = self.prefix if prefix is None else prefix
        if day:
            base += day.replace("-", "/") + "/"
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if reason is None or f"/{reason}/" in key:
                    yield key

    def read(self, key: str) -> dict[str, Any]:
        return orjson.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def move(self, key: str, to_prefix: str) -> str:
        """Move an entry under another prefix (e.g. after a re-drive), keeping the rest of its key."""
        new_key = to_prefix + key[len(self.prefix) :]
        self.s3.copy_object(Bucket=self.bucket, Key=new_key, CopySource={"Bucket": self.bucket, "Key": key})
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        return new_key
