"""One flush of a shard's buffer to every sink, in an order that makes a crash at any point harmless.

1. OpenSearch: detections, tracks, camera states, alerts. Documents it refuses for good become dead letters.
2. Alerts: handed to the sinks' lanes (SNS, the webhook) when they were raised (worker/sinks/dispatch.py);
   here the flush only takes in what the lanes finished and retries what is due. One not delivered yet
   marks the flush `alerts_held`, and the processor does not checkpoint past it until it is.
3. Firehose: raw records and closed tracks, each line acknowledged.
4. Quarantine: S3 (the durable dead letter), then its searchable copy in OpenSearch.
5. The shard's progress document (last, on its own): "everything up to sequence N is in every sink".
Only when all of them have been acknowledged does the caller treat the buffer's position as safe to
checkpoint. A crash before step 4 means a successor writes some of the same things again (ids make that
harmless, and the archive loses nothing); a crash after step 5 lets the successor skip re-archiving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import orjson

from worker.buffer.pending import PendingWrites
from worker.sinks.firehose import FirehoseSink
from worker.sinks.opensearch import IndexOp, OpenSearchSink
from worker.sinks.quarantine import QuarantineEntry, QuarantineStore


class SinkRefused(RuntimeError):
    """A write that must succeed for nothing to be lost was refused: stop rather than go on."""


if TYPE_CHECKING:
    from worker.sinks.dispatch import AlertDispatcher


@dataclass
class FlushResult:
    last_sequence: str | None
    records: int
    documents: int = 0
    archived: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    alerts_held: bool = False  # an alert is not delivered yet: this position may not be checkpointed


class SinkWriter:
    def __init__(
        self,
        opensearch: OpenSearchSink,
        firehose: FirehoseSink | None,
        quarantine: QuarantineStore,
        index_prefix: str,
        shard_id: str,
        worker_id: str,
        alerts: "AlertDispatcher | None" = None,
    ) -> None:
        self.alerts = alerts
        self.opensearch = opensearch
        self.firehose = firehose
        self.quarantine = quarantine
        self.prefix = index_prefix
        self.shard_id = shard_id
        self.worker_id = worker_id

    def flush(self, pending: PendingWrites, progress: Callable[[str], IndexOp] | None = None) -> FlushResult:
        """Write everything pending; returns only when every sink has acknowledged it."""
        result = FlushResult(pending.last_sequence, pending.records)
        dead = list(pending.quarantine)
        ops = list(pending.ops.values())
        for rejected in self.opensearch.index(ops):
            record = pending.origin.get(rejected.op.doc_id)
            dead.append(
                QuarantineEntry(
                    stage="sink",
                    reason=f"opensearch_{rejected.status}",
                    detail=rejected.error,
                    shard_id=self.shard_id,
                    sequence_number=record.sequence_number if record else (pending.last_sequence or ""),
                    partition_key=record.partition_key if record else "",
                    arrival_ms=record.arrival_ms if record else 0,
                    payload=record.data if record else b"",
                    sub_id=rejected.op.doc_id,
                    document=orjson.dumps(rejected.op.source),
                )
            )
        result.documents = len(ops)
        if self.alerts is not None:
            result.alerts_held = not self.alerts.deliver()
        if self.firehose is not None:
            for stream, lines in pending.archive.items():
                self.firehose.put(stream, lines)
                result.archived += len(lines)
        if dead:
            self.quarantine.put(dead, self.worker_id)
            refused = self.opensearch.index(entry.to_op(self.prefix, self.worker_id) for entry in dead)
            if refused:
                raise SinkRefused(f"quarantine index refused {len(refused)} entries: {refused[0].status} {refused[0].error}")
            result.quarantined = len(dead)
            for entry in dead:
                result.reasons[entry.reason] = result.reasons.get(entry.reason, 0) + 1
        if progress is not None and pending.last_sequence is not None:
            refused = self.opensearch.index([progress(pending.last_sequence)])
            if refused:
                raise SinkRefused(f"progress document refused: {refused[0].status} {refused[0].error}")
        return result

