"""The write buffer of one shard: documents, archive lines and dead letters waiting for one flush.

Batches from the KCL are small when a shard is quiet and large when it is busy; buffering lets a flush
carry several of them in one bulk request and one PutRecordBatch, and lets repeated updates of the same
track document collapse into the last one. The buffer knows the last sequence number it covers: once a
flush of it has been acknowledged by every sink, that position is safe to checkpoint, and not before.
Its size is capped (records and bytes), so while a sink is down a shard holds bounded memory: the flush
blocks, the callback does not return, and the daemon stops fetching for that shard.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from worker.model import IndexOp, QuarantineEntry, RawRecord


@dataclass
class PendingWrites:
    ops: dict[tuple[str, str], IndexOp] = field(default_factory=dict)  # last write of a document wins
    origin: dict[str, RawRecord] = field(default_factory=dict)  # detection id -> its record
    archive: dict[str, list[bytes]] = field(default_factory=dict)  # delivery stream -> NDJSON lines
    quarantine: list[QuarantineEntry] = field(default_factory=list)
    # The cameras' state as of `last_sequence` (taken with the buffer): written after all the rest.
    hand_off: list[IndexOp] = field(default_factory=list)
    last_sequence: str | None = None  # the newest record this buffer covers
    records: int = 0
    bytes: int = 0
    started_at: float | None = None  # monotonic time of the first write buffered

    def __bool__(self) -> bool:
        return bool(self.ops or self.archive or self.quarantine or self.last_sequence)


class WriteBuffer:
    def __init__(self, max_records: int, max_bytes: int, max_age_s: float) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_age_s = max_age_s
        self.pending = PendingWrites()

    def _touch(self, now: float) -> None:
        if self.pending.started_at is None:
            self.pending.started_at = now

    def add_ops(
        self,
        ops: list[IndexOp],
        now: float,
        origin: RawRecord | None = None,
        origins: dict[str, RawRecord] | None = None,
    ) -> None:
        """Buffer writes; `origin` (all of them) or `origins` (by doc id) name the record each came from,
        so a document a sink refuses is quarantined with its own record."""
        if not ops:
            return
        self._touch(now)
        for op in ops:
            self.pending.ops[(op.index, op.doc_id)] = op
            self.pending.bytes += 256 + 64 * len(op.source)  # a cheap estimate; exact sizes come at flush
            source = origin if origin is not None else (origins.get(op.doc_id) if origins else None)
            if source is not None:
                self.pending.origin[op.doc_id] = source

    def add_archive(self, stream: str, lines: list[bytes], now: float) -> None:
        if not lines:
            return
        self._touch(now)
        self.pending.archive.setdefault(stream, []).extend(lines)
        self.pending.bytes += sum(len(line) for line in lines)

    def add_quarantine(self, entries: list[QuarantineEntry], now: float) -> None:
        if not entries:
            return
        self._touch(now)
        self.pending.quarantine.extend(entries)
        self.pending.bytes += sum(len(e.payload) for e in entries)

    def covered(self, sequence_number: str, records: int, now: float) -> None:
        """The buffer now holds everything of the records up to `sequence_number`."""
        self._touch(now)
        self.pending.last_sequence = sequence_number
        self.pending.records += records

    def due(self, now: float) -> bool:
        p = self.pending
        if not p:
            return False
        if p.records >= self.max_records or p.bytes >= self.max_bytes:
            return True
        return p.started_at is not None and now - p.started_at >= self.max_age_s

    def take(self) -> PendingWrites:
        pending, self.pending = self.pending, PendingWrites()
        return pending

    def drop(self) -> int:
        """Forget what is buffered (the lease is gone: the next owner gets these records again)."""
        records = self.pending.records
        self.pending = PendingWrites()
        return records
