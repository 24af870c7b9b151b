"""The shard's progress document: everything up to this sequence number is in every sink.

Written as the last step of each flush, so it is cheap and exact, unlike the KCL checkpoint which is
written on a cadence. A successor that is handed records again from an older checkpoint uses it to
avoid archiving the same raw records a second time (Firehose has no idempotent ids). OpenSearch writes
are repeated regardless: they are idempotent, and a deliberate replay must rebuild the indices.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.core.detections import stable_id
from worker.documents import ShardProgressSource
from worker.model import IndexOp
from worker.sinks.opensearch import OpenSearchSink
from worker.sinks.templates import camera_state_index


def progress_id(application: str, shard_id: str) -> str:
    return stable_id("shard-progress", application, shard_id)


def progress_op(
    prefix: str,
    application: str,
    shard_id: str,
    sequence_number: str,
    records: int | None = None,
    frame_time: int | None = None,
) -> IndexOp:
    source: ShardProgressSource = {
        "kind": "shard_progress",
        "application": application,
        "shard_id": shard_id,
        "flushed_through": sequence_number,
        "records": records,
        "frame_time": frame_time,
    }
    return IndexOp(camera_state_index(prefix), progress_id(application, shard_id), dict(source))


def read_progress(sink: OpenSearchSink, prefix: str, application: str, shard_id: str) -> int | None:
    doc_id = progress_id(application, shard_id)
    docs = sink.get_many([(camera_state_index(prefix), doc_id)])
    value = docs.get(doc_id, {}).get("flushed_through")
    return int(value) if value else None


def replay_marker_id(application: str, shard_id: str) -> str:
    return stable_id("shard-replay", application, shard_id)


@dataclass(frozen=True)
class ReplayMarker:
    """What a rewind left for the shard's next owner (worker/ops/rewind.py): records up to `through` were
    handled before the rewind, so they are replayed, not new."""

    through: int
    deliver_alerts: bool


def read_replay_marker(sink: OpenSearchSink, prefix: str, application: str, shard_id: str) -> ReplayMarker | None:
    doc_id = replay_marker_id(application, shard_id)
    doc = sink.get_many([(camera_state_index(prefix), doc_id)]).get(doc_id)
    if not doc or not doc.get("replay_through"):
        return None
    return ReplayMarker(int(doc["replay_through"]), bool(doc.get("deliver_alerts")))
