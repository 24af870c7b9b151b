"""One shard's pipeline outside kclpy: records -> parsed frames, detections, tracks -> buffer -> sinks.

Kept apart from the kclpy callbacks so it can be driven directly (tests, the protocol benchmark) and
so the callbacks stay a thin shell of error handling and checkpointing. `handle` only prepares and
buffers; `flush` writes the buffer to every sink and reports the position that is now acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from worker.buffer.pending import WriteBuffer
from worker.config import Config
from worker.core.cameras import CameraRegistry
from worker.core.detections import day_of, detections_of, frame_id
from worker.core.record import FrameRecord, RecordError, camera_id_from_arn, parse_frame_record
from worker.logs import get_logger
from worker.model import IndexOp, QuarantineEntry, RawRecord
from worker.sinks.firehose import MAX_RECORD_BYTES
from worker.sinks.templates import index_name
from worker.sinks.writer import FlushResult, SinkWriter
from worker.source.progress import ReplayMarker, progress_op
from worker.source.tracking import TrackingOutput, TrackingStage
from worker.source.window import ReplayWindow

PROGRESS_EVERY = 200  # records between two heartbeats inside one batch


@dataclass
class BatchStats:
    records: int = 0
    faces: int = 0
    quarantined: int = 0
    late_frames: int = 0
    unregistered_frames: int = 0
    tracks_closed: int = 0
    archived: int = 0
    archive_skipped: int = 0  # redelivered records a previous owner had already archived
    alerts: int = 0
    flushes: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: BatchStats) -> None:
        for name in (
            "records",
            "faces",
            "quarantined",
            "late_frames",
            "unregistered_frames",
            "tracks_closed",
            "archived",
            "archive_skipped",
            "alerts",
            "flushes",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + count


def archive_line(record: RawRecord, frame: FrameRecord, shard_id: str) -> bytes:
    """The raw record for the archive: one JSON line, the original record under `record`, with the keys
    the archive is partitioned and deduplicated by (`frame_id`, `camera_id`, `day`)."""
    head = orjson.dumps(
        {
            "frame_id": frame_id(frame.stream_arn, frame.fragment_number, frame.frame_offset_s),
            "camera_id": camera_id_from_arn(frame.stream_arn),
            "stream_arn": frame.stream_arn,
            "frame_time": round(frame.frame_time * 1000),
            "day": day_of(frame.frame_time).replace(".", "-"),
            "shard_id": shard_id,
            "sequence_number": record.sequence_number,
            "arrival_time": record.arrival_ms,
        }
    )
    # A pretty-printed record would break newline-delimited lines. A raw CR or LF can only be whitespace
    # between JSON tokens (inside a string it must be escaped), so a space in its place keeps the record
    # the same JSON, byte for byte elsewhere, at any nesting depth (re-serialising stops at 255 levels).
    body = record.data.strip().replace(b"\r", b" ").replace(b"\n", b" ")
    return head[:-1] + b',"record":' + body + b"}\n"


@dataclass(slots=True)
class Prepared:
    """A record that passed the contract, with what it writes: its detections and its archive line."""

    record: RawRecord
    frame: FrameRecord
    ops: list[IndexOp]
    line: bytes | None


class BatchHandler:
    def __init__(
        self,
        cfg: Config,
        writer: SinkWriter,
        shard_id: str,
        worker_id: str,
        archived_through: int | None = None,
        clock: Callable[[], float] | None = None,
        on_progress: Callable[[], None] = lambda: None,
        replay: ReplayMarker | None = None,
    ) -> None:
        self.on_progress = on_progress
        # A rewind's marker: records up to it are replayed (not archived again; alerts indexed, not sent).
        self.replay = replay
        self.window = ReplayWindow.of(cfg)  # a side-by-side replay's workers: keep only the window
        self.flushed_records = 0  # by this processor, for the shard's progress document
        self.latest_frame_ms: int | None = None
        self.cfg = cfg
        self.writer = writer
        self.sink = writer.opensearch
        self.shard_id = shard_id
        self.worker_id = worker_id
        self.prefix = cfg.opensearch.index_prefix
        self.clock = clock or time.monotonic
        self.archived_through = archived_through if cfg.firehose.skip_redelivered else None
        if replay is not None:  # a replay never archives twice, whatever skip_redelivered says
            self.archived_through = max(self.archived_through or 0, replay.through)
        p = cfg.processor
        self.buffer = WriteBuffer(p.flush_max_records, p.flush_max_bytes, p.flush_interval_s)
        self.tracking = TrackingStage(
            self.sink,
            self.prefix,
            shard_id,
            CameraRegistry(cfg.cameras),
            cfg.tracker_params(),
            cfg.identities.watchlist_prefix,
            cfg.alert_rules(),
            on_alerts=self._hand_off,
            ends_at_ms=self.window.until_ms if self.window is not None else None,
            tail_ms=self.window.tail_ms if self.window is not None else 0,
        )
        self.archive_enabled = cfg.firehose.enabled
        self.log = get_logger().bind(shard_id=shard_id)

    def handle(self, records: Sequence[RawRecord], received_ms: int | None = None) -> BatchStats:
        """Prepare a batch and buffer its writes; nothing is acknowledged until `flush`.

        A record outside the contract, or one whose documents cannot be built, becomes one dead letter
        and the batch goes on: no data reason may raise out of here (the shard would stop for good,
        since KCL hands the same record back). Only the sinks, at flush, wait on infrastructure."""
        now = self.clock()
        received_ms = received_ms if received_ms is not None else int(time.time() * 1000)
        stats = BatchStats(records=len(records))
        parsed: list[tuple[RawRecord, FrameRecord]] = []
        dead: list[QuarantineEntry] = []
        for n, record in enumerate(records):
            if n % PROGRESS_EVERY == PROGRESS_EVERY - 1:
                self.on_progress()  # a long batch is alive, not stuck
            try:
                frame = parse_frame_record(record.data, self.cfg.processor.max_record_bytes, record.arrival_ms)
            except RecordError as exc:
                dead.append(self._entry(record, "parse", exc.reason, exc.detail, exc.field))
                continue
            if self.window is not None and not self.window.wants_camera(frame):
                continue  # a replay of other cameras: this one is not processed at all
            parsed.append((record, frame))
        replay = self.replay
        replayed = (
            [int(r.sequence_number) <= replay.through for r, _ in parsed]
            if replay is not None and not replay.deliver_alerts
            else None
        )
        if self.window is not None and not self.cfg.replay.deliver_alerts:
            replayed = [True] * len(parsed)
        # Every record of the batch was archived before (a previous owner, or the run a rewind went back
        # over): so were the tracks its records closed.
        seen_before = bool(
            records and self.archived_through is not None and int(records[-1].sequence_number) <= self.archived_through
        )
        # Tracked before any document is built: the alerts a frame raises leave for their lanes while the
        # batch is tracked, not after every record's documents and archive line (an alert's latency).
        tracking = self.tracking.process(
            [f for _, f in parsed], [r.arrival_ms for r, _ in parsed], received_ms, replayed
        )
        prepared: list[Prepared] = []
        for n, (record, frame) in enumerate(parsed):
            if n % PROGRESS_EVERY == PROGRESS_EVERY - 1:
                self.on_progress()
            try:
                prepared.append(self._prepare(record, frame))
            except Exception as exc:  # a record the contract let through but we cannot use
                self.log.error(
                    "record_unusable", sequence_number=record.sequence_number, error=type(exc).__name__, exc_info=exc
                )
                dead.append(self._entry(record, "process", "unusable", f"{type(exc).__name__}: {str(exc)[:200]}"))
        archive: list[bytes] = []
        for p in prepared:
            stats.faces += len(p.ops)
            self.buffer.add_ops(p.ops, now, origin=p.record)
            if p.line is None:
                continue
            if self.archived_through is not None:
                if int(p.record.sequence_number) <= self.archived_through:
                    stats.archive_skipped += 1
                    continue
                self.archived_through = None  # past what the previous owner archived: nothing more to skip
            if len(p.line) > MAX_RECORD_BYTES:
                dead.append(
                    self._entry(
                        p.record,
                        "sink",
                        "firehose_record_too_large",
                        f"{len(p.line)} bytes; Firehose takes at most {MAX_RECORD_BYTES}",
                        sub_id="archive",
                    )
                )
            else:
                archive.append(p.line)
        origins = {doc_id: parsed[i][0] for doc_id, i in tracking.origins.items()}
        self._buffer_tracking(tracking, stats, now, origins, archive_tracks=not seen_before)
        self.buffer.add_archive(self.cfg.firehose.raw_stream, archive, now)
        self.buffer.add_quarantine(dead, now)
        if records:
            self.buffer.covered(records[-1].sequence_number, len(records), now)
        if prepared:
            latest = round(max(p.frame.frame_time for p in prepared) * 1000)
            self.latest_frame_ms = max(self.latest_frame_ms or latest, latest)
        return stats

    def _prepare(self, record: RawRecord, frame: FrameRecord) -> Prepared:
        ops = [
            IndexOp(index_name(self.prefix, "detections", det.day), det.doc_id, cast("dict[str, Any]", det.source))
            for det in detections_of(frame, self.shard_id, record)
        ]
        if self.window is not None:
            ops = [op for op in ops if self.window.keeps(op, self.prefix)]
        line = archive_line(record, frame, self.shard_id) if self.archive_enabled else None
        return Prepared(record, frame, ops, line)

    def heartbeat(self) -> BatchStats:
        """An empty batch: buffer the tracks that the shard's clock has closed."""
        stats = BatchStats()
        self._buffer_tracking(self.tracking.heartbeat(), stats, self.clock())
        return stats

    def flush_due(self) -> bool:
        return self.buffer.due(self.clock())

    def flush(self) -> FlushResult:
        """Write everything buffered to every sink; returns once all of it is acknowledged."""
        return self.take_flush()()

    def take_flush(self, settle_alerts: bool = True) -> Callable[[], FlushResult]:
        """Take the buffer and return its flush, to run now or on the flusher thread (worker/source/
        pipeline.py): everything it writes is fixed here, so the batches handled meanwhile cannot change it.
        Off the record loop, `settle_alerts=False`: the alert lanes are asked by the loop, not the flusher."""
        application, prefix, shard_id = self.cfg.application_name, self.prefix, self.shard_id
        pending = self.buffer.take()
        pending.hand_off = self.tracking.hand_off_ops()  # the tracker holds just what the buffer covers
        self.flushed_records += pending.records
        flushed, latest = self.flushed_records, self.latest_frame_ms
        writer = self.writer

        def run() -> FlushResult:
            return writer.flush(
                pending,
                lambda seq: progress_op(prefix, application, shard_id, seq, flushed, latest),
                settle_alerts=settle_alerts,
            )

        return run

    def drop(self) -> int:
        if self.writer.alerts is not None:
            self.writer.alerts.close()
        return self.buffer.drop()

    def alerts_pending(self) -> bool:
        """Alerts some sink has not taken yet: they hold the checkpoint until it does."""
        return bool(self.writer.alerts is not None and self.writer.alerts.pending)

    def deliver_alerts(self, wait_s: float = 0.0) -> bool:
        """Collect what the alert lanes delivered and retry what is due; True when none is pending."""
        return self.writer.alerts is None or self.writer.alerts.deliver(wait_s)

    def _buffer_tracking(
        self,
        output: TrackingOutput,
        stats: BatchStats,
        now: float,
        origins: dict[str, RawRecord] | None = None,
        archive_tracks: bool = True,
    ) -> None:
        tracking = output.stats
        stats.late_frames += tracking.late_frames
        stats.unregistered_frames += tracking.unregistered_frames
        stats.tracks_closed += tracking.closed_tracks
        stats.alerts += tracking.alerts
        for camera_id in tracking.new_unregistered:
            self.log.warning(
                "camera_unregistered",
                camera_id=camera_id,
                fix="add it to the cameras registry (config cameras / FACEWATCH_CAMERAS)",
            )
        ops = output.ops
        if self.window is not None:
            ops = [op for op in ops if self.window.keeps(op, self.prefix)]
        self.buffer.add_ops(ops, now, origins=origins)
        if self.archive_enabled and archive_tracks:
            self.buffer.add_archive(self.cfg.firehose.tracks_stream, output.archive, now)

    def _hand_off(self, alerts: dict[str, tuple[str, dict]]) -> None:
        """To SNS / the webhook now, from the frame that raised them, not at the next flush."""
        if self.writer.alerts is not None:
            self.writer.alerts.raised(alerts)
            time.sleep(0)  # let the lanes take the GIL and start sending before this batch goes on

    def _entry(
        self, record: RawRecord, stage: str, reason: str, detail: str, field: str = "", sub_id: str = ""
    ) -> QuarantineEntry:
        return QuarantineEntry(
            stage=stage,
            reason=reason,
            detail=detail,
            shard_id=self.shard_id,
            sequence_number=record.sequence_number,
            partition_key=record.partition_key,
            arrival_ms=record.arrival_ms,
            payload=record.data,
            sub_id=sub_id,
            field=field,
        )
