"""The documents the worker writes to OpenSearch, as types: one source of truth for their fields.

The builders in `worker/core` return these; the index mappings in `worker/sinks/templates.py` declare
the same fields with OpenSearch types, and tests/unit/test_documents.py checks the two agree field by
field (and that what the builders really produce fits them). Imports nothing of ours.
"""

from __future__ import annotations

from typing import Any, TypedDict


class BoxSource(TypedDict):
    width: float
    height: float
    left: float
    top: float


class LocationSource(TypedDict):
    """Where a camera is (worker/core/cameras.py Camera.location): spread into tracks and alerts."""

    camera_id: str
    registered: bool
    site: str | None  # None when the registry gives no site (likewise floor and zone)
    floor: str | None
    zone: str | None


class PoseSource(TypedDict):
    pitch: float
    roll: float
    yaw: float


class DetectionSource(TypedDict):
    """One detected face of one frame (`<prefix>-detections-YYYY.MM.DD`)."""

    detection_id: str
    camera_id: str
    stream_arn: str
    fragment_number: str
    frame_offset_s: float
    frame_time: int  # epoch ms
    producer_timestamp: int  # epoch ms
    upstream_lag_s: float
    face_index: int
    faces_in_frame: int
    status: str  # known | unknown
    bbox: BoxSource
    face_area: float
    confidence: float
    brightness: float | None
    sharpness: float | None
    pose: PoseSource | None
    match_count: int
    identity: str | None
    face_id: str | None
    similarity: float | None
    shard_id: str
    sequence_number: str
    arrival_time: int  # the record's arrival in the stream, epoch ms


class BestFrameSource(TypedDict, total=False):
    fragment_number: str
    frame_offset_s: float
    frame_time: int
    bbox: BoxSource
    score: float


class _TrackResume(TypedDict, total=False):
    # Written only by workers from before the hand-off state moved whole into the camera state, and still
    # accepted (a rolling deploy): the tracker's state for the next owner; not indexed.
    resume: dict[str, Any]


class TrackSource(_TrackResume):
    """One visit of one person to one camera (`<prefix>-tracks-YYYY.MM.DD`, by its first frame)."""

    track_id: str
    stream_arn: str
    camera_id: str
    registered: bool
    site: str | None
    floor: str | None
    zone: str | None
    first_seen: int
    last_seen: int
    duration_s: float
    frames: int
    matched_frames: int
    identity: str | None
    identity_confidence: float | None
    category: str  # employee | unknown | watchlist
    confirmed: bool
    state: str  # open | closed
    best_frame: BestFrameSource | None


class SinkTimes(TypedDict, total=False):
    sns: int
    webhook: int


class AlertSource(TypedDict, total=False):
    """One alert per (track, rule) (`<prefix>-alerts-YYYY.MM.DD`); the delivery fields are filled in as
    each alert sink takes it (worker/sinks/dispatch.py)."""

    alert_id: str
    rule: str
    severity: str
    track_id: str
    camera_id: str
    registered: bool
    stream_arn: str
    site: str | None
    floor: str | None
    zone: str | None
    time: int
    local_time: str
    timezone: str
    shard_id: str
    arrival_time: int | None
    received_time: int | None
    identity: str
    category: str
    confidence: float | None
    best_frame: BestFrameSource
    frame_s3_uri: str
    detection_id: str | None
    delivered_to: list[str]
    rejected_by: list[str]
    sent_at: SinkTimes
    delivered_at: SinkTimes
    replayed: bool  # present (true) only on an alert a replay raised and did not send


class CameraStateSource(TypedDict):
    """Per camera: how far its tracks are applied and which are open (`<prefix>-cameras-state`)."""

    kind: str  # camera_state
    stream_arn: str
    camera_id: str
    applied_until: int
    shard_id: str
    open_tracks: list[dict[str, Any]]  # each open track whole (worker/core/track_docs.py track_snapshot)
    alert_clocks: dict[str, Any]
    previous_t: float  # seconds: the tracker's latest frame with faces (its young links are provisional)
    # {"tracks": [ids], "steps": [[start, end, x0, y0, w0, x1, y1, w1, vx, vy, index into tracks]]}: recent
    # steps of its tracks (CameraTracker.paths, worker/core/paths.py); the first form had the id in each step
    paths: dict[str, list[Any]]


class ShardProgressSource(TypedDict):
    """Per shard: every sink holds everything up to `flushed_through` (same index as camera states)."""

    kind: str  # shard_progress
    application: str
    shard_id: str
    flushed_through: str
    records: int | None  # flushed by the processor that wrote it (a replay's progress report reads it)
    frame_time: int | None  # the latest frame time flushed: how far in record time the shard is


class ShardReplaySource(TypedDict):
    """Per shard, written by a rewind (worker/ops/rewind.py): records up to `replay_through` were handled
    before it, so they are not archived again and their alerts are not sent unless `deliver_alerts`."""

    kind: str  # shard_replay
    application: str
    shard_id: str
    replay_through: str
    deliver_alerts: bool
    requested_at: int


class RefusedSource(TypedDict):
    doc_id: str
    index: str
    status: int
    error: str


class QuarantineSource(TypedDict):
    """The searchable copy of a dead letter: metadata only (`<prefix>-quarantine-YYYY.MM.DD`)."""

    quarantine_id: str
    stage: str
    reason: str
    field: str
    detail: str
    shard_id: str
    sequence_number: str
    partition_key: str
    arrival_time: int
    size_bytes: int
    refused_items: int
    refused: list[RefusedSource]
    worker_id: str


# Index family -> the document types it holds (the camera-state index holds two kinds).
FAMILY_DOCUMENTS: dict[str, tuple[type, ...]] = {
    "detections": (DetectionSource,),
    "tracks": (TrackSource,),
    "alerts": (AlertSource,),
    "cameras": (CameraStateSource, ShardProgressSource, ShardReplaySource),
    "quarantine": (QuarantineSource,),
}
