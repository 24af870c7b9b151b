"""The real thing: KCL MultiLangDaemons (Java) with our processors, kinesalite, DynamoDB Local leases,
and OpenSearch. Exact counts: nothing lost, nothing doubled, also across a worker stopping; and a lease
handed over in the middle of visits still gives one track per visit."""

from __future__ import annotations

import base64
import uuid
from collections import Counter

import pytest

from worker import aws
from worker.config import load_config
from worker.core.cameras import CameraRegistry
from worker.ops.fleet import start_worker, stop_worker
from worker.ops.leases import read_leases
from worker.ops.streams import create_stream, delete_stream, split_shard_in_half
from worker.sim.encode import encode_frame
from worker.sim.producer import KinesisProducer
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of

from .helpers import archive_lines, count, dead_letters, expected_tracks, stored_tracks, wait_for

POISON = [
    b"garbage",
    b'{"InputInformation": {"KinesisVideo": {"StreamArn": "arn:x", "FragmentNumber": 12}}}',
    b'{"FaceSearchResponse": []}',
    b"\x00" * 1_000_000,
    (
        b'{"InputInformation": {"KinesisVideo": {"StreamArn": "arn:x", "FragmentNumber": "1",'
        b' "ProducerTimestamp": "1.6E9", "FrameOffsetInSeconds": 0}}}'
    ),
]


def halves(seed: int, start: float, cameras: int = 6, duration_s: float = 80):
    """One scenario cut in two at its middle: visits in progress at the cut span the hand-off."""
    frames = frames_of(build_scenario(ScenarioSpec(cameras=cameras, duration_s=duration_s, seed=seed, start=start)))
    middle = start + duration_s / 2
    return [f for f in frames if f.frame_time < middle], [f for f in frames if f.frame_time >= middle], middle


def track_summary(docs: dict[str, dict]) -> dict[str, tuple]:
    # The state (open/closed) is left out: a heartbeat may close a track in one run and not the other.
    return {k: (d["first_seen"], d["last_seen"], d["frames"], d["identity"]) for k, d in docs.items() if d["confirmed"]}


@pytest.mark.timeout(600)
def test_two_workers_split_the_shards_and_one_finishes_alone(isolated_env, opensearch, tmp_path):
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    stream = f"it-{uuid.uuid4().hex[:8]}"
    env = {**isolated_env, "FACEWATCH_STREAM": stream}
    for key in ("FACEWATCH__PROCESSOR__FLUSH_INTERVAL_S", "FACEWATCH__CHECKPOINT__EVERY_S"):
        env.pop(key)  # the real daemons run with the shipped buffering and checkpoint cadence
    cfg = load_config(env=env, stack_env_file=None)
    kinesis = aws.kinesis(cfg)
    create_stream(kinesis, stream, 2)
    producer = KinesisProducer(kinesis, stream)
    first, second, middle = halves(seed=21, start=1_767_225_600.0)
    faces_first = sum(len(f.faces) for f in first)
    records = [(f.camera.stream_arn, encode_frame(f)) for f in first]
    producer.put(records)
    producer.put(records)  # delivered twice: at-least-once upstream must not double documents
    producer.put((f"poison-{i}", p) for i, p in enumerate(POISON))
    assert len(producer.result.per_shard) == 2

    workers = {w: start_worker(stream, w, env, tmp_path) for w in ("it-worker-1", "it-worker-2")}
    detections, quarantine = f"{prefix}-detections", f"{prefix}-quarantine"
    try:
        wait_for(
            lambda: count(opensearch, detections) >= faces_first and count(opensearch, quarantine) >= len(POISON),
            timeout_s=240,
            interval_s=2,
            what="first batch indexed",
        )
        assert count(opensearch, detections) == faces_first
        assert count(opensearch, quarantine) == len(POISON)

        dynamodb = aws.dynamodb(cfg)
        owners = wait_for(
            lambda: {lease.owner for lease in read_leases(dynamodb, cfg.application_name)} == set(workers),
            timeout_s=90,
            interval_s=1,
            what="one lease per worker",
        )
        assert owners

        assert stop_worker(workers["it-worker-2"], timeout_s=60) is not None
        faces_second = sum(len(f.faces) for f in second)
        producer.put((f.camera.stream_arn, encode_frame(f)) for f in second)

        wait_for(
            lambda: {lease.owner for lease in read_leases(dynamodb, cfg.application_name)} == {"it-worker-1"},
            timeout_s=150,
            interval_s=1,
            what="it-worker-1 takes over every shard",
        )
        wait_for(
            lambda: count(opensearch, detections) >= faces_first + faces_second,
            timeout_s=120,
            interval_s=2,
            what="second batch indexed",
        )
        assert count(opensearch, detections) == faces_first + faces_second
        assert count(opensearch, quarantine) == len(POISON)
        assert workers["it-worker-1"].poll() is None, (tmp_path / "it-worker-1.log").read_text()[-3000:]

        # The tracks are those of one tracker that saw every record: no visit split by the hand-off.
        got = track_summary(stored_tracks(opensearch, prefix))
        want = track_summary(expected_tracks(first + first + second, CameraRegistry()))
        spanning = [v for v in want.values() if v[0] < middle * 1000 < v[1]]
        assert len(spanning) >= 3
        assert got == want

        # The archive holds every record once (the upstream duplicates are records of their own, with
        # the same frame_id); the dead letters hold every poison record with its bytes.
        s3 = aws.s3(cfg)
        archived = Counter(line["sequence_number"] for line in archive_lines(s3, cfg.firehose.raw_stream))
        assert sum(archived.values()) == 2 * len(first) + len(second) and max(archived.values()) == 1
        assert sorted(base64.b64decode(d["payload_b64"]) for d in dead_letters(s3, cfg)) == sorted(POISON)
    finally:
        for proc in workers.values():
            stop_worker(proc, timeout_s=30)
        delete_stream(kinesis, stream)


@pytest.mark.timeout(400)
def test_a_split_shard_is_finished_before_its_children(isolated_env, opensearch, tmp_path):
    """Records before the split sit in the parent, records after it in the children; a daemon started
    only then must read the parent to its end (checkpoint SHARD_END) before either child, or the tracks
    of visits spanning the split would come out split or reordered."""
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    stream = f"it-{uuid.uuid4().hex[:8]}"
    env = {**isolated_env, "FACEWATCH_STREAM": stream}
    cfg = load_config(env=env, stack_env_file=None)
    kinesis = aws.kinesis(cfg)
    create_stream(kinesis, stream, 1)
    producer = KinesisProducer(kinesis, stream)
    before, after, middle = halves(seed=33, start=1_767_312_000.0, cameras=8, duration_s=60)
    producer.put((f.camera.stream_arn, encode_frame(f)) for f in before)
    parent = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    children = split_shard_in_half(kinesis, stream, parent)
    producer.put((f.camera.stream_arn, encode_frame(f)) for f in after)
    assert set(producer.result.per_shard) == {parent, *children}  # both halves of the key space got records

    worker = start_worker(stream, "it-split", env, tmp_path)
    detections = f"{prefix}-detections"
    faces = sum(len(f.faces) for f in before + after)
    try:
        dynamodb = aws.dynamodb(cfg)
        wait_for(lambda: count(opensearch, detections) >= faces, timeout_s=240, interval_s=2, what="every face indexed")
        assert count(opensearch, detections) == faces
        leases = wait_for(
            lambda: (
                (ls := {lease.shard_id: lease for lease in read_leases(dynamodb, cfg.application_name)})
                and all(ls.get(c) and ls[c].checkpoint not in (None, "TRIM_HORIZON") for c in children)
                and ls
            ),
            timeout_s=120,
            interval_s=1,
            what="both children checkpointed",
        )
        assert leases[parent].checkpoint == "SHARD_END"

        got = track_summary(stored_tracks(opensearch, prefix))
        want = track_summary(expected_tracks(before + after, CameraRegistry()))
        assert len([v for v in want.values() if v[0] < middle * 1000 < v[1]]) >= 2  # visits span the split
        assert got == want

        archived = Counter(line["sequence_number"] for line in archive_lines(aws.s3(cfg), cfg.firehose.raw_stream))
        assert sum(archived.values()) == len(before) + len(after) and max(archived.values()) == 1
        assert worker.poll() is None, (tmp_path / "it-split.log").read_text()[-3000:]
    finally:
        stop_worker(worker, timeout_s=30)
        delete_stream(kinesis, stream)
