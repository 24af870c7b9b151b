"""Detection documents: one per detected face, with an id that a retry or a replay reproduces."""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.core.record import FrameRecord, camera_id_from_arn
from worker.documents import DetectionSource
from worker.model import RawRecord, stable_id

__all__ = [
    "MATCH_THRESHOLD",
    "Detection",
    "day_of",
    "detection_id",
    "detection_ids",
    "detections_of",
    "frame_id",
    "stable_id",
]

# Similarity at or above which a match counts as the face's identity (Rekognition's default
# FaceMatchThreshold for stream processors is 80).
MATCH_THRESHOLD = 80.0


def detection_id(stream_arn: str, fragment_number: str, frame_offset_s: float, face_index: int) -> str:
    # The offset is rounded to the millisecond so that 1.0 and 1.0000000001 are the same frame.
    return stable_id("det", stream_arn, fragment_number, f"{frame_offset_s:.3f}", face_index)


def frame_id(stream_arn: str, fragment_number: str, frame_offset_s: float) -> str:
    """One analysed frame of one camera: the archive's deduplication key."""
    return stable_id("frame", stream_arn, fragment_number, f"{frame_offset_s:.3f}")


def day_of(epoch_s: float) -> str:
    """The UTC day, `YYYY.MM.DD`: the daily index a document belongs to."""
    return _day_name(math.floor(epoch_s / 86400.0))


@functools.lru_cache(maxsize=1024)
def _day_name(day: int) -> str:
    # Every document asks for its day; a shard sees a handful of days, so each is formatted once.
    return datetime.fromtimestamp(day * 86400, tz=UTC).strftime("%Y.%m.%d")


def detection_ids(frame: FrameRecord) -> list[str]:
    """detection_id() of each face of the frame, the frame's part of the hash computed once: stable_id
    hashes its parts joined by \\x1f, and the parts before the face index are the frame's (the unit test
    tests/unit/test_tracker_speed_equivalence.py holds these equal to detection_id)."""
    head = f"det\x1f{frame.stream_arn}\x1f{frame.fragment_number}\x1f{frame.frame_offset_s:.3f}\x1f"
    common = hashlib.blake2b(head.encode(), digest_size=16)
    out = []
    for face in frame.faces:
        h = common.copy()
        h.update(str(face.index).encode())
        out.append(h.hexdigest())
    return out


@dataclass(frozen=True, slots=True)
class Detection:
    doc_id: str
    day: str  # UTC day of the frame: the daily index it belongs to
    source: DetectionSource


def detections_of(frame: FrameRecord, shard_id: str = "", record: RawRecord | None = None) -> list[Detection]:
    """Turn one frame record into its detection documents (none for a frame without faces), with where
    the record came from (`shard_id`, `record`: its sequence number and arrival time)."""
    camera = camera_id_from_arn(frame.stream_arn)
    frame_ms = round(frame.frame_time * 1000)
    day = day_of(frame.frame_time)
    out: list[Detection] = []
    for face, doc_id in zip(frame.faces, detection_ids(frame), strict=True):
        best = face.best_match
        known = best is not None and best.similarity >= MATCH_THRESHOLD
        box = face.box
        source: DetectionSource = {
            "detection_id": doc_id,
            "camera_id": camera,
            "stream_arn": frame.stream_arn,
            "fragment_number": frame.fragment_number,
            "frame_offset_s": frame.frame_offset_s,
            "frame_time": frame_ms,
            "producer_timestamp": round(frame.producer_timestamp * 1000),
            "upstream_lag_s": round(frame.upstream_lag_s, 3),
            "face_index": face.index,
            "faces_in_frame": len(frame.faces),
            "status": "known" if known else "unknown",
            "bbox": box.as_dict(),
            "face_area": box.area,
            "confidence": face.confidence,
            "brightness": face.brightness,
            "sharpness": face.sharpness,
            "pose": None
            if face.pose is None
            else {"pitch": face.pose.pitch, "roll": face.pose.roll, "yaw": face.pose.yaw},
            "match_count": len(face.matches),
            "identity": best.external_image_id if known and best else None,
            "face_id": best.face_id if known and best else None,
            "similarity": best.similarity if best else None,
            "shard_id": shard_id,
            "sequence_number": record.sequence_number if record else "",
            "arrival_time": record.arrival_ms if record else 0,
        }
        out.append(Detection(doc_id, day, source))
    return out
