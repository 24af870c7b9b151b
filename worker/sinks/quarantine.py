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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import orjson
from botocore.exceptions import BotoCoreError, ClientError

from worker.core.detections import day_of, stable_id
from worker.logs import get_logger
from worker.retry import Backoff
from worker.sinks.opensearch import IndexOp
from worker.sinks.templates import index_name

MAX_ITEMS_INDEXED = 20  # the searchable copy lists this many refused documents; S3 keeps all
NOT_RETRYABLE_S3 = {"NoSuchBucket", "InvalidBucketName", "AllAccessDisabled", "InvalidArgument"}


@dataclass(frozen=True, slots=True)
class RefusedItem:
    """One document a sink refused for good, of the record a dead letter is about."""

    doc_id: str
    index: str
    status: int
    error: str  # the sink's error type (e.g. mapper_parsing_exception), never a field's value

    def as_dict(self) -> dict[str, Any]:
        return {"doc_id": self.doc_id, "index": self.index, "status": self.status, "error": self.error}


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """One dead letter per bad record: a record the parser refused, or a record some of whose documents
    a sink refused (all of them listed in `items`, each with its own reason)."""

    stage: str  # "parse" (the record is bad), "process" (it could not be used), "sink" (a sink refused it)
    reason: str
    detail: str
    shard_id: str
    sequence_number: str
    partition_key: str
    arrival_ms: int
    payload: bytes  # the Kinesis record's data, exactly as it arrived
    sub_id: str = ""  # a document with no record of its own (a track closed by the clock): its id
    document: bytes = b""  # a sample refused document (the first), for a sink rejection
    field: str = ""  # the record's field at fault, for a parse error
    items: tuple[RefusedItem, ...] = ()

    @property
    def entry_id(self) -> str:
        return stable_id("quarantine", self.shard_id, self.sequence_number, self.stage, self.sub_id)

    def _fields(self, worker_id: str, detail_chars: int) -> dict[str, Any]:
        """What both copies of an entry hold: metadata and reasons, no personal data. The S3 object adds
        the original bytes (which hold face ids and external image ids) in an encrypted bucket."""
        return {
            "quarantine_id": self.entry_id,
            "stage": self.stage,
            "reason": self.reason,
            "field": self.field,
            "detail": self.detail[:detail_chars],
            "shard_id": self.shard_id,
            "sequence_number": self.sequence_number,
            "partition_key": self.partition_key,
            "arrival_time": self.arrival_ms,
            "size_bytes": len(self.payload),
            "refused_items": len(self.items),
            "refused": [item.as_dict() for item in self.items[:MAX_ITEMS_INDEXED]],
            "worker_id": worker_id,
        }

    def to_op(self, prefix: str, worker_id: str) -> IndexOp:
        return IndexOp(
            index=index_name(prefix, "quarantine", day_of(self.arrival_ms / 1000.0)),
            doc_id=self.entry_id,
            source=self._fields(worker_id, 1000),
        )

    def s3_key(self, prefix: str) -> str:
        # By arrival day, then reason: `list --reason` and lifecycle rules work on prefixes.
        day = datetime.fromtimestamp(self.arrival_ms / 1000.0, tz=timezone.utc).strftime("%Y/%m/%d")
        return f"{prefix}{day}/{self.reason}/{self.entry_id}.json"

    def s3_body(self, worker_id: str) -> bytes:
        body = self._fields(worker_id, 4000)
        body["refused"] = [item.as_dict() for item in self.items]
        body["payload_b64"] = base64.b64encode(self.payload).decode()
        if self.document:
            body["document_b64"] = base64.b64encode(self.document).decode()
        return orjson.dumps(body)


class QuarantineConfigError(RuntimeError):
    """The dead-letter bucket cannot take entries for a reason retrying will not fix."""


class QuarantineStore:
    """The S3 side of the quarantine: write entries (retrying until stored), list and read them back."""

    def __init__(self, s3: Any, bucket: str, prefix: str,
                 backoff_factory: Callable[[], Backoff] = lambda: Backoff(0.2, 10.0)) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = prefix
        self._backoff = backoff_factory
        self.log = get_logger().bind(sink="quarantine")

    def put(self, entries: list[QuarantineEntry], worker_id: str) -> None:
        for entry in entries:
            key, body = entry.s3_key(self.prefix), entry.s3_body(worker_id)
            backoff = self._backoff()
            while True:
                try:
                    self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
                    break
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "")
                    if code in NOT_RETRYABLE_S3:
                        raise QuarantineConfigError(f"quarantine bucket {self.bucket}: {code}") from exc
                    delay = backoff.next_delay()
                    self.log.warning("quarantine_s3_retry", error=code, retry_in_s=round(delay, 2))
                    backoff.sleep(delay)
                except BotoCoreError as exc:
                    delay = backoff.next_delay()
                    self.log.warning("quarantine_s3_unreachable", error=str(exc)[:200], retry_in_s=round(delay, 2))
                    backoff.sleep(delay)

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
        new_key = to_prefix + key[len(self.prefix):]
        self.s3.copy_object(Bucket=self.bucket, Key=new_key, CopySource={"Bucket": self.bucket, "Key": key})
        self.s3.delete_object(Bucket=self.bucket, Key=key)
        return new_key
