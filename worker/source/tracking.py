"""The tracking stage of a shard: frames -> tracker -> track documents, and hand-off between owners.

A shard's tracker lives in its record processor's memory. Everything a successor needs is written with
every flush, before the checkpoint and after every other document of the flush: one state document per
camera holding its open tracks whole and up to which frame time they hold the camera's frames. One
document is written whole or not at all, so a worker killed in the middle of a flush leaves either the
state before it or the state after it, never a mix (the track documents of the flush are written
first, so a state is never ahead of them). When a worker sees a camera for the first time it reads that
state (a real-time GET, no search refresh needed), restores the open tracks, and skips frames the
restored tracks already hold. A lease moving in the middle of a visit therefore continues the same
track instead of starting a second one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson

from worker.core.alerts import Alert, AlertEngine, AlertRules, alert_source
from worker.core.cameras import CameraRegistry
from worker.core.detections import day_of, stable_id
from worker.core.paths import steps_of_document
from worker.core.record import FrameRecord
from worker.core.track_docs import camera_state, track_document, track_from_document, track_from_snapshot
from worker.core.tracker import Track, Tracker, TrackerParams
from worker.logs import get_logger
from worker.model import IndexOp
from worker.sinks.opensearch import OpenSearchSink
from worker.sinks.templates import camera_state_index, index_name


@functools.lru_cache(maxsize=4096)  # asked for every frame
def camera_state_id(stream_arn: str) -> str:
    return stable_id("camera-state", stream_arn)


@dataclass
class TrackingStats:
    late_frames: int = 0
    unregistered_frames: int = 0
    restored_tracks: int = 0
    closed_tracks: int = 0
    alerts: int = 0
    new_unregistered: list[str] = field(default_factory=list)


@dataclass
class TrackingOutput:
    ops: list[IndexOp]  # alerts, track documents, deletions of absorbed tracks
    archive: list[bytes]  # closed tracks as NDJSON lines for the archive
    stats: TrackingStats
    # doc id -> index of the frame (in the batch) that last wrote it: a refused document's record
    origins: dict[str, int] = field(default_factory=dict)


class TrackingStage:
    def __init__(
        self,
        sink: OpenSearchSink,
        prefix: str,
        shard_id: str,
        registry: CameraRegistry,
        params: TrackerParams,
        watchlist_prefix: str,
        alert_rules: AlertRules | None = None,
        on_alerts: Callable[[dict[str, tuple[str, dict]]], None] | None = None,
        ends_at_ms: int | None = None,
        tail_ms: int = 0,
    ) -> None:
        self.ends_at_ms = ends_at_ms  # a replay's window end (worker/source/window.py); None: live
        self.tail_ms = tail_ms  # ...and how long past it a visit in progress may go on
        self._ended: set[str] = set()
        self.on_alerts = on_alerts  # called with each frame's alerts as soon as they are raised
        self.sink = sink
        self.prefix = prefix
        self.shard_id = shard_id
        self.registry = registry
        self.watchlist_prefix = watchlist_prefix
        self.tracker = Tracker(params)
        self.alerts = AlertEngine(alert_rules or AlertRules(), registry, watchlist_prefix)
        self.log = get_logger().bind(shard_id=shard_id)
        self._unregistered_seen: set[str] = set()
        self._changed_cameras: set[str] = set()  # since the last hand_off_ops()

    def _index_of(self, track: Track) -> str:
        return index_name(self.prefix, "tracks", day_of(track.first_seen))

    def _restore(self, stream_arns: Iterable[str], stats: TrackingStats) -> None:
        """First sight of these cameras in this process: take over what a previous owner left open."""
        arns = sorted(set(stream_arns))
        if not arns:
            return
        states = self.sink.get_many([(camera_state_index(self.prefix), camera_state_id(a)) for a in arns])
        # A state written before the open tracks moved into it names their documents instead.
        refs = [
            (ref["index"], ref["id"])
            for state in states.values()
            for ref in state.get("open_tracks", [])
            if "track" not in ref
        ]
        documents = self.sink.get_many(refs) if refs else {}
        for state in states.values():
            arn = state["stream_arn"]
            tracks = []
            for entry in state.get("open_tracks", []):
                if "track" in entry:
                    tracks.append(track_from_snapshot(entry))
                elif documents.get(entry["id"], {}).get("state") == "open":
                    document = documents[entry["id"]]
                    if "resume" in document:
                        tracks.append(track_from_document(document))
                    else:  # rewritten by a newer worker that died before its state replaced this one
                        self.log.warning("track_not_resumable", track_id=entry["id"], camera=state.get("camera_id"))
            self.tracker.camera(arn).restore(
                tracks,
                state["applied_until"] / 1000.0,
                float(state.get("previous_t") or 0.0),
                _path_steps(state),
            )
            self.alerts.restore_clocks(arn, state.get("alert_clocks") or {})
            stats.restored_tracks += len(tracks)
        for arn in arns:
            self.tracker.camera(arn)  # known from now on, restored or not
        if stats.restored_tracks:
            self.log.info("tracks_restored", cameras=len(states), tracks=stats.restored_tracks)

    def process(
        self,
        frames: list[FrameRecord],
        arrivals: list[int | None] | None = None,
        received_ms: int | None = None,
        replayed: list[bool] | None = None,
    ) -> TrackingOutput:
        """Track a batch's frames (in shard order), raise alerts; return the ops that persist the result.

        The alerts of a `replayed` frame (one a rewind delivers again) are indexed, marked, and not handed
        to the alert sinks."""
        stats = TrackingStats()
        alert_docs: dict[str, tuple[str, dict]] = {}
        self._restore([f.stream_arn for f in frames if f.stream_arn not in self.tracker.cameras], stats)
        changed: dict[str, Track] = {}
        removed: dict[str, Track] = {}
        origins: dict[str, int] = {}
        for i, frame in enumerate(frames):
            if not self.registry.is_registered(frame.stream_arn):
                stats.unregistered_frames += 1
                if frame.stream_arn not in self._unregistered_seen:
                    self._unregistered_seen.add(frame.stream_arn)
                    stats.new_unregistered.append(self.registry.lookup(frame.stream_arn).camera_id)
            if self.ends_at_ms is not None:
                frame = self._past_end(frame)
            result = self.tracker.observe(frame)
            quiet = bool(replayed and replayed[i])
            raised = {
                a.alert_id: self._alert_doc(a, received_ms, quiet)
                for a in self.alerts.on_frame(frame, result, arrivals[i] if arrivals else None)
            }
            if raised:
                alert_docs.update(raised)
                origins.update(dict.fromkeys(raised, i))
                if self.on_alerts is not None and not quiet:
                    self.on_alerts(raised)  # a guard is waiting: before the rest of the batch
            if result.late:
                stats.late_frames += 1
                continue
            for track in result.touched + result.closed:
                changed[track.track_id] = track
                removed.pop(track.track_id, None)  # a young track rebuilt under an id removed earlier
                origins[track.track_id] = i
            for track in result.absorbed:
                changed.pop(track.track_id, None)
                removed[track.track_id] = track
                origins[track.track_id] = i
            stats.closed_tracks += len(result.closed)
        self._changed_cameras.update(f.stream_arn for f in frames)
        output = self._output(changed, removed, stats, alert_docs)
        output.origins = origins
        return output

    def _past_end(self, frame: FrameRecord) -> FrameRecord:
        """Past a replay window's end, a camera ends at its first quiet point: once none of its tracks can
        take another face, its frames only move its clock (closing tracks as the live run did) and no new
        track starts, so every visit overlapping the window is whole and nothing after it is tracked. By
        record time, frame by frame: the same whatever the batches."""
        assert self.ends_at_ms is not None
        arn = frame.stream_arn
        at_ms = round(frame.frame_time * 1000)
        if arn not in self._ended and at_ms >= self.ends_at_ms:
            camera = self.tracker.cameras.get(arn)
            p = self.tracker.params
            idle = p.max_gap_s + p.stitch_wait_s
            if camera is None or all(frame.frame_time - t.last_seen > idle for t in camera.open):
                self._ended.add(arn)
        if at_ms >= self.ends_at_ms + self.tail_ms:
            return msgspec.structs.replace(frame, faces=())  # a visit longer than the tail is cut there
        return msgspec.structs.replace(frame, faces=()) if arn in self._ended else frame

    def heartbeat(self) -> TrackingOutput:
        """An empty batch: close tracks the shard's latest record time says have ended."""
        closed = self.tracker.heartbeat()
        stats = TrackingStats(closed_tracks=len(closed))
        changed = {t.track_id: t for t in closed}
        self._changed_cameras.update(t.stream_arn for t in closed)
        return self._output(changed, {}, stats)

    def _output(
        self,
        changed: dict[str, Track],
        removed: dict[str, Track],
        stats: TrackingStats,
        alert_docs: dict[str, tuple[str, dict]] | None = None,
    ) -> TrackingOutput:
        alert_docs = alert_docs or {}
        # Created by its id, never overwritten: a replay or a second worker finds the stored one, with the
        # sinks it was already delivered to (worker/sinks/dispatch.py).
        ops = [IndexOp(index, alert_id, source, create=True) for alert_id, (index, source) in alert_docs.items()]
        stats.alerts = len(alert_docs)
        archive: list[bytes] = []
        for track in changed.values():
            doc = track_document(track, self.registry.lookup(track.stream_arn), self.watchlist_prefix)
            ops.append(IndexOp(self._index_of(track), doc.doc_id, dict(doc.source)))
            if track.closed:
                archive.append(orjson.dumps(doc.source) + b"\n")
        for track in removed.values():
            ops.append(IndexOp(self._index_of(track), track.track_id, {}, delete=True))
        return TrackingOutput(ops, archive, stats)

    def hand_off_ops(self) -> list[IndexOp]:
        """The state documents of the cameras whose tracks changed since the last call, as they stand now:
        taken with the buffer they close (the tracker then holds exactly the records the buffer covers),
        and written after everything else of its flush (worker/sinks/writer.py)."""
        arns, self._changed_cameras = sorted(self._changed_cameras), set()
        return [IndexOp(camera_state_index(self.prefix), camera_state_id(arn), self._state(arn)) for arn in arns]

    def _alert_doc(self, alert: Alert, received_ms: int | None, replayed: bool = False) -> tuple[str, dict]:
        source = dict(alert_source(alert, self.shard_id, received_ms))
        if replayed:
            source["replayed"] = True  # the outbox (worker/compose.py) leaves it alone
        return index_name(self.prefix, "alerts", day_of(alert.at)), source

    def _state(self, stream_arn: str) -> dict:
        return dict(
            camera_state(
                self.tracker.cameras[stream_arn],
                self.registry.lookup(stream_arn).camera_id,
                self.shard_id,
                self.alerts.clocks(stream_arn),
            )
        )


def _path_steps(state: dict[str, Any]) -> list[Any]:
    """The camera's remembered steps (a state written before path memory has none; anything malformed is
    left out step by step by CameraTracker.restore, or whole here, rather than stopping the shard)."""
    return steps_of_document(state.get("paths"))
