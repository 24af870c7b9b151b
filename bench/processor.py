"""The record processor's ceiling against real OpenSearch, beside the ceilings that bound it, in one run.

1. Raw `_bulk` of the very documents the processor writes (the pure path's flushes: detections, tracks,
   camera states), bodies built beforehand, 1 request in flight and 2: the most OpenSearch takes here.
2. Naive: one index request per document (a sample), the baseline a batching sink must beat.
3. The real processor (`python -m worker processor`) fed by the protocol driver (bench/protocol_driver.py,
   the daemon's side of the MultiLang protocol, no JVM, no Kinesis), batches of 1,000 and 10,000 records,
   archive to Firehose (moto) on and off. Timed from the first batch sent to the processor's answer to
   shutdownRequested, which comes only after its last flush was acknowledged and checkpointed; then every
   detection is checked to be in the index. Its CPU time and peak RSS are read from /proc.
Needs the local stack (`make stack-up`; started here if it is not up).
Usage: python bench/processor.py [--records 30000] [--out bench/results/processor.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import procstat
from protocol_driver import ProtocolDriver
from pure_path import CAMERAS, NoPreviousOwner, records_of

from worker.config import load_config
from worker.localstack import stack
from worker.model import IndexOp
from worker.ops.resources import delete_local_delivery_streams, ensure_local_resources
from worker.sim.scenario import make_cameras
from worker.sinks.opensearch import OpenSearchSink, _chunks, make_client
from worker.sinks.writer import SinkWriter
from worker.source.batch import BatchHandler


def cameras_env() -> dict[str, str]:
    cams = [{"id": c.camera_id, "stream_arn": c.stream_arn, "site": "hq"} for c in make_cameras(CAMERAS)]
    return {"FACEWATCH_CAMERAS": json.dumps(cams)}


def documents(records: list, env: dict[str, str], flush_every: int = 5000) -> list[list[IndexOp]]:
    """The ops each flush of the processor would write, computed by the pure path."""
    cfg = load_config(env=env, stack_env_file=None)
    handler = BatchHandler(
        cfg,
        SinkWriter(NoPreviousOwner(), None, None, cfg.opensearch.index_prefix, "s", "b"),
        "shardId-0",
        "b",  # type: ignore[arg-type]
    )
    flushes, since = [], 0
    for start in range(0, len(records), 1000):
        handler.handle(records[start : start + 1000], received_ms=0)
        since += 1000
        if since >= flush_every or start + 1000 >= len(records):
            flushes.append(list(handler.buffer.take().ops.values()) + handler.tracking.hand_off_ops())
            since = 0
    return flushes


def raw_bulk(client: Any, flushes: list[list[IndexOp]], in_flight: int, max_bytes: int, max_docs: int) -> dict:
    bodies = [
        (len(chunk), b"".join(line for _, line in chunk))
        for ops in flushes
        for chunk in _chunks(ops, max_bytes, max_docs)
    ]
    docs = sum(n for n, _ in bodies)

    def send(body: bytes) -> None:
        response = client.bulk(body=body)
        if response.get("errors"):
            bad = [i for i in response["items"] if next(iter(i.values()))["status"] >= 300]
            raise RuntimeError(f"raw bulk: {len(bad)} items refused: {bad[:1]}")

    t0 = time.perf_counter()
    if in_flight == 1:
        for _, body in bodies:
            send(body)
    else:
        with ThreadPoolExecutor(in_flight) as pool:
            list(pool.map(send, [b for _, b in bodies]))
    seconds = time.perf_counter() - t0
    return {
        "in_flight": in_flight,
        "documents": docs,
        "seconds": round(seconds, 2),
        "docs_per_s": round(docs / seconds),
    }


def naive(client: Any, flushes: list[list[IndexOp]], sample: int) -> dict:
    ops = [op for ops in flushes for op in ops if not op.delete][:sample]
    t0 = time.perf_counter()
    for op in ops:
        client.index(index=op.index, id=op.doc_id, body=op.source)
    seconds = time.perf_counter() - t0
    return {"documents": len(ops), "seconds": round(seconds, 2), "docs_per_s": round(len(ops) / seconds)}


def processor_run(records: list, base_env: dict[str, str], batch: int, archive: bool, client: Any) -> dict:
    prefix = f"bp-{uuid.uuid4().hex[:8]}"
    env = {
        **base_env,
        "FACEWATCH__OPENSEARCH__INDEX_PREFIX": prefix,
        "FACEWATCH__FIREHOSE__ENABLED": "true" if archive else "false",
        "FACEWATCH__FIREHOSE__RAW_STREAM": f"{prefix}-raw",
        "FACEWATCH__FIREHOSE__TRACKS_STREAM": f"{prefix}-tracks",
        "FACEWATCH__ALERTS__SNS_TOPIC_ARN": "",  # the alert lanes are measured under load by bench/alerts.py
        "FACEWATCH__ALERTS__WEBHOOK_URL": "",
        "FACEWATCH_LOG_LEVEL": "warning",
    }
    cfg = load_config(env=env)
    ensure_local_resources(cfg)
    log = Path(".run/logs") / f"{prefix}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with ProtocolDriver(env, stderr=log) as driver:
            assert driver.proc is not None
            driver.initialize("shardId-000000000000")
            t0 = time.perf_counter()
            cpu0, _ = procstat.cpu_and_peak_rss(driver.proc.pid)
            for start in range(0, len(records), batch):
                driver.process_records(records[start : start + batch])
            driver.shutdown_requested()
            seconds = time.perf_counter() - t0
            cpu1, rss = procstat.cpu_and_peak_rss(driver.proc.pid)
        client.indices.refresh(index=f"{prefix}-detections-*")
        indexed = int(client.count(index=f"{prefix}-detections-*")["count"])
        return {
            "batch": batch,
            "archive": archive,
            "seconds": round(seconds, 2),
            "records_per_s": round(len(records) / seconds),
            "detections_indexed": indexed,
            "last_checkpoint": driver.checkpoints[-1] if driver.checkpoints else None,
            "checkpointed_last_record": bool(driver.checkpoints)
            and driver.checkpoints[-1] == records[-1].sequence_number,
            "processor_cpu_s": round(cpu1 - cpu0, 2),
            "processor_cpu_us_per_record": round((cpu1 - cpu0) / len(records) * 1e6, 1),
            "processor_peak_rss_mb": round(rss / 2**20, 1),
        }
    finally:
        client.indices.delete(index=f"{prefix}-*", ignore=[404])
        if archive:
            delete_local_delivery_streams(cfg)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--naive-sample", type=int, default=3000)
    parser.add_argument("--out", default="bench/results/processor.json")
    args = parser.parse_args()
    os.environ.update(stack.up(log=lambda m: None))
    base_env = {**os.environ, **cameras_env()}
    records = records_of(args.records)
    faces = sum(len(orjson.loads(r.data).get("FaceSearchResponse") or []) for r in records)

    cfg = load_config(env={**base_env, "FACEWATCH__OPENSEARCH__INDEX_PREFIX": f"raw-{uuid.uuid4().hex[:8]}"})
    client = make_client(cfg.opensearch)
    OpenSearchSink(client, cfg.opensearch).ensure_templates()
    flushes = documents(records, {**cameras_env(), "FACEWATCH__OPENSEARCH__INDEX_PREFIX": cfg.opensearch.index_prefix})
    o = cfg.opensearch
    result: dict[str, Any] = {"records": len(records), "detections": faces, "documents": sum(map(len, flushes))}
    try:
        result["raw_bulk_1"] = raw_bulk(client, flushes, 1, o.bulk_max_bytes, o.bulk_max_docs)
        client.indices.delete(index=f"{o.index_prefix}-*", ignore=[404])
        result["raw_bulk_2"] = raw_bulk(client, flushes, 2, o.bulk_max_bytes, o.bulk_max_docs)
        client.indices.delete(index=f"{o.index_prefix}-*", ignore=[404])
        result["naive"] = naive(client, flushes, args.naive_sample)
    finally:
        client.indices.delete(index=f"{o.index_prefix}-*", ignore=[404])
    runs = []
    for batch, archive in ((1000, True), (1000, False), (10000, True), (10000, False)):
        run = processor_run(records, base_env, batch, archive, client)
        run["all_detections_indexed"] = run["detections_indexed"] == faces
        run["docs_per_s"] = round(result["documents"] / run["seconds"])
        runs.append(run)
        print(json.dumps(run), file=sys.stderr)
    result["processor"] = runs
    raw = max(result["raw_bulk_1"]["docs_per_s"], result["raw_bulk_2"]["docs_per_s"])
    best_on = max(r["docs_per_s"] for r in runs if r["archive"])
    best_off = max(r["docs_per_s"] for r in runs if not r["archive"])
    result["raw_bulk_ceiling_docs_per_s"] = raw
    result["processor_vs_raw_bulk"] = round(best_on / raw, 3)
    result["processor_vs_raw_bulk_archive_off"] = round(best_off / raw, 3)
    result["processor_vs_naive"] = round(best_on / result["naive"]["docs_per_s"], 1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if all(r["all_detections_indexed"] and r["checkpointed_last_record"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
