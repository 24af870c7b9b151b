"""Camera registry, track documents, and replay determinism of the pure core (records -> documents)."""

from __future__ import annotations

import json
import re
from datetime import time

import pytest

from worker.config import ConfigError, load_config
from worker.core.cameras import Camera, CameraRegistry
from worker.core.record import parse_frame_record
from worker.core.track_docs import camera_state, category_of, track_document, track_from_snapshot, track_snapshot
from worker.core.tracker import Tracker
from worker.sim.encode import encode_frame
from worker.sim.scenario import build_scenario, frames_of, preset

ARN = "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/hq-lobby-1/1700000000000"


def cfg_with(cameras, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({"cameras": cameras}))
    return load_config(path=path, env={}, stack_env_file=None)


def test_cameras_load_from_yaml_with_location_and_business_hours(tmp_path):
    cfg = cfg_with(
        [
            {
                "id": "hq-lobby-1",
                "stream_arn": ARN,
                "site": "hq",
                "floor": "0",
                "zone": "lobby",
                "timezone": "Europe/Paris",
                "business_hours": {"days": "mon-fri", "start": "08:00", "end": "19:00"},
            }
        ],
        tmp_path,
    )
    (camera,) = cfg.cameras
    assert (camera.camera_id, camera.site, camera.floor, camera.zone) == ("hq-lobby-1", "hq", "0", "lobby")
    assert camera.business_hours.days == ("mon", "tue", "wed", "thu", "fri")
    assert camera.business_hours.start == time(8, 0)
    # 2026-01-05 is a Monday. 06:30 UTC is 07:30 in Paris (closed); 07:30 UTC is 08:30 (open).
    assert not camera.in_business_hours(1_767_594_600.0)
    assert camera.in_business_hours(1_767_598_200.0)
    assert not camera.in_business_hours(1_767_598_200.0 - 2 * 86400)  # Saturday


def test_cameras_from_the_environment_as_json(tmp_path):
    env = {"FACEWATCH_CAMERAS": json.dumps([{"id": "c1", "stream_arn": ARN}])}
    cfg = load_config(env=env, stack_env_file=None)
    assert [c.camera_id for c in cfg.cameras] == ["c1"] and cfg.cameras[0].timezone == "UTC"


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"id": "c1", "stream_arn": "arn:aws:kinesis:x"}, "cameras[0].stream_arn"),
        ({"stream_arn": ARN}, "cameras[0].id"),
        ({"id": "c1", "stream_arn": ARN, "timezone": "Mars/Olympus"}, "cameras[0].timezone"),
        ({"id": "c1", "stream_arn": ARN, "business_hours": {"start": "8am"}}, "cameras[0].business_hours.start"),
        ({"id": "c1", "stream_arn": ARN, "business_hours": {"days": "fri-mon"}}, "cameras[0].business_hours.days"),
        ({"id": "c1", "stream_arn": ARN, "colour": "red"}, "unknown key(s) colour"),
    ],
)
def test_a_bad_camera_entry_names_the_field_and_the_fix(entry, message, tmp_path):
    with pytest.raises(ConfigError, match=re.escape(message)):
        cfg_with([entry], tmp_path)


def test_a_camera_registered_twice_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="registered twice"):
        cfg_with([{"id": "a", "stream_arn": ARN}, {"id": "b", "stream_arn": ARN}], tmp_path)


def test_an_unregistered_stream_is_labelled_not_dropped():
    registry = CameraRegistry([Camera("hq-lobby-1", ARN, site="hq")])
    other = "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/garage-2/1700000000001"
    camera = registry.lookup(other)
    assert not camera.registered and camera.camera_id == "garage-2"
    assert registry.lookup(ARN).registered


def test_identity_categories():
    assert category_of(None, "wl_") == "unknown"
    assert category_of("wl_0042", "wl_") == "watchlist"
    assert category_of("emp-0042", "wl_") == "employee"


def _frames(seed=4):
    spec = preset("crowded_lobby", cameras=3, duration_s=180, seed=seed)
    return [parse_frame_record(encode_frame(f)) for f in frames_of(build_scenario(spec))]


def _documents(frames, split: list[int], heartbeats: bool) -> dict[str, dict]:
    """Feed frames in batches of the given sizes (cycled), as the processor does; return final documents."""
    registry = CameraRegistry()
    tracker = Tracker()
    docs: dict[str, dict] = {}
    i = k = 0
    while i < len(frames):
        batch = frames[i : i + split[k % len(split)]]
        i += len(batch)
        k += 1
        for frame in batch:
            result = tracker.observe(frame)
            for t in result.touched + result.closed:
                docs[t.track_id] = track_document(t, registry.lookup(t.stream_arn), "wl_").source
            for t in result.absorbed:
                docs.pop(t.track_id)
        if heartbeats:
            for t in tracker.heartbeat():
                docs[t.track_id] = track_document(t, registry.lookup(t.stream_arn), "wl_").source
    for t in tracker.heartbeat():
        docs[t.track_id] = track_document(t, registry.lookup(t.stream_arn), "wl_").source
    return docs


def test_replaying_the_same_records_in_other_batches_gives_identical_track_documents():
    frames = _frames()
    one = _documents(frames, [len(frames)], heartbeats=False)
    assert len(one) > 20 and any(d["state"] == "closed" for d in one.values())
    assert _documents(frames, [1], heartbeats=True) == one
    assert _documents(frames, [7, 100, 3], heartbeats=True) == one


def test_a_document_round_trips_into_the_same_tracker_state():
    tracker = Tracker()
    for frame in _frames(seed=6)[:120]:
        tracker.observe(frame)
    for track in tracker.open_tracks():
        back = track_from_snapshot(json.loads(json.dumps(track_snapshot(track))))
        for name in (
            "track_id",
            "first_seen",
            "last_seen",
            "centre",
            "width",
            "velocity",
            "hits",
            "matched",
            "votes",
            "best_similarity",
            "best_frame",
            "confirmed",
            "first_centre",
            "first_width",
        ):
            assert getattr(back, name) == getattr(track, name), name


def _handed_over(frames, every: int) -> dict[str, dict]:
    """The documents of a run whose shard changes owner every `every` frames: each new tracker starts
    from what the documents say (open tracks and camera states), as a new worker's TrackingStage does."""
    registry = CameraRegistry()
    tracker = Tracker()
    docs: dict[str, dict] = {}
    for n, frame in enumerate(frames):
        if n and n % every == 0:
            states = {
                arn: json.loads(json.dumps(camera_state(cam, "", "", {}))) for arn, cam in tracker.cameras.items()
            }
            tracker = Tracker()
            for arn, state in states.items():
                opened = [track_from_snapshot(entry) for entry in state["open_tracks"]]
                tracker.camera(arn).restore(
                    opened, state["applied_until"] / 1000.0, state["previous_t"], state["paths"]["steps"]
                )
        result = tracker.observe(frame)
        for t in result.touched + result.closed:
            docs[t.track_id] = json.loads(json.dumps(track_document(t, registry.lookup(t.stream_arn), "wl_").source))
        for t in result.absorbed:
            docs.pop(t.track_id, None)  # (a young track may be absorbed before it was ever written)
    return docs


@pytest.mark.parametrize("scenario", ["groups", "tailgating", "dense_walkway"])
def test_a_change_of_owner_at_any_frame_changes_no_track(scenario):
    """Everything the tracker may still revise (a young track's faces, a takeover in progress, the
    previous frame's provisional links) travels in the documents: a new owner decides as the old would."""
    frames = [
        parse_frame_record(encode_frame(f))
        for f in frames_of(build_scenario(preset(scenario, cameras=2, duration_s=120, seed=4)))
    ]
    unbroken = _handed_over(frames, len(frames) + 1)
    assert len(unbroken) > 10
    for every in (1, 7):
        assert _handed_over(frames, every) == unbroken, every
