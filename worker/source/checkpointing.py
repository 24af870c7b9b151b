"""When to checkpoint, and where: the position every sink has acknowledged, on a cadence.

Checkpointing after every flush would cost a DynamoDB write per flush per shard; waiting too long makes
a crashed shard re-read more. The position itself is never a choice: it is the newest sequence number
below which every record has been acknowledged by every sink, reported by the flushes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CheckpointPolicy:
    every_s: float
    every_records: int
    acked: str | None = None  # newest sequence number acknowledged by every sink
    checkpointed: str | None = None
    acked_records: int = 0  # acknowledged since the last checkpoint
    last_at: float | None = None

    def acknowledged(self, sequence_number: str | None, records: int) -> None:
        if sequence_number is not None:
            self.acked = sequence_number
            self.acked_records += records

    def due(self, now: float) -> str | None:
        """The position to checkpoint now, or None when nothing new is acknowledged or it is too soon."""
        if self.acked is None or self.acked == self.checkpointed:
            return None
        if self.last_at is None:
            self.last_at = now  # the cadence starts with the first acknowledged flush
        if self.every_s == 0 or now - self.last_at >= self.every_s:
            return self.acked
        if self.every_records and self.acked_records >= self.every_records:
            return self.acked
        return None

    def done(self, sequence_number: str, now: float) -> None:
        self.checkpointed = sequence_number
        self.acked_records = 0
        self.last_at = now
