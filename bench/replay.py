"""Replay catch-up on the local stack: `make bench-replay` -> bench/results/replay.json.

One run, everything measured in it: N simulated cameras (1 analysed frame per second each) put into a
2-shard stream; the live fleet (one worker) consumes them, timed from its start to its last checkpoint;
then, with the live worker still up, a side-by-side replay of the whole window (`replay run`, one
replay worker: a KCL daemon of its own) and a replay of the same window from the Firehose archive
(`replay run --from-archive`, no KCL). Each rate is the window's records over the whole wall time the
command took, start-up included (a JVM and a lease table for the side-by-side one), and also without
the start-up (from the first records the replay flushed), both reported. The generations are compared
with the live indices document by document (worker/ops/compare.py); the SNS subscription (SQS) is
drained before the replays and read after them: a replay sends nothing.

The goal (issue 21): one worker replays 100 cameras' day at >= 20x real time, i.e. >= 2,000 records/s.
Two cores serve every process here (daemon JVM, processor, OpenSearch, kinesalite, moto): the figure is
bounded by them; the CPU split is written beside the rates.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker import aws
from worker.config import load_config
from worker.ops.compare import differences, window_docs
from worker.ops.fleet import start_worker, stop_worker
from worker.ops.leases import read_leases
from worker.ops.resources import (
    delete_alert_topic,
    delete_local_delivery_streams,
    drain_queue,
    ensure_alert_topic,
    ensure_local_resources,
)
from worker.ops.streams import create_stream, delete_stream
from worker.ops.times import iso
from worker.sim.encode import encode_frame
from worker.sim.producer import KinesisProducer
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of
from worker.sinks.opensearch import make_client

RESULTS = ROOT / "bench" / "results" / "replay.json"
START = 1_767_312_000.0  # 2026-01-02T00:00:00Z
GOAL_RECORDS_PER_S = 2000


def cpu_seconds() -> float:
    """User + system CPU of every process on the machine (jiffies of /proc/stat), in seconds."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


def run_cli(env: dict[str, str], *args: str) -> tuple[float, str, str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "worker", *args], env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"replay bench: `{' '.join(args)}` failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, done.stdout, done.stderr


def flushed(client, prefix: str) -> bool:
    """Whether a processor has flushed records yet (its shard progress document): start-up is over."""
    index = f"{prefix}-cameras-state"
    try:
        body = {"size": 0, "query": {"term": {"kind": "shard_progress"}}}
        return client.search(index=index, body=body)["hits"]["total"]["value"] > 0
    except Exception:  # noqa: BLE001 - no index before the first flush
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--duration", type=float, default=300.0, help="simulated seconds per camera")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from worker.localstack import stack

    os.environ.update(stack.up(log=lambda m: None))
    prefix = f"bench-replay-{uuid.uuid4().hex[:6]}"
    stream = f"bench-replay-{uuid.uuid4().hex[:6]}"
    base = {
        **os.environ,
        "FACEWATCH__OPENSEARCH__INDEX_PREFIX": prefix,
        "FACEWATCH__FIREHOSE__RAW_STREAM": f"{prefix}-raw",
        "FACEWATCH__FIREHOSE__TRACKS_STREAM": f"{prefix}-tracks",
        "FACEWATCH__QUARANTINE__PREFIX": f"{prefix}/",
        "FACEWATCH_STREAM": stream,
    }
    base.pop("FACEWATCH_CONFIG", None)
    cfg0 = load_config(env=base, stack_env_file=None)
    ensure_local_resources(cfg0)
    topic, queue = ensure_alert_topic(cfg0, f"{prefix}-alerts")
    env = {**base, "FACEWATCH__ALERTS__SNS_TOPIC_ARN": topic}
    cfg = load_config(env=env, stack_env_file=None)
    kinesis, dynamodb, sqs = aws.kinesis(cfg), aws.dynamodb(cfg), aws.sqs(cfg)
    client = make_client(cfg.opensearch)
    logs = ROOT / ".run" / "logs" / "bench-replay"
    worker = None
    try:
        create_stream(kinesis, stream, 2)
        frames = frames_of(
            build_scenario(ScenarioSpec(cameras=args.cameras, duration_s=args.duration, seed=args.seed, start=START))
        )
        producer = KinesisProducer(kinesis, stream)
        producer.put((f.camera.stream_arn, encode_frame(f)) for f in frames)
        records = len(frames)
        last = producer.result.last_sequence
        print(f"replay bench: {records} records of {args.cameras} cameras in the stream", file=sys.stderr)

        # Live: one worker from its start to its last checkpoint.
        cpu0, t0 = cpu_seconds(), time.monotonic()
        worker = start_worker(stream, "bench-live-1", env, logs)
        first_progress = None
        while True:
            try:
                leases = {lease.shard_id: lease.checkpoint for lease in read_leases(dynamodb, cfg.application_name)}
            except dynamodb.exceptions.ResourceNotFoundException:
                leases = {}
            if first_progress is None and flushed(client, prefix):
                first_progress = time.monotonic()
            if all(leases.get(s) == q for s, q in last.items()):
                break
            if time.monotonic() - t0 > 900:
                raise SystemExit("replay bench: the live worker did not catch up in 15 minutes")
            time.sleep(0.2)
        live_s, live_cpu = time.monotonic() - t0, cpu_seconds() - cpu0
        live_steady_s = time.monotonic() - (first_progress or t0)
        from_ms, until_ms = round(START * 1000), round((START + args.duration + 1) * 1000)
        live_docs = window_docs(client, prefix, from_ms, until_ms)
        drain_queue(sqs, queue)
        window = ("--from", iso(from_ms), "--until", iso(until_ms), "--tail-s", "0")

        cpu0 = cpu_seconds()
        sbs_s, _, sbs_err = run_cli(env, "replay", "run", *window, "--generation", "bench_sbs", "--report-every-s", "1")
        sbs_cpu = cpu_seconds() - cpu0
        m = re.search(r"first records after ([\d.]+) s", sbs_err)
        sbs_startup = float(m.group(1)) if m else 0.0
        cpu0 = cpu_seconds()
        arc_s, _, _ = run_cli(env, "replay", "run", *window, "--generation", "bench_arc", "--from-archive")
        arc_cpu = cpu_seconds() - cpu0
        sent = len(drain_queue(sqs, queue))
        diffs = {
            name: differences(live_docs, window_docs(client, f"{prefix}-gen-{name}", from_ms, until_ms))
            for name in ("bench_sbs", "bench_arc")
        }
        result = {
            "cameras": args.cameras,
            "records": records,
            "documents": {k: len(v) for k, v in live_docs.items()},
            "live_records_per_s": round(records / live_s),
            "live_records_per_s_after_startup": round(records / live_steady_s),
            "side_by_side_records_per_s": round(records / sbs_s),
            "side_by_side_seconds": round(sbs_s, 1),
            "side_by_side_startup_s": sbs_startup,
            "side_by_side_records_per_s_after_startup": round(records / max(sbs_s - sbs_startup, 1e-9)),
            "archive_records_per_s": round(records / arc_s),
            "archive_seconds": round(arc_s, 1),
            "side_by_side_x_real_time": round(records / sbs_s / args.cameras, 1),
            "archive_x_real_time": round(records / arc_s / args.cameras, 1),
            "side_by_side_x_real_time_for_100_cameras": round(records / sbs_s / 100, 1),
            "archive_x_real_time_for_100_cameras": round(records / arc_s / 100, 1),
            "goal_records_per_s": GOAL_RECORDS_PER_S,
            "side_by_side_meets_goal": records / sbs_s >= GOAL_RECORDS_PER_S,
            "archive_meets_goal": records / arc_s >= GOAL_RECORDS_PER_S,
            "machine_cpu_s_per_1000_records": {
                "live": round(live_cpu / records * 1000, 3),
                "side_by_side": round(sbs_cpu / records * 1000, 3),
                "archive": round(arc_cpu / records * 1000, 3),
            },
            "documents_equal": not any(diffs.values()),
            "differences": {k: v[:20] for k, v in diffs.items()},
            "alerts_sent_during_replay": sent,
            "cores": os.cpu_count(),
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return 0 if result["documents_equal"] and sent == 0 else 1
    finally:
        if worker is not None:
            stop_worker(worker, timeout_s=60)
        delete_stream(kinesis, stream)
        delete_alert_topic(cfg0, topic, queue)
        delete_local_delivery_streams(cfg)
        client.indices.delete(index=f"{prefix}-*", params={"allow_no_indices": "true", "ignore_unavailable": "true"})


if __name__ == "__main__":
    sys.exit(main())
