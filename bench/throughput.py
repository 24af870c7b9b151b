"""Throughput through the real daemon: records/s from the first record a processor received to the last
document visible in OpenSearch (the stream is filled beforehand, so that is when the work starts).

Also reported: the same from the moment the workers were started (JVM start and lease taking included),
and, only to compare with earlier runs, the rate from the first document seen to the last, which
overstated the rate 1.4-2x (the work before the first visible document was counted, its time not).

Beside it, the ceilings that bound it on this machine: how fast kinesalite takes PutRecords (fill),
and how fast plain GetRecords reads the same stream back through the h2c front (the Kinesis server's
own read ceiling, no KCL, no processing). Writes bench/results/throughput.json.
Usage: python bench/throughput.py [--records 30000] [--shards 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import procstat

from worker import aws
from worker.config import load_config
from worker.localstack import stack
from worker.ops.fleet import start_worker, stop_worker
from worker.ops.resources import delete_local_delivery_streams, ensure_local_resources
from worker.ops.streams import create_stream, delete_stream
from worker.sim.encode import encode_frame
from worker.sim.producer import KinesisProducer
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of
from worker.sinks.opensearch import make_client


def read_back(kinesis, stream: str) -> tuple[int, float]:
    """Read every record of the stream with GetRecords (limit 10000): the server's read ceiling."""
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    total, t0 = 0, time.perf_counter()
    for shard in shards:
        it = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while it:
            out = kinesis.get_records(ShardIterator=it, Limit=10000)
            total += len(out["Records"])
            if not out["Records"] and out.get("MillisBehindLatest", 0) == 0:
                break
            it = out.get("NextShardIterator")
    return total, time.perf_counter() - t0


def first_received_s(logs: list[Path]) -> float | None:
    """The earliest `first_records` any processor logged (epoch seconds)."""
    times = []
    for path in logs:
        for line in path.read_bytes().splitlines() if path.exists() else []:
            if b"first_records" not in line:
                continue
            try:
                times.append(orjson.loads(line[line.index(b"{") :])["received_ms"] / 1000.0)
            except (ValueError, KeyError, TypeError):
                continue
    return min(times) if times else None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-records", type=int, default=1000)
    parser.add_argument("--no-archive", action="store_true", help="Firehose archive off (OpenSearch only)")
    parser.add_argument("--out", default="", help="where to write the result (default bench/results/throughput.json)")
    args = parser.parse_args()

    env_values = stack.up(log=lambda m: None)
    os.environ.update(env_values)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    stream = f"bench-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "FACEWATCH_STREAM": stream,
        "FACEWATCH__OPENSEARCH__INDEX_PREFIX": prefix,
        "FACEWATCH__KINESIS__MAX_RECORDS": str(args.max_records),
        "FACEWATCH_LOG_LEVEL": "info",  # each processor logs `first_records`: when its work started
        "FACEWATCH__FIREHOSE__RAW_STREAM": f"{prefix}-raw",
        "FACEWATCH__FIREHOSE__TRACKS_STREAM": f"{prefix}-tracks",
        "FACEWATCH__FIREHOSE__ENABLED": "false" if args.no_archive else "true",
    }
    cfg = load_config(env=env, stack_env_file=None)
    ensure_local_resources(cfg)
    kinesis = aws.kinesis(cfg)
    create_stream(kinesis, stream, args.shards)

    cameras = 16
    spec = ScenarioSpec(cameras=cameras, duration_s=args.records / cameras, seed=5, start=1_767_225_600.0)
    frames = frames_of(build_scenario(spec))
    payloads = [(f.camera.stream_arn, encode_frame(f)) for f in frames]
    faces = sum(len(f.faces) for f in frames)
    avg_bytes = sum(len(p) for _, p in payloads) / len(payloads)
    producer = KinesisProducer(kinesis, stream)
    t0 = time.perf_counter()
    producer.put(payloads)
    fill_s = time.perf_counter() - t0
    read, read_s = read_back(kinesis, stream)

    client = make_client(cfg.opensearch)
    index = f"{prefix}-detections"
    log_dir = Path(".run/logs")
    names = [f"bench-{uuid.uuid4().hex[:6]}-{i}" for i in range(args.workers)]
    started = time.time()
    workers = [start_worker(stream, name, env, log_dir) for name in names]
    first = last = None
    deadline = time.monotonic() + 600
    done = 0
    snapshots: list[tuple[float, dict]] = []  # (epoch s, procstat snapshot), every 0.5 s: the CPU split
    try:
        while time.monotonic() < deadline:
            if not snapshots or time.time() - snapshots[-1][0] >= 0.5:
                snapshots.append((time.time(), procstat.snapshot()))
            try:
                done = int(client.count(index=index)["count"])
            except Exception:  # noqa: BLE001 - before the first document
                done = 0
            now = time.time()
            if done and first is None:
                first = now
            if done >= faces:
                last = now
                snapshots.append((time.time(), procstat.snapshot()))
                break
            time.sleep(0.05)
    finally:
        for w in workers:
            stop_worker(w, timeout_s=30)
        delete_stream(kinesis, stream)
        delete_local_delivery_streams(cfg)
        client.indices.delete(index=f"{prefix}-*", ignore=[404])
    if last is None or first is None:
        print(f"bench: only {done}/{faces} faces indexed in time", file=sys.stderr)
        return 1
    received = first_received_s([log_dir / f"{name}.log" for name in names])
    if received is None:
        print("bench: no processor logged first_records", file=sys.stderr)
        return 1
    consume_s = last - received
    # The CPU each process used while the records were consumed (from the last snapshot before the first
    # record was received to the end): JVM start-up and lease taking left out.
    start_t, start_snap = max(((t, snap) for t, snap in snapshots if t <= received), default=snapshots[0])
    end_t, end_snap = snapshots[-1]
    cpu = procstat.cpu_between(start_snap, end_snap)
    window = end_t - start_t
    worker_cpu = cpu.get("daemon", 0.0) + cpu.get("processor", 0.0)
    result = {
        "records": len(frames),
        "faces": faces,
        "avg_record_bytes": round(avg_bytes),
        "shards": args.shards,
        "workers": args.workers,
        "max_records": args.max_records,
        "archive_to_firehose": not args.no_archive,
        "flush": {"interval_s": cfg.processor.flush_interval_s, "max_records": cfg.processor.flush_max_records},
        "checkpoint_every_s": cfg.checkpoint.every_s,
        "kinesis_server": "kinesalite 3.3.3 behind nghttpx (h2c), JSON (aws.cborEnabled=false)",
        "kcl": "amazon-kclpy 3.1.3 (KCL 3.1.3)",
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "fill_records_per_s": round(len(frames) / fill_s),
        "server_read_records_per_s": round(read / read_s),
        "consumed_records_per_s": round(len(frames) / consume_s),
        "indexed_faces_per_s": round(faces / consume_s),
        "consume_seconds": round(consume_s, 2),
        "clock": "first record received by a processor -> last document visible (polled every 0.05 s)",
        "from_worker_start_records_per_s": round(len(frames) / (last - started)),
        "worker_start_to_first_record_s": round(received - started, 2),
        "first_visible_to_last_records_per_s_overstated": round(len(frames) / max(last - first, 1e-3)),
        "cpu_split": {
            "window_s": round(window, 2),
            "cores_used_by_role": {role: round(c / window, 2) for role, c in sorted(cpu.items())},
            "cpu_s_by_role": {role: round(c, 2) for role, c in sorted(cpu.items())},
        },
        "processor_cpu_us_per_record": round(cpu.get("processor", 0.0) / len(frames) * 1e6, 1),
        "daemon_cpu_us_per_record": round(cpu.get("daemon", 0.0) / len(frames) * 1e6, 1),
        "worker_cpu_s_per_million_records": round(worker_cpu / len(frames) * 1e6, 1),
        "peak_rss_mb": {
            "processor": round(procstat.peak_rss(end_snap, "processor") / 2**20, 1),
            "daemon": round(procstat.peak_rss(end_snap, "daemon") / 2**20, 1),
        },
    }
    default = "bench/results/throughput.json" if not args.no_archive else "bench/results/throughput-no-archive.json"
    out = Path(args.out or default)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
