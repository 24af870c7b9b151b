"""The pure path on one core: record bytes -> parsed frame -> detections, tracks, alerts -> bulk body.

Everything a shard's processor does with a batch except waiting on a sink: the real `BatchHandler`
(parse and validate, detection documents, the tracker and alert rules, camera states, archive lines),
then each flush's documents serialised into `_bulk` lines exactly as the OpenSearch sink sends them.
No network: the shard has no previous owner (its hand-off reads find nothing), and nothing is sent.
Timed by CPU time of this process (`time.process_time`) and by wall time over the whole run, both
reported; the rate is records / CPU seconds, so it is the work of one core, whatever else runs.

Usage: python bench/pure_path.py [--records 30000] [--repeat 3] [--profile]
Writes bench/results/pure_path.json (and is run again by `make bench` into latest.json).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import platform
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker import native
from worker.config import load_config
from worker.model import RawRecord
from worker.sim.encode import encode_frame
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of, make_cameras
from worker.sinks.opensearch import _chunks
from worker.sinks.writer import SinkWriter
from worker.source.batch import BatchHandler

CAMERAS = 16
BATCH = 1000  # records per processRecords call, the daemon's default maxRecords here


class NoPreviousOwner:
    """The OpenSearch side as a new shard sees it: no camera state, no open track to take over."""

    def get_many(self, refs: Any) -> dict[str, dict[str, Any]]:
        return {}


def records_of(count: int, cameras: int = CAMERAS, seed: int = 5) -> list[RawRecord]:
    """The throughput benchmark's records: the simulator's day, ~1.2 KB each, in arrival order."""
    spec = ScenarioSpec(cameras=cameras, duration_s=count / cameras, seed=seed, start=1_767_225_600.0)
    frames = frames_of(build_scenario(spec))
    out = []
    for i, frame in enumerate(frames):
        arrival = round(frame.frame_time * 1000) + 500  # half a second from camera to stream
        out.append(RawRecord(encode_frame(frame), f"{49_000_000_000 + i:056d}", frame.camera.stream_arn, arrival))
    return out


def run_once(records: list[RawRecord], flush_every: int) -> tuple[int, int, int, float, float]:
    """One shard's processor over the records; (records, documents, body bytes, cpu s, wall s)."""
    cameras = [{"id": c.camera_id, "stream_arn": c.stream_arn, "site": "hq"} for c in make_cameras(CAMERAS)]
    cfg = load_config(env={"FACEWATCH_CAMERAS": json.dumps(cameras)}, stack_env_file=None)
    writer = SinkWriter(NoPreviousOwner(), None, None, cfg.opensearch.index_prefix, "shard-0", "bench")  # type: ignore[arg-type]
    handler = BatchHandler(cfg, writer, "shardId-000000000000", "bench", clock=lambda: 0.0)
    docs = body = 0
    since_flush = 0
    c0, w0 = time.process_time(), time.perf_counter()
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        handler.handle(batch, received_ms=0)
        since_flush += len(batch)
        if since_flush >= flush_every or start + BATCH >= len(records):
            pending = handler.buffer.take()
            ops = list(pending.ops.values()) + handler.tracking.hand_off_ops()  # the cameras' states, as a flush
            for chunk in _chunks(ops, cfg.opensearch.bulk_max_bytes, cfg.opensearch.bulk_max_docs):
                body += len(b"".join(line for _, line in chunk))
            for lines in pending.archive.values():
                body += sum(len(line) for line in lines)
            docs += len(ops)
            since_flush = 0
    return len(records), docs, body, time.process_time() - c0, time.perf_counter() - w0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported, every run kept")
    parser.add_argument("--flush-every", type=int, default=5000, help="records per flush (flush_max_records)")
    parser.add_argument("--profile", action="store_true", help="print the top functions of one run")
    parser.add_argument("--out", default="bench/results/pure_path.json")
    args = parser.parse_args()
    records = records_of(args.records)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        run_once(records, args.flush_every)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        return 0
    runs = [run_once(records, args.flush_every) for _ in range(args.repeat)]
    rates = sorted(n / cpu for n, _, _, cpu, _ in runs)
    median = rates[len(rates) // 2]
    n, docs, body, _, _ = runs[0]
    result = {
        "records": n,
        "avg_record_bytes": round(sum(len(r.data) for r in records) / len(records)),
        "documents": docs,
        "bulk_and_archive_bytes": body,
        "runs": [
            {"cpu_s": round(c, 3), "wall_s": round(w, 3), "records_per_cpu_s": round(n / c)} for n, _, _, c, w in runs
        ],
        "pure_path_records_per_s_per_core": round(median),
        "us_per_record": round(1e6 / median, 1),
        "python": platform.python_version(),
        "tracker_compiled": native.active is not None,  # worker/native.py (FACEWATCH_NATIVE=0: as Python)
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
