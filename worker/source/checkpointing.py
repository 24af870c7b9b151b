"""The one object that decides what may be checkpointed: acknowledged positions in, the safe position out.

Contract:
- `flushed(position, records, alerts_held)`: a flush of the buffer up to `position` was acknowledged by
  every sink (OpenSearch, Firehose, the quarantine, the progress document). If an alert raised from
  those records is not yet delivered to every alert sink (`alerts_held`), the position is *held*: it
  becomes acknowledged only when `alerts_settled()` is called. Held positions accumulate; the newest wins.
- `due(now)`: the position to checkpoint now, on a cadence (every `every_s` seconds, or sooner once
  `every_records` acknowledged records wait), or None. Never a position that is not acknowledged, never
  one already checkpointed, never anything once the shard is no longer ours.
- `final()`: what to checkpoint at a graceful hand-off (everything acknowledged, if not yet written).
- `done(position, now)` after the KCL accepted a checkpoint; `lost()` when the lease is gone (a later
  checkpoint would overwrite the new owner's).

Checkpointing after every flush would cost a DynamoDB write per flush per shard; waiting too long makes
a crashed shard re-read more. The position itself is never a choice: it is the newest sequence number
below which every record has been acknowledged by every sink.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CheckpointTracker:
    every_s: float
    every_records: int
    acked: str | None = None  # newest sequence number acknowledged by every sink (alerts included)
    checkpointed: str | None = None
    acked_records: int = 0  # acknowledged since the last checkpoint
    last_at: float | None = None
    held: str | None = None  # flushed, but an alert raised from it is not delivered yet
    held_records: int = 0
    owns_shard: bool = True

    def flushed(self, sequence_number: str | None, records: int, alerts_held: bool) -> None:
        if alerts_held:
            self.held = sequence_number or self.held
            self.held_records += records
            return
        self._acknowledge(sequence_number or self.held, records + self.held_records)
        self.held, self.held_records = None, 0

    def alerts_settled(self) -> None:
        """Every alert is delivered: what was held is acknowledged."""
        if self.held is not None:
            self._acknowledge(self.held, self.held_records)
            self.held, self.held_records = None, 0

    @property
    def holding(self) -> bool:
        return self.held is not None

    def _acknowledge(self, sequence_number: str | None, records: int) -> None:
        if sequence_number is not None:
            self.acked = sequence_number
            self.acked_records += records

    def due(self, now: float) -> str | None:
        """The position to checkpoint now, or None when nothing new is acknowledged or it is too soon."""
        if not self.owns_shard or self.acked is None or self.acked == self.checkpointed:
            return None
        if self.last_at is None:
            self.last_at = now  # the cadence starts with the first acknowledged flush
        if self.every_s == 0 or now - self.last_at >= self.every_s:
            return self.acked
        if self.every_records and self.acked_records >= self.every_records:
            return self.acked
        return None

    def final(self) -> str | None:
        """At a graceful hand-off: everything acknowledged that is not checkpointed yet."""
        if not self.owns_shard or self.acked is None or self.acked == self.checkpointed:
            return None
        return self.acked

    def done(self, sequence_number: str, now: float) -> None:
        self.checkpointed = sequence_number
        self.acked_records = 0
        self.last_at = now

    def lost(self) -> None:
        self.owns_shard = False
