"""`make bench`'s summary: every layer's rate beside its ceiling, measured in one run, in one file.

Runs, one after another on the same stack (nothing else may run meanwhile: two cores are shared):
1. bench/pure_path.py: the pure path on one core (records/s of CPU time).
2. bench/processor.py: raw `_bulk` ceilings (1 and 2 in flight), naive per-document indexing, and the
   real processor under the protocol driver (batches of 1,000 and 10,000, archive on and off).
3. bench/throughput.py: end to end through the daemon (2 shards, 2 workers), with the Kinesis read
   ceiling, the CPU split per process, peak RSS and the worker's CPU per million records.
4. bench/alerts.py --cases load: alert latency (arrival -> SNS) while the workers consume a backlog.
Then writes bench/results/latest.json and the charts (bench/plots.py -> docs/img/).
Usage: python bench/latest.py [--records 30000] [--skip-alerts]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path("bench/results")


def run(script: str, *args: str, check: bool = True) -> int:
    command = [sys.executable, f"bench/{script}", *args]
    sys.stderr.write(f"latest: {' '.join(command[1:])}\n")
    return subprocess.run(command, check=check).returncode


def load(name: str) -> dict[str, Any]:
    return json.loads((RESULTS / name).read_text())


def summary(pure: dict, proc: dict, e2e: dict, e2e_10k: dict, alerts: dict | None) -> dict[str, Any]:
    docs_per_record = proc["documents"] / proc["records"]
    bulk_records_per_s = proc["raw_bulk_ceiling_docs_per_s"] / docs_per_record
    read_ceiling = max(e2e["server_read_records_per_s"], e2e_10k["server_read_records_per_s"])
    ceiling = min(read_ceiling, bulk_records_per_s)
    best = e2e_10k if e2e_10k["consumed_records_per_s"] > e2e["consumed_records_per_s"] else e2e
    load_row = (alerts or {}).get("load") or {}
    return {
        "pure_path_records_per_s_per_core": pure["pure_path_records_per_s_per_core"],
        "pure_path_us_per_record": pure["us_per_record"],
        "tracker_compiled": pure.get("tracker_compiled"),
        "raw_bulk_docs_per_s": {
            "1_in_flight": proc["raw_bulk_1"]["docs_per_s"],
            "2_in_flight": proc["raw_bulk_2"]["docs_per_s"],
        },
        "naive_docs_per_s": proc["naive"]["docs_per_s"],
        "processor": proc["processor"],
        "processor_vs_raw_bulk": proc["processor_vs_raw_bulk"],
        "processor_vs_raw_bulk_archive_off": proc["processor_vs_raw_bulk_archive_off"],
        "processor_vs_naive": proc["processor_vs_naive"],
        "e2e_records_per_s": e2e["consumed_records_per_s"],  # maxRecords 1000 (the default)
        "e2e_records_per_s_max_records_10000": e2e_10k["consumed_records_per_s"],
        "e2e_clock": e2e["clock"],
        "kinesis_read_ceiling_records_per_s": read_ceiling,
        "bulk_ceiling_records_per_s": round(bulk_records_per_s),
        "e2e_vs_ceiling": round(best["consumed_records_per_s"] / ceiling, 3),
        "e2e_vs_ceiling_max_records_1000": round(e2e["consumed_records_per_s"] / ceiling, 3),
        "cpu_split": {"max_records_1000": e2e["cpu_split"], "max_records_10000": e2e_10k["cpu_split"]},
        "processor_cpu_us_per_record_e2e": best["processor_cpu_us_per_record"],
        "daemon_cpu_us_per_record_e2e": best["daemon_cpu_us_per_record"],
        "worker_cpu_s_per_million_records": best["worker_cpu_s_per_million_records"],
        "worker_cpu_s_per_million_records_max_records_1000": e2e["worker_cpu_s_per_million_records"],
        "peak_rss_mb": {
            "processor_e2e": max(e2e["peak_rss_mb"]["processor"], e2e_10k["peak_rss_mb"]["processor"]),
            "daemon_e2e": max(e2e["peak_rss_mb"]["daemon"], e2e_10k["peak_rss_mb"]["daemon"]),
            "processor_batch_10000": max(r["processor_peak_rss_mb"] for r in proc["processor"] if r["batch"] == 10000),
        },
        "alert_latency_under_load_p99_s": load_row.get("latency_arrival_to_sns", {}).get("p99_s"),
        "alert_load": {k: load_row.get(k) for k in ("backlog_records_per_s", "recall", "precision", "passed")}
        if load_row
        else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=30000)
    parser.add_argument("--skip-alerts", action="store_true", help="leave the alert-latency-under-load case out")
    parser.add_argument("--summarise-only", action="store_true", help="only rebuild latest.json from the results")
    args = parser.parse_args()
    started = time.time()
    n = str(args.records)
    if not args.summarise_only:
        run("pure_path.py", "--records", n, "--repeat", "5")
        run("processor.py", "--records", n)
        run("throughput.py", "--records", n)  # maxRecords 1000, the default
        run("throughput.py", "--records", n, "--max-records", "10000", "--out", str(RESULTS / "throughput-10000.json"))
    alerts = None
    if not args.skip_alerts:
        if not args.summarise_only:
            # A failed case (its latency above target) is a figure to report, not a reason to stop.
            run("alerts.py", "--cases", "load", check=False)  # into bench/results/alerts.json
        alerts = {row["case"]: row for row in load("alerts.json").get("cases", [])}
    result = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "machine": f"{os.cpu_count()} cores, {platform.platform()}",
        "python": platform.python_version(),
        **summary(
            load("pure_path.json"),
            load("processor.json"),
            load("throughput.json"),
            load("throughput-10000.json"),
            alerts,
        ),
        "run_seconds": round(time.time() - started),
    }
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    run("plots.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
