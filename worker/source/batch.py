"""One KCL batch -> detection documents and quarantine entries -> sinks, acknowledged before return.

Kept apart from the kclpy callbacks so it can be driven directly (tests, the protocol benchmark) and
so the callbacks stay a thin shell of error handling and checkpointing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import orjson

from worker.config import Config
from worker.core.cameras import CameraRegistry
from worker.core.detections import detections_of
from worker.core.record import FrameRecord, RecordError, parse_frame_record
from worker.logs import get_logger
from worker.sinks.opensearch import IndexOp, OpenSearchSink
from worker.sinks.quarantine import QuarantineEntry
from worker.sinks.templates import index_name
from worker.source.tracking import TrackingStage, TrackingStats


@dataclass(frozen=True, slots=True)
class RawRecord:
    """What the processor needs of a Kinesis record, independent of kclpy's classes."""

    data: bytes
    sequence_number: str
    partition_key: str
    arrival_ms: int


@dataclass
class BatchStats:
    records: int = 0
    faces: int = 0
    quarantined: int = 0
    late_frames: int = 0
    unregistered_frames: int = 0
    tracks_closed: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: "BatchStats") -> None:
        self.records += other.records
        self.faces += other.faces
        self.quarantined += other.quarantined
        self.late_frames += other.late_frames
        self.unregistered_frames += other.unregistered_frames
        self.tracks_closed += other.tracks_closed
        for reason, count in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count


class QuarantineRejected(RuntimeError):
    """The quarantine index itself refused an entry: stop rather than lose the record."""


class BatchHandler:
    def __init__(self, cfg: Config, sink: OpenSearchSink, shard_id: str, worker_id: str) -> None:
        self.cfg = cfg
        self.sink = sink
        self.shard_id = shard_id
        self.worker_id = worker_id
        self.prefix = cfg.opensearch.index_prefix
        self.tracking = TrackingStage(
            sink, self.prefix, shard_id, CameraRegistry(cfg.cameras), cfg.tracker_params(),
            cfg.identities.watchlist_prefix,
        )
        self.log = get_logger().bind(shard_id=shard_id)

    def _quarantine_op(self, entry: QuarantineEntry) -> IndexOp:
        return entry.to_op(self.prefix, self.worker_id)

    def handle(self, records: Sequence[RawRecord]) -> BatchStats:
        """Write the batch to the sinks; returns only when every document is acknowledged."""
        stats = BatchStats(records=len(records))
        ops: list[IndexOp] = []
        origin: dict[str, RawRecord] = {}
        quarantine: list[QuarantineEntry] = []
        frames: list[FrameRecord] = []
        for record in records:
            try:
                frame = parse_frame_record(record.data, self.cfg.processor.max_record_bytes)
            except RecordError as exc:
                quarantine.append(self._entry(record, "parse", exc.reason, exc.detail, record.data))
                continue
            frames.append(frame)
            for det in detections_of(frame):
                source = det.source
                source["shard_id"] = self.shard_id
                source["sequence_number"] = record.sequence_number
                source["arrival_time"] = record.arrival_ms
                op = IndexOp(index_name(self.prefix, "detections", det.day), det.doc_id, source)
                ops.append(op)
                origin[det.doc_id] = record
        stats.faces = len(ops)
        track_ops, tracking = self.tracking.process(frames)
        self._add_tracking(stats, tracking)
        for rejected in self.sink.index(ops + track_ops):
            record = origin.get(rejected.op.doc_id, records[-1])  # a track document: the batch's last record
            if rejected.op.doc_id in origin:
                stats.faces -= 1
            quarantine.append(
                self._entry(
                    record,
                    "sink",
                    f"opensearch_{rejected.status}",
                    rejected.error,
                    orjson.dumps(rejected.op.source),
                    sub_id=rejected.op.doc_id,
                )
            )
        if quarantine:
            refused = self.sink.index(self._quarantine_op(q) for q in quarantine)
            if refused:
                raise QuarantineRejected(
                    f"quarantine index refused {len(refused)} entries: {refused[0].status} {refused[0].error}"
                )
            stats.quarantined = len(quarantine)
            for q in quarantine:
                stats.reasons[q.reason] = stats.reasons.get(q.reason, 0) + 1
        return stats

    def heartbeat(self) -> BatchStats:
        """An empty batch: write the tracks that the shard's clock has closed."""
        ops, tracking = self.tracking.heartbeat()
        stats = BatchStats()
        self._add_tracking(stats, tracking)
        if ops:
            refused = self.sink.index(ops)
            if refused:
                raise QuarantineRejected(f"track documents refused: {refused[0].status} {refused[0].error}")
        return stats

    def _add_tracking(self, stats: BatchStats, tracking: TrackingStats) -> None:
        stats.late_frames += tracking.late_frames
        stats.unregistered_frames += tracking.unregistered_frames
        stats.tracks_closed += tracking.closed_tracks
        for camera_id in tracking.new_unregistered:
            self.log.warning("camera_unregistered", camera_id=camera_id,
                             fix="add it to the cameras registry (config cameras / FACEWATCH_CAMERAS)")

    def _entry(
        self, record: RawRecord, stage: str, reason: str, detail: str, payload: bytes, sub_id: str = ""
    ) -> QuarantineEntry:
        return QuarantineEntry(
            stage=stage,
            reason=reason,
            detail=detail,
            shard_id=self.shard_id,
            sequence_number=record.sequence_number,
            partition_key=record.partition_key,
            arrival_ms=record.arrival_ms,
            payload=payload,
            sub_id=sub_id,
        )
