"""Rewind an application in place: move its KCL checkpoints back (or forward) and rewind the per-camera
tracking state with them, so the fleet, restarted, processes the records again and rebuilds the same
documents.

KCL resumes a lease after its checkpoint and reads `initialPositionInStream` only for a shard without a
lease, so moving a fleet means rewriting the lease table, with the fleet stopped (a live worker would
overwrite the new checkpoint on its next one): `execute` refuses while any lease is being renewed.

The camera state that makes the tracker skip frames it already holds must move too, or the replay
would rebuild nothing. It is rewound to a *quiet point* of each camera: the latest moment at or before
the first replayed face with no face on that camera for longer than a track stays open
(max_gap_s + stitch_wait_s). A tracker that starts empty there is in the very state the live tracker
was in, so every track from that point on, including a visit that began before the target, gets the
same id and the same document as in the live run. The shard is read from a little earlier to reach
the quiet point; frames before each camera's quiet point are skipped by the camera's state. The quiet
points come from the detections index; where it holds nothing the camera starts empty at the target
(a visit in progress there is rebuilt from the target, under a new id: the plan says so).

Records the fleet had already handled before the rewind are marked per shard (a replay marker beside
the shard's progress document): their raw records and closed tracks are not archived again, and their
alerts are indexed but not sent unless the operator asks (`deliver_alerts`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from worker.core.detections import stable_id
from worker.documents import CameraStateSource, ShardReplaySource
from worker.ops.checkpoints import Snapshot
from worker.ops.history import CameraHistory
from worker.ops.leases import SENTINELS, Lease, LeaseChanged, live_owners, read_leases, rewrite_checkpoint
from worker.ops.positions import (
    RecordTime,
    StreamShard,
    checkpoint_before,
    descendants,
    first_record_from,
    record_at,
    stream_shards,
)
from worker.ops.times import iso
from worker.sinks.templates import camera_state_index
from worker.source.progress import read_progress, replay_marker_id

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_kinesis.client import KinesisClient

__all__ = ["LeaseChanged", "RewindPlan", "RewindRefused", "Rewinder", "Target", "render"]


class RewindRefused(RuntimeError):
    """The rewind cannot be done as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Target:
    """Where to move: `kind` is checkpoints | datetime | earliest | latest."""

    kind: str
    at_ms: int | None = None  # datetime
    snapshot: Snapshot | None = None  # checkpoints

    def describe(self) -> str:
        if self.kind == "datetime" and self.at_ms is not None:
            return f"records that arrived from {iso(self.at_ms)}"
        if self.kind == "checkpoints" and self.snapshot is not None:
            return f"the checkpoints exported at {self.snapshot.exported_at}"
        return {"earliest": "the oldest records the stream holds", "latest": "the newest record (skip the backlog)"}[
            self.kind
        ]


@dataclass
class ShardMove:
    shard_id: str
    current: str | None  # the lease's checkpoint now (None: no lease)
    target: str
    why: str
    current_record: RecordTime | None = None
    first_replayed: RecordTime | None = None  # the first record delivered after the new checkpoint
    lease: Lease | None = None

    @property
    def changes(self) -> bool:
        return self.current != self.target


@dataclass
class CameraRewind:
    stream_arn: str
    camera_id: str
    shard_id: str
    applied_until_ms: int  # now
    resume_from_ms: int  # the quiet point: tracks are rebuilt from this frame time on
    first_replayed_ms: int  # the first replayed face of the camera
    alert_clocks: dict[str, float] = field(default_factory=dict)
    note: str = ""


@dataclass
class RewindPlan:
    application: str
    stream: str
    target: Target
    moves: list[ShardMove]
    cameras: list[CameraRewind]
    markers: dict[str, str]  # shard -> replay_through: records up to it were handled before
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def _position(value: str | None) -> tuple[int, int]:
    """Order of checkpoints on one shard: (rank, sequence)."""
    if value in (None, "TRIM_HORIZON", "AT_TIMESTAMP"):
        return (0, 0)
    if value == "SHARD_END":
        return (3, 0)
    if value == "LATEST":
        return (2, 0)
    return (1, int(value))


class Rewinder:
    """Plans and applies a rewind of one application (its lease table, camera states, replay markers)."""

    def __init__(
        self,
        kinesis: KinesisClient,
        dynamodb: DynamoDBClient,
        opensearch: Any,  # an OpenSearchSink: .client, .get_many
        stream: str,
        application: str,
        prefix: str,
        track_open_s: float,
        max_lookback_s: float = 6 * 3600.0,
    ) -> None:
        self.kinesis = kinesis
        self.dynamodb = dynamodb
        self.sink = opensearch
        self.client = opensearch.client
        self.stream = stream
        self.application = application
        self.prefix = prefix
        self.history = CameraHistory(self.client, prefix, round(track_open_s * 1000), round(max_lookback_s * 1000))

    # -- shards ---------------------------------------------------------------------------------

    def _base_moves(
        self, target: Target, leases: dict[str, Lease], shards: dict[str, StreamShard], only: list[str] | None
    ) -> tuple[dict[str, ShardMove], list[str], list[str]]:
        moves: dict[str, ShardMove] = {}
        warnings: list[str] = []
        refusals: list[str] = []
        scope = set(shards)
        if only:
            unknown = [s for s in only if s not in shards and s not in leases]
            if unknown:
                refusals.append(f"--shards: {', '.join(unknown)} not in stream {self.stream} nor in its lease table")
            scope = set()
            for s in only:
                if s in shards:
                    scope |= {s, *descendants(shards, s)}
        if target.kind == "checkpoints":
            assert target.snapshot is not None
            saved = {s.shard_id: s for s in target.snapshot.shards}
            if target.snapshot.stream != self.stream:
                refusals.append(
                    f"the export is of stream {target.snapshot.stream}, not {self.stream}: pass --stream"
                    f" {target.snapshot.stream}"
                )
            for shard_id, entry in sorted(saved.items()):
                if only and shard_id not in only:
                    continue
                if shard_id not in shards:
                    refusals.append(
                        f"{shard_id}: in the export (checkpoint {entry.checkpoint}) but trimmed from the stream"
                        " since: its records after that checkpoint are gone from Kinesis; replay them from the"
                        " archive (replay run --from-archive), or pass --allow-trimmed to rewind the other shards"
                        " and start its children at their beginning"
                    )
                    for child in descendants(shards, shard_id):
                        scope.add(child)
                    continue
                scope |= {shard_id, *descendants(shards, shard_id)}
            for shard_id in sorted(scope):
                kept = saved.get(shard_id)
                if kept is not None and kept.checkpoint is not None:
                    moves[shard_id] = ShardMove(shard_id, None, kept.checkpoint, "the exported checkpoint")
                elif any(a in saved or a in moves for a in self._ancestors(shards, shard_id)):
                    moves[shard_id] = ShardMove(
                        shard_id, None, "TRIM_HORIZON", "created after the export (a split or merge): from its start"
                    )
                elif not only:
                    warnings.append(f"{shard_id}: not in the export and not a child of a shard in it: left as it is")
            return moves, warnings, refusals
        now_ms = round(time.time() * 1000)
        for shard_id in sorted(scope):
            shard = shards[shard_id]
            if target.kind == "earliest":
                moves[shard_id] = ShardMove(shard_id, None, "TRIM_HORIZON", "the oldest record the stream holds")
            elif target.kind == "latest":
                if shard.closed:
                    moves[shard_id] = ShardMove(shard_id, None, "SHARD_END", "closed: nothing left to read")
                else:
                    cp = checkpoint_before(self.kinesis, self.stream, shard, now_ms + 1)
                    moves[shard_id] = ShardMove(shard_id, None, cp, "after the newest record")
            else:
                assert target.at_ms is not None
                cp = checkpoint_before(self.kinesis, self.stream, shard, target.at_ms)
                moves[shard_id] = ShardMove(shard_id, None, cp, f"the last record before {iso(target.at_ms)}")
        return moves, warnings, refusals

    @staticmethod
    def _ancestors(shards: dict[str, StreamShard], shard_id: str) -> list[str]:
        found: list[str] = []
        todo = list(shards[shard_id].parents) if shard_id in shards else []
        while todo:
            parent = todo.pop(0)
            if parent not in found:
                found.append(parent)
                if parent in shards:
                    todo += list(shards[parent].parents)
        return found

    # -- cameras --------------------------------------------------------------------------------

    # -- the plan -------------------------------------------------------------------------------

    def plan(self, target: Target, only: list[str] | None = None, allow_trimmed: bool = False) -> RewindPlan:
        try:
            leases = {lease.shard_id: lease for lease in read_leases(self.dynamodb, self.application)}
        except self.dynamodb.exceptions.ResourceNotFoundException:
            raise RewindRefused(
                f"no lease table {self.application}: no worker has run this application yet (nothing to rewind);"
                " check --stream / FACEWATCH_APPLICATION"
            ) from None
        shards = stream_shards(self.kinesis, self.stream)
        moves, warnings, refusals = self._base_moves(target, leases, shards, only)
        if allow_trimmed:
            trimmed = [r for r in refusals if "trimmed from the stream" in r]
            warnings += [
                r.split(":")[0] + ": trimmed from the stream; its children start at their beginning" for r in trimmed
            ]
            refusals = [r for r in refusals if r not in trimmed]
        for move in list(moves.values()):
            lease = leases.get(move.shard_id)
            if lease is None:
                # No lease yet: KCL creates it at the configured initial position; nothing to rewrite.
                warnings.append(f"{move.shard_id}: no lease yet (KCL creates it at the initial position)")
                del moves[move.shard_id]
                continue
            move.lease = lease
            move.current = lease.checkpoint
        plan = RewindPlan(self.application, self.stream, target, [], [], {}, warnings, refusals)
        self._plan_cameras(plan, moves, shards)
        for move in moves.values():
            if move.current and move.current not in SENTINELS:
                move.current_record = record_at(self.kinesis, self.stream, move.shard_id, move.current)
            if move.first_replayed is None and move.target != "SHARD_END":
                move.first_replayed = first_record_from(self.kinesis, self.stream, move.shard_id, move.target)
        plan.moves = sorted(moves.values(), key=lambda m: m.shard_id)
        if target.kind != "latest":
            ahead = [m.shard_id for m in plan.moves if _position(m.target) > _position(m.current)]
            if ahead:
                plan.warnings.append(
                    f"{', '.join(ahead)}: the new checkpoint is ahead of the current one: the records between"
                    " them are skipped, never processed"
                )
        return plan

    def _plan_cameras(self, plan: RewindPlan, moves: dict[str, ShardMove], shards: dict[str, StreamShard]) -> None:
        """Rewind the cameras of shards that move back, reading each shard from its cameras' quiet points."""
        alias = self.history.detections_alias()
        states = self.history.camera_states()
        for _round in range(4):  # a quiet point before a reshard adds the parent shard: a few rounds at most
            backward = {
                s: m for s, m in moves.items() if m.lease is not None and _position(m.target) < _position(m.current)
            }
            starts: dict[str, int] = {}
            for shard_id, move in backward.items():
                first = first_record_from(self.kinesis, self.stream, shard_id, move.target)
                move.first_replayed = first
                if first is not None:
                    starts[shard_id] = first.arrival_ms
            plan.cameras = []
            earlier: dict[str, int] = {}
            for state in sorted(states, key=lambda s: s["stream_arn"]):
                if state.get("shard_id") not in backward or alias is None:
                    continue
                arn = state["stream_arn"]
                applied = int(state.get("applied_until") or 0)
                first_face = self.history.first_replayed_face(alias, arn, starts) if starts else None
                if first_face is None or first_face > applied:
                    continue  # the replay brings it no face its tracks already hold: they stay as they are
                quiet, found = self.history.quiet_point(alias, arn, first_face)
                note = "" if found else "faces never paused long enough in the lookback: a visit may be split"
                for shard_id, arrival in self.history.arrivals_from(alias, arn, quiet).items():
                    if shard_id not in starts or arrival < starts[shard_id]:
                        earlier[shard_id] = min(earlier.get(shard_id, arrival), arrival)
                plan.cameras.append(
                    CameraRewind(
                        arn,
                        state.get("camera_id", ""),
                        state["shard_id"],
                        applied,
                        quiet,
                        first_face,
                        self.history.alert_clocks(arn, quiet),
                        note,
                    )
                )
            if not earlier:
                break
            for shard_id, arrival in sorted(earlier.items()):
                shard = shards.get(shard_id)
                existing = moves.get(shard_id)
                if shard is None or (existing is not None and existing.lease is None):
                    plan.warnings.append(
                        f"{shard_id}: a quiet point lies in its records, which the stream no longer holds:"
                        " a visit in progress at the target is rebuilt from the target"
                    )
                    continue
                cp = checkpoint_before(self.kinesis, self.stream, shard, arrival)
                if existing is None:
                    lease = self._lease(shard_id)
                    if lease is None:
                        continue
                    existing = moves[shard_id] = ShardMove(shard_id, lease.checkpoint, cp, "", lease=lease)
                    for child in descendants(shards, shard_id):
                        if child not in moves and (child_lease := self._lease(child)) is not None:
                            moves[child] = ShardMove(
                                child,
                                child_lease.checkpoint,
                                "TRIM_HORIZON",
                                "child of a rewound shard",
                                lease=child_lease,
                            )
                if _position(cp) < _position(existing.target):
                    existing.target = cp
                    existing.why += (", " if existing.why else "") + "read from earlier, to the cameras' quiet points"
        plan.warnings = list(dict.fromkeys(plan.warnings))
        for move in moves.values():
            if move.lease is not None and _position(move.target) < _position(move.current):
                progress = read_progress(self.sink, self.prefix, self.application, move.shard_id)
                handled = max(
                    (v for v in (progress, _seq(move.current), self._marker(move.shard_id)) if v is not None),
                    default=None,
                )
                if handled is not None:
                    plan.markers[move.shard_id] = str(handled)

    def _lease(self, shard_id: str) -> Lease | None:
        return next(
            (lease for lease in read_leases(self.dynamodb, self.application) if lease.shard_id == shard_id), None
        )

    def _marker(self, shard_id: str) -> int | None:
        doc_id = replay_marker_id(self.application, shard_id)
        value = self.sink.get_many([(camera_state_index(self.prefix), doc_id)]).get(doc_id, {}).get("replay_through")
        return int(value) if value else None

    # -- applying it ----------------------------------------------------------------------------

    def execute(self, plan: RewindPlan, live_watch_s: float, deliver_alerts: bool = False) -> None:
        """Apply the plan (the fleet stopped): refused, changing nothing, unless every lease to move is as
        the plan read it; then camera states and replay markers, then the lease table."""
        if plan.refusals:
            raise RewindRefused("; ".join(plan.refusals))
        live = live_owners(self.dynamodb, self.application, live_watch_s)
        if live:
            who = "; ".join(f"{owner} ({', '.join(sorted(shards))})" for owner, shards in sorted(live.items()))
            raise RewindRefused(
                f"workers are running on {self.application}: {who}. Stop the fleet first (ECS: set desired_count ="
                " 0 on the worker service, e.g. `aws ecs update-service --desired-count 0`; locally: stop the"
                " `facewatch run` processes, e.g. make stack-down or Ctrl-C on make demo), wait for the tasks to"
                " stop, then run this again"
            )
        # Nothing is written unless every lease to move is as the plan read it: a worker that ran since
        # (or another rewind) would make the camera states and the checkpoints disagree.
        now = {lease.shard_id: lease for lease in read_leases(self.dynamodb, self.application)}
        for move in plan.moves:
            if move.changes and move.lease is not None:
                current = now.get(move.shard_id)
                if current is None or (current.counter, current.checkpoint) != (
                    move.lease.counter,
                    move.lease.checkpoint,
                ):
                    raise RewindRefused(
                        f"the lease of {move.shard_id} changed since the plan was made (a worker ran, or another"
                        " rewind): nothing was changed; stop the fleet and run the command again"
                    )
        # The camera-state mapping is strict: an index made by an older worker may lack a field written
        # below (`paths`, `previous_t`). Adding fields is what the workers do at start; do it here first.
        if plan.cameras or plan.markers:  # the markers go to the same strict index
            self.sink.ensure_templates()
        index = camera_state_index(self.prefix)
        for camera in plan.cameras:
            state: CameraStateSource = {
                "kind": "camera_state",
                "stream_arn": camera.stream_arn,
                "camera_id": camera.camera_id,
                "applied_until": camera.resume_from_ms - 1,
                "shard_id": camera.shard_id,
                "open_tracks": [],
                "alert_clocks": camera.alert_clocks,
                "previous_t": 0.0,
                "paths": {"tracks": [], "steps": []},  # a quiet point: the live tracker remembered no path there either
            }
            self.client.index(index=index, id=stable_id("camera-state", camera.stream_arn), body=dict(state))
        requested = round(time.time() * 1000)
        for shard_id, through in sorted(plan.markers.items()):
            marker: ShardReplaySource = {
                "kind": "shard_replay",
                "application": self.application,
                "shard_id": shard_id,
                "replay_through": through,
                "deliver_alerts": deliver_alerts,
                "requested_at": requested,
            }
            self.client.index(index=index, id=replay_marker_id(self.application, shard_id), body=dict(marker))
        self.client.indices.refresh(index=index)
        for move in plan.moves:
            if move.changes and move.lease is not None:
                rewrite_checkpoint(self.dynamodb, self.application, move.lease, move.target)


def _seq(value: str | None) -> int | None:
    return int(value) if value and value not in SENTINELS else None


def render(plan: RewindPlan) -> str:
    """The plan as an operator reads it: per shard, per camera, then what stops it."""
    lines = [f"rewind {plan.application} (stream {plan.stream}) to {plan.target.describe()}", ""]
    lines.append(
        f"{'shard':24s} {'checkpoint now':>24s} {'(record time)':26s} -> {'new checkpoint':>24s}  first record"
    )
    for m in plan.moves:
        now_t = iso(m.current_record.arrival_ms) if m.current_record else ""
        first = (
            f"arrived {iso(m.first_replayed.arrival_ms)}, frame {iso(m.first_replayed.frame_time_ms)}"
            if m.first_replayed
            else "none yet"
        )
        mark = "" if m.changes else "  (unchanged)"
        lines.append(f"{m.shard_id:24s} {_short(m.current):>24s} {now_t:26s} -> {_short(m.target):>24s}  {first}{mark}")
        if m.why:
            lines.append(f"{'':24s} {m.why}")
    if plan.cameras:
        lines += [
            "",
            f"{'camera':24s} {'shard':24s} {'tracks applied until':26s} {'rebuilt from':26s} first replayed face",
        ]
        for c in plan.cameras:
            lines.append(
                f"{c.camera_id[:24]:24s} {c.shard_id:24s} {iso(c.applied_until_ms):26s} {iso(c.resume_from_ms):26s}"
                f" {iso(c.first_replayed_ms)}" + (f"  ({c.note})" if c.note else "")
            )
    if plan.markers:
        lines += ["", "records already handled (their alerts are not sent again, their archive not written again):"]
        lines += [f"  {s}: through {_short(v)}" for s, v in sorted(plan.markers.items())]
    lines += [f"warning: {w}" for w in plan.warnings]
    lines += [f"refused: {r}" for r in plan.refusals]
    return "\n".join(lines) + "\n"


def _short(value: str | None) -> str:
    if value is None:
        return "-"
    return value if len(value) <= 24 else value[:10] + "..." + value[-11:]
