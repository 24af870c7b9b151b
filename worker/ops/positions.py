"""Where records are in a Kinesis stream: its shards and their lineage, the time of the record at a
checkpoint, and the checkpoint that makes KCL resume at a point in time.

KCL resumes a lease *after* its checkpoint, so "replay from time T" is the checkpoint of the last
record that arrived before T (TRIM_HORIZON when there is none). Kinesis finds the first record at or
after a time (AT_TIMESTAMP) but not the last one before it, so `checkpoint_before` looks back in
widening windows and reads forward, never more than one window of records.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from worker.core.record import RecordError, parse_frame_record

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_kinesis.client import KinesisClient

LOOKBACK_S = (1.0, 10.0, 60.0, 600.0, 3600.0, 6 * 3600.0, 86400.0, 7 * 86400.0, 365 * 86400.0)
READ_LIMIT = 10000


@dataclass(frozen=True)
class StreamShard:
    shard_id: str
    parents: tuple[str, ...]  # the parent of a split; both parents of a merge
    hash_range: tuple[str, str]
    starting_sequence: str
    ending_sequence: str | None  # None while the shard is open

    @property
    def closed(self) -> bool:
        return self.ending_sequence is not None


@dataclass(frozen=True)
class RecordTime:
    sequence_number: str
    arrival_ms: int
    frame_time_ms: int | None  # None when the record is not a valid face-search record


def stream_shards(kinesis: KinesisClient, stream: str) -> dict[str, StreamShard]:
    """Every shard the stream still holds (closed ones too, until their records are trimmed)."""
    shards: dict[str, StreamShard] = {}
    kwargs: dict[str, Any] = {"StreamName": stream}
    while True:
        page = kinesis.list_shards(**kwargs)
        for s in page["Shards"]:
            parents = tuple(p for p in (s.get("ParentShardId"), s.get("AdjacentParentShardId")) if p)
            r = s["SequenceNumberRange"]
            shards[s["ShardId"]] = StreamShard(
                s["ShardId"],
                parents,
                (s["HashKeyRange"]["StartingHashKey"], s["HashKeyRange"]["EndingHashKey"]),
                r["StartingSequenceNumber"],
                r.get("EndingSequenceNumber"),
            )
        token = page.get("NextToken")
        if not token:
            return shards
        kwargs = {"NextToken": token}


def descendants(shards: dict[str, StreamShard], shard_id: str) -> list[str]:
    """Children, grandchildren, ... of a shard, as the stream lists them."""
    found: list[str] = []
    todo = [shard_id]
    while todo:
        current = todo.pop(0)
        for s in sorted(shards.values(), key=lambda x: x.shard_id):
            if current in s.parents and s.shard_id not in found:
                found.append(s.shard_id)
                todo.append(s.shard_id)
    return found


def _ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return round(value.timestamp() * 1000)
    return round(float(value) * 1000)


def _record_time(record: Any) -> RecordTime:
    arrival = _ms(record["ApproximateArrivalTimestamp"])
    try:
        frame_ms: int | None = round(parse_frame_record(record["Data"], arrival_ms=arrival).frame_time * 1000)
    except RecordError:
        frame_ms = None
    return RecordTime(record["SequenceNumber"], arrival, frame_ms)


def record_at(kinesis: KinesisClient, stream: str, shard_id: str, sequence_number: str) -> RecordTime | None:
    """The arrival and frame time of the record at a sequence number; None when it is no longer there."""
    try:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream,
            ShardId=shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=sequence_number,
        )["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"]
    except (kinesis.exceptions.InvalidArgumentException, kinesis.exceptions.ResourceNotFoundException):
        return None
    if not records or records[0]["SequenceNumber"] != sequence_number:
        return None  # trimmed: the stream starts later now
    return _record_time(records[0])


def _read(kinesis: KinesisClient, iterator: str | None, stop: Any) -> tuple[list[Any], bool]:
    """Records from an iterator until `stop(record)` is true or the shard is read to its end or caught
    up. Returns the records before the stop and whether the closed shard's end was reached."""
    out: list[Any] = []
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=READ_LIMIT)
        for record in page["Records"]:
            if stop(record):
                return out, False
            out.append(record)
        iterator = page.get("NextShardIterator")
        if not page["Records"] and page.get("MillisBehindLatest", 0) == 0:
            return out, iterator is None
    return out, True


def checkpoint_before(kinesis: KinesisClient, stream: str, shard: StreamShard, arrival_ms: int) -> str:
    """The checkpoint from which KCL delivers every record of the shard that arrived at or after
    `arrival_ms`: the last record before it, TRIM_HORIZON if there is none, SHARD_END for a closed shard
    whose records all came earlier."""

    def at_or_after(record: Any) -> bool:
        return _ms(record["ApproximateArrivalTimestamp"]) >= arrival_ms

    now_ms = round(dt.datetime.now(dt.UTC).timestamp() * 1000)
    for lookback in LOOKBACK_S:
        start_ms = min(arrival_ms, now_ms) - round(lookback * 1000)
        iterator = kinesis.get_shard_iterator(
            StreamName=stream,
            ShardId=shard.shard_id,
            ShardIteratorType="AT_TIMESTAMP",
            Timestamp=dt.datetime.fromtimestamp(start_ms / 1000, dt.UTC),
        )["ShardIterator"]
        before, ended = _read(kinesis, iterator, at_or_after)
        if before:
            return "SHARD_END" if ended else str(before[-1]["SequenceNumber"])
        # Nothing between the window's start and the first record at or after the time (or the end of
        # the shard): look further back.
    return "TRIM_HORIZON"


def first_record_from(
    kinesis: KinesisClient, stream: str, shard_id: str, checkpoint: str, at_ms: int | None = None
) -> RecordTime | None:
    """The first record KCL would deliver after this checkpoint (None: nothing there yet); `at_ms` is
    the application's AT_TIMESTAMP, where the sentinel says so."""
    if checkpoint == "SHARD_END" or checkpoint == "LATEST":
        return None
    if checkpoint == "AT_TIMESTAMP" and at_ms is not None:
        stamp = dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC)
        kwargs: dict[str, Any] = {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": stamp}
    elif checkpoint in ("TRIM_HORIZON", "AT_TIMESTAMP"):
        kwargs = {"ShardIteratorType": "TRIM_HORIZON"}
    else:
        kwargs = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": checkpoint}
    iterator: str | None = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard_id, **kwargs)["ShardIterator"]
    while iterator:
        page = kinesis.get_records(ShardIterator=iterator, Limit=1)
        if page["Records"]:
            return _record_time(page["Records"][0])
        iterator = page.get("NextShardIterator")
        if page.get("MillisBehindLatest", 0) == 0:
            return None
    return None
