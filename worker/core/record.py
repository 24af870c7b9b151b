"""The Rekognition Video face-search record: parsed and validated into typed values.

One record is one analysed frame of one camera. Parsing is strict about what the rest of the pipeline
relies on (camera, fragment, frame time, face boxes) and lenient about what it does not (landmarks,
extra keys), so a producer that adds fields does not send everything to quarantine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import orjson


class RecordError(ValueError):
    """A record that cannot be used; `reason` is a short stable code for counting and quarantine."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class BoundingBox:
    """Fractions of the frame: left/top of the upper-left corner, width/height of the box."""

    width: float
    height: float
    left: float
    top: float

    @property
    def area(self) -> float:
        return self.width * self.height

    def as_dict(self) -> dict[str, float]:
        return {"width": self.width, "height": self.height, "left": self.left, "top": self.top}

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.width / 2.0, self.top + self.height / 2.0)


@dataclass(frozen=True, slots=True)
class Pose:
    pitch: float
    roll: float
    yaw: float


@dataclass(frozen=True, slots=True)
class FaceMatch:
    """The best match of one enrolled person (several enrolled images are grouped by external id)."""

    external_image_id: str
    face_id: str
    similarity: float


@dataclass(frozen=True, slots=True)
class DetectedFace:
    index: int
    box: BoundingBox
    confidence: float
    pose: Pose | None
    brightness: float | None
    sharpness: float | None
    matches: tuple[FaceMatch, ...]  # best similarity first; empty means an unknown face

    @property
    def best_match(self) -> FaceMatch | None:
        return self.matches[0] if self.matches else None


@dataclass(frozen=True, slots=True)
class FrameRecord:
    stream_arn: str
    fragment_number: str
    producer_timestamp: float
    server_timestamp: float
    frame_offset_s: float
    faces: tuple[DetectedFace, ...]

    @property
    def frame_time(self) -> float:
        """Seconds since the epoch at which the frame was produced: the clock of the pure core."""
        return self.producer_timestamp + self.frame_offset_s

    @property
    def upstream_lag_s(self) -> float:
        return self.server_timestamp - self.producer_timestamp


def _get(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise RecordError("missing_field", f"{where}.{key} is missing")
    return obj[key]


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError("wrong_type", f"{where} must be an object, got {type(value).__name__}")
    return value


def _num(value: Any, where: str) -> float:
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError("wrong_type", f"{where} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise RecordError("invalid_value", f"{where} must be finite")
    return number


def _opt_num(obj: dict[str, Any], key: str, where: str) -> float | None:
    value = obj.get(key)
    return None if value is None else _num(value, f"{where}.{key}")


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError("wrong_type", f"{where} must be a non-empty string")
    return value


def _box(value: Any, where: str) -> BoundingBox:
    box = _obj(value, where)
    width = _num(_get(box, "Width", where), f"{where}.Width")
    height = _num(_get(box, "Height", where), f"{where}.Height")
    left = _num(_get(box, "Left", where), f"{where}.Left")
    top = _num(_get(box, "Top", where), f"{where}.Top")
    if not (0.0 < width <= 1.5 and 0.0 < height <= 1.5):
        raise RecordError("invalid_value", f"{where} width/height must be fractions of the frame")
    return BoundingBox(width, height, left, top)


def _matches(value: Any, where: str) -> tuple[FaceMatch, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RecordError("wrong_type", f"{where} must be a list")
    best: dict[str, FaceMatch] = {}
    for i, raw in enumerate(value):
        item_where = f"{where}[{i}]"
        match = _obj(raw, item_where)
        similarity = _num(_get(match, "Similarity", item_where), f"{item_where}.Similarity")
        face = _obj(_get(match, "Face", item_where), f"{item_where}.Face")
        face_id = _str(_get(face, "FaceId", f"{item_where}.Face"), f"{item_where}.Face.FaceId")
        # A face enrolled without ExternalImageId is still a known face: fall back to its FaceId.
        external = face.get("ExternalImageId") or face_id
        external = _str(external, f"{item_where}.Face.ExternalImageId")
        current = best.get(external)
        if current is None or similarity > current.similarity:
            best[external] = FaceMatch(external, face_id, similarity)
    return tuple(sorted(best.values(), key=lambda m: (-m.similarity, m.external_image_id)))


def _face(index: int, value: Any, where: str) -> DetectedFace:
    entry = _obj(value, where)
    detected = _obj(_get(entry, "DetectedFace", where), f"{where}.DetectedFace")
    dwhere = f"{where}.DetectedFace"
    pose_raw = detected.get("Pose")
    pose = None
    if pose_raw is not None:
        pose_obj = _obj(pose_raw, f"{dwhere}.Pose")
        pose = Pose(
            pitch=_opt_num(pose_obj, "Pitch", f"{dwhere}.Pose") or 0.0,
            roll=_opt_num(pose_obj, "Roll", f"{dwhere}.Pose") or 0.0,
            yaw=_opt_num(pose_obj, "Yaw", f"{dwhere}.Pose") or 0.0,
        )
    quality = detected.get("Quality")
    brightness = sharpness = None
    if quality is not None:
        quality = _obj(quality, f"{dwhere}.Quality")
        brightness = _opt_num(quality, "Brightness", f"{dwhere}.Quality")
        sharpness = _opt_num(quality, "Sharpness", f"{dwhere}.Quality")
    return DetectedFace(
        index=index,
        box=_box(_get(detected, "BoundingBox", dwhere), f"{dwhere}.BoundingBox"),
        confidence=_num(detected.get("Confidence", 0.0), f"{dwhere}.Confidence"),
        pose=pose,
        brightness=brightness,
        sharpness=sharpness,
        matches=_matches(entry.get("MatchedFaces"), f"{where}.MatchedFaces"),
    )


def parse_frame_record(data: bytes, max_bytes: int = 1024 * 1024) -> FrameRecord:
    """Parse one Kinesis record's data; raise RecordError with a reason code if it is unusable."""
    if len(data) > max_bytes:
        raise RecordError("too_large", f"{len(data)} bytes, above the {max_bytes} byte limit")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RecordError("not_json", str(exc)[:200]) from None
    doc = _obj(doc, "record")
    info = _obj(_get(doc, "InputInformation", "record"), "InputInformation")
    video = _obj(_get(info, "KinesisVideo", "InputInformation"), "InputInformation.KinesisVideo")
    vwhere = "InputInformation.KinesisVideo"
    stream_arn = _str(_get(video, "StreamArn", vwhere), f"{vwhere}.StreamArn")
    fragment = _get(video, "FragmentNumber", vwhere)
    if not isinstance(fragment, str) or not fragment.isdigit():
        raise RecordError("wrong_type", f"{vwhere}.FragmentNumber must be a string of digits")
    producer_ts = _num(_get(video, "ProducerTimestamp", vwhere), f"{vwhere}.ProducerTimestamp")
    server_ts = _num(video.get("ServerTimestamp", producer_ts), f"{vwhere}.ServerTimestamp")
    offset = _num(_get(video, "FrameOffsetInSeconds", vwhere), f"{vwhere}.FrameOffsetInSeconds")
    if producer_ts <= 0 or offset < 0:
        raise RecordError("invalid_value", f"{vwhere} timestamps must be positive")
    faces_raw = doc.get("FaceSearchResponse")
    if faces_raw is None:
        faces_raw = []
    if not isinstance(faces_raw, list):
        raise RecordError("wrong_type", "FaceSearchResponse must be a list")
    faces = tuple(_face(i, raw, f"FaceSearchResponse[{i}]") for i, raw in enumerate(faces_raw))
    return FrameRecord(stream_arn, fragment, producer_ts, server_ts, offset, faces)


def camera_id_from_arn(stream_arn: str) -> str:
    """`arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<created>` -> `<name>`."""
    _, _, resource = stream_arn.partition(":stream/")
    name = resource.split("/", 1)[0]
    return name or stream_arn
