"""`worker quarantine list|redrive`: look at dead letters, and send them through the stream again.

Re-driving puts each entry's original bytes back into the detections stream with its original partition
key (its camera), so a fixed worker processes them like any other record; ids make a record that was
partly indexed before harmless. A re-driven entry is moved under `redriven/` so it is not sent twice;
one that fails again comes back to the quarantine on its own. No payload or face data is printed.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from worker.ops.producer import KinesisProducer
from worker.sinks.quarantine import QuarantineStore

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_kinesis.client import KinesisClient

REDRIVEN_PREFIX = "redriven/"


@dataclass(frozen=True)
class DeadLetter:
    key: str
    entry: dict[str, Any]

    @property
    def payload(self) -> bytes:
        return base64.b64decode(self.entry["payload_b64"])


def entries(store: QuarantineStore, reason: str | None, day: str | None, limit: int | None) -> Iterator[DeadLetter]:
    for n, key in enumerate(store.keys(reason=reason, day=day)):
        if limit is not None and n >= limit:
            return
        yield DeadLetter(key, store.read(key))


def list_entries(
    store: QuarantineStore, reason: str | None, day: str | None, limit: int | None, out: TextIO = sys.stdout
) -> int:
    n = 0
    out.write("stage\treason\tshard\tsequence_number\tbytes\tkey\tdetail\n")
    for letter in entries(store, reason, day, limit):
        e = letter.entry
        detail = str(e.get("detail", "")).replace("\t", " ").replace("\n", " ")[:160]
        out.write(
            f"{e['stage']}\t{e['reason']}\t{e['shard_id']}\t{e['sequence_number']}\t{e['size_bytes']}\t"
            f"{letter.key}\t{detail}\n"
        )
        n += 1
    return n


def redrive(
    store: QuarantineStore,
    kinesis: KinesisClient,
    stream: str,
    reason: str | None,
    day: str | None,
    limit: int | None,
    dry_run: bool,
    out: TextIO = sys.stderr,
) -> int:
    """Put the entries back into `stream`; returns how many were (or, dry, would be) re-driven."""
    letters = list(entries(store, reason, day, limit))
    if dry_run:
        for letter in letters:
            out.write(f"would re-drive {letter.key} ({letter.entry['reason']}, {letter.entry['size_bytes']} bytes)\n")
        return len(letters)
    producer = KinesisProducer(kinesis, stream)
    # Several dead letters of one record (a sink refused two of its documents) re-drive it once.
    unique = {(dead.entry["shard_id"], dead.entry["sequence_number"]): dead for dead in letters}
    producer.put((dead.entry.get("partition_key") or "redrive", dead.payload) for dead in unique.values())
    for letter in letters:
        store.move(letter.key, REDRIVEN_PREFIX)
    out.write(f"re-drove {len(unique)} records into {stream}; {len(letters)} entries moved to {REDRIVEN_PREFIX}\n")
    return len(unique)
