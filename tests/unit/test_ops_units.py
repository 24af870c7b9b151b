"""Operator-side pure pieces: the health heartbeat, the retry wait hook, stream-processor transitions,
and the enrolment plan (what would be sent to IndexFaces, and what is refused with its fix)."""

from __future__ import annotations

import os
import time

from worker import retry
from worker.ops.health import Heartbeat, check
from worker.ops.rekognition import MAX_IMAGE_BYTES, plan_from_csv, plan_from_folder, transitions


def test_a_fresh_heartbeat_is_healthy_and_a_stale_one_names_the_shard(tmp_path):
    beat = Heartbeat(str(tmp_path), "shardId-000000000001")
    beat.beat()
    assert check(str(tmp_path), 60).ok
    assert check(str(tmp_path), 60).message == "ok: 1 shard(s) beating"
    old = time.time() - 120
    os.utime(beat.path, (old, old))
    health = check(str(tmp_path), 60)
    assert not health.ok and "shardId-000000000001" in health.message


def test_a_shard_given_up_stops_counting_and_no_lease_is_healthy(tmp_path):
    beat = Heartbeat(str(tmp_path), "shardId-000000000002")
    beat.beat()
    old = time.time() - 999
    os.utime(beat.path, (old, old))
    assert not check(str(tmp_path), 60).ok
    beat.clear()
    assert check(str(tmp_path), 60).ok  # idle worker, no lease: not stuck
    assert check(str(tmp_path / "missing"), 60).ok
    assert not check("", 60).ok  # nothing configured: say so rather than pretend


def test_heartbeats_are_throttled_to_keep_the_hot_path_cheap(tmp_path):
    beat = Heartbeat(str(tmp_path), "s", every_s=1.0)
    beat.beat(now=100.0)
    old = time.time() - 500
    os.utime(beat.path, (old, old))
    beat.beat(now=100.5)  # within the second: no write
    assert beat.path.stat().st_mtime == old
    beat.beat(now=101.5)
    assert beat.path.stat().st_mtime > old


def test_a_retry_wait_counts_as_a_heartbeat():
    beats, slept = [], []
    policy = retry.RetryPolicy(0.001, 0.001, on_wait=lambda: beats.append(1), sleep=slept.append)
    backoff = policy()
    backoff.wait()
    backoff.wait()
    assert beats == [1, 1] and len(slept) == 2


def test_full_jitter_delays_stay_under_the_capped_exponential():
    import random

    backoff = retry.Backoff(0.5, 4.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(200)]
    ceilings = [min(4.0, 0.5 * 2**n) for n in range(200)]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert min(delays[10:]) < 1.0  # full jitter: short waits happen even at the cap, not only [cap/2, cap]


def test_a_policy_call_retries_what_is_retryable_and_gives_up_at_its_limit():
    class Busy(Exception):
        pass

    attempts = []
    log = type("Log", (), {"warning": lambda self, *a, **k: None})()
    policy = retry.RetryPolicy(0.001, 0.001, max_attempts=3, sleep=lambda s: None)

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise Busy()
        return "ok"

    assert policy.call(flaky, lambda e: ("busy", "x") if isinstance(e, Busy) else None, log) == "ok"
    attempts.clear()
    import pytest

    with pytest.raises(retry.RetriesExhausted):
        policy.call(lambda: (_ for _ in ()).throw(Busy()), lambda e: ("busy", "x"), log)
    with pytest.raises(KeyError):  # not retryable: raised at once
        policy.call(lambda: {}["x"], lambda e: None, log)


def test_only_stopped_processors_are_started_and_only_running_ones_stopped():
    statuses = {"a": "STOPPED", "b": "RUNNING", "c": "FAILED", "d": "UPDATING", "e": "STARTING"}
    act, skip = transitions(statuses, "start")
    assert act == ["a", "c"] and set(skip) == {"b", "d", "e"}
    act, skip = transitions(statuses, "stop")
    assert act == ["b", "e"] and set(skip) == {"a", "c", "d"}


def test_a_folder_enrols_each_image_under_its_file_name(tmp_path):
    (tmp_path / "emp-0001.jpg").write_bytes(b"\xff\xd8jpeg")
    (tmp_path / "emp-0002.PNG").write_bytes(b"\x89PNG")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "bad name.jpg").write_bytes(b"\xff\xd8")
    (tmp_path / "huge.jpg").write_bytes(b"\0" * (MAX_IMAGE_BYTES + 1))
    plan = plan_from_folder(tmp_path, "wl_")
    assert sorted(i.external_image_id for i in plan.items) == ["wl_emp-0001", "wl_emp-0002"]
    problems = "\n".join(plan.problems)
    assert "notes.txt: not a JPEG or PNG" in problems
    assert "bad name.jpg: external id" in problems
    assert "huge.jpg" in problems and "at most 5 MB" in problems
    assert len(plan.problems) == 3


def test_a_csv_names_paths_relative_to_itself_and_a_bad_header_says_which_columns(tmp_path):
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "a.jpg").write_bytes(b"\xff\xd8")
    good = tmp_path / "people.csv"
    good.write_text("path,external_image_id\nfaces/a.jpg,emp-0101\nfaces/missing.jpg,emp-0102\n,emp-0103\n")
    plan = plan_from_csv(good)
    assert [i.external_image_id for i in plan.items] == ["emp-0101"]
    assert any("missing.jpg: no such file" in p for p in plan.problems)
    assert any(":4: empty path" in p for p in plan.problems)
    bad = tmp_path / "bad.csv"
    bad.write_text("file,id\nfaces/a.jpg,emp-0101\n")
    assert plan_from_csv(bad).problems == [
        f"{bad}: missing column(s) external_image_id, path; the header must name path and external_image_id"
    ]
