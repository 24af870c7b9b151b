"""Checkpoint snapshots: every shard's KCL checkpoint of an application, saved to a versioned JSON file
(`facewatch checkpoints export`), read back to show it or to rewind to it (`facewatch replay
--to-checkpoints`).

A snapshot names the stream and the application, every shard with its lineage and hash range (a
rewind after a reshard needs them), the checkpoint and, where the record is still in the stream, the
arrival and frame time of the checkpoint's record, so an operator can see what time each shard was at.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from worker.ops.leases import SENTINELS, read_leases
from worker.ops.positions import record_at, stream_shards

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_kinesis.client import KinesisClient

FORMAT = "facewatch-checkpoints"
VERSION = 1


class SnapshotError(ValueError):
    """A file that is not a checkpoint snapshot this version can read; the message says why."""


@dataclass(frozen=True)
class SnapshotShard:
    shard_id: str
    parents: list[str]
    hash_range: list[str] | None  # [starting, ending] hash key
    in_stream: bool  # False: the lease outlived the shard (its records were trimmed)
    closed: bool
    checkpoint: str | None
    sub_sequence: int
    owner: str | None
    checkpoint_arrival_time: str | None  # ISO 8601, of the checkpoint's record, when it could be read
    checkpoint_frame_time: str | None


@dataclass(frozen=True)
class Snapshot:
    stream: str
    application: str
    region: str
    exported_at: str
    shards: list[SnapshotShard]
    format: str = FORMAT
    version: int = VERSION

    def to_json(self) -> bytes:
        body = asdict(self)
        ordered = {"format": body.pop("format"), "version": body.pop("version"), **body}
        return orjson.dumps(ordered, option=orjson.OPT_INDENT_2) + b"\n"


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def take(kinesis: KinesisClient, dynamodb: DynamoDBClient, stream: str, application: str, region: str) -> Snapshot:
    """Read the lease table and the stream now. Leases are read first: a checkpoint written meanwhile only
    makes the snapshot older than its time stamp, never newer."""
    exported_at = _iso(round(dt.datetime.now(dt.UTC).timestamp() * 1000))
    assert exported_at is not None
    leases = read_leases(dynamodb, application)
    shards = stream_shards(kinesis, stream)
    out: list[SnapshotShard] = []
    for lease in leases:
        shard = shards.get(lease.shard_id)
        record = None
        if shard is not None and lease.checkpoint and lease.checkpoint not in SENTINELS:
            record = record_at(kinesis, stream, lease.shard_id, lease.checkpoint)
        parents = list(shard.parents) if shard is not None else list(lease.parents)
        hash_range = (
            list(shard.hash_range) if shard is not None else (list(lease.hash_range) if lease.hash_range else None)
        )
        out.append(
            SnapshotShard(
                shard_id=lease.shard_id,
                parents=parents,
                hash_range=hash_range,
                in_stream=shard is not None,
                closed=shard.closed if shard is not None else True,
                checkpoint=lease.checkpoint,
                sub_sequence=lease.sub_sequence,
                owner=lease.owner,
                checkpoint_arrival_time=_iso(record.arrival_ms) if record else None,
                checkpoint_frame_time=_iso(record.frame_time_ms) if record else None,
            )
        )
    return Snapshot(stream, application, region, exported_at, out)


def load(path: Path) -> Snapshot:
    try:
        raw = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    except orjson.JSONDecodeError as exc:
        raise SnapshotError(f"{path}: not JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise SnapshotError(f'{path}: not a checkpoint export (no "format": "{FORMAT}")')
    if raw.get("version") != VERSION:
        raise SnapshotError(
            f"{path}: export version {raw.get('version')!r}; this facewatch reads version {VERSION} (upgrade it)"
        )
    try:
        shards = [SnapshotShard(**s) for s in raw["shards"]]
        return Snapshot(
            raw["stream"], raw["application"], raw["region"], raw["exported_at"], shards, raw["format"], raw["version"]
        )
    except (KeyError, TypeError) as exc:
        raise SnapshotError(f"{path}: a field is missing or unknown ({exc})") from None


def render(snapshot: Snapshot) -> str:
    title = (
        f"checkpoints of {snapshot.application} (stream {snapshot.stream}, {snapshot.region}),"
        f" exported {snapshot.exported_at}: {len(snapshot.shards)} shards"
    )
    lines = [
        title,
        "",
        f"{'shard':24s} {'state':9s} {'parents':24s} {'checkpoint':>24s}  {'record arrived':26s} frame time",
    ]
    for s in snapshot.shards:
        state = "trimmed" if not s.in_stream else ("closed" if s.closed else "open")
        cp = s.checkpoint or "-"
        cp = cp if len(cp) <= 24 else cp[:10] + "..." + cp[-11:]
        lines.append(
            f"{s.shard_id:24s} {state:9s} {','.join(s.parents) or '-':24s} {cp:>24s}"
            f"  {s.checkpoint_arrival_time or '-':26s} {s.checkpoint_frame_time or '-'}"
        )
    return "\n".join(lines) + "\n"


def default_path(application: str, now: dt.datetime | None = None) -> Path:
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
    return Path(".run/checkpoints") / f"{application}-{stamp}.json"
