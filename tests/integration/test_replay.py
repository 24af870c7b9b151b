"""Replays, on the real thing: a KCL daemon with our processors, kinesalite, DynamoDB Local leases,
OpenSearch, SNS (moto, read through an SQS subscription) and the Firehose archive in S3 (moto).

Rewind in place: a live run over simulated cameras, a checkpoint export in the middle of it, then, with
the fleet stopped, `facewatch replay --to-checkpoints`: the track indices deleted beforehand come back
equal, no alert is sent again, the archive gets nothing twice. The dry run changes nothing; a live
worker refuses it.

Side by side: while the live worker goes on, `replay run` of a window into a generation, from the stream
and from the archive: every document of the window equal to the live one, nothing sent, nothing
archived; `promote` moves the read aliases, `drop` deletes the generation."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from worker import aws
from worker.config import load_config
from worker.localstack.webhook import WebhookReceiver
from worker.ops.compare import alert_core, differences, window_docs
from worker.ops.fleet import start_worker, stop_worker
from worker.ops.leases import read_leases
from worker.ops.positions import checkpoint_before, stream_shards
from worker.ops.resources import delete_alert_topic, drain_queue, ensure_alert_topic
from worker.ops.streams import create_stream, delete_stream, split_shard_in_half
from worker.ops.times import iso
from worker.sim.encode import encode_frame
from worker.sim.producer import KinesisProducer
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of
from worker.sinks.templates import camera_state_index
from worker.webhooks import new_secret

from .helpers import archive_lines, count, stored_alerts, stored_tracks, wait_for

START = 1_767_312_000.0  # 2026-01-02T00:00:00Z
SECRET = new_secret()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def caught_up(dynamodb, application: str, last: dict[str, str]) -> bool:
    try:
        leases = {lease.shard_id: lease.checkpoint for lease in read_leases(dynamodb, application)}
    except dynamodb.exceptions.ResourceNotFoundException:
        return False  # the worker has not made its lease table yet
    return all(leases.get(shard) == seq for shard, seq in last.items())


def lease_table(dynamodb, application: str) -> list[dict]:
    return sorted(dynamodb.scan(TableName=application, ConsistentRead=True)["Items"], key=lambda i: i["leaseKey"]["S"])


def everything(client, prefix: str) -> dict[str, int]:
    client.indices.refresh(index=f"{prefix}-*")
    return {
        name: int(info["docs.count"])
        for name, info in ((i["index"], i) for i in client.cat.indices(index=f"{prefix}-*", format="json"))
    }


@dataclass
class Live:
    """A stream with a live fleet on it (one worker at a time), SNS read through SQS, the archive in S3."""

    env: dict[str, str]
    cfg: Any
    prefix: str
    stream: str
    queue: str
    tmp_path: Any
    producer: Any = None
    worker: Any = None

    def __post_init__(self) -> None:
        cfg = self.cfg
        self.kinesis, self.dynamodb, self.s3, self.sqs = aws.kinesis(cfg), aws.dynamodb(cfg), aws.s3(cfg), aws.sqs(cfg)
        self.producer = KinesisProducer(self.kinesis, self.stream)

    def put(self, frames) -> None:
        self.producer.put((f.camera.stream_arn, encode_frame(f)) for f in frames)

    def start(self, worker_id: str, **env: str) -> None:
        self.worker = start_worker(self.stream, worker_id, {**self.env, **env}, self.tmp_path)

    def stop(self) -> None:
        if self.worker is not None:
            assert stop_worker(self.worker, timeout_s=90) is not None
            self.worker = None

    def wait_caught_up(self, what: str) -> None:
        last = self.producer.result.last_sequence
        wait_for(lambda: caught_up(self.dynamodb, self.cfg.application_name, last), 240, 1, what)

    def sent(self) -> list[dict]:
        return drain_queue(self.sqs, self.queue)

    def archived(self) -> Counter[str]:
        return Counter(line["sequence_number"] for line in archive_lines(self.s3, self.cfg.firehose.raw_stream))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return cli(self.env, *args)


@pytest.fixture
def live(isolated_env, tmp_path):
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    stream = f"it-{uuid.uuid4().hex[:8]}"
    cfg0 = load_config(env=isolated_env, stack_env_file=None)
    topic, queue = ensure_alert_topic(cfg0, f"it-replay-{uuid.uuid4().hex[:8]}")
    env = {**isolated_env, "FACEWATCH_STREAM": stream, "FACEWATCH__ALERTS__SNS_TOPIC_ARN": topic}
    cfg = load_config(env=env, stack_env_file=None)
    create_stream(aws.kinesis(cfg), stream, 2)
    run = Live(env, cfg, prefix, stream, queue, tmp_path)
    try:
        yield run
    finally:
        if run.worker is not None:
            stop_worker(run.worker, timeout_s=60)
        delete_stream(run.kinesis, stream)
        delete_alert_topic(cfg0, topic, queue)


@pytest.mark.timeout(900)
def test_rewind_to_an_export_rebuilds_the_deleted_tracks_equal_and_sends_nothing_again(
    isolated_env, opensearch, tmp_path
):
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    stream = f"it-{uuid.uuid4().hex[:8]}"
    cfg0 = load_config(env=isolated_env, stack_env_file=None)
    topic, queue = ensure_alert_topic(cfg0, f"it-replay-{uuid.uuid4().hex[:8]}")
    env = {**isolated_env, "FACEWATCH_STREAM": stream, "FACEWATCH__ALERTS__SNS_TOPIC_ARN": topic}
    cfg = load_config(env=env, stack_env_file=None)
    kinesis, dynamodb, s3, sqs = aws.kinesis(cfg), aws.dynamodb(cfg), aws.s3(cfg), aws.sqs(cfg)
    create_stream(kinesis, stream, 2)
    frames = frames_of(build_scenario(ScenarioSpec(cameras=6, duration_s=160, seed=31, start=START)))
    middle = START + 80
    first = [f for f in frames if f.frame_time < middle]
    second = [f for f in frames if f.frame_time >= middle]
    producer = KinesisProducer(kinesis, stream)
    worker = None
    try:
        producer.put((f.camera.stream_arn, encode_frame(f)) for f in first)
        worker = start_worker(stream, "it-replay-1", env, tmp_path)
        wait_for(
            lambda: caught_up(dynamodb, cfg.application_name, producer.result.last_sequence),
            240,
            1,
            "checkpoints at the first half's last records",
        )
        export = tmp_path / "middle.json"
        done = cli(env, "checkpoints", "export", "--out", str(export))
        assert done.returncode == 0, done.stderr
        shown = cli(env, "checkpoints", "show", str(export))
        assert shown.returncode == 0 and all(s in shown.stdout for s in producer.result.last_sequence), shown
        saved = json.loads(export.read_text())
        assert saved["format"] == "facewatch-checkpoints" and saved["version"] == 1
        assert {s["shard_id"]: s["checkpoint"] for s in saved["shards"]} == producer.result.last_sequence
        assert all(s["checkpoint_frame_time"] for s in saved["shards"])

        producer.put((f.camera.stream_arn, encode_frame(f)) for f in second)
        wait_for(
            lambda: caught_up(dynamodb, cfg.application_name, producer.result.last_sequence),
            240,
            1,
            "checkpoints at the second half's last records",
        )
        wait_for(lambda: count(opensearch, f"{prefix}-alerts") > 0, 30, 1, "alerts indexed")
        live_tracks = stored_tracks(opensearch, prefix)
        live_alerts = stored_alerts(opensearch, prefix)
        sent_live = Counter(json.loads(m["Message"])["alert_id"] for m in drain_queue(sqs, queue))
        assert sent_live and set(sent_live) <= set(live_alerts)

        # A live worker holds the leases: execute is refused, and says who and how to stop them.
        refused = cli(env, "replay", "--to-checkpoints", str(export), "--execute")
        assert refused.returncode == 1, refused
        assert "it-replay-1" in refused.stderr and "desired_count" in refused.stderr

        assert stop_worker(worker, timeout_s=90) is not None
        worker = None
        archived_before = Counter(line["sequence_number"] for line in archive_lines(s3, cfg.firehose.raw_stream))
        leases_before, indices_before = lease_table(dynamodb, cfg.application_name), everything(opensearch, prefix)
        states_before = opensearch.search(index=camera_state_index(prefix), body={"size": 1000})["hits"]["hits"]

        # The dry run prints the plan and changes nothing.
        dry = cli(env, "replay", "--to-checkpoints", str(export), "--dry-run")
        assert dry.returncode == 0, dry
        assert "dry run: nothing changed" in dry.stdout and "rebuilt from" in dry.stdout, dry.stdout
        assert lease_table(dynamodb, cfg.application_name) == leases_before
        assert everything(opensearch, prefix) == indices_before
        states_after = opensearch.search(index=camera_state_index(prefix), body={"size": 1000})["hits"]["hits"]
        assert sorted(map(json.dumps, states_after)) == sorted(map(json.dumps, states_before))

        # The camera states as an older worker left them: an index whose strict mapping lacks fields the
        # rewind writes (`paths`, `previous_t`), and no template to add them. The rewind adds them first.
        state_index = camera_state_index(prefix)
        mapping = opensearch.indices.get_mapping(index=state_index)[state_index]["mappings"]
        assert {"paths", "previous_t"} <= set(mapping["properties"])
        older = {k: v for k, v in mapping["properties"].items() if k not in ("paths", "previous_t")}
        opensearch.indices.delete_index_template(name=f"{prefix}-cameras")
        opensearch.indices.delete(index=state_index)
        opensearch.indices.create(index=state_index, body={"mappings": {**mapping, "properties": older}})
        for hit in states_before:
            source = {k: v for k, v in hit["_source"].items() if k not in ("paths", "previous_t")}
            opensearch.index(index=state_index, id=hit["_id"], body=source, refresh=True)

        # Lose the track indices, rewind to the export, start the fleet again.
        opensearch.indices.delete(index=f"{prefix}-tracks-*")
        done = cli(env, "replay", "--to-checkpoints", str(export), "--execute")
        assert done.returncode == 0, done.stdout + done.stderr
        moved = {lease.shard_id: lease.checkpoint for lease in read_leases(dynamodb, cfg.application_name)}
        for shard in saved["shards"]:  # at the export, or earlier to reach the cameras' quiet points
            new = moved[shard["shard_id"]]
            assert new == "TRIM_HORIZON" or int(new) <= int(shard["checkpoint"]), (new, shard)
        worker = start_worker(stream, "it-replay-2", env, tmp_path)
        wait_for(
            lambda: caught_up(dynamodb, cfg.application_name, producer.result.last_sequence),
            240,
            1,
            "the replay back at the last records",
        )
        rebuilt = stored_tracks(opensearch, prefix)
        window = [t for t in live_tracks.values() if t["last_seen"] >= middle * 1000]
        spanning = [t for t in window if t["first_seen"] < middle * 1000]
        assert len(window) >= 10 and spanning, (len(window), len(spanning))
        for track in window:  # every track of the window is back, and byte for byte the live one
            assert rebuilt.get(track["track_id"]) == track
        assert set(rebuilt) <= set(live_tracks)  # and nothing new besides

        assert alert_core(stored_alerts(opensearch, prefix)) == alert_core(live_alerts)
        assert drain_queue(sqs, queue) == []  # nothing sent during the replay
        archived_after = Counter(line["sequence_number"] for line in archive_lines(s3, cfg.firehose.raw_stream))
        assert archived_after == archived_before and max(archived_after.values()) == 1
    finally:
        if worker is not None:
            stop_worker(worker, timeout_s=60)
        delete_stream(kinesis, stream)
        delete_alert_topic(cfg0, topic, queue)


@pytest.mark.timeout(900)
def test_a_side_by_side_replay_and_an_archive_replay_rebuild_the_window_equal_then_promote_and_drop(live, opensearch):
    receiver = WebhookReceiver(SECRET)  # the live fleet alerts SNS and a webhook
    live.env.update(FACEWATCH__ALERTS__WEBHOOK_URL=receiver.url, FACEWATCH__ALERTS__WEBHOOK_SECRET=SECRET)
    try:
        live.put(frames_of(build_scenario(ScenarioSpec(cameras=6, duration_s=200, seed=37, start=START))))
        live.start("it-live-1")
        live.wait_caught_up("the live run at the last records")
        from_ms, until_ms = int((START + 60) * 1000), int((START + 140) * 1000)
        window = ("--from", iso(from_ms), "--until", iso(until_ms))
        want = window_docs(opensearch, live.prefix, from_ms, until_ms)
        spanning = [t for t in want["tracks"].values() if t["first_seen"] < from_ms]
        assert len(want["detections"]) > 100 and len(want["tracks"]) > 10 and want["alerts"] and spanning
        # Caught up means delivered: an undelivered alert holds the checkpoint.
        assert live.sent() and sum(receiver.received.values()) > 0
        hooked = sum(receiver.received.values())
        archived = live.archived()

        # From the stream, beside the live worker (which goes on running).
        done = live.cli("replay", "run", *window, "--generation", "g1", "--tail-s", "60", "--report-every-s", "2")
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert "records/s" in done.stderr and "lease tables deleted" in done.stderr
        gen = f"{live.prefix}-gen-g1"
        assert differences(want, window_docs(opensearch, gen, from_ms, until_ms)) == []
        assert all(t["first_seen"] < until_ms for t in stored_tracks(opensearch, gen).values())
        tables = live.dynamodb.list_tables()["TableNames"]
        assert not any(t.startswith(f"{live.cfg.application_name}-replay-g1") for t in tables)

        # From the archive, no stream involved.
        done = live.cli("replay", "run", *window, "--generation", "g2", "--from-archive", "--tail-s", "60")
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert differences(want, window_docs(opensearch, f"{live.prefix}-gen-g2", from_ms, until_ms)) == []
        # Neither replay alerted anybody nor archived anything.
        assert live.sent() == [] and sum(receiver.received.values()) == hooked
        assert live.archived() == archived

        # Promote: the read aliases answer from g1; drop is refused while it is promoted; back to live; drop.
        done = live.cli("replay", "promote", "--generation", "g1")
        assert done.returncode == 0, done.stderr
        members = set(opensearch.indices.get_alias(name=f"{live.prefix}-tracks"))
        assert members and all(m.startswith(gen) for m in members), members
        hits = opensearch.search(index=f"{live.prefix}-tracks", body={"size": 10000})["hits"]["hits"]
        assert {h["_index"] for h in hits} <= members
        assert {h["_id"] for h in hits} == set(stored_tracks(opensearch, gen))
        refused = live.cli("replay", "drop", "--generation", "g1")
        assert refused.returncode == 1 and "promoted" in refused.stderr
        assert live.cli("replay", "promote", "--generation", "live").returncode == 0
        assert not any(m.startswith(gen) for m in opensearch.indices.get_alias(name=f"{live.prefix}-tracks"))
        for name in ("g1", "g2"):
            done = live.cli("replay", "drop", "--generation", name)
            assert done.returncode == 0, done.stderr
        assert not opensearch.indices.get(index=f"{live.prefix}-gen-*", params={"allow_no_indices": "true"})
        assert window_docs(opensearch, live.prefix, from_ms, until_ms) == want  # the live indices untouched
    finally:
        live.stop()
        receiver.close()


@pytest.mark.timeout(900)
def test_a_replay_whose_worker_is_killed_mid_way_finishes_with_the_same_documents(live, opensearch):
    frames = frames_of(build_scenario(ScenarioSpec(cameras=6, duration_s=300, seed=41, start=START)))
    live.put(frames)
    live.start("it-live-1")
    live.wait_caught_up("the live run at the last records")
    from_ms, until_ms = int((START + 50) * 1000), int((START + 220) * 1000)
    want = window_docs(opensearch, live.prefix, from_ms, until_ms)
    gen = f"{live.prefix}-gen-k1"
    args = ["replay", "run", "--from", iso(from_ms), "--until", iso(until_ms), "--generation", "k1"]
    env = {**live.env, "FACEWATCH__KINESIS__MAX_RECORDS": "20"}  # many small batches: a kill lands mid-way
    replay = subprocess.Popen(
        [sys.executable, "-m", "worker", *args, "--tail-s", "60", "--report-every-s", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: count(opensearch, f"{gen}-detections") > 0, 120, 0.2, "the replay's first documents")
        victim = subprocess.run(
            ["pgrep", "-f", "replay-k1-1.properties"], capture_output=True, text=True, check=False
        ).stdout.split()
        assert victim, "no replay worker to kill"  # the daemon (`run` execs the JVM, named by its properties)
        os.killpg(int(victim[0]), signal.SIGKILL)  # the daemon and its processors at once, as a task dies
        killed_at = count(opensearch, f"{gen}-detections")
        _, err = replay.communicate(timeout=400)
    finally:
        if replay.poll() is None:
            replay.kill()
    assert replay.returncode == 0, err[-3000:]
    assert killed_at < len(want["detections"]), "the kill came after the replay had finished"
    assert "exited with" in err and "1 worker restarts" in err
    assert differences(want, window_docs(opensearch, gen, from_ms, until_ms)) == []


@pytest.mark.timeout(900)
def test_a_rewind_across_a_shard_split_loses_nothing_and_doubles_nothing(live, opensearch):
    frames = frames_of(build_scenario(ScenarioSpec(cameras=6, duration_s=160, seed=43, start=START)))
    middle = START + 80
    live.put(f for f in frames if f.frame_time < middle)
    live.start("it-live-1")
    live.wait_caught_up("checkpoints at the first half")
    export = live.tmp_path / "before-split.json"
    assert live.cli("checkpoints", "export", "--out", str(export)).returncode == 0
    parent = sorted(live.producer.result.last_sequence)[0]
    children = split_shard_in_half(live.kinesis, live.stream, parent)
    live.put(f for f in frames if f.frame_time >= middle)

    def settled() -> bool:  # the parent ended, the children read to their last records
        leases = {lease.shard_id: lease.checkpoint for lease in read_leases(live.dynamodb, live.cfg.application_name)}
        last = live.producer.result.last_sequence
        return all(c in last for c in children) and all(
            leases.get(shard) == ("SHARD_END" if shard == parent else seq) for shard, seq in last.items()
        )

    wait_for(settled, 300, 1, "the children read to their last records")
    live.stop()
    want = window_docs(opensearch, live.prefix, 0, 2**62)
    archived = live.archived()
    assert live.sent()  # the live run's alerts; from here on, nothing more may be sent

    dry = live.cli("replay", "--to-checkpoints", str(export), "--dry-run")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    for child in children:  # created after the export: replayed from their start, after the parent
        assert child in dry.stdout
    assert "created after the export" in dry.stdout
    opensearch.indices.delete(index=f"{live.prefix}-tracks-*")
    done = live.cli("replay", "--to-checkpoints", str(export), "--execute")
    assert done.returncode == 0, done.stdout + done.stderr
    leases = {lease.shard_id: lease.checkpoint for lease in read_leases(live.dynamodb, live.cfg.application_name)}
    assert all(leases[c] == "TRIM_HORIZON" for c in children) and leases[parent] != "SHARD_END", leases
    live.start("it-live-2")
    wait_for(settled, 300, 1, "the replay across the split at the last records")
    got = window_docs(opensearch, live.prefix, 0, 2**62)
    # Nothing lost: every detection and alert is there; the tracks the replay rebuilt are the live ones.
    assert set(got["detections"]) == set(want["detections"]) and got["alerts"] == want["alerts"]
    assert got["tracks"] and all(want["tracks"].get(k) == v for k, v in got["tracks"].items())
    spanning_split = [t for t in want["tracks"].values() if t["first_seen"] < middle * 1000 < t["last_seen"]]
    assert spanning_split and all(got["tracks"].get(t["track_id"]) == t for t in spanning_split)
    # Nothing doubled: the archive holds every record once, as before the replay.
    assert live.archived() == archived and max(archived.values()) == 1
    assert live.sent() == []


def test_a_quiet_shard_gives_an_at_timestamp_iterator_at_its_tip(live):
    """AT_TIMESTAMP later than a shard's last record (a replay starting on a quiet shard) is answered, as
    real Kinesis does, with an iterator at the tip that yields what comes next (stack/kinesalite/gaps.js),
    and the checkpoint before such a time is the shard's last record."""
    live.producer.put([("cam-a", b'{"n": 1}'), ("cam-a", b'{"n": 2}')])
    (shard,) = [s for s, seq in live.producer.result.last_sequence.items() if seq]
    second = live.producer.result.last_sequence[shard]
    time.sleep(1.5)
    after = time.time() - 0.5
    started = time.monotonic()
    iterator = live.kinesis.get_shard_iterator(
        StreamName=live.stream, ShardId=shard, ShardIteratorType="AT_TIMESTAMP", Timestamp=after
    )["ShardIterator"]
    assert time.monotonic() - started < 5
    assert live.kinesis.get_records(ShardIterator=iterator)["Records"] == []
    live.producer.put([("cam-a", b'{"n": 3}')])
    records = live.kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [r["Data"] for r in records] == [b'{"n": 3}']
    shards = stream_shards(live.kinesis, live.stream)
    last_before = checkpoint_before(live.kinesis, live.stream, shards[shard], round(after * 1000))
    assert last_before == second  # KCL resumes after it: the third record is the first replayed
