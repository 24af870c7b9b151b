"""Face tracks: one track per person visit, built from detections across frames and fragments.

Pure and deterministic: no I/O, no wall clock. Time is frame time (ProducerTimestamp +
FrameOffsetInSeconds), so replaying the same records in the same order, whatever the batch split,
gives the same tracks.

Association. Analysed frames are ~1 s apart and a walking face moves more than its own width
between them, so frame-to-frame IoU fails. A face is matched to an open track of its camera by the
distance between its centre and the track's predicted centre (last centre + velocity x elapsed time),
measured in face widths, plus a size-ratio gate; two confident, different identities never match.
Per frame the assignment is one-to-one, cheapest pairs first.

Identity. Each frame votes for its best match with weight similarity x quality; frames without a
match vote for nobody. The identity with the largest total wins; a tie stays unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from worker.core.detections import MATCH_THRESHOLD, detection_id, stable_id
from worker.core.record import BoundingBox, DetectedFace, FrameRecord


@dataclass(frozen=True)
class TrackerParams:
    max_gap_s: float = 6.0  # a track closes after this long without a matching face
    min_hits: int = 3  # faces before a track is confirmed (may alert, counts as a sighting)
    max_distance: float = 2.0  # face widths between predicted and observed centre
    max_distance_unmoved: float = 3.5  # the same, for a track with one face (no velocity known yet)
    max_size_ratio: float = 1.4  # larger / smaller face width between two analysed frames
    strong_similarity: float = 90.0  # two different identities above this never share a track
    max_speed: float = 0.6  # frame widths per second: faster "motion" is noise, not velocity


@dataclass(frozen=True)
class BestFrame:
    score: float
    fragment_number: str
    frame_offset_s: float
    frame_time: float
    box: BoundingBox


@dataclass
class Track:
    track_id: str
    stream_arn: str
    first_seen: float
    last_seen: float
    centre: tuple[float, float]
    width: float
    velocity: tuple[float, float] = (0.0, 0.0)
    hits: int = 0
    votes: dict[str, float] = field(default_factory=dict)
    best_similarity: dict[str, float] = field(default_factory=dict)
    best_frame: BestFrame | None = None
    detection_ids: list[str] = field(default_factory=list)
    closed: bool = False

    @property
    def confirmed(self) -> bool:
        return self._confirmed

    _confirmed: bool = False

    def identity(self) -> tuple[str | None, float]:
        """(identity, confidence): the weighted vote's winner, or (None, 0) when unknown or tied."""
        if not self.votes:
            return None, 0.0
        ranked = sorted(self.votes.items(), key=lambda kv: (-kv[1], kv[0]))
        if len(ranked) > 1 and math.isclose(ranked[0][1], ranked[1][1]):
            return None, 0.0
        winner = ranked[0][0]
        return winner, self.best_similarity[winner]

    def strong_identity(self, threshold: float) -> str | None:
        winner, similarity = self.identity()
        return winner if winner is not None and similarity >= threshold else None


def quality_weight(face: DetectedFace) -> float:
    """0..1: frontal, sharp, well-lit faces count more (in votes and for the best frame)."""
    sharp = (face.sharpness if face.sharpness is not None else 50.0) / 100.0
    bright = face.brightness if face.brightness is not None else 50.0
    light = max(0.0, 1.0 - abs(bright - 60.0) / 60.0)
    yaw = abs(face.pose.yaw) if face.pose else 0.0
    pitch = abs(face.pose.pitch) if face.pose else 0.0
    frontal = max(0.0, 1.0 - (yaw / 90.0) - (pitch / 90.0))
    return 0.2 + 0.8 * (0.4 * sharp + 0.2 * light + 0.4 * frontal)


def best_frame_score(face: DetectedFace) -> float:
    # Larger faces carry more pixels; area is capped so one huge box does not win on size alone.
    return min(face.box.area, 0.05) / 0.05 * 0.5 + quality_weight(face) * 0.5


class CameraTracker:
    """The tracks of one camera (one Kinesis partition key)."""

    def __init__(self, stream_arn: str, params: TrackerParams) -> None:
        self.stream_arn = stream_arn
        self.params = params
        self.open: list[Track] = []
        self.seen: set[str] = set()  # detection ids already assigned: duplicates are ignored
        self.watermark = 0.0  # latest frame time seen on this camera

    def _predict(self, track: Track, t: float) -> tuple[float, float]:
        dt = t - track.last_seen
        return (track.centre[0] + track.velocity[0] * dt, track.centre[1] + track.velocity[1] * dt)

    def _cost(self, track: Track, face: DetectedFace, t: float) -> float | None:
        p = self.params
        if t - track.last_seen > p.max_gap_s or track.last_seen - t > p.max_gap_s:
            return None
        w = face.box.width
        ratio = max(w, track.width) / max(min(w, track.width), 1e-6)
        if ratio > p.max_size_ratio:
            return None
        best = face.best_match
        if best is not None and best.similarity >= p.strong_similarity:
            mine = track.strong_identity(p.strong_similarity)
            if mine is not None and mine != best.external_image_id:
                return None
        px, py = self._predict(track, t)
        if not (-0.05 <= px <= 1.05 and -0.05 <= py <= 1.05):
            return None  # its path has left the frame: a face here now is someone else
        cx, cy = face.box.centre
        scale = (w + track.width) / 2.0
        distance = math.hypot(cx - px, cy - py) / max(scale, 1e-6)
        if distance > (p.max_distance if track.hits > 1 else p.max_distance_unmoved):
            return None
        return distance + 3.0 * (ratio - 1.0)

    def observe(self, frame: FrameRecord) -> tuple[list[Track], list[Track]]:
        """Add one frame's faces. Returns (tracks touched by this frame, tracks closed by its time)."""
        t = frame.frame_time
        closed = self.advance(t)
        faces = []
        for face in frame.faces:
            det = detection_id(frame.stream_arn, frame.fragment_number, frame.frame_offset_s, face.index)
            if det not in self.seen:
                faces.append((det, face))
        pairs = []
        for ti, track in enumerate(self.open):
            for fi, (_, face) in enumerate(faces):
                cost = self._cost(track, face, t)
                if cost is not None:
                    pairs.append((cost, ti, fi))
        pairs.sort(key=lambda x: (x[0], x[1], x[2]))
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        touched: list[Track] = []
        for _, ti, fi in pairs:
            if ti in used_tracks or fi in used_faces:
                continue
            used_tracks.add(ti)
            used_faces.add(fi)
            det, face = faces[fi]
            self._add(self.open[ti], det, face, frame)
            touched.append(self.open[ti])
        for fi, (det, face) in enumerate(faces):
            if fi in used_faces:
                continue
            track = Track(
                track_id=stable_id("track", frame.stream_arn, f"{t:.3f}", face.index),
                stream_arn=frame.stream_arn,
                first_seen=t,
                last_seen=t,
                centre=face.box.centre,
                width=face.box.width,
            )
            self._add(track, det, face, frame)
            self.open.append(track)
            touched.append(track)
        return touched, closed

    def _add(self, track: Track, det: str, face: DetectedFace, frame: FrameRecord) -> None:
        t = frame.frame_time
        self.seen.add(det)
        track.detection_ids.append(det)
        track.hits += 1
        if t > track.last_seen:
            dt = t - track.last_seen
            cx, cy = face.box.centre
            vx = (cx - track.centre[0]) / dt
            vy = (cy - track.centre[1]) / dt
            cap = self.params.max_speed
            vx, vy = max(-cap, min(cap, vx)), max(-cap, min(cap, vy))
            if track.hits > 1:
                vx, vy = 0.5 * vx + 0.5 * track.velocity[0], 0.5 * vy + 0.5 * track.velocity[1]
            track.velocity = (vx, vy)
            track.centre = (cx, cy)
            track.width = face.box.width
            track.last_seen = t
        track.first_seen = min(track.first_seen, t)
        if track.hits >= self.params.min_hits:
            track._confirmed = True
        best = face.best_match
        if best is not None and best.similarity >= MATCH_THRESHOLD:
            weight = best.similarity / 100.0 * quality_weight(face)
            track.votes[best.external_image_id] = track.votes.get(best.external_image_id, 0.0) + weight
            track.best_similarity[best.external_image_id] = max(
                track.best_similarity.get(best.external_image_id, 0.0), best.similarity
            )
        score = best_frame_score(face)
        current = track.best_frame
        if current is None or score > current.score or (score == current.score and t < current.frame_time):
            track.best_frame = BestFrame(score, frame.fragment_number, frame.frame_offset_s, t, face.box)

    def advance(self, t: float) -> list[Track]:
        """Move this camera's clock to record time t; close and return tracks idle for too long."""
        self.watermark = max(self.watermark, t)
        closed = [tr for tr in self.open if self.watermark - tr.last_seen > self.params.max_gap_s]
        if closed:
            gone = {id(tr) for tr in closed}
            self.open = [tr for tr in self.open if id(tr) not in gone]
            for track in closed:
                track.closed = True
                ids = set(track.detection_ids)
                self.seen -= ids  # beyond the reorder window: forget, to bound memory
        return closed


class Tracker:
    """All cameras of one shard. `observe` for each record, `heartbeat` on an empty batch."""

    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self.cameras: dict[str, CameraTracker] = {}

    def observe(self, frame: FrameRecord) -> tuple[list[Track], list[Track]]:
        camera = self.cameras.get(frame.stream_arn)
        if camera is None:
            camera = self.cameras[frame.stream_arn] = CameraTracker(frame.stream_arn, self.params)
        return camera.observe(frame)

    def heartbeat(self) -> list[Track]:
        """An idle shard: close what the latest record time on this shard says has ended."""
        latest = max((c.watermark for c in self.cameras.values()), default=0.0)
        closed: list[Track] = []
        for camera in self.cameras.values():
            closed += camera.advance(latest)
        return closed

    def open_tracks(self) -> list[Track]:
        return [t for c in self.cameras.values() for t in c.open]
