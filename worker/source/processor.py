"""The kclpy record processor: one Python child of the MultiLangDaemon per leased shard.

kclpy swallows any exception raised in a callback and treats the batch as processed, which would skip
data. So every callback here either finishes its work (retrying what is retryable) or ends the process:
the daemon then exits, the lease is taken over, and the records are delivered again from the last
checkpoint. A checkpoint is only ever written after the sinks acknowledged the records below it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from amazon_kclpy import kcl
from amazon_kclpy.checkpoint_error import CheckpointError
from amazon_kclpy.v3 import processor

from worker import native
from worker.config import Config
from worker.logs import get_logger
from worker.model import RawRecord
from worker.ops.health import Heartbeat
from worker.retry import RetriesExhausted, RetryPolicy
from worker.sinks.writer import FlushResult
from worker.source.batch import BatchHandler, BatchStats
from worker.source.checkpointing import CheckpointTracker
from worker.source.pipeline import FlushPipeline

EXIT_UNEXPECTED = 70
# Checkpoint errors after which this processor no longer owns the shard: stop checkpointing.
LOST_OWNERSHIP = {"ShutdownException", "InvalidStateException"}
SUMMARY_EVERY_S = 30.0
ALERT_WAIT_AT_SHUTDOWN_S = 10.0  # a stopping worker gives its alert lanes this long before handing over


def _fatal(log: Any, event: str, exc: BaseException) -> None:
    log.critical(event, error=repr(exc), exc_info=exc)
    sys.stderr.flush()
    os._exit(EXIT_UNEXPECTED)


class DetectionRecordProcessor(processor.RecordProcessorBase):
    def __init__(
        self,
        cfg: Config,
        make_handler: Callable[[str, Heartbeat], BatchHandler],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.make_handler = make_handler
        self.clock = clock
        self.log = get_logger()
        self.shard_id = "?"
        self.handler: BatchHandler | None = None
        self.checkpoints = CheckpointTracker(cfg.checkpoint.every_s, cfg.checkpoint.every_records)
        self.totals = BatchStats()
        self._last_summary = clock()
        self.heartbeat = Heartbeat("", "")
        self._received_any = False
        depth = cfg.processor.flushes_in_flight
        self.pipeline = FlushPipeline(depth) if depth > 0 else None  # None: flush in the record loop

    # -- callbacks ------------------------------------------------------------------------------
    def initialize(self, initialize_input: Any) -> None:
        try:
            self.shard_id = initialize_input.shard_id
            self.log = self.log.bind(shard_id=self.shard_id)
            self.heartbeat = Heartbeat(self.cfg.worker.heartbeat_dir, self.shard_id)
            self.heartbeat.beat()
            self.handler = self.make_handler(self.shard_id, self.heartbeat)
            self.log.info(
                "shard_initialized",
                from_sequence=initialize_input.sequence_number,
                archived_through=str(self.handler.archived_through or ""),
                tracker_compiled=native.active is not None,  # worker/native.py: ~1.8x the tracker's speed
            )
        except BaseException as exc:  # noqa: BLE001 - kclpy swallows exceptions: catch all, then exit
            _fatal(self.log, "initialize_failed", exc)

    def process_records(self, process_records_input: Any) -> None:
        try:
            received_ms = int(time.time() * 1000)  # an alert's latency, our share: from here to its hand-off
            self.heartbeat.beat()
            records = [
                RawRecord(
                    data=r.binary_data,
                    sequence_number=r.sequence_number,
                    partition_key=r.partition_key,
                    arrival_ms=r.timestamp_millis,
                )
                for r in process_records_input.records
            ]
            assert self.handler is not None
            if records and not self._received_any:  # the start of this shard's work (bench/throughput.py)
                self._received_any = True
                self.log.info("first_records", received_ms=received_ms, records=len(records))
            # An empty list is the heartbeat of an idle shard (callProcessRecordsEvenForEmptyRecordList):
            # it closes tracks by the shard's record time and lets a time-based flush happen.
            self.totals.add(self.handler.handle(records, received_ms) if records else self.handler.heartbeat())
            self._collect()
            if self.handler.flush_due():
                self._start_flush()
            elif self.checkpoints.holding or self.handler.alerts_pending():
                self._settle_alerts()  # what the lanes delivered since; retries what is due
            position = self.checkpoints.due(self.clock())
            if position is not None:
                self._checkpoint(process_records_input.checkpointer, position)
            self._maybe_summary(process_records_input.millis_behind_latest)
        except BaseException as exc:  # noqa: BLE001 - kclpy swallows exceptions: catch all, then exit
            _fatal(self.log, "process_records_failed", exc)

    def lease_lost(self, lease_lost_input: Any) -> None:
        # No checkpoint is possible, and writing now could overwrite the new owner's state: drop the
        # buffer. The new owner is handed these records again from the last checkpoint.
        self.checkpoints.lost()
        if self.handler is not None:
            self.handler.writer.abandon()  # a running flush leaves the camera states to the new owner
        if self.pipeline is not None:
            self.pipeline.abandon()  # first: a flush retrying still beats the heartbeat until it ends
        self.heartbeat.clear()
        dropped = self.handler.drop() if self.handler else 0
        self.log.info("lease_lost", dropped_records=dropped, **self._totals())

    def shard_ended(self, shard_ended_input: Any) -> None:
        # Required: without this checkpoint the children of a split or merge are never started.
        try:
            self._flush()
            while self.handler is not None and self.handler.alerts_pending():
                # SHARD_END is final: every alert must be delivered first (its camera moves to a child).
                self.heartbeat.beat()
                self._settle_alerts(wait_s=1.0)
            self._checkpoint(shard_ended_input.checkpointer, None)
            self.heartbeat.clear()
            self.log.info("shard_ended", **self._totals())
        except BaseException as exc:  # noqa: BLE001 - kclpy swallows exceptions: catch all, then exit
            _fatal(self.log, "shard_ended_failed", exc)

    def shutdown_requested(self, shutdown_requested_input: Any) -> None:
        # The worker is stopping or handing the lease over: flush, then checkpoint all of it.
        try:
            self._flush()
            deadline = self.clock() + ALERT_WAIT_AT_SHUTDOWN_S
            while self.handler is not None and self.handler.alerts_pending() and self.clock() < deadline:
                self._settle_alerts(wait_s=0.5)  # whatever is still owed after this, the next owner sends
            position = self.checkpoints.final()
            if position is not None:
                self._checkpoint(shutdown_requested_input.checkpointer, position)
            self.heartbeat.clear()
            self.log.info("shutdown_requested", **self._totals())
        except BaseException as exc:  # noqa: BLE001 - kclpy swallows exceptions: catch all, then exit
            _fatal(self.log, "shutdown_requested_failed", exc)

    # -- helpers --------------------------------------------------------------------------------
    def _flush(self) -> None:
        """Everything outstanding and buffered, written and acknowledged before this returns."""
        if self.handler is None or not self.checkpoints.owns_shard:
            return
        if self.pipeline is not None:
            for done in self.pipeline.drain():
                self._flushed(done, settled_here=False)
        self._flushed(self.handler.flush())

    def _start_flush(self) -> None:
        """A due flush: on the flusher thread when there is one (waits while it is full), else now."""
        if self.handler is None or not self.checkpoints.owns_shard:
            return
        if self.pipeline is None:
            self._flushed(self.handler.flush())
            return
        for done in self.pipeline.submit(self.handler.take_flush(settle_alerts=False)):
            self._flushed(done, settled_here=False)

    def _collect(self) -> None:
        if self.pipeline is not None and self.pipeline.outstanding:
            for done in self.pipeline.collect():
                self._flushed(done, settled_here=False)

    def _flushed(self, result: FlushResult, settled_here: bool = True) -> None:
        """A flush every sink acknowledged: its position may be checkpointed (once its alerts are out)."""
        assert self.handler is not None
        if not settled_here:  # the flusher does not touch the alert lanes: ask them here, in the loop
            result.alerts_held = not self.handler.deliver_alerts()
        self.checkpoints.flushed(result.last_sequence, result.records, result.alerts_held)
        self.totals.archived += result.archived
        self.totals.flushes += 1
        if result.quarantined:
            self.totals.quarantined += result.quarantined
            for reason, n in result.reasons.items():
                self.totals.reasons[reason] = self.totals.reasons.get(reason, 0) + n
            self.log.warning("records_quarantined", count=result.quarantined, reasons=result.reasons)

    def _settle_alerts(self, wait_s: float = 0.0) -> None:
        if self.handler is None or not self.checkpoints.owns_shard:
            return
        if self.handler.deliver_alerts(wait_s):
            self.checkpoints.alerts_settled()

    def _checkpoint(self, checkpointer: Any, sequence_number: str | None) -> bool:
        if not self.checkpoints.owns_shard:
            return False
        retry = RetryPolicy(0.2, 5.0, max_attempts=self.cfg.checkpoint.attempts, on_wait=self.heartbeat.beat)

        def throttled(exc: BaseException) -> tuple[str, str] | None:
            if isinstance(exc, CheckpointError) and exc.value not in LOST_OWNERSHIP:
                return "checkpoint_retry", str(exc.value)
            return None

        try:
            retry.call(lambda: checkpointer.checkpoint(sequence_number), throttled, self.log)
        except CheckpointError as exc:  # the lease is gone: a later checkpoint would overwrite the new owner's
            self.checkpoints.lost()
            self.log.info("checkpoint_not_owner", error=exc.value)
            return False
        except RetriesExhausted:
            # Not checkpointing is safe (the records come again); losing them is not.
            self.log.error("checkpoint_gave_up", attempts=self.cfg.checkpoint.attempts)
            return False
        if sequence_number is not None:
            self.checkpoints.done(sequence_number, self.clock())
        return True

    def _totals(self) -> dict[str, Any]:
        t = self.totals
        return {
            "records": t.records,
            "faces": t.faces,
            "quarantined": t.quarantined,
            "late_frames": t.late_frames,
            "unregistered_frames": t.unregistered_frames,
            "tracks_closed": t.tracks_closed,
            "alerts": t.alerts,
            "archived": t.archived,
            "archive_skipped": t.archive_skipped,
            "flushes": t.flushes,
            "checkpointed": self.checkpoints.checkpointed,
        }

    def _maybe_summary(self, millis_behind: Any) -> None:
        now = self.clock()
        if now - self._last_summary >= SUMMARY_EVERY_S:
            self._last_summary = now
            self.log.info("shard_progress", millis_behind_latest=millis_behind, **self._totals())


def main(cfg: Config) -> None:
    """Entry point of the daemon's child process (`python -m worker processor`)."""
    # The daemon ends this child (stdin closes) after its graceful shutdown: a SIGTERM or Ctrl-C sent to
    # the whole process group must not kill the child first and leave the shard's hand-off half done.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A lane waiting for the GIL waits at most this long for the record loop (5 ms by default).
    sys.setswitchinterval(0.001)
    protocol_out = sys.stdout
    sys.stdout = sys.stderr  # a stray print() must never corrupt the MultiLang protocol
    from worker.compose import handler_factory

    kcl.KCLProcess(DetectionRecordProcessor(cfg, handler_factory(cfg)), output_file=protocol_out).run()
