"""Index templates: explicit mappings, no dynamic fields, one alias per index family.

Daily indices (`<prefix>-<family>-YYYY.MM.DD`, by the document's own record time so a replay writes
to the same index) keep deletes cheap; the alias `<prefix>-<family>` lets a query ignore the dates.
"""

from __future__ import annotations

from typing import Any

_KW = {"type": "keyword"}
_F = {"type": "float"}
_INT = {"type": "integer"}
_DATE = {"type": "date", "format": "epoch_millis"}
_BOX = {"properties": {"width": _F, "height": _F, "left": _F, "top": _F}}

DETECTION_PROPERTIES: dict[str, Any] = {
    "detection_id": _KW,
    "camera_id": _KW,
    "stream_arn": _KW,
    "fragment_number": _KW,
    "frame_offset_s": {"type": "double"},
    "frame_time": _DATE,
    "producer_timestamp": _DATE,
    "upstream_lag_s": _F,
    "face_index": _INT,
    "faces_in_frame": _INT,
    "status": _KW,
    "bbox": _BOX,
    "face_area": _F,
    "confidence": _F,
    "brightness": _F,
    "sharpness": _F,
    "pose": {"properties": {"pitch": _F, "roll": _F, "yaw": _F}},
    "match_count": _INT,
    "identity": _KW,
    "face_id": _KW,
    "similarity": _F,
    "shard_id": _KW,
    "sequence_number": _KW,
    "arrival_time": _DATE,
}

QUARANTINE_PROPERTIES: dict[str, Any] = {
    "quarantine_id": _KW,
    "stage": _KW,  # parse | process | sink
    "reason": _KW,
    "field": _KW,  # the record's field at fault (parse errors)
    "detail": {"type": "keyword", "ignore_above": 1024},
    "refused_items": _INT,  # documents of the record a sink refused (one entry per record)
    "refused": {"properties": {"doc_id": _KW, "index": _KW, "status": _INT, "error": _KW}},
    "shard_id": _KW,
    "sequence_number": _KW,
    "partition_key": _KW,
    "arrival_time": _DATE,
    "size_bytes": _INT,
    # No payload here: the record's bytes hold face ids and external image ids; they stay in S3 only.
    "worker_id": _KW,
}

TRACK_PROPERTIES: dict[str, Any] = {
    "track_id": _KW,
    "stream_arn": _KW,
    "camera_id": _KW,
    "registered": {"type": "boolean"},
    "site": _KW,
    "floor": _KW,
    "zone": _KW,
    "first_seen": _DATE,
    "last_seen": _DATE,
    "duration_s": _F,
    "frames": _INT,
    "matched_frames": _INT,
    "identity": _KW,
    "identity_confidence": _F,
    "category": _KW,  # employee | unknown | watchlist
    "confirmed": {"type": "boolean"},
    "state": _KW,  # open | closed
    "best_frame": {
        "properties": {
            "fragment_number": _KW,
            "frame_offset_s": {"type": "double"},
            "frame_time": _DATE,
            "bbox": _BOX,
            "score": _F,
        }
    },
    # Tracker state for the next owner, in documents written before it moved into the camera state (and by
    # such a worker during a rolling deploy): still accepted, never searched.
    "resume": {"type": "object", "enabled": False},
}

# One document per camera: how far its tracks are applied, and which are open (see source/tracking.py);
# and one per shard: how far every sink has acknowledged its records (see source/progress.py).
CAMERA_STATE_PROPERTIES: dict[str, Any] = {
    "kind": _KW,
    "application": _KW,
    "flushed_through": _KW,
    "records": {"type": "long"},
    "frame_time": _DATE,
    "stream_arn": _KW,
    "camera_id": _KW,
    "applied_until": _DATE,
    "shard_id": _KW,
    "open_tracks": {"type": "object", "enabled": False},
    "previous_t": {"type": "double"},
    "paths": {"type": "object", "enabled": False},  # the tracker's recent steps, for the next owner
    "alert_clocks": {"type": "object", "enabled": False},  # per-camera alert cooldowns, for the next owner
    "replay_through": _KW,  # a rewind's marker (worker/ops/rewind.py): records handled before it
    "deliver_alerts": {"type": "boolean"},
    "requested_at": _DATE,
}

# One document per (track, rule): what a guard needs to act, and where the best frame is.
ALERT_PROPERTIES: dict[str, Any] = {
    "alert_id": _KW,
    "rule": _KW,
    "severity": _KW,
    "track_id": _KW,
    "camera_id": _KW,
    "registered": {"type": "boolean"},
    "stream_arn": _KW,
    "site": _KW,
    "floor": _KW,
    "zone": _KW,
    "time": _DATE,  # record time of the frame that raised it
    "local_time": _KW,  # the same in the site's time zone, as a guard reads it
    "timezone": _KW,
    "shard_id": _KW,
    "arrival_time": _DATE,  # the record's approximate arrival in the stream: latency = hand-off - this
    "rejected_by": _KW,  # alert sinks that refused it for good (never retried; see the worker's log)
    "identity": _KW,  # an external image id, or "unknown"
    "category": _KW,
    "confidence": _F,
    "best_frame": TRACK_PROPERTIES["best_frame"],
    "frame_s3_uri": _KW,
    "delivered_to": _KW,
    "sent_at": {"properties": {"sns": _DATE, "webhook": _DATE}},  # hand-off to each sink began
    "delivered_at": {"properties": {"sns": _DATE, "webhook": _DATE}},  # ... and the sink acknowledged it
    "received_time": _DATE,  # when the worker got the record: sent_at - this is our share of latency
    "detection_id": _KW,  # the face that raised it
    "replayed": {"type": "boolean"},  # raised again by a replay: indexed, not sent (unless asked)
}

FAMILIES: dict[str, dict[str, Any]] = {
    "detections": DETECTION_PROPERTIES,
    "alerts": ALERT_PROPERTIES,
    "quarantine": QUARANTINE_PROPERTIES,
    "tracks": TRACK_PROPERTIES,
    "cameras": CAMERA_STATE_PROPERTIES,
}


# Families with daily indices that retention removes; the camera/shard state index is kept.
DAILY_FAMILIES = ("detections", "tracks", "alerts", "quarantine")


def index_name(prefix: str, family: str, day: str) -> str:
    return f"{prefix}-{family}-{day}"


def camera_state_index(prefix: str) -> str:
    return index_name(prefix, "cameras", "state")


def alias_name(prefix: str, family: str) -> str:
    return f"{prefix}-{family}"


def index_template(prefix: str, family: str, replicas: int) -> dict[str, Any]:
    return {
        "index_patterns": [f"{prefix}-{family}-*"],
        "priority": 100,
        "template": {
            "settings": {
                "number_of_shards": 1,
                "number_of_replicas": replicas,
                "refresh_interval": "1s",
            },
            "mappings": {"dynamic": "strict", "properties": FAMILIES[family]},
            "aliases": {alias_name(prefix, family): {}},
        },
    }


def retention_policy(prefix: str, family: str, days: int) -> dict[str, Any]:
    """The ISM policy that deletes a family's daily indices `days` after they were created."""
    return {
        "policy": {
            "description": f"facewatch: delete {prefix}-{family}-* indices after {days} days",
            "default_state": "hot",
            "states": [
                {
                    "name": "hot",
                    "actions": [],
                    "transitions": [{"state_name": "delete", "conditions": {"min_index_age": f"{days}d"}}],
                },
                {"name": "delete", "actions": [{"delete": {}}], "transitions": []},
            ],
            "ism_template": [{"index_patterns": [f"{prefix}-{family}-*"], "priority": 100}],
        }
    }
