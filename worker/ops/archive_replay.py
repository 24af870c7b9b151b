"""Replay from the archive (`facewatch replay run --from-archive`): for what is older than the stream's
retention, the Firehose raw archive in S3 is the source, and no KCL is involved.

Every archive line carries the record as it came, with its shard, sequence number and arrival time
(worker/source/batch.py archive_line). The lines of the window's days are read (plus a lookback for
the cameras' quiet points), deduplicated (Firehose delivers at least once), and each shard's records
are put back in its order (sequence number); shards are replayed one after another, oldest first, so a
parent ends before its children begin, as KCL runs them. Each camera starts at its quiet point before
--from, found in the archive itself; the records go through the very pipeline the workers run
(worker/compose.py), into the generation, with the same window rules.

On AWS the archive is partitioned `<raw stream>/day=YYYY-MM-DD/camera=<id>/` and gzipped; on the local
stack it is one flat prefix, uncompressed: both are read.
"""

from __future__ import annotations

import datetime as dt
import gzip
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from worker.config import Config
from worker.core.record import RecordError, parse_frame_record
from worker.model import RawRecord
from worker.ops.health import Heartbeat
from worker.ops.history import quiet_point
from worker.ops.replay_run import ReplaySpec, Seed, seed_generation
from worker.sinks.opensearch import OpenSearchSink

RECORD_KEY = b',"record":'
BATCH = 1000


@dataclass(frozen=True)
class ArchivedRecord:
    stream_arn: str
    camera_id: str
    shard_id: str
    sequence_number: str
    arrival_ms: int
    frame_time_ms: int
    data: bytes
    has_faces: bool


def days_between(from_ms: int, until_ms: int) -> list[str]:
    day = dt.datetime.fromtimestamp(from_ms / 1000, dt.UTC).date()
    last = dt.datetime.fromtimestamp(until_ms / 1000, dt.UTC).date()
    out = []
    while day <= last:
        out.append(day.isoformat())
        day += dt.timedelta(days=1)
    return out


def _objects(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def archive_keys(s3: Any, bucket: str, raw_stream: str, days: list[str], cameras: tuple[str, ...]) -> list[str]:
    """The objects holding those days (and cameras): by partition where the archive is partitioned."""
    keys: list[str] = []
    partitioned = any(True for _ in _objects(s3, bucket, f"{raw_stream}/day="))
    if not partitioned:
        return list(_objects(s3, bucket, f"{raw_stream}/"))
    for day in days:
        if cameras:
            for camera in cameras:
                keys += _objects(s3, bucket, f"{raw_stream}/day={day}/camera={camera}/")
        else:
            keys += _objects(s3, bucket, f"{raw_stream}/day={day}/")
    return keys


def read_archive(s3: Any, bucket: str, keys: list[str]) -> Iterator[bytes]:
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        for line in body.splitlines():
            if line.strip():
                yield line


def parse_line(line: bytes) -> ArchivedRecord | None:
    """An archive line back into the record it holds; None for a line that is not one of ours."""
    at = line.find(RECORD_KEY)
    if at < 0 or not line.endswith(b"}"):
        return None
    try:
        head = orjson.loads(line[:at] + b"}")
        data = line[at + len(RECORD_KEY) : -1]
        frame = parse_frame_record(data, arrival_ms=int(head["arrival_time"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, RecordError):
        return None
    return ArchivedRecord(
        head["stream_arn"],
        head["camera_id"],
        head["shard_id"],
        str(head["sequence_number"]),
        int(head["arrival_time"]),
        int(head["frame_time"]),
        data,
        bool(frame.faces),
    )


@dataclass
class ArchivePlan:
    shards: list[tuple[str, list[ArchivedRecord]]]  # in the order they are replayed
    seeds: list[Seed]
    skipped_lines: int
    warnings: list[str]


def plan_archive(
    lines: Iterator[bytes], spec: ReplaySpec, quiet_ms: int, lookback_ms: int, clocks: Callable[[str, int], dict]
) -> ArchivePlan:
    """Which records to replay, in which order, and where each camera starts."""
    end_ms = spec.until_ms + round(spec.tail_s * 1000)
    unique: dict[tuple[str, str], ArchivedRecord] = {}
    skipped = 0
    for line in lines:
        record = parse_line(line)
        if record is None:
            skipped += 1
            continue
        if spec.cameras and record.camera_id not in spec.cameras:
            continue
        if not spec.from_ms - lookback_ms <= record.frame_time_ms < end_ms:
            continue
        unique.setdefault((record.shard_id, record.sequence_number), record)
    by_camera: dict[str, list[ArchivedRecord]] = {}
    for record in unique.values():
        by_camera.setdefault(record.stream_arn, []).append(record)
    seeds: list[Seed] = []
    warnings: list[str] = []
    kept: list[ArchivedRecord] = []
    for arn, records in sorted(by_camera.items()):
        faces = sorted(r.frame_time_ms for r in records if r.has_faces)
        in_window = [t for t in faces if spec.from_ms <= t < spec.until_ms]
        if not in_window:
            continue  # no face of it in the window: nothing of it to rebuild
        start = quiet_point(faces, in_window[0], quiet_ms)
        assert start is not None
        if start == faces[0] and faces[0] - quiet_ms < spec.from_ms - lookback_ms:
            warnings.append(f"{records[0].camera_id}: no quiet point in the lookback: a visit may be split")
        seeds.append(Seed(arn, start, clocks(arn, start)))
        kept += [r for r in records if r.frame_time_ms >= start]
    by_shard: dict[str, list[ArchivedRecord]] = {}
    for record in kept:
        by_shard.setdefault(record.shard_id, []).append(record)
    for records in by_shard.values():
        records.sort(key=lambda r: int(r.sequence_number))
    order = sorted(by_shard.items(), key=lambda item: (item[1][0].arrival_ms, item[0]))
    return ArchivePlan(order, seeds, skipped, warnings)


def replay_archive(
    gen_cfg: Config,
    plan: ArchivePlan,
    gen_sink: OpenSearchSink,
    make_handler: Callable[[str, Heartbeat], Any],
    out: Callable[[str], None],
) -> dict[str, Any]:
    """Feed each shard's records through the workers' pipeline, flushing as they do."""
    seed_generation(gen_sink, gen_cfg.opensearch.index_prefix, plan.seeds)
    started = time.monotonic()
    records = 0
    for shard_id, shard_records in plan.shards:
        handler = make_handler(shard_id, Heartbeat("", shard_id))
        for i in range(0, len(shard_records), BATCH):
            batch = [
                RawRecord(
                    data=r.data, sequence_number=r.sequence_number, partition_key=r.stream_arn, arrival_ms=r.arrival_ms
                )
                for r in shard_records[i : i + BATCH]
            ]
            handler.handle(batch)
            if handler.flush_due():
                handler.flush()
        handler.heartbeat()  # an idle shard's clock closes what its records say has ended
        handler.flush()
        records += len(shard_records)
        out(f"{shard_id}: {len(shard_records)} records replayed from the archive")
    elapsed = time.monotonic() - started
    return {"seconds": elapsed, "records": records, "shards": len(plan.shards)}
