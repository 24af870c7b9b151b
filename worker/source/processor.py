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
from typing import Any, Callable

from amazon_kclpy import kcl
from amazon_kclpy.checkpoint_error import CheckpointError
from amazon_kclpy.v3 import processor

from worker.config import Config
from worker.logs import get_logger
from worker.retry import Backoff
from worker.source.batch import BatchHandler, BatchStats, RawRecord
from worker.sinks.opensearch import OpenSearchSink

EXIT_UNEXPECTED = 70
# Checkpoint errors after which this processor no longer owns the shard: stop checkpointing.
LOST_OWNERSHIP = {"ShutdownException", "InvalidStateException"}
CHECKPOINT_ATTEMPTS = 8
SUMMARY_EVERY_S = 30.0


def _fatal(log: Any, event: str, exc: BaseException) -> None:
    log.critical(event, error=repr(exc), exc_info=exc)
    sys.stderr.flush()
    os._exit(EXIT_UNEXPECTED)


class DetectionRecordProcessor(processor.RecordProcessorBase):
    def __init__(self, cfg: Config, sink: OpenSearchSink, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.sink = sink
        self.clock = clock
        self.log = get_logger()
        self.shard_id = "?"
        self.handler: BatchHandler | None = None
        self.totals = BatchStats()
        self._last_summary = clock()
        self._owns_shard = True

    # -- callbacks ------------------------------------------------------------------------------
    def initialize(self, initialize_input: Any) -> None:
        try:
            self.shard_id = initialize_input.shard_id
            self.log = self.log.bind(shard_id=self.shard_id)
            self.sink.ensure_templates()
            self.handler = BatchHandler(self.cfg, self.sink, self.shard_id, self.cfg.worker_id)
            self.log.info("shard_initialized", from_sequence=initialize_input.sequence_number)
        except BaseException as exc:  # noqa: BLE001 - see module docstring
            _fatal(self.log, "initialize_failed", exc)

    def process_records(self, process_records_input: Any) -> None:
        try:
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
            if not records:
                # The heartbeat of an idle shard (callProcessRecordsEvenForEmptyRecordList): close tracks.
                self.totals.add(self.handler.heartbeat())
                return
            stats = self.handler.handle(records)
            self.totals.add(stats)
            if stats.quarantined:
                self.log.warning("records_quarantined", count=stats.quarantined, reasons=stats.reasons)
            self._checkpoint(process_records_input.checkpointer, records[-1].sequence_number)
            self._maybe_summary(process_records_input.millis_behind_latest)
        except BaseException as exc:  # noqa: BLE001 - see module docstring
            _fatal(self.log, "process_records_failed", exc)

    def lease_lost(self, lease_lost_input: Any) -> None:
        self._owns_shard = False
        self.log.info("lease_lost", **self._totals())

    def shard_ended(self, shard_ended_input: Any) -> None:
        # Required: without this checkpoint the children of a split or merge are never started.
        try:
            self._checkpoint(shard_ended_input.checkpointer, None)
            self.log.info("shard_ended", **self._totals())
        except BaseException as exc:  # noqa: BLE001
            _fatal(self.log, "shard_ended_failed", exc)

    def shutdown_requested(self, shutdown_requested_input: Any) -> None:
        # Every delivered batch was acknowledged before process_records returned: checkpoint it all.
        try:
            self._checkpoint(shutdown_requested_input.checkpointer, None)
            self.log.info("shutdown_requested", **self._totals())
        except BaseException as exc:  # noqa: BLE001
            _fatal(self.log, "shutdown_requested_failed", exc)

    # -- helpers --------------------------------------------------------------------------------
    def _checkpoint(self, checkpointer: Any, sequence_number: str | None) -> bool:
        if not self._owns_shard:
            return False
        backoff = Backoff(0.2, 5.0)
        for _ in range(CHECKPOINT_ATTEMPTS):
            try:
                checkpointer.checkpoint(sequence_number)
                return True
            except CheckpointError as exc:
                if exc.value in LOST_OWNERSHIP:
                    self._owns_shard = False
                    self.log.info("checkpoint_not_owner", error=exc.value)
                    return False
                delay = backoff.wait()
                self.log.warning("checkpoint_retry", error=exc.value, retry_in_s=round(delay, 2))
        # Not checkpointing is safe (the records come again); losing them is not.
        self.log.error("checkpoint_gave_up", attempts=CHECKPOINT_ATTEMPTS)
        return False

    def _totals(self) -> dict[str, Any]:
        t = self.totals
        return {"records": t.records, "faces": t.faces, "quarantined": t.quarantined,
                "late_frames": t.late_frames, "unregistered_frames": t.unregistered_frames,
                "tracks_closed": t.tracks_closed}

    def _maybe_summary(self, millis_behind: Any) -> None:
        now = self.clock()
        if now - self._last_summary >= SUMMARY_EVERY_S:
            self._last_summary = now
            self.log.info("shard_progress", millis_behind_latest=millis_behind, **self._totals())


def main(cfg: Config) -> None:
    """Entry point of the daemon's child process (`python -m worker processor`)."""
    from worker.sinks.opensearch import make_client

    # The daemon ends this child (stdin closes) after its graceful shutdown: a SIGTERM or Ctrl-C sent to
    # the whole process group must not kill the child first and leave the shard's hand-off half done.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    protocol_out = sys.stdout
    sys.stdout = sys.stderr  # a stray print() must never corrupt the MultiLang protocol
    sink = OpenSearchSink(make_client(cfg.opensearch, cfg.kinesis.region), cfg.opensearch)
    kcl.KCLProcess(DetectionRecordProcessor(cfg, sink), output_file=protocol_out).run()
