"""The pure parts of delivery: batch limits, the write buffer, the checkpoint cadence, archive lines,
dead-letter keys, retention, and the configuration that drives them."""

from __future__ import annotations

import threading
import time
from datetime import date
from pathlib import Path

import orjson
import pytest

from worker.buffer.pending import WriteBuffer
from worker.config import ConfigError, load_config
from worker.core.record import parse_frame_record
from worker.model import IndexOp, QuarantineEntry, RawRecord
from worker.ops.retention import expired
from worker.sinks.firehose import MAX_RECORD_BYTES, batches
from worker.sinks.quarantine import s3_body, s3_key
from worker.sinks.templates import retention_policy
from worker.sinks.writer import SinkWriter
from worker.source.batch import archive_line
from worker.source.checkpointing import CheckpointTracker

FIXTURE = (Path(__file__).parent.parent / "fixtures" / "aws_doc_record.json").read_bytes()


def test_firehose_batches_respect_count_and_bytes_and_keep_order():
    lines = [f"{i:06d}".encode() * 100 + b"\n" for i in range(1234)]  # 601 bytes each
    out = list(batches(lines))
    assert [len(b) for b in out] == [500, 500, 234]
    assert [line for b in out for line in b] == lines
    big = [b"x" * (900 * 1024) + b"\n"] * 10  # 4 of these exceed 4 MiB
    sizes = [len(b) for b in batches(big)]
    assert sizes == [4, 4, 2]
    assert all(sum(map(len, b)) <= 4 * 1024 * 1024 for b in batches(big))
    with pytest.raises(ValueError, match="record limit"):
        list(batches([b"x" * (MAX_RECORD_BYTES + 1)]))


def test_checkpoint_tracker_only_ever_offers_the_acknowledged_position():
    tracker = CheckpointTracker(every_s=5.0, every_records=100)
    assert tracker.due(0.0) is None  # nothing acknowledged yet
    tracker.flushed("10", 10, alerts_held=False)
    assert tracker.due(1.0) is None  # too soon, too few
    assert tracker.due(6.5) == "10"
    tracker.done("10", 6.5)
    assert tracker.due(20.0) is None  # nothing new since
    tracker.flushed("200", 150, alerts_held=False)
    assert tracker.due(7.0) == "200"  # enough records: no need to wait for the clock
    tracker.flushed(None, 0, alerts_held=False)  # a flush of heartbeat writes only moves nothing
    assert tracker.acked == "200"


def test_checkpoint_every_flush_when_cadence_is_zero():
    tracker = CheckpointTracker(every_s=0.0, every_records=0)
    tracker.flushed("5", 1, alerts_held=False)
    assert tracker.due(0.0) == "5"


def test_an_undelivered_alert_holds_its_position_until_every_alert_sink_took_it():
    tracker = CheckpointTracker(every_s=0.0, every_records=0)
    tracker.flushed("10", 10, alerts_held=False)
    tracker.done("10", 0.0)
    tracker.flushed("20", 10, alerts_held=True)  # an alert raised from records 11-20 is not delivered
    tracker.flushed("30", 10, alerts_held=True)
    assert tracker.holding and tracker.due(1.0) is None and tracker.final() is None
    tracker.alerts_settled()
    assert tracker.due(2.0) == "30" and tracker.acked_records == 20


def test_a_held_position_moves_on_with_the_next_flush_that_holds_nothing():
    tracker = CheckpointTracker(every_s=0.0, every_records=0)
    tracker.flushed("20", 10, alerts_held=True)
    tracker.flushed(None, 0, alerts_held=False)  # a flush of writes only, after the alert went out
    assert tracker.due(0.0) == "20"


def test_no_checkpoint_once_the_lease_is_lost():
    tracker = CheckpointTracker(every_s=0.0, every_records=0)
    tracker.flushed("5", 1, alerts_held=False)
    tracker.lost()
    assert tracker.due(0.0) is None and tracker.final() is None


def test_write_buffer_flushes_by_records_bytes_or_age_and_keeps_the_last_write_of_a_document():
    buf = WriteBuffer(max_records=10, max_bytes=1_000_000, max_age_s=2.0)
    assert not buf.due(100.0)
    buf.add_ops([IndexOp("i", "a", {"v": 1}), IndexOp("i", "b", {"v": 1})], now=0.0)
    buf.add_ops([IndexOp("i", "a", {"v": 2})], now=0.5)
    buf.covered("7", 3, now=0.5)
    assert not buf.due(1.9)
    assert buf.due(2.0)  # the oldest write is 2 s old
    pending = buf.take()
    assert [op.source["v"] for op in pending.ops.values()] == [2, 1] and pending.last_sequence == "7"
    assert not buf.pending and not buf.due(10.0)
    buf.covered("9", 10, now=11.0)
    assert buf.due(11.0)  # ten records
    assert buf.drop() == 10 and not buf.pending
    buf.add_archive("raw", [b"x" * 2_000_000], now=12.0)
    assert buf.due(12.0)  # bytes


def test_archive_line_keeps_the_original_record_on_one_line():
    frame = parse_frame_record(FIXTURE)
    record = RawRecord(FIXTURE, "49590338271490256608559692538361571095921575989136588898", "k", 1700000000000)
    line = archive_line(record, frame, "shardId-000000000001")
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # the fixture is pretty-printed
    doc = orjson.loads(line)
    assert doc["record"] == orjson.loads(FIXTURE)
    assert doc["sequence_number"] == record.sequence_number and doc["shard_id"] == "shardId-000000000001"
    assert doc["day"].count("-") == 2 and len(doc["frame_id"]) == 32
    again = orjson.loads(archive_line(RawRecord(FIXTURE, "1", "k", 1), frame, "other"))
    assert again["frame_id"] == doc["frame_id"]  # the same frame, whatever the delivery


def test_dead_letter_key_is_stable_and_by_day_and_reason():
    entry = QuarantineEntry("parse", "not_json", "x", "shardId-1", "42", "cam", 1767225600000, b"\x00bad")
    again = QuarantineEntry("parse", "not_json", "other detail", "shardId-1", "42", "cam", 1767225600000, b"\x00bad")
    assert s3_key(entry, "q/") == s3_key(again, "q/")
    assert s3_key(entry, "q/").startswith("q/2026/01/01/not_json/")
    body = orjson.loads(s3_body(entry, "w1"))
    assert body["payload_b64"] == "AGJhZA==" and body["sequence_number"] == "42"


def test_retention_deletes_only_expired_daily_indices_of_our_families():
    names = [
        "fw-detections-2026.01.01",
        "fw-detections-2026.01.30",
        "fw-detections-2026.01.31",
        "fw-detections-2026.02.01",
        "fw-tracks-2025.06.01",
        "fw-cameras-state",
        "fw-detections-notadate",
        "other-detections-2020.01.01",
    ]
    days = {"detections": 30, "tracks": 365, "alerts": 365, "quarantine": 30}
    assert expired(names, "fw", days, today=date(2026, 3, 2)) == [
        "fw-detections-2026.01.01",
        "fw-detections-2026.01.30",
    ]
    # 2026-01-31 is exactly 30 days old: kept; 2025-06-01 is within the tracks' 365 days.
    policy = retention_policy("fw", "tracks", 365)["policy"]
    assert policy["states"][0]["transitions"][0]["conditions"] == {"min_index_age": "365d"}
    assert policy["states"][1]["actions"] == [{"delete": {}}]
    assert policy["ism_template"][0]["index_patterns"] == ["fw-tracks-*"]


@pytest.mark.parametrize(
    "env, field",
    [
        ({"FACEWATCH__FIREHOSE__MAX_BATCH_RECORDS": "501"}, "firehose.max_batch_records"),
        ({"FACEWATCH__FIREHOSE__MAX_BATCH_BYTES": "5000000"}, "firehose.max_batch_bytes"),
        ({"FACEWATCH__FIREHOSE__RAW_STREAM": ""}, "firehose.raw_stream"),
        ({"FACEWATCH__CHECKPOINT__EVERY_S": "-1"}, "checkpoint.every_s"),
        ({"FACEWATCH__PROCESSOR__FLUSH_MAX_BYTES": "10"}, "processor.flush_max_bytes"),
        ({"FACEWATCH__QUARANTINE__BUCKET": ""}, "quarantine.bucket"),
        ({"FACEWATCH__RETENTION__DETECTIONS_DAYS": "0"}, "retention.detections_days"),
        ({"FACEWATCH__OPENSEARCH__AUTH": "sigv4"}, "opensearch.url"),
        ({"FACEWATCH__OPENSEARCH__CA_CERTS": "/nonexistent.pem"}, "opensearch.ca_certs"),
    ],
)
def test_delivery_settings_are_validated_with_the_field_named(env, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        load_config(env=env, stack_env_file=None)


def test_firehose_can_be_switched_off_and_sigv4_takes_an_https_domain():
    cfg = load_config(
        env={
            "FACEWATCH__FIREHOSE__ENABLED": "false",
            "FACEWATCH__FIREHOSE__RAW_STREAM": "",
            "FACEWATCH__OPENSEARCH__AUTH": "sigv4",
            "OPENSEARCH_URL": "https://search-x.eu-west-1.es.amazonaws.com",
        },
        stack_env_file=None,
    )
    assert not cfg.firehose.enabled and cfg.opensearch.auth == "sigv4"


class _Sinks:
    """OpenSearch and Firehose as SinkWriter.flush calls them: each waits until the other has started, so a
    flush that wrote them one after the other would time out here (and fail)."""

    def __init__(self) -> None:
        self.index_started, self.put_started = threading.Event(), threading.Event()
        self.put_done = threading.Event()
        self.indexed: list[str] = []
        self.archived: list[bytes] = []

    def index(self, ops):
        ops = list(ops)
        self.index_started.set()
        assert self.put_started.wait(5.0), "Firehose was not written while OpenSearch was"
        self.indexed += [op.doc_id for op in ops]
        return []

    def put(self, stream, lines):
        self.put_started.set()
        assert self.index_started.wait(5.0), "OpenSearch was not written while Firehose was"
        time.sleep(0.05)  # still writing when OpenSearch is done: the flush must wait for it
        self.archived += lines
        self.put_done.set()
        return 1


def test_a_flush_writes_opensearch_and_firehose_at_once_and_returns_when_both_are_done():
    sinks = _Sinks()
    writer = SinkWriter(sinks, sinks, None, "ut", "shard-0", "w-1")  # type: ignore[arg-type]  # fakes
    buffer = WriteBuffer(100, 10**6, 60.0)
    buffer.add_ops([IndexOp("ut-detections-x", "d1", {"n": 1})], 0.0)
    buffer.add_archive("raw", [b"line-1\n", b"line-2\n"], 0.0)
    buffer.covered("49001", 2, 0.0)
    result = writer.flush(buffer.take())
    assert sinks.put_done.is_set() and result.archived == 2 and sinks.archived == [b"line-1\n", b"line-2\n"]
    assert sinks.indexed == ["d1"] and result.documents == 1 and result.last_sequence == "49001"
