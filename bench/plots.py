"""The charts of docs/BENCHMARKS.md, from bench/results/latest.json: one per layer, its ceiling beside it.

Usage: python bench/plots.py [--latest bench/results/latest.json] [--out docs/img]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: files only
import matplotlib.pyplot as plt

CEILING, OURS, GOAL = "#9e9e9e", "#1f77b4", "#d62728"


def bars(path: Path, title: str, unit: str, rows: list[tuple[str, float, str]], goal: float | None = None) -> None:
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.55 * len(rows)))
    labels = [r[0] for r in rows]
    ax.barh(labels, [r[1] for r in rows], color=[r[2] for r in rows])
    for y, (_, value, _) in enumerate(rows):
        ax.text(value, y, f" {value:,.0f}", va="center", fontsize=9)
    if goal is not None:
        ax.axvline(goal, color=GOAL, linestyle="--", linewidth=1)
        ax.text(goal, len(rows) - 0.5, f" goal {goal:,.0f}", color=GOAL, fontsize=8, va="bottom")
    ax.invert_yaxis()
    ax.set_xlabel(unit)
    ax.set_title(title, fontsize=11)
    ax.set_xlim(0, max([r[1] for r in rows] + [goal or 0]) * 1.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latest", default="bench/results/latest.json")
    parser.add_argument("--out", default="docs/img")
    args = parser.parse_args()
    d = json.loads(Path(args.latest).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bars(
        out / "pure_path.png",
        "Pure path, one core: decode, validate, track, documents, bulk body",
        "records per CPU second",
        [("pure path", d["pure_path_records_per_s_per_core"], OURS)],
        goal=50000,
    )
    raw = d["raw_bulk_docs_per_s"]
    rows = [
        ("raw _bulk, 1 in flight", raw["1_in_flight"], CEILING),
        ("raw _bulk, 2 in flight", raw["2_in_flight"], CEILING),
    ]
    for r in d["processor"]:
        label = f"processor, batch {r['batch']}, archive {'on' if r['archive'] else 'off'}"
        rows.append((label, r["docs_per_s"], OURS))
    rows.append(("naive, 1 request per doc", d["naive_docs_per_s"], CEILING))
    title = "Record processor (protocol driver) vs raw _bulk and naive"
    bars(out / "processor.png", title, "documents/s", rows)
    bars(
        out / "end_to_end.png",
        "End to end, 2 shards, 2 workers, vs its ceilings",
        "records/s",
        [
            ("Kinesis read-back (GetRecords)", d["kinesis_read_ceiling_records_per_s"], CEILING),
            ("OpenSearch bulk ceiling, in records", d["bulk_ceiling_records_per_s"], CEILING),
            ("end to end, maxRecords 1000 (default)", d["e2e_records_per_s"], OURS),
            ("end to end, maxRecords 10000", d["e2e_records_per_s_max_records_10000"], OURS),
        ],
    )
    split = d["cpu_split"]["max_records_10000"]["cores_used_by_role"]
    fig, ax = plt.subplots(figsize=(9, 3.4))
    roles = sorted(split, key=lambda r: -split[r])
    ax.barh(roles, [split[r] for r in roles], color=OURS)
    ax.axvline(2.0, color=GOAL, linestyle="--", linewidth=1)
    ax.text(2.0, len(roles) - 0.5, " 2 cores", color=GOAL, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("cores used while consuming")
    ax.set_title("CPU by process, end to end, maxRecords 10000", fontsize=11)
    fig.tight_layout()
    fig.savefig(out / "cpu_split.png", dpi=110)
    plt.close(fig)
    print(f"plots: {', '.join(p.name for p in sorted(out.glob('*.png')))} in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
