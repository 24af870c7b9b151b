"""Throughput through the real daemon: records/s from the first document indexed to the last.

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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-records", type=int, default=1000)
    parser.add_argument("--no-archive", action="store_true", help="Firehose archive off (OpenSearch only)")
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
        "FACEWATCH_LOG_LEVEL": "warning",
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
    workers = [start_worker(stream, f"bench-{i}", env) for i in range(args.workers)]
    first = last = None
    deadline = time.monotonic() + 600
    done = 0
    try:
        while time.monotonic() < deadline:
            try:
                done = int(client.count(index=index)["count"])
            except Exception:  # noqa: BLE001 - before the first document
                done = 0
            now = time.perf_counter()
            if done and first is None:
                first = now
            if done >= faces:
                last = now
                break
            time.sleep(0.25)
    finally:
        for w in workers:
            stop_worker(w, timeout_s=30)
        delete_stream(kinesis, stream)
        delete_local_delivery_streams(cfg)
        client.indices.delete(index=f"{prefix}-*", ignore=[404])
    if last is None or first is None:
        print(f"bench: only {done}/{faces} faces indexed in time", file=sys.stderr)
        return 1
    consume_s = last - first
    # The first poll that saw documents already missed part of the work: the rate is a lower bound.
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
    }
    out = Path("bench/results/throughput.json" if not args.no_archive else "bench/results/throughput-no-archive.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
