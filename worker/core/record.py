"""The Rekognition Video face-search record: parsed and validated into typed values.

One record is one analysed frame of one camera. This module is the one contract of what a valid record
is: every value the rest of the pipeline uses (ids, index names, document fields, the tracker's clock)
is checked here to be of the right type and in a physically sensible range, so nothing downstream can
fail on a record that passed. What is outside the contract raises `RecordError` with a stable reason
and the field it concerns, and the record becomes one dead letter. Parsing stays lenient about what
the pipeline does not read (landmarks, extra keys), so a producer that adds fields is not quarantined.

The limits, and why (see docs/ARCHITECTURE.md, "The record contract"):
- Epoch seconds between 2010-01-01 and 2100-01-01: before any Kinesis Video stream existed is a clock
  that was never set; after 2100 is a unit mistake (and past year 9999 Python cannot name the day).
  A value that is a plausible epoch once divided by 1000 is a producer writing milliseconds, the most
  likely bug of a custom producer: reason `timestamp_in_ms`, so someone fixes the producer.
- The frame time at most one day after and ten years before the record's own arrival time in the
  stream (ApproximateArrivalTimestamp): a frame cannot be analysed a day before it was filmed (one day
  covers any time-zone mistake of a camera clock), and no video older than Kinesis Video Streams'
  longest retention (87,600 hours) can be analysed; a custom producer may analyse archived video, so
  the bound is the retention, not "live". It is the arrival time, never the wall clock: an archive
  replayed a year later still passes.
- ServerTimestamp within a day of ProducerTimestamp (their difference is the upstream lag).
- FrameOffsetInSeconds from 0 to 20 s: a Kinesis Video fragment lasts at most 20 seconds (KVS quota).
- Bounding boxes as fractions of the frame, with a tolerance of 0.25 for faces cut by the frame's
  edge (Rekognition reports the whole box): width and height in (0, 1.25], left and top in
  [-0.25, 1.25]. Confidence, Similarity, Brightness, Sharpness in [0, 100]; pose angles in [-180, 180].
- At most 100 faces per frame (Rekognition detects the 100 largest faces of an image) and 4096
  matches per face (SearchFaces' MaxFaces ceiling): bounded work per record for the tracker.
- At most 32 levels of nesting (Rekognition's record has 7): the archive wraps the record one level
  deeper, and JSON readers stop somewhere (orjson at 1024), so a record that parses must stay readable
  where it is archived (`too_deep`).
- FragmentNumber: 1-64 ASCII digits (Rekognition writes 47); ids and the stream ARN at most 1024
  characters (KVS StreamARN), face and image ids at most 255 (Rekognition's ExternalImageId limit).
"""

from __future__ import annotations

import functools
import math
import re
from typing import Annotated, Any

import msgspec
import orjson

from worker.documents import BoxSource

EPOCH_MIN_S = 1262304000.0  # 2010-01-01T00:00:00Z
EPOCH_MAX_S = 4102444800.0  # 2100-01-01T00:00:00Z
MAX_AHEAD_OF_ARRIVAL_S = 86400.0
MAX_BEHIND_ARRIVAL_S = 87600 * 3600.0  # Kinesis Video Streams' longest retention
MAX_UPSTREAM_LAG_S = 86400.0
MAX_FRAME_OFFSET_S = 20.0
BOX_TOLERANCE = 0.25
MAX_FACES_PER_FRAME = 100
MAX_MATCHES_PER_FACE = 4096
MAX_ARN_CHARS = 1024
MAX_ID_CHARS = 255
MAX_DEPTH = 32  # Rekognition's record nests 7 levels deep
_FRAGMENT = re.compile(r"[0-9]{1,64}")


class RecordError(ValueError):
    """A record outside the contract. `reason` is a short stable code for counting and quarantine,
    `field` the path of the value at fault (empty when the record as a whole is at fault)."""

    def __init__(self, reason: str, detail: str, field: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.field = field


# The parsed record's types are frozen msgspec Structs: one of each is made for every face of every record,
# and a Struct is built about seven times faster than a frozen dataclass (they hold no cycles: gc=False).
class BoundingBox(msgspec.Struct, frozen=True, gc=False):
    """Fractions of the frame: left/top of the upper-left corner, width/height of the box."""

    width: float
    height: float
    left: float
    top: float

    @property
    def area(self) -> float:
        return self.width * self.height

    def as_dict(self) -> BoxSource:
        return {"width": self.width, "height": self.height, "left": self.left, "top": self.top}

    @property
    def centre(self) -> tuple[float, float]:
        return (self.left + self.width / 2.0, self.top + self.height / 2.0)


class Pose(msgspec.Struct, frozen=True, gc=False):
    pitch: float
    roll: float
    yaw: float


class FaceMatch(msgspec.Struct, frozen=True, gc=False):
    """The best match of one enrolled person (several enrolled images are grouped by external id)."""

    external_image_id: str
    face_id: str
    similarity: float


class DetectedFace(msgspec.Struct, frozen=True, gc=False):
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


class FrameRecord(msgspec.Struct, frozen=True, gc=False):
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
        raise RecordError("missing_field", f"{where}.{key} is missing", f"{where}.{key}")
    return obj[key]


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RecordError("wrong_type", f"{where} must be an object, got {type(value).__name__}", where)
    return value


def _num(value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> float:
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError("wrong_type", f"{where} must be a number, got {type(value).__name__}", where)
    try:
        number = float(value)  # a 400-digit integer does not fit a float
    except OverflowError:
        raise RecordError("invalid_value", f"{where} is out of range", where) from None
    if not math.isfinite(number):
        raise RecordError("invalid_value", f"{where} must be finite", where)
    if not low <= number <= high:
        raise RecordError("invalid_value", f"{where} must be between {low:g} and {high:g}", where)
    return number


def _opt_num(obj: dict[str, Any], key: str, where: str, low: float, high: float) -> float | None:
    value = obj.get(key)
    return None if value is None else _num(value, f"{where}.{key}", low, high)


def _str(value: Any, where: str, max_chars: int = MAX_ID_CHARS) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError("wrong_type", f"{where} must be a non-empty string", where)
    if len(value) > max_chars:
        raise RecordError("invalid_value", f"{where} is longer than {max_chars} characters", where)
    if not value.isprintable():
        raise RecordError("invalid_value", f"{where} holds control characters", where)
    return value


def _epoch(value: Any, where: str) -> float:
    """Epoch seconds in the plausible span; milliseconds get their own reason (a producer bug)."""
    number = _num(value, where)
    if not EPOCH_MIN_S <= number < EPOCH_MAX_S:
        if EPOCH_MIN_S <= number / 1000.0 < EPOCH_MAX_S:
            raise RecordError(
                "timestamp_in_ms",
                f"{where} is {number:.0f}: epoch milliseconds, not seconds; the producer must write seconds",
                where,
            )
        raise RecordError("invalid_value", f"{where} must be epoch seconds between 2010 and 2100", where)
    return number


def _box(value: Any, where: str) -> BoundingBox:
    box = _obj(value, where)
    edge = 1.0 + BOX_TOLERANCE
    width = _num(_get(box, "Width", where), f"{where}.Width", 0.0, edge)
    height = _num(_get(box, "Height", where), f"{where}.Height", 0.0, edge)
    left = _num(_get(box, "Left", where), f"{where}.Left", -BOX_TOLERANCE, edge)
    top = _num(_get(box, "Top", where), f"{where}.Top", -BOX_TOLERANCE, edge)
    if width == 0.0 or height == 0.0:
        raise RecordError("invalid_value", f"{where} width and height must be above 0", where)
    return BoundingBox(width, height, left, top)


def _matches(value: Any, where: str) -> tuple[FaceMatch, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RecordError("wrong_type", f"{where} must be a list", where)
    if len(value) > MAX_MATCHES_PER_FACE:
        raise RecordError(
            "too_many_matches",
            f"{where} holds {len(value)} matches; at most {MAX_MATCHES_PER_FACE} (SearchFaces' MaxFaces)",
            where,
        )
    best: dict[str, FaceMatch] = {}
    for i, raw in enumerate(value):
        item_where = f"{where}[{i}]"
        match = _obj(raw, item_where)
        similarity = _num(_get(match, "Similarity", item_where), f"{item_where}.Similarity", 0.0, 100.0)
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
        pwhere = f"{dwhere}.Pose"
        pose = Pose(
            pitch=_opt_num(pose_obj, "Pitch", pwhere, -180.0, 180.0) or 0.0,
            roll=_opt_num(pose_obj, "Roll", pwhere, -180.0, 180.0) or 0.0,
            yaw=_opt_num(pose_obj, "Yaw", pwhere, -180.0, 180.0) or 0.0,
        )
    quality = detected.get("Quality")
    brightness = sharpness = None
    if quality is not None:
        quality = _obj(quality, f"{dwhere}.Quality")
        brightness = _opt_num(quality, "Brightness", f"{dwhere}.Quality", 0.0, 100.0)
        sharpness = _opt_num(quality, "Sharpness", f"{dwhere}.Quality", 0.0, 100.0)
    return DetectedFace(
        index=index,
        box=_box(_get(detected, "BoundingBox", dwhere), f"{dwhere}.BoundingBox"),
        confidence=_num(detected.get("Confidence", 0.0), f"{dwhere}.Confidence", 0.0, 100.0),
        pose=pose,
        brightness=brightness,
        sharpness=sharpness,
        matches=_matches(entry.get("MatchedFaces"), f"{where}.MatchedFaces"),
    )


def _deeper_than(doc: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests more than `limit` levels, stopping as soon as it does."""
    todo: list[tuple[Any, int]] = [(doc, 1)]
    while todo:
        value, depth = todo.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            todo.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            todo.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False


def parse_frame_record(data: bytes, max_bytes: int = 1024 * 1024, arrival_ms: int | None = None) -> FrameRecord:
    """Parse one Kinesis record's data; raise RecordError with a reason code if it is unusable.

    `arrival_ms` is the record's ApproximateArrivalTimestamp: the frame time must be plausible for it.
    A record of exactly Rekognition's shape is decoded and validated in one compiled step (`_fast`);
    anything else, or anything that step doubts, goes through the checks below, which give the verdict.
    """
    if len(data) > max_bytes:
        raise RecordError("too_large", f"{len(data)} bytes, above the {max_bytes} byte limit")
    fast = _fast(data, arrival_ms)
    if fast is not None:
        return fast
    return _checked(data, arrival_ms)


def _checked(data: bytes, arrival_ms: int | None) -> FrameRecord:
    """The contract, check by check: the first value at fault names the reason and the field."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RecordError("not_json", str(exc)[:200]) from None
    doc = _obj(doc, "record")
    # Each level needs a bracket: a record with few of them (every real one) is not walked at all.
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and _deeper_than(doc, MAX_DEPTH):
        raise RecordError("too_deep", f"the record nests more than {MAX_DEPTH} levels deep", "record")
    info = _obj(_get(doc, "InputInformation", "record"), "InputInformation")
    video = _obj(_get(info, "KinesisVideo", "InputInformation"), "InputInformation.KinesisVideo")
    vwhere = "InputInformation.KinesisVideo"
    stream_arn = _str(_get(video, "StreamArn", vwhere), f"{vwhere}.StreamArn", MAX_ARN_CHARS)
    fragment = _get(video, "FragmentNumber", vwhere)
    if not isinstance(fragment, str) or not _FRAGMENT.fullmatch(fragment):
        raise RecordError(
            "wrong_type",
            f"{vwhere}.FragmentNumber must be a string of 1 to 64 ASCII digits",
            f"{vwhere}.FragmentNumber",
        )
    producer_ts = _epoch(_get(video, "ProducerTimestamp", vwhere), f"{vwhere}.ProducerTimestamp")
    server_ts = _epoch(video.get("ServerTimestamp", producer_ts), f"{vwhere}.ServerTimestamp")
    if abs(server_ts - producer_ts) > MAX_UPSTREAM_LAG_S:
        raise RecordError(
            "invalid_value",
            f"{vwhere}.ServerTimestamp is more than a day from ProducerTimestamp",
            f"{vwhere}.ServerTimestamp",
        )
    offset = _num(
        _get(video, "FrameOffsetInSeconds", vwhere), f"{vwhere}.FrameOffsetInSeconds", 0.0, MAX_FRAME_OFFSET_S
    )
    if arrival_ms:
        arrival_s = arrival_ms / 1000.0
        frame_time = producer_ts + offset
        if not arrival_s - MAX_BEHIND_ARRIVAL_S <= frame_time <= arrival_s + MAX_AHEAD_OF_ARRIVAL_S:
            raise RecordError(
                "invalid_value",
                f"{vwhere}.ProducerTimestamp is more than a day after or ten years"
                " before the record's arrival in the stream",
                f"{vwhere}.ProducerTimestamp",
            )
    faces_raw = doc.get("FaceSearchResponse")
    if faces_raw is None:
        faces_raw = []
    if not isinstance(faces_raw, list):
        raise RecordError("wrong_type", "FaceSearchResponse must be a list", "FaceSearchResponse")
    if len(faces_raw) > MAX_FACES_PER_FRAME:
        raise RecordError(
            "too_many_faces",
            f"FaceSearchResponse holds {len(faces_raw)} faces; at most"
            f" {MAX_FACES_PER_FRAME} per frame (Rekognition's limit)",
            "FaceSearchResponse",
        )
    faces = tuple(_face(i, raw, f"FaceSearchResponse[{i}]") for i, raw in enumerate(faces_raw))
    return FrameRecord(stream_arn, fragment, producer_ts, server_ts, offset, faces)


@functools.lru_cache(maxsize=4096)
def camera_id_from_arn(stream_arn: str) -> str:
    """`arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<created>` -> `<name>`."""
    _, _, resource = stream_arn.partition(":stream/")
    name = resource.split("/", 1)[0]
    return name or stream_arn


# -- the compiled fast path ---------------------------------------------------------------------------
# Rekognition's record, field for field, as msgspec Structs with the contract's ranges as constraints:
# decoding and validating a well-formed record is one pass in C. It accepts a subset of what `_checked`
# accepts, with the same values (tests/unit/test_record_fast.py holds the two equal on every fixture and
# on generated hostile records), and returns None on anything else: an unknown key (a producer's extra
# field, so the depth of what it holds is not known here), a value out of range, a string to check.
# Unknown keys are refused so the schema bounds the nesting: no depth walk is needed on this path.
_Angle = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]
_Percent = Annotated[float, msgspec.Meta(ge=0.0, le=100.0)]
_Extent = Annotated[float, msgspec.Meta(gt=0.0, le=1.0 + BOX_TOLERANCE)]
_Corner = Annotated[float, msgspec.Meta(ge=-BOX_TOLERANCE, le=1.0 + BOX_TOLERANCE)]
_Epoch = Annotated[float, msgspec.Meta(ge=EPOCH_MIN_S, lt=EPOCH_MAX_S)]


class _Strict(msgspec.Struct, forbid_unknown_fields=True):
    pass


class _BoxIn(_Strict):
    Width: _Extent
    Height: _Extent
    Left: _Corner
    Top: _Corner


class _PoseIn(_Strict):
    Pitch: _Angle | None = None
    Roll: _Angle | None = None
    Yaw: _Angle | None = None


class _QualityIn(_Strict):
    Brightness: _Percent | None = None
    Sharpness: _Percent | None = None


class _LandmarkIn(_Strict):  # not read by the pipeline: typed only so the schema bounds the nesting
    X: float | None = None
    Y: float | None = None
    Type: str | None = None


class _DetectedIn(_Strict):
    BoundingBox: _BoxIn
    Confidence: _Percent = 0.0
    Landmarks: list[_LandmarkIn] | None = None
    Pose: _PoseIn | None = None
    Quality: _QualityIn | None = None


class _LooseBoxIn(_Strict):  # the enrolled image's box: not read
    Width: float | None = None
    Height: float | None = None
    Left: float | None = None
    Top: float | None = None


class _MatchFaceIn(_Strict):
    FaceId: str
    ExternalImageId: str | None = None
    BoundingBox: _LooseBoxIn | None = None
    Confidence: float | None = None
    ImageId: str | None = None


class _MatchIn(_Strict):
    Similarity: _Percent
    Face: _MatchFaceIn


class _FaceIn(_Strict):
    DetectedFace: _DetectedIn
    MatchedFaces: Annotated[list[_MatchIn], msgspec.Meta(max_length=MAX_MATCHES_PER_FACE)] | None = None


class _VideoIn(_Strict):
    StreamArn: str
    FragmentNumber: str
    ProducerTimestamp: _Epoch
    FrameOffsetInSeconds: Annotated[float, msgspec.Meta(ge=0.0, le=MAX_FRAME_OFFSET_S)]
    ServerTimestamp: _Epoch | msgspec.UnsetType = msgspec.UNSET


class _InputIn(_Strict):
    KinesisVideo: _VideoIn


class _ProcessorInfoIn(_Strict):
    Status: str | None = None


class _RecordIn(_Strict):
    InputInformation: _InputIn
    StreamProcessorInformation: _ProcessorInfoIn | None = None
    FaceSearchResponse: Annotated[list[_FaceIn], msgspec.Meta(max_length=MAX_FACES_PER_FRAME)] | None = None


_DECODER = msgspec.json.Decoder(_RecordIn)


def _plain(value: str, max_chars: int = MAX_ID_CHARS) -> bool:
    """What `_str` accepts: non-empty, not too long, printable."""
    return bool(value) and len(value) <= max_chars and value.isprintable()


def _fast(data: bytes, arrival_ms: int | None) -> FrameRecord | None:
    """The record, if it is exactly of Rekognition's shape and passes every check; else None."""
    try:
        doc = _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    video = doc.InputInformation.KinesisVideo
    arn, fragment, producer_ts = video.StreamArn, video.FragmentNumber, video.ProducerTimestamp
    server_ts = producer_ts if video.ServerTimestamp is msgspec.UNSET else video.ServerTimestamp
    offset = video.FrameOffsetInSeconds
    if not _plain(arn, MAX_ARN_CHARS) or not _FRAGMENT.fullmatch(fragment):
        return None
    if abs(server_ts - producer_ts) > MAX_UPSTREAM_LAG_S:
        return None
    if arrival_ms:
        arrival_s, frame_time = arrival_ms / 1000.0, producer_ts + offset
        if not arrival_s - MAX_BEHIND_ARRIVAL_S <= frame_time <= arrival_s + MAX_AHEAD_OF_ARRIVAL_S:
            return None
    faces = []
    for index, entry in enumerate(doc.FaceSearchResponse or ()):
        detected = entry.DetectedFace
        b, p, q = detected.BoundingBox, detected.Pose, detected.Quality
        matches: tuple[FaceMatch, ...] = ()
        if entry.MatchedFaces:
            best: dict[str, FaceMatch] = {}
            for m in entry.MatchedFaces:
                face_id = m.Face.FaceId
                external = m.Face.ExternalImageId or face_id
                if not _plain(face_id) or not _plain(external):
                    return None
                current = best.get(external)
                if current is None or m.Similarity > current.similarity:
                    best[external] = FaceMatch(external, face_id, m.Similarity)
            ranked = best.values()
            if len(best) > 1:
                ranked = sorted(ranked, key=lambda m: (-m.similarity, m.external_image_id))  # type: ignore[assignment]
            matches = tuple(ranked)
        faces.append(
            DetectedFace(
                index,
                BoundingBox(b.Width, b.Height, b.Left, b.Top),
                detected.Confidence,
                None if p is None else Pose(p.Pitch or 0.0, p.Roll or 0.0, p.Yaw or 0.0),
                None if q is None else q.Brightness,
                None if q is None else q.Sharpness,
                matches,
            )
        )
    return FrameRecord(arn, fragment, producer_ts, server_ts, offset, tuple(faces))
