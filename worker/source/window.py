"""What a side-by-side replay keeps: the documents that belong to its window (`facewatch replay run`).

The workers of a replay read from a little before the window (each camera's quiet point, so a visit in
progress at the window's start is tracked whole, under its live id) and go on a little after it (so a
visit in progress at its end is whole too). They keep: detections and alerts whose frame time is in
[from, until); tracks that overlap the window, whole; camera states and progress, always (the
generation's own). Frames of cameras left out (`cameras`) are not processed at all.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.config import Config
from worker.core.record import FrameRecord, camera_id_from_arn
from worker.model import IndexOp


@dataclass(frozen=True)
class ReplayWindow:
    from_ms: int
    until_ms: int
    cameras: frozenset[str]  # camera ids; empty: every camera
    tail_ms: int = 0  # past until_ms, visits in progress go on at most this long

    @classmethod
    def of(cls, cfg: Config) -> ReplayWindow | None:
        r = cfg.replay
        if r.window_from is None or r.window_until is None:
            return None
        cameras = frozenset(c.strip() for c in r.cameras.split(",") if c.strip())
        return cls(round(r.window_from * 1000), round(r.window_until * 1000), cameras, round(r.tail_s * 1000))

    def wants_camera(self, frame: FrameRecord) -> bool:
        return not self.cameras or camera_id_from_arn(frame.stream_arn) in self.cameras

    def holds(self, ms: int) -> bool:
        return self.from_ms <= ms < self.until_ms

    def keeps(self, op: IndexOp, prefix: str) -> bool:
        """Whether a document the pipeline built (into `<prefix>-<family>-<day>`) belongs to the window."""
        if op.delete:
            return True  # an absorbed track: deleting it where it does not exist is harmless
        family = op.index[len(prefix) + 1 :].split("-", 1)[0]
        source = op.source
        if family == "detections":
            return self.holds(int(source["frame_time"]))
        if family == "alerts":
            return self.holds(int(source["time"]))
        if family == "tracks":
            return int(source["first_seen"]) < self.until_ms and int(source["last_seen"]) >= self.from_ms
        return True  # camera states and shard progress (the generation's own), dead letters
