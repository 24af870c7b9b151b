"""Quarantine (dead letter): records that cannot be parsed, or documents a sink rejected for good.

Each entry keeps the reason, where the record came from (shard, sequence number) and the original
bytes, so nothing is lost and an operator can re-drive it after a fix. Its id comes from the record's
position, so a re-delivered bad record is one entry, not two.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from worker.core.detections import day_of, stable_id
from worker.sinks.opensearch import IndexOp
from worker.sinks.templates import index_name


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    stage: str  # "parse" or "sink"
    reason: str
    detail: str
    shard_id: str
    sequence_number: str
    partition_key: str
    arrival_ms: int
    payload: bytes
    sub_id: str = ""  # distinguishes several rejected documents of one record

    @property
    def entry_id(self) -> str:
        return stable_id("quarantine", self.shard_id, self.sequence_number, self.stage, self.sub_id)

    def to_op(self, prefix: str, worker_id: str) -> IndexOp:
        return IndexOp(
            index=index_name(prefix, "quarantine", day_of(self.arrival_ms / 1000.0)),
            doc_id=self.entry_id,
            source={
                "quarantine_id": self.entry_id,
                "stage": self.stage,
                "reason": self.reason,
                "detail": self.detail[:1000],
                "shard_id": self.shard_id,
                "sequence_number": self.sequence_number,
                "partition_key": self.partition_key,
                "arrival_time": self.arrival_ms,
                "size_bytes": len(self.payload),
                "payload_b64": base64.b64encode(self.payload).decode(),
                "worker_id": worker_id,
            },
        )
