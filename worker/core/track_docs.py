"""Track documents: what a sighting looks like in OpenSearch, and how a new owner resumes it.

The document is a function of the track alone (no write time, no worker id), so the same records,
however they are batched or replayed, give byte-identical documents; the id is the track id, fixed at
the track's first frame, so writing a track again replaces it instead of adding one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.core.cameras import Camera
from worker.core.detections import day_of
from worker.core.paths import paths_document
from worker.core.record import BoundingBox, DetectedFace, FaceMatch, Pose
from worker.core.tracker import BestFrame, CameraTracker, Observation, Track
from worker.documents import CameraStateSource, TrackSource

_NOWHERE = Camera(stream_arn="", camera_id="")  # a snapshot's location is its track's, not stored twice


def category_of(identity: str | None, watchlist_prefix: str) -> str:
    if identity is None:
        return "unknown"
    if watchlist_prefix and identity.startswith(watchlist_prefix):
        return "watchlist"
    return "employee"


def _ms(epoch_s: float) -> int:
    return round(epoch_s * 1000)


@dataclass(frozen=True, slots=True)
class TrackDoc:
    doc_id: str
    day: str  # UTC day of the first frame: the daily index, fixed for the track's life
    source: TrackSource


def track_document(track: Track, camera: Camera, watchlist_prefix: str) -> TrackDoc:
    identity, confidence = track.identity()
    best = track.best_frame
    source: TrackSource = {
        "track_id": track.track_id,
        "stream_arn": track.stream_arn,
        **camera.location(),  # type: ignore[typeddict-item]  # extra_checks: `resume` is only in old documents
        "first_seen": _ms(track.first_seen),
        "last_seen": _ms(track.last_seen),
        "duration_s": round(track.last_seen - track.first_seen, 3),
        "frames": track.hits,
        "matched_frames": track.matched,
        "identity": identity,
        "identity_confidence": round(confidence, 4) if identity else None,
        "category": category_of(identity, watchlist_prefix),
        "confirmed": track.confirmed,
        "state": "closed" if track.closed else "open",
        "best_frame": None
        if best is None
        else {
            "fragment_number": best.fragment_number,
            "frame_offset_s": best.frame_offset_s,
            "frame_time": _ms(best.frame_time),
            "bbox": best.box.as_dict(),
            "score": round(best.score, 6),
        },
    }
    return TrackDoc(track.track_id, day_of(track.first_seen), source)


def _resume(track: Track) -> dict[str, Any]:
    """What the next owner of the camera needs to go on with this track, beyond its document."""
    best = track.best_frame
    return {
        "first_seen": track.first_seen,
        "last_seen": track.last_seen,
        "centre": list(track.centre),
        "width": track.width,
        "first_centre": list(track.first_centre),
        "first_width": track.first_width,
        "velocity": list(track.velocity),
        "growth": track.growth,
        "votes": dict(sorted(track.votes.items())),
        "best_similarity": dict(sorted(track.best_similarity.items())),
        "best_frame_time": best.frame_time if best else None,
        "best_frame_score": best.score if best else None,
        "quality_frames": track.quality_frames,
        "alerted": sorted(track.alerted),
        # What the tracker still may revise (a young track's faces, a takeover in progress): without it, a
        # new owner of the shard would decide these differently from the worker it replaces.
        "observations": [_observation(o) for o in track.observations],
        "streak": [_observation(o) for o in track.streak],
        "before_streak": track_snapshot(track.before_streak) if track.before_streak is not None else None,
        "split_from": track.split_from,
    }


def _face(face: DetectedFace) -> dict[str, Any]:
    b, p = face.box, face.pose
    return {
        "index": face.index,
        "box": [b.width, b.height, b.left, b.top],
        "confidence": face.confidence,
        "pose": [p.pitch, p.roll, p.yaw] if p is not None else None,
        "brightness": face.brightness,
        "sharpness": face.sharpness,
        "matches": [[m.external_image_id, m.face_id, m.similarity] for m in face.matches],
    }


def _face_from(d: dict[str, Any]) -> DetectedFace:
    pose = d["pose"]
    return DetectedFace(
        index=int(d["index"]),
        box=BoundingBox(*(float(x) for x in d["box"])),
        confidence=float(d["confidence"]),
        pose=Pose(float(pose[0]), float(pose[1]), float(pose[2])) if pose is not None else None,
        brightness=None if d["brightness"] is None else float(d["brightness"]),
        sharpness=None if d["sharpness"] is None else float(d["sharpness"]),
        matches=tuple(FaceMatch(str(e), str(f), float(s)) for e, f, s in d["matches"]),
    )


def _observation(o: Observation) -> dict[str, Any]:
    return {
        "det": o.det,
        "t": o.t,
        "face": _face(o.face),
        "fragment_number": o.fragment_number,
        "frame_offset_s": o.frame_offset_s,
        "quality": o.quality,
    }


def _observation_from(d: dict[str, Any]) -> Observation:
    return Observation(
        str(d["det"]),
        float(d["t"]),
        _face_from(d["face"]),
        str(d["fragment_number"]),
        float(d["frame_offset_s"]),
        bool(d["quality"]),
    )  # converted: the compiled tracker (worker/native.py) holds every field to its type


def track_snapshot(track: Track) -> dict[str, Any]:
    """The whole of an open track as the next owner of its camera resumes it (track_from_document reads
    it back): kept in the camera's state document, never searched."""
    doc = track_document(track, _NOWHERE, "").source
    return {
        "track": {k: doc[k] for k in ("track_id", "stream_arn", "frames", "matched_frames", "confirmed", "state")},
        "best_frame": doc["best_frame"],
        "resume": _resume(track),
    }


def track_from_snapshot(snapshot: dict[str, Any]) -> Track:
    """The open track another worker handed off (track_snapshot), as this worker's tracker needs it."""
    return track_from_document({**snapshot["track"], **snapshot})


def track_from_document(source: dict[str, Any]) -> Track:
    """A track from a document with its `resume` state: a snapshot, or a track document written before
    the state moved into the camera's state document (it carried its own)."""
    r = source["resume"]
    before = r.get("before_streak")
    best = source.get("best_frame")
    track = Track(
        track_id=str(source["track_id"]),
        stream_arn=str(source["stream_arn"]),
        first_seen=float(r["first_seen"]),
        last_seen=float(r["last_seen"]),
        centre=(float(r["centre"][0]), float(r["centre"][1])),
        width=float(r["width"]),
        first_centre=(float(r["first_centre"][0]), float(r["first_centre"][1])),
        first_width=float(r["first_width"]),
        velocity=(float(r["velocity"][0]), float(r["velocity"][1])),
        growth=float(r.get("growth", 0.0)),  # documents written before the growth model have none
        hits=int(source["frames"]),
        matched=int(source["matched_frames"]),
        votes={k: float(v) for k, v in r["votes"].items()},
        best_similarity={k: float(v) for k, v in r["best_similarity"].items()},
        confirmed=bool(source["confirmed"]),
        closed=source["state"] == "closed",
        quality_frames=int(r.get("quality_frames", 0)),
        alerted={str(rule) for rule in r.get("alerted", [])},
        observations=[_observation_from(o) for o in r.get("observations", [])],
        streak=[_observation_from(o) for o in r.get("streak", [])],
        before_streak=None if before is None else track_from_snapshot(before),
        split_from=str(r.get("split_from") or ""),
    )
    if best is not None:
        b = best["bbox"]
        track.best_frame = BestFrame(
            score=float(r["best_frame_score"]),
            fragment_number=str(best["fragment_number"]),
            frame_offset_s=float(best["frame_offset_s"]),
            frame_time=float(r["best_frame_time"]),
            box=BoundingBox(b["width"], b["height"], b["left"], b["top"]),
        )
    return track


def camera_state(
    camera: CameraTracker, camera_id: str, shard_id: str, alert_clocks: dict[str, Any]
) -> CameraStateSource:
    """What a next owner of the camera needs, in one document so that it is written whole or not at all:
    its open tracks in the tracker's order (whole: a track's own document may be a flush ahead or behind
    when a worker dies mid-flush), up to which frame time they hold the camera's frames, and the alert
    cooldown clocks."""
    return {
        "kind": "camera_state",
        "stream_arn": camera.stream_arn,
        "camera_id": camera_id,
        "applied_until": _ms(camera.watermark),  # restore() keeps it >= applied_until
        "previous_t": camera.previous_t,  # its links to young tracks are still provisional
        "paths": paths_document(camera.paths),  # where people went lately (second chances)
        "shard_id": shard_id,
        "open_tracks": [track_snapshot(t) for t in camera.open],
        "alert_clocks": alert_clocks,
    }
