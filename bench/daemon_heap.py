"""The daemon JVM's heap with large batches: `make bench-heap` -> bench/results/daemon_heap.json.

With `-Xmx256m` (the old fixed heap) and `maxRecords` 10000 the daemon once ran out of heap in
`MessageWriter.writeProcessRecordsMessage` (a whole batch becomes one JSON message) and the worker died.
The image now sizes the heap from the container's memory (`-XX:MaxRAMPercentage`, worker.daemon_heap_percent,
40 % by default). Here a Fargate task's memory is given to the JVM as `-XX:MaxRAM` (what it reads from
the cgroup limit in a task; 2048 MiB, the task definition's default), and each run puts ~1.2 KB records
into a 2-shard stream, starts one worker with `maxRecords` 10000 and the shipped heap setting, and waits
until every record is checkpointed. Counted per run: OutOfMemoryError lines in the worker's log, whether
the worker survived, records checkpointed, and the heap the JVM chose (-XX:+PrintFlagsFinal). With
`--control`, the same runs with the old `-Xmx256m` too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker import aws
from worker.config import load_config
from worker.ops.fleet import start_worker, stop_worker
from worker.ops.leases import read_leases
from worker.ops.resources import delete_local_delivery_streams, ensure_local_resources
from worker.ops.streams import create_stream, delete_stream
from worker.sim.encode import encode_frame
from worker.sim.producer import KinesisProducer
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of
from worker.sinks.opensearch import make_client

RESULTS = Path(__file__).resolve().parent / "results" / "daemon_heap.json"
TASK_MEMORY_MIB = 2048


def chosen_heap_mib(java_opts: list[str]) -> float:
    """MaxHeapSize the JVM picks with these options."""
    out = subprocess.run(
        [shutil.which("java") or "java", *java_opts, "-XX:+PrintFlagsFinal", "-version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if " MaxHeapSize " in x)
    return int(line.split("=")[1].split()[0]) / 2**20


def one_run(records: int, heap_env: dict[str, str], label: str, logs: Path) -> dict:
    prefix = f"bench-heap-{uuid.uuid4().hex[:6]}"
    stream = f"bench-heap-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        **heap_env,
        "FACEWATCH__OPENSEARCH__INDEX_PREFIX": prefix,
        "FACEWATCH__FIREHOSE__RAW_STREAM": f"{prefix}-raw",
        "FACEWATCH__FIREHOSE__TRACKS_STREAM": f"{prefix}-tracks",
        "FACEWATCH__QUARANTINE__PREFIX": f"{prefix}/",
        "FACEWATCH__KINESIS__MAX_RECORDS": "10000",
        "FACEWATCH_STREAM": stream,
    }
    env.pop("FACEWATCH_CONFIG", None)
    cfg = load_config(env=env, stack_env_file=None)
    ensure_local_resources(cfg)
    kinesis, dynamodb = aws.kinesis(cfg), aws.dynamodb(cfg)
    create_stream(kinesis, stream, 2)
    worker = None
    worker_id = f"heap-{label}-{uuid.uuid4().hex[:4]}"
    try:
        cameras = 50
        frames = frames_of(
            build_scenario(ScenarioSpec(cameras=cameras, duration_s=records / cameras, seed=3, start=1_767_312_000.0))
        )
        producer = KinesisProducer(kinesis, stream)
        producer.put((f.camera.stream_arn, encode_frame(f)) for f in frames)  # a backlog: full 10,000 batches
        last = producer.result.last_sequence
        worker = start_worker(stream, worker_id, env, logs)
        started = time.monotonic()
        done = False
        while time.monotonic() - started < 600 and worker.poll() is None:
            try:
                leases = {x.shard_id: x.checkpoint for x in read_leases(dynamodb, cfg.application_name)}
            except dynamodb.exceptions.ResourceNotFoundException:
                leases = {}
            if all(leases.get(s) == q for s, q in last.items()):
                done = True
                break
            time.sleep(1)
        seconds = time.monotonic() - started
        alive = worker.poll() is None
        stop_worker(worker, timeout_s=60)
        worker = None
        log = (logs / f"{worker_id}.log").read_text(errors="replace")
        return {
            "label": label,
            "records": len(frames),
            "all_checkpointed": done,
            "worker_alive_at_end": alive,
            "out_of_memory_errors": log.count("OutOfMemoryError"),
            "seconds": round(seconds, 1),
        }
    finally:
        if worker is not None:
            stop_worker(worker, timeout_s=60)
        delete_stream(kinesis, stream)
        delete_local_delivery_streams(cfg)
        make_client(cfg.opensearch).indices.delete(
            index=f"{prefix}-*", params={"allow_no_indices": "true", "ignore_unavailable": "true"}
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--control", action="store_true", help="also run the old -Xmx256m, as many times")
    args = parser.parse_args()
    from worker.localstack import stack

    os.environ.update(stack.up(log=lambda m: None))
    os.environ.pop("FACEWATCH_DAEMON_HEAP", None)
    task = f"-XX:MaxRAM={TASK_MEMORY_MIB}m"
    shipped = {"JAVA_TOOL_OPTIONS": task}  # the image's setting: MaxRAMPercentage from the config
    percent = load_config(env={}, stack_env_file=None).worker.daemon_heap_percent
    logs = Path(".run/logs/bench-heap")
    runs = [one_run(args.records, shipped, "shipped", logs) for _ in range(args.runs)]
    if args.control:
        runs += [one_run(args.records, {"FACEWATCH_DAEMON_HEAP": "256m"}, "xmx256m", logs) for _ in range(args.runs)]
    shipped_runs = [r for r in runs if r["label"] == "shipped"]
    result = {
        "task_memory_mib": TASK_MEMORY_MIB,
        "daemon_heap_percent": percent,
        "heap_chosen_mib": round(chosen_heap_mib([task, f"-XX:MaxRAMPercentage={percent:g}"])),
        "max_records": 10000,
        "shards": 2,
        "runs": runs,
        "max_records_10000_without_oom": all(
            r["out_of_memory_errors"] == 0 and r["all_checkpointed"] for r in shipped_runs
        ),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["max_records_10000_without_oom"] else 1


if __name__ == "__main__":
    sys.exit(main())
