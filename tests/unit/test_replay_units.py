"""The pure parts of replay: quiet points, the window's rules, archive lines back into records, names,
times and checkpoint files. (The replays themselves run against the real stack: tests/integration.)"""

from __future__ import annotations

import json

import pytest

from worker.config import ConfigError, load_config
from worker.core.record import parse_frame_record
from worker.model import IndexOp, RawRecord
from worker.ops import checkpoints
from worker.ops.archive_replay import parse_line, plan_archive
from worker.ops.generations import GenerationError, check_name, generation_prefix
from worker.ops.history import quiet_point
from worker.ops.replay_run import ReplaySpec
from worker.ops.times import TimeError, iso, parse_datetime
from worker.sim.encode import encode_frame
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of
from worker.source.batch import archive_line
from worker.source.window import ReplayWindow

QUIET = 9000


def test_a_quiet_point_is_the_latest_face_after_a_pause_longer_than_a_track_stays_open():
    faces = [0, 1000, 2000, 20_000, 21_000, 22_000, 23_000]
    assert quiet_point(faces, 22_500, QUIET) == 20_000  # 18 s without a face before 20 s
    assert quiet_point(faces, 2_000, QUIET) == 0  # nothing before the first face: it is quiet
    assert quiet_point([0, 5000, 10_000, 15_000], 15_000, QUIET) == 0  # never paused 9 s: back to the start
    assert quiet_point([0, 9000, 18_001], 18_001, QUIET) == 18_001  # 9.001 s is longer than 9 s
    assert quiet_point([0, 9000], 9000, QUIET) == 0  # exactly 9 s is not
    assert quiet_point(faces, -1, QUIET) is None


def _op(family: str, **source) -> IndexOp:
    return IndexOp(f"fw-{family}-2026.01.02", "id", source)


def test_the_window_keeps_its_detections_and_alerts_and_every_track_that_overlaps_it():
    w = ReplayWindow(10_000, 20_000, frozenset())
    assert [w.keeps(_op("detections", frame_time=t), "fw") for t in (9_999, 10_000, 19_999, 20_000)] == [
        False,
        True,
        True,
        False,
    ]
    assert [w.keeps(_op("alerts", time=t), "fw") for t in (9_999, 10_000, 20_000)] == [False, True, False]
    tracks = [(0, 9_999), (0, 10_000), (15_000, 30_000), (20_000, 30_000)]
    assert [w.keeps(_op("tracks", first_seen=a, last_seen=b), "fw") for a, b in tracks] == [False, True, True, False]
    assert w.keeps(IndexOp("fw-tracks-2026.01.02", "x", {}, delete=True), "fw")
    assert w.keeps(_op("cameras", kind="camera_state"), "fw")


def test_the_replay_section_refuses_half_a_window_or_one_that_ends_first():
    with pytest.raises(ConfigError, match="window_from/window_until"):
        load_config(env={"FACEWATCH__REPLAY__WINDOW_FROM": "10"}, stack_env_file=None)
    with pytest.raises(ConfigError, match="must end after it starts"):
        load_config(
            env={"FACEWATCH__REPLAY__WINDOW_FROM": "10", "FACEWATCH__REPLAY__WINDOW_UNTIL": "5"}, stack_env_file=None
        )


def _archived(frames):
    lines = []
    for n, f in enumerate(frames):
        data = encode_frame(f)
        record = RawRecord(
            data=data, sequence_number=str(1000 + n), partition_key="k", arrival_ms=round(f.frame_time * 1000) + 500
        )
        lines.append(archive_line(record, parse_frame_record(data), "shardId-000000000001").rstrip(b"\n"))
    return lines


def test_an_archive_line_gives_back_the_record_byte_for_byte_with_its_position():
    frames = frames_of(build_scenario(ScenarioSpec(cameras=1, duration_s=20, seed=2, start=1_767_312_000.0)))
    line = _archived(frames)[5]
    back = parse_line(line)
    assert back is not None
    assert back.data == encode_frame(frames[5]).strip()
    assert (back.shard_id, back.sequence_number) == ("shardId-000000000001", "1005")
    assert back.frame_time_ms == round(frames[5].frame_time * 1000)
    assert parse_line(b"not json") is None and parse_line(b'{"record":{}}') is None


def test_the_archive_plan_dedupes_orders_each_shard_and_starts_each_camera_at_its_quiet_point():
    start = 1_767_312_000.0
    frames = frames_of(build_scenario(ScenarioSpec(cameras=2, duration_s=120, seed=5, start=start)))
    lines = _archived(frames)
    shuffled = list(reversed(lines)) + lines[:50]  # out of order, and delivered twice (Firehose: at least once)
    spec = ReplaySpec("g", round((start + 40) * 1000), round((start + 80) * 1000), tail_s=10)
    plan = plan_archive(iter(shuffled), spec, QUIET, 3_600_000, lambda arn, at: {"unknown_face": 1.0})
    ((shard, records),) = plan.shards
    assert shard == "shardId-000000000001"
    seqs = [int(r.sequence_number) for r in records]
    assert seqs == sorted(set(seqs))  # in the stream's order, once each
    for seed in plan.seeds:
        faces = sorted(r.frame_time_ms for r in records if r.stream_arn == seed.stream_arn and r.has_faces)
        first_in_window = min(t for t in faces if t >= spec.from_ms)
        assert faces[0] == seed.resume_from_ms <= first_in_window  # from its quiet point, nothing before
        assert seed.alert_clocks == {"unknown_face": 1.0}
    assert max(r.frame_time_ms for r in records) < spec.until_ms + 10_000


def test_generation_names_are_checked_and_kept_apart_from_the_live_indices():
    assert check_name("fix_2026_12_01") == "fix_2026_12_01"
    for bad in ("live", "Fix", "a-b", "", "x" * 33):
        with pytest.raises(GenerationError):
            check_name(bad)
    gen = generation_prefix("facewatch", "g1")
    assert not f"{gen}-tracks-2026.01.02".startswith("facewatch-tracks-")  # no live pattern matches it


def test_times_are_iso_8601_with_a_zone():
    assert parse_datetime("2026-01-02T00:00:00Z", "--from") == 1_767_312_000_000
    assert parse_datetime("2026-01-02T01:00:00+01:00", "--from") == 1_767_312_000_000
    assert iso(1_767_312_000_123) == "2026-01-02T00:00:00.123Z"
    with pytest.raises(TimeError, match="give a time zone"):
        parse_datetime("2026-01-02T00:00:00", "--from")
    with pytest.raises(TimeError, match="not an ISO 8601 time"):
        parse_datetime("yesterday", "--to-datetime")


def test_a_checkpoint_file_round_trips_and_a_foreign_one_is_refused(tmp_path):
    shard = checkpoints.SnapshotShard(
        "shardId-000000000000", [], ["0", "1"], True, False, "4968", 0, "w1", "2026-01-02T00:00:00.000Z", None
    )
    snapshot = checkpoints.Snapshot("s", "facewatch-s", "us-east-1", "2026-12-02T00:00:00.000Z", [shard])
    path = tmp_path / "c.json"
    path.write_bytes(snapshot.to_json())
    assert checkpoints.load(path) == snapshot
    assert "shardId-000000000000" in checkpoints.render(snapshot) and "open" in checkpoints.render(snapshot)
    raw = json.loads(path.read_text())
    for broken, message in (
        ({**raw, "version": 2}, "version 2"),
        ({**raw, "format": "other"}, "not a checkpoint export"),
        ({**raw, "shards": [{"shard_id": "x"}]}, "missing or unknown"),
    ):
        path.write_text(json.dumps(broken))
        with pytest.raises(checkpoints.SnapshotError, match=message):
            checkpoints.load(path)


class FakeEcs:
    """ECS's answers for one service whose tasks stop `stops_after` polls after desired count 0."""

    def __init__(self, desired: int, stops_after: int) -> None:
        self.desired, self.running, self.stops_after = desired, desired, stops_after
        self.calls: list[tuple[str, int]] = []

    def describe_services(self, cluster: str, services: list[str]) -> dict:
        if self.desired == 0 and self.running:
            self.stops_after -= 1
            if self.stops_after <= 0:
                self.running = 0
        return {"services": [{"desiredCount": self.desired, "runningCount": self.running}]}

    def update_service(self, cluster: str, service: str, desiredCount: int) -> None:  # noqa: N803 - boto3's name
        self.desired = desiredCount
        self.calls.append(("update", desiredCount))


def test_a_stopped_fleet_is_started_again_with_its_count_even_when_the_rewind_fails():
    from worker.ops.ecs_fleet import FleetNotStopped, with_service_stopped

    ecs = FakeEcs(desired=3, stops_after=2)
    seen: list[int] = []
    assert with_service_stopped(ecs, "c", "s", lambda: seen.append(ecs.running) or "done", poll_s=0) == "done"
    assert seen == [0] and ecs.calls == [("update", 0), ("update", 3)]  # rewound only once no task ran

    ecs = FakeEcs(desired=2, stops_after=1)

    def fails() -> None:
        raise RuntimeError("lease changed")

    with pytest.raises(RuntimeError, match="lease changed"):
        with_service_stopped(ecs, "c", "s", fails, poll_s=0)
    assert ecs.calls[-1] == ("update", 2)
    ecs = FakeEcs(desired=2, stops_after=10**9)
    with pytest.raises(FleetNotStopped, match="still runs 2 tasks"):
        with_service_stopped(ecs, "c", "s", lambda: None, wait_s=0, poll_s=0)
    assert ecs.calls[-1] == ("update", 2)
