"""Delivery through the real processor into the real sinks (OpenSearch node, moto's Firehose and S3):
the archive lands, dead letters land with their bytes, injected 429s and Firehose entry failures are
resent without loss or doubles, the buffer holds the checkpoint until it is flushed, a successor does
not archive again what its predecessor archived, and dead letters can be listed and re-driven."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from collections import Counter

import orjson

from worker import aws
from worker.config import load_config
from worker.localstack.faultproxy import FaultProxy
from worker.ops.streams import create_stream, delete_stream
from worker.sim.encode import encode_frame
from worker.sim.scenario import build_scenario, frames_of, preset

from .helpers import archive_lines, count, dead_letters, initialize, kinesis_record, simulated_records

POISON = [b"not json", b'{"InputInformation": 5}', b"[1, 2"]


def run_batches(c, records: list[dict], size: int) -> None:
    for start in range(0, len(records), size):
        batch = records[start : start + size]
        c.send({"action": "processRecords", "records": batch, "millisBehindLatest": 0})
        request = c.expect(timeout_s=120)
        assert request == {
            "action": "checkpoint",
            "sequenceNumber": batch[-1]["sequenceNumber"],
            "subSequenceNumber": None,
        }
        c.send(
            {
                "action": "checkpoint",
                "sequenceNumber": request["sequenceNumber"],
                "subSequenceNumber": None,
                "error": None,
            }
        )
        assert c.expect() == {"action": "status", "responseFor": "processRecords"}


def cfg_of(env: dict[str, str]):
    return load_config(env=env, stack_env_file=None)


def test_archive_dead_letters_and_closed_tracks_land_in_s3(child, isolated_env, opensearch):
    cfg = cfg_of(isolated_env)
    s3 = aws.s3(cfg)
    records, faces = simulated_records(100, duration_s=30)
    batch = records[:20] + [kinesis_record(p, 90 + i, "poison") for i, p in enumerate(POISON)] + records[20:]
    c = child()
    initialize(c)
    c.send({"action": "processRecords", "records": batch, "millisBehindLatest": 0})
    request = c.expect()
    assert request["sequenceNumber"] == batch[-1]["sequenceNumber"]
    # Acknowledged by every sink before the checkpoint is asked for: the archive and the dead letters.
    raw = archive_lines(s3, cfg.firehose.raw_stream)
    assert sorted(line["sequence_number"] for line in raw) == sorted(r["sequenceNumber"] for r in records)
    by_seq = {line["sequence_number"]: line for line in raw}
    assert orjson.dumps(by_seq[records[0]["sequenceNumber"]]["record"]) == orjson.dumps(
        orjson.loads(base64.b64decode(records[0]["data"]))
    )
    letters = dead_letters(s3, cfg)
    assert sorted(base64.b64decode(d["payload_b64"]) for d in letters) == sorted(POISON)
    assert {d["reason"] for d in letters} == {"not_json", "wrong_type"}
    assert count(opensearch, f"{cfg.opensearch.index_prefix}-quarantine") == len(POISON)
    assert count(opensearch, f"{cfg.opensearch.index_prefix}-detections") == faces
    c.send(
        {"action": "checkpoint", "sequenceNumber": request["sequenceNumber"], "subSequenceNumber": None, "error": None}
    )
    assert c.expect() == {"action": "status", "responseFor": "processRecords"}
    # Time passes on the shard (a later record of each camera): open tracks close and are archived.
    c.send({"action": "processRecords", "records": [], "millisBehindLatest": 0})
    assert c.expect()["action"] in ("status", "checkpoint")
    tracks = archive_lines(s3, cfg.firehose.tracks_stream)
    assert tracks and all(t["state"] == "closed" and "resume" not in t for t in tracks)
    assert len({t["track_id"] for t in tracks}) == len(tracks)


def test_injected_bulk_429s_are_resent_alone_until_every_document_is_in(child, isolated_env, opensearch, local_stack):
    upstream = int(local_stack["OPENSEARCH_URL"].rsplit(":", 1)[1])
    with FaultProxy(upstream) as proxy:
        c = child(
            {
                "OPENSEARCH_URL": proxy.url,
                "FACEWATCH__OPENSEARCH__RETRY_BASE_S": "0.05",
                "FACEWATCH__OPENSEARCH__RETRY_MAX_S": "0.5",
            }
        )
        initialize(c)
        proxy.set(bulk_429_share=0.3)
        records, faces = simulated_records(100, duration_s=40, seed=5)
        run_batches(c, records, 150)
        injected = proxy.snapshot()["bulk_items_429"]
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    assert injected > 20
    assert count(opensearch, f"{prefix}-detections") == faces
    assert count(opensearch, f"{prefix}-quarantine") == 0  # a 429 is retried, never quarantined
    assert any(b"bulk_items_retried" in line for line in c.stderr)


def test_firehose_entry_failures_inside_successful_calls_are_resent_without_doubles(child, isolated_env, local_stack):
    upstream = int(local_stack["AWS_ENDPOINT_URL"].rsplit(":", 1)[1])
    cfg = cfg_of(isolated_env)
    with FaultProxy(upstream) as proxy:
        c = child(
            {
                "FACEWATCH__FIREHOSE__ENDPOINT": proxy.url,
                "FACEWATCH__FIREHOSE__RETRY_BASE_S": "0.05",
                "FACEWATCH__FIREHOSE__RETRY_MAX_S": "0.5",
                "FACEWATCH__FIREHOSE__MAX_BATCH_RECORDS": "100",
            }
        )
        initialize(c)
        proxy.set(firehose_fail_share=0.25)
        records, _ = simulated_records(100, duration_s=40, seed=6)
        run_batches(c, records, 200)
        failed = proxy.snapshot()["firehose_entries_failed"]
    assert failed > 50
    got = Counter(line["sequence_number"] for line in archive_lines(aws.s3(cfg), cfg.firehose.raw_stream))
    assert set(got) == {r["sequenceNumber"] for r in records}
    assert max(got.values()) == 1  # only the refused entries were sent again
    assert any(b"firehose_entries_retried" in line for line in c.stderr)


def test_the_buffer_holds_the_checkpoint_until_a_flush_has_been_acknowledged(child, isolated_env, opensearch):
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    c = child(
        {
            "FACEWATCH__PROCESSOR__FLUSH_INTERVAL_S": "60",
            "FACEWATCH__PROCESSOR__FLUSH_MAX_RECORDS": "50",
            "FACEWATCH__CHECKPOINT__EVERY_S": "0",
        }
    )
    initialize(c)
    records, _ = simulated_records(100, duration_s=40, seed=7)
    c.send({"action": "processRecords", "records": records[:30], "millisBehindLatest": 0})
    assert c.expect() == {"action": "status", "responseFor": "processRecords"}  # buffered: no checkpoint
    assert count(opensearch, f"{prefix}-detections") == 0
    c.send({"action": "processRecords", "records": records[30:60], "millisBehindLatest": 0})
    request = c.expect()  # 60 >= 50 buffered records: flushed, then checkpointed
    assert request["action"] == "checkpoint" and request["sequenceNumber"] == records[59]["sequenceNumber"]
    expected = sum(len(orjson.loads(base64.b64decode(r["data"]))["FaceSearchResponse"]) for r in records[:60])
    assert count(opensearch, f"{prefix}-detections") == expected
    c.send(
        {"action": "checkpoint", "sequenceNumber": request["sequenceNumber"], "subSequenceNumber": None, "error": None}
    )
    assert c.expect() == {"action": "status", "responseFor": "processRecords"}
    c.send({"action": "processRecords", "records": records[60:70], "millisBehindLatest": 0})
    assert c.expect() == {"action": "status", "responseFor": "processRecords"}
    # Shutdown (ECS stopping the task, or a graceful hand-off) flushes the rest, then checkpoints it.
    c.send({"action": "shutdownRequested"})
    request = c.expect()
    assert request["action"] == "checkpoint" and request["sequenceNumber"] == records[69]["sequenceNumber"]
    c.send(
        {"action": "checkpoint", "sequenceNumber": request["sequenceNumber"], "subSequenceNumber": None, "error": None}
    )
    assert c.expect() == {"action": "status", "responseFor": "shutdownRequested"}


def test_a_successor_does_not_archive_again_what_its_predecessor_archived(child, isolated_env, opensearch):
    cfg = cfg_of(isolated_env)
    records, faces = simulated_records(100, duration_s=40, seed=8)
    first = child()
    initialize(first)
    first.send({"action": "processRecords", "records": records[:80], "millisBehindLatest": 0})
    assert first.expect()["action"] == "checkpoint"
    first.close()  # killed before the checkpoint was written: the next owner gets these records again
    second = child()
    initialize(second)
    run_batches(second, records, 50)
    got = Counter(line["sequence_number"] for line in archive_lines(aws.s3(cfg), cfg.firehose.raw_stream))
    assert set(got) == {r["sequenceNumber"] for r in records} and max(got.values()) == 1
    assert count(opensearch, f"{cfg.opensearch.index_prefix}-detections") == faces
    # It learnt from the shard's progress document how far the archive already went.
    assert any(f'"archived_through":"{records[79]["sequenceNumber"]}"'.encode() in line for line in second.stderr)


def test_dead_letters_are_listed_and_redriven_into_the_stream(isolated_env):
    cfg = cfg_of(isolated_env)
    stream = f"it-redrive-{uuid.uuid4().hex[:6]}"
    kinesis = aws.kinesis(cfg)
    create_stream(kinesis, stream, 1)
    s3 = aws.s3(cfg)
    from worker.model import QuarantineEntry
    from worker.sinks.quarantine import QuarantineStore

    store = QuarantineStore(s3, cfg.quarantine.bucket, cfg.quarantine.prefix)
    good = encode_frame(frames_of(build_scenario(preset("quiet_corridor", cameras=1, duration_s=5, seed=1)))[0])
    store.put(
        [
            QuarantineEntry("parse", "too_large", "limit was too low", "shardId-0", "11", "cam-a", 1767225600000, good),
            QuarantineEntry("parse", "not_json", "bad", "shardId-0", "12", "cam-b", 1767225600000, b"junk"),
        ],
        "w",
    )
    env = {**isolated_env, "FACEWATCH_STREAM": stream}
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "worker", "quarantine", "list"], env=env, capture_output=True, text=True, check=True
        )
        rows = listed.stdout.strip().splitlines()[1:]
        assert sorted(r.split("\t")[1] for r in rows) == ["not_json", "too_large"]
        dry = subprocess.run(
            [sys.executable, "-m", "worker", "quarantine", "redrive", "--reason", "too_large", "--dry-run"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "would re-drive" in dry.stderr and len(list(store.keys())) == 2  # nothing moved
        subprocess.run(
            [sys.executable, "-m", "worker", "quarantine", "redrive", "--reason", "too_large"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
        got = kinesis.get_records(ShardIterator=it["ShardIterator"])["Records"]
        assert [(r["PartitionKey"], r["Data"]) for r in got] == [("cam-a", good)]
        assert [k.split("/")[-2] for k in store.keys()] == ["not_json"]  # noqa: SIM118 - a QuarantineStore, not a dict
        assert len(list(store.keys(prefix="redriven/"))) == 1
    finally:
        delete_stream(kinesis, stream)


def test_retention_without_ism_deletes_expired_daily_indices(isolated_env, opensearch):
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    for name in (f"{prefix}-detections-2020.01.01", f"{prefix}-detections-2099.01.01", f"{prefix}-tracks-2020.01.01"):
        opensearch.indices.create(index=name)
    out = subprocess.run(
        [sys.executable, "-m", "worker", "retention"], env=isolated_env, capture_output=True, text=True, check=True
    )
    assert "no ISM plugin" in out.stderr
    left = set(opensearch.indices.get(index=f"{prefix}-*"))
    assert left == {f"{prefix}-detections-2099.01.01"}


def test_basic_auth_is_sent_to_opensearch(child, isolated_env, local_stack):
    upstream = int(local_stack["OPENSEARCH_URL"].rsplit(":", 1)[1])
    with FaultProxy(upstream) as proxy:
        c = child(
            {
                "OPENSEARCH_URL": proxy.url,
                "FACEWATCH__OPENSEARCH__AUTH": "basic",
                "OPENSEARCH_USERNAME": "facewatch",
                "OPENSEARCH_PASSWORD": "s3cret",
            }
        )
        initialize(c)
        records, _ = simulated_records(100, duration_s=3)
        run_batches(c, records, 100)
        seen = proxy.snapshot()["last_authorization"]
    assert seen == "Basic " + base64.b64encode(b"facewatch:s3cret").decode()
    assert not any(b"s3cret" in line for line in c.stderr)  # the password is never logged
