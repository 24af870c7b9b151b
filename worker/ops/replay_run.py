"""Side-by-side replay (`facewatch replay run`): the same records, processed again into a new index
generation by workers of their own, while the live fleet goes on untouched.

The replay is a KCL application of its own (`<application>-replay-<generation>`, so its own lease
tables) that starts AT_TIMESTAMP and writes `<prefix>-gen-<generation>-*` (worker/ops/generations.py).
Its workers keep only what belongs to [--from, --until) (worker/source/window.py), send no alert and
archive nothing. To give a visit in progress at --from its whole track under its live id, every camera
starts at its quiet point before --from (worker/ops/history.py): the replay reads from the earliest of
them, and each camera's state in the generation says from which frame on to track it. Each shard ends
by record time: once its records are --tail past --until (a visit in progress at --until is finished
first), or its end, or the newest record. Then the workers stop and the lease tables are deleted.

Locally the workers are processes started here; on ECS this command runs as the one-off replay task
Terraform defines (infra/terraform/modules/workers), with its workers as processes in that task.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from worker.config import Config
from worker.core.record import camera_id_from_arn
from worker.documents import CameraStateSource
from worker.ops.fleet import start_worker, stop_worker
from worker.ops.generations import delete_lease_tables, generation_prefix, replay_application
from worker.ops.history import CameraHistory
from worker.ops.leases import read_leases
from worker.ops.positions import first_record_from, stream_shards
from worker.ops.times import iso
from worker.sinks.opensearch import OpenSearchSink
from worker.sinks.templates import camera_state_index
from worker.source.tracking import camera_state_id

LEAD_MS = 120_000  # without live detections to find quiet points: start this much before --from


class ReplayRefused(RuntimeError):
    """A replay that cannot run as asked; the message says why and what to do."""


@dataclass(frozen=True)
class ReplaySpec:
    generation: str
    from_ms: int
    until_ms: int
    cameras: tuple[str, ...] = ()  # camera ids; empty: every camera
    deliver_alerts: bool = False
    workers: int = 1
    tail_s: float = 600.0
    report_every_s: float = 10.0
    max_hours: float = 24.0


@dataclass(frozen=True)
class Seed:
    """A camera's starting state in the generation: tracked from its quiet point on."""

    stream_arn: str
    resume_from_ms: int
    alert_clocks: dict[str, float]
    note: str = ""


@dataclass
class Start:
    at_ms: int  # AT_TIMESTAMP of the replay application (arrival time)
    seeds: list[Seed]
    warnings: list[str] = field(default_factory=list)


def plan_start(history: CameraHistory, spec: ReplaySpec) -> Start:
    """Where the replay must start so each camera of the window begins at its quiet point."""
    alias = history.detections_alias()
    if alias is None:
        warning = (
            "no live detections index to find quiet points in: a visit in progress at --from is rebuilt from"
            " where the replay starts, under a new id"
        )
        return Start(spec.from_ms - LEAD_MS, [], [warning])
    body: dict[str, Any] = {
        "size": 0,
        "query": {"bool": {"filter": [{"range": {"frame_time": {"gte": spec.from_ms, "lt": spec.until_ms}}}]}},
        "aggs": {
            "cameras": {
                "terms": {"field": "stream_arn", "size": 10000},
                "aggs": {"first": {"min": {"field": "frame_time"}}},
            }
        },
    }
    buckets = history.client.search(index=alias, body=body)["aggregations"]["cameras"]["buckets"]
    seeds: list[Seed] = []
    warnings: list[str] = []
    start: int | None = None
    for bucket in sorted(buckets, key=lambda b: b["key"]):
        arn = bucket["key"]
        if spec.cameras and camera_id_from_arn(arn) not in spec.cameras:
            continue
        first = round(bucket["first"]["value"])
        quiet, found = history.quiet_point(alias, arn, first)
        arrivals = history.arrivals_from(alias, arn, quiet)
        if arrivals:
            first_arrival = min(arrivals.values())
            start = first_arrival if start is None else min(start, first_arrival)
        note = "" if found else "faces never paused long enough in the lookback: a visit may be split"
        if note:
            warnings.append(f"{camera_id_from_arn(arn)}: {note}")
        seeds.append(Seed(arn, quiet, history.alert_clocks(arn, quiet), note))
    if start is None:  # no face in the window: nothing to rebuild, read from --from (arrival ~ frame time)
        return Start(spec.from_ms - LEAD_MS, seeds, [*warnings, "no face of the live run in the window"])
    return Start(start - 1000, seeds, warnings)


def seed_generation(gen_sink: OpenSearchSink, gen_prefix: str, seeds: list[Seed]) -> None:
    """The generation's camera states: what its workers restore on first sight of each camera."""
    gen_sink.ensure_templates()
    client = gen_sink.client
    index = camera_state_index(gen_prefix)
    for seed in seeds:
        state: CameraStateSource = {
            "kind": "camera_state",
            "stream_arn": seed.stream_arn,
            "camera_id": camera_id_from_arn(seed.stream_arn),
            "applied_until": seed.resume_from_ms - 1,
            "shard_id": "",
            "open_tracks": [],
            "alert_clocks": seed.alert_clocks,
            "previous_t": 0.0,
            "paths": {"tracks": [], "steps": []},  # a quiet point: the live tracker remembered no path there either
        }
        client.index(index=index, id=camera_state_id(seed.stream_arn), body=dict(state))
    client.indices.refresh(index=index)


def worker_env(cfg: Config, spec: ReplaySpec, start_ms: int, base: dict[str, str]) -> dict[str, str]:
    """The replay workers' configuration: the live one, pointed at the generation and the window."""
    env = {
        **base,
        "FACEWATCH_STREAM": cfg.kinesis.stream_name,
        "FACEWATCH_APPLICATION": replay_application(cfg.application_name, spec.generation),
        "FACEWATCH__OPENSEARCH__INDEX_PREFIX": generation_prefix(cfg.opensearch.index_prefix, spec.generation),
        "FACEWATCH__KINESIS__INITIAL_POSITION": "AT_TIMESTAMP",
        "FACEWATCH__KINESIS__INITIAL_TIMESTAMP": f"{max(start_ms, 0) / 1000:.3f}",
        "FACEWATCH__FIREHOSE__ENABLED": "false",  # the archive already holds every record once
        "FACEWATCH__QUARANTINE__PREFIX": f"{cfg.quarantine.prefix}replay-{spec.generation}/",
        "FACEWATCH__REPLAY__WINDOW_FROM": f"{spec.from_ms / 1000:.3f}",
        "FACEWATCH__REPLAY__WINDOW_UNTIL": f"{spec.until_ms / 1000:.3f}",
        "FACEWATCH__REPLAY__CAMERAS": ",".join(spec.cameras),
        "FACEWATCH__REPLAY__DELIVER_ALERTS": "true" if spec.deliver_alerts else "false",
        "FACEWATCH__REPLAY__TAIL_S": str(spec.tail_s),
    }
    if not spec.deliver_alerts:
        env["FACEWATCH__ALERTS__SNS_TOPIC_ARN"] = ""
        env["FACEWATCH__ALERTS__WEBHOOK_URL"] = ""
    env.pop("FACEWATCH_WORKER_ID", None)
    return env


@dataclass
class ShardReport:
    shard_id: str
    record_time_ms: int | None
    records: int
    done: bool
    why: str = ""


@dataclass
class Progress:
    """Per shard: record time reached and records flushed, from the generation's progress documents."""

    started: float
    seen: dict[str, tuple[float, int, int | None]] = field(default_factory=dict)  # shard -> (t, records, time)

    def line(self, report: ShardReport, until_ms: int, now: float) -> str:
        last = self.seen.get(report.shard_id)
        rate = multiple = 0.0
        if last is not None and now > last[0]:
            rate = max(0, report.records - last[1]) / (now - last[0])
            if report.record_time_ms is not None and last[2] is not None:
                multiple = max(0, report.record_time_ms - last[2]) / 1000 / (now - last[0])
        self.seen[report.shard_id] = (now, report.records, report.record_time_ms)
        left = ""
        if report.done:
            left = f"done ({report.why})"
        elif multiple > 0 and report.record_time_ms is not None:
            left = f"~{max(0.0, (until_ms - report.record_time_ms) / 1000 / multiple):.0f} s left"
        return (
            f"{report.shard_id:24s} at {iso(report.record_time_ms):26s} {rate:8.0f} records/s"
            f" {multiple:7.1f}x real time  {left}"
        )


class SideBySideReplay:
    def __init__(
        self,
        cfg: Config,
        kinesis: Any,
        dynamodb: Any,
        gen_sink: OpenSearchSink,
        out: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
        log_dir: Path | None = Path(".run/logs"),
    ) -> None:
        self.cfg = cfg
        self.kinesis = kinesis
        self.dynamodb = dynamodb
        self.gen_sink = gen_sink
        self.out = out
        self.log_dir = log_dir

    def check(self, spec: ReplaySpec, start_ms: int) -> None:
        summary = self.kinesis.describe_stream_summary(StreamName=self.cfg.kinesis.stream_name)
        hours = summary["StreamDescriptionSummary"]["RetentionPeriodHours"]
        horizon_ms = (time.time() - hours * 3600) * 1000
        if start_ms < horizon_ms:
            raise ReplayRefused(
                f"the replay must read from {iso(start_ms)}, older than the stream's retention ({hours} h, records"
                f" from {iso(round(horizon_ms))}): replay from the archive instead (--from-archive)"
            )

    def reports(self, spec: ReplaySpec, application: str, start_ms: int | None = None) -> list[ShardReport]:
        try:
            leases = read_leases(self.dynamodb, application)
        except self.dynamodb.exceptions.ResourceNotFoundException:
            return []
        client = self.gen_sink.client
        index = camera_state_index(self.gen_sink.cfg.index_prefix)
        client.indices.refresh(index=index)
        body = {"size": 10000, "query": {"bool": {"filter": [{"term": {"kind": "shard_progress"}}]}}}
        progress = {
            h["_source"]["shard_id"]: h["_source"]
            for h in client.search(index=index, body=body)["hits"]["hits"]
            if h["_source"].get("application") == application
        }
        end_ms = spec.until_ms + round(spec.tail_s * 1000)
        shards = stream_shards(self.kinesis, self.cfg.kinesis.stream_name)
        leased = {lease.shard_id for lease in leases}
        out: list[ShardReport] = []
        for lease in leases:
            p = progress.get(lease.shard_id, {})
            at = p.get("frame_time")
            report = ShardReport(lease.shard_id, at, int(p.get("records") or 0), False)
            if lease.checkpoint == "SHARD_END":
                waiting = [c for c in shards if lease.shard_id in shards[c].parents and c not in leased]
                report.done, report.why = not waiting, "shard end" if not waiting else ""
            elif at is not None and at >= end_ms:
                report.done, report.why = True, "past --until"
            elif lease.checkpoint:
                nxt = first_record_from(
                    self.kinesis, self.cfg.kinesis.stream_name, lease.shard_id, lease.checkpoint, start_ms
                )
                if nxt is None:
                    report.done, report.why = True, "newest record"
                elif nxt.frame_time_ms is not None and nxt.frame_time_ms >= end_ms:
                    report.done, report.why = True, "past --until"
            out.append(report)
        return out

    def run(self, spec: ReplaySpec, start: Start, base_env: dict[str, str] | None = None) -> dict[str, Any]:
        self.check(spec, start.at_ms)
        gen_prefix = generation_prefix(self.cfg.opensearch.index_prefix, spec.generation)
        application = replay_application(self.cfg.application_name, spec.generation)
        seed_generation(self.gen_sink, gen_prefix, start.seeds)
        env = worker_env(self.cfg, spec, start.at_ms, dict(os.environ if base_env is None else base_env))
        stream = self.cfg.kinesis.stream_name
        self.out(
            f"replay {spec.generation}: {iso(spec.from_ms)} .. {iso(spec.until_ms)} of {stream}, reading from"
            f" {iso(start.at_ms)}; {len(start.seeds)} cameras; application {application}, indices {gen_prefix}-*"
        )
        for warning in start.warnings:
            self.out(f"warning: {warning}")
        started = time.monotonic()
        workers: dict[str, subprocess.Popen] = {}
        count = 0

        def launch() -> None:
            nonlocal count
            count += 1
            worker_id = f"replay-{spec.generation}-{count}"
            workers[worker_id] = start_worker(stream, worker_id, env, self.log_dir)

        for _ in range(spec.workers):
            launch()
        progress = Progress(started)
        restarts = 0
        first_records: float | None = None  # start-up: workers, lease table, first flush
        try:
            deadline = started + spec.max_hours * 3600
            while True:
                time.sleep(spec.report_every_s)
                for worker_id, proc in list(workers.items()):
                    if proc.poll() is not None:  # died (killed, crashed): as ECS would, start another
                        self.out(f"worker {worker_id} exited with {proc.returncode}: starting another")
                        del workers[worker_id]
                        restarts += 1
                        launch()
                reports = self.reports(spec, application, start.at_ms)
                now = time.monotonic()
                if first_records is None and any(r.records for r in reports):
                    first_records = now - started
                for report in reports:
                    self.out(progress.line(report, spec.until_ms, now))
                if reports and all(r.done for r in reports):
                    break
                if now > deadline:
                    raise ReplayRefused(f"replay {spec.generation} not finished after {spec.max_hours} h: stopped")
        finally:
            for proc in workers.values():
                stop_worker(proc, timeout_s=100)
            reports = self.reports(spec, application, start.at_ms)
            deleted = delete_lease_tables(self.dynamodb, application)  # also when stopped by an error
        elapsed = time.monotonic() - started
        records = sum(r.records for r in reports)
        startup = first_records if first_records is not None else elapsed
        self.out(
            f"replay {spec.generation} finished in {elapsed:.1f} s (first records after {startup:.1f} s):"
            f" {records} records of the last processors, {restarts} worker restarts; lease tables deleted:"
            f" {', '.join(deleted) or 'none'}"
        )
        return {
            "seconds": elapsed,
            "startup_s": startup,
            "records": records,
            "restarts": restarts,
            "shards": len(reports),
        }
