"""The types every layer shares, in one module that imports nothing of ours: what a Kinesis record is
to the processor, a write to the index, a write the index refused, and a dead letter.

`source` makes them, `core` and `buffer` hold them, `sinks` consume them: keeping them here (and not in
the adapter that happens to consume them) is what keeps `worker/` free of import circles.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from worker.documents import RefusedSource


def stable_id(*parts: object) -> str:
    """A short deterministic id: same parts, same id, on every worker and every replay."""
    joined = "\x1f".join(map(str, parts))
    return hashlib.blake2b(joined.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class RawRecord:
    """What the processor needs of a Kinesis record, independent of kclpy's classes."""

    data: bytes
    sequence_number: str
    partition_key: str
    arrival_ms: int  # ApproximateArrivalTimestamp


@dataclass(frozen=True, slots=True)
class IndexOp:
    """Create or replace a document by id; with `delete=True`, remove it (absent counts as done); with
    `create=True`, write it only if absent (present counts as done: it keeps what it already holds)."""

    index: str
    doc_id: str
    source: dict[str, Any]
    delete: bool = False
    create: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """An op the index refused for good (a 4xx other than 429): it goes to the quarantine."""

    op: IndexOp
    status: int
    error: str


@dataclass(frozen=True, slots=True)
class RefusedItem:
    """One document a sink refused for good, of the record a dead letter is about."""

    doc_id: str
    index: str
    status: int
    error: str  # the sink's error type (e.g. mapper_parsing_exception), never a field's value

    def as_dict(self) -> RefusedSource:
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
        """From the record's position: a redelivered bad record overwrites its own entry."""
        return stable_id("quarantine", self.shard_id, self.sequence_number, self.stage, self.sub_id)
