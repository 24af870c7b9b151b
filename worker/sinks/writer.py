"""One flush of a shard's buffer to every sink, in an order that makes a crash at any point harmless.

1. OpenSearch: detections, tracks, alerts. Documents it refuses for good become dead letters.
2. Alerts: handed to the sinks' lanes (SNS, the webhook) when they were raised (worker/sinks/dispatch.py);
   here the flush only takes in what the lanes finished and retries what is due. One not delivered yet
   marks the flush `alerts_held`, and the processor does not checkpoint past it until it is.
3. Firehose: raw records and closed tracks, each line acknowledged; written while step 1 is.
4. Quarantine: S3 (the durable dead letter), then its searchable copy in OpenSearch.
5. The hand-off state: one document per camera, what a successor resumes its tracks from. Only now: a
   successor skips the frames a state holds, so a state must never be ahead of any document its frames
   made (a closed track's document or archive line would then never be written again).
6. The shard's progress document (last, on its own): "everything up to sequence N is in every sink".
Only when all of them have been acknowledged does the caller treat the buffer's position as safe to
checkpoint. A crash before step 5 means a successor resumes from the previous state and writes some of
the same things again (ids make that harmless, and the archive loses nothing); a crash after step 6 lets
the successor skip re-archiving.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from worker.buffer.pending import PendingWrites
from worker.model import IndexOp, QuarantineEntry, RawRecord, RefusedItem, Rejected
from worker.sinks.firehose import FirehoseSink
from worker.sinks.opensearch import OpenSearchSink
from worker.sinks.quarantine import QuarantineStore, searchable_op


class SinkRefused(RuntimeError):
    """A write that must succeed for nothing to be lost was refused: stop rather than go on."""


class FlushAbandoned(RuntimeError):
    """The lease moved while this flush ran: its state and progress are left to the new owner."""


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
        alerts: AlertDispatcher | None = None,
    ) -> None:
        self.alerts = alerts
        self.opensearch = opensearch
        self.firehose = firehose
        self.quarantine = quarantine
        self.prefix = index_prefix
        self.shard_id = shard_id
        self.worker_id = worker_id
        self._archive_thread: ThreadPoolExecutor | None = None
        self._abandoned = threading.Event()

    def abandon(self) -> None:
        """The lease is gone: a flush still running writes no camera state and no progress (the new owner's
        may already be there, newer); its documents are the same ids the new owner writes again."""
        self._abandoned.set()

    def flush(
        self, pending: PendingWrites, progress: Callable[[str], IndexOp] | None = None, settle_alerts: bool = True
    ) -> FlushResult:
        """Write everything pending; returns only when every sink has acknowledged it.

        OpenSearch (1) and Firehose (3) are written at the same time, Firehose on the archive thread: they
        hold different things, and the flush waits for both before steps 4 to 6, so a crash at any point
        leaves what it left before (a successor writes both again), only sooner. The cameras' states come
        after every other write, so a successor never resumes from a state ahead of the documents; one
        OpenSearch refuses raises (SinkRefused) rather than leave a successor an older state than the
        documents, as the progress document does."""
        result = FlushResult(pending.last_sequence, pending.records)
        dead = list(pending.quarantine)
        ops = list(pending.ops.values())
        archived: Future[int] | None = None
        if self.firehose is not None and pending.archive:
            if self._archive_thread is None:
                self._archive_thread = ThreadPoolExecutor(1, thread_name_prefix="archive")
            archived = self._archive_thread.submit(self._archive, pending.archive)
        # (An error of OpenSearch raises at once: the processor ends, and with it the archive thread.)
        dead.extend(self._refused(self.opensearch.index(ops), pending))
        result.documents = len(ops)
        result.archived = archived.result() if archived is not None else 0
        if self.alerts is not None and settle_alerts:
            result.alerts_held = not self.alerts.deliver()
        if dead:
            self.quarantine.put(dead, self.worker_id)
            refused = self.opensearch.index(searchable_op(entry, self.prefix, self.worker_id) for entry in dead)
            if refused:
                raise SinkRefused(
                    f"quarantine index refused {len(refused)} entries: {refused[0].status} {refused[0].error}"
                )
            result.quarantined = len(dead)
            for entry in dead:
                result.reasons[entry.reason] = result.reasons.get(entry.reason, 0) + 1
        if self._abandoned.is_set():
            raise FlushAbandoned("the lease moved during this flush")
        if pending.hand_off:
            refused = self.opensearch.index(pending.hand_off)
            if refused:  # a successor would resume from an older state than the documents: stop instead
                raise SinkRefused(f"camera state refused: {refused[0].status} {refused[0].error}")
        if progress is not None and pending.last_sequence is not None:
            refused = self.opensearch.index([progress(pending.last_sequence)])
            if refused:
                raise SinkRefused(f"progress document refused: {refused[0].status} {refused[0].error}")
        return result

    def _archive(self, archive: dict[str, list[bytes]]) -> int:
        assert self.firehose is not None
        for stream, lines in archive.items():
            self.firehose.put(stream, lines)
        return sum(len(lines) for lines in archive.values())

    def _refused(self, rejected: list[Rejected], pending: PendingWrites) -> list[QuarantineEntry]:
        """One dead letter per record whose documents OpenSearch refused, listing each refused document
        with its own reason; a document no record produced (a track closed by the shard's clock) gets
        its own, at the buffer's position."""
        by_record: dict[str, tuple[RawRecord, list[Rejected]]] = {}
        orphans: list[Rejected] = []
        for refused in rejected:
            record = pending.origin.get(refused.op.doc_id)
            if record is None:
                orphans.append(refused)
            else:
                by_record.setdefault(record.sequence_number, (record, []))[1].append(refused)
        entries = [
            self._entry(items, record.sequence_number, record.partition_key, record.arrival_ms, record.data, "")
            for record, items in by_record.values()
        ]
        entries += [self._entry([r], pending.last_sequence or "", "", 0, b"", r.op.doc_id) for r in orphans]
        return entries

    def _entry(
        self, items: list[Rejected], sequence: str, key: str, arrival_ms: int, payload: bytes, sub_id: str
    ) -> QuarantineEntry:
        errors = sorted({f"{r.status} {r.error}" for r in items})
        return QuarantineEntry(
            stage="sink",
            reason=f"opensearch_{min(r.status for r in items)}",
            detail=f"{len(items)} document(s) refused: {', '.join(errors)}",
            shard_id=self.shard_id,
            sequence_number=sequence,
            partition_key=key,
            arrival_ms=arrival_ms,
            payload=payload,
            sub_id=sub_id,
            document=orjson.dumps(items[0].op.source),
            items=tuple(RefusedItem(r.op.doc_id, r.op.index, r.status, r.error) for r in items),
        )
