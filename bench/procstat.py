"""CPU time and peak memory of the processes a benchmark run involves, by role, read from /proc.

A role is recognised by its command line: the daemon JVMs, the record processors, and the local stack's
servers. A snapshot maps pid -> (role, CPU seconds, peak RSS); the difference of two snapshots is the CPU
each role used in between (a process started in between counts from zero).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
ROLES = (
    ("daemon", "software.amazon.kinesis.multilang.MultiLangDaemon"),
    ("processor", "-m\x00worker\x00processor"),
    ("opensearch", "OpenSearchLauncher"),
    ("dynamodb", "DynamoDbLocalLauncher"),
    ("kinesalite", "kinesalite/server.js"),
    ("h2c_front", "nghttpx"),
    ("moto", "moto_server"),
)


@dataclass(frozen=True)
class Proc:
    role: str
    cpu_s: float
    peak_rss_bytes: int


def cpu_and_peak_rss(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and peak RSS in bytes of one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime
    hwm = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) * 1024
    return cpu, hwm


def snapshot() -> dict[int, Proc]:
    out: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            role = next((name for name, mark in ROLES if mark in cmdline), None)
            if role is None:
                continue
            out[int(entry.name)] = Proc(role, *cpu_and_peak_rss(int(entry.name)))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return out


def cpu_between(before: dict[int, Proc], after: dict[int, Proc]) -> dict[str, float]:
    """CPU seconds per role from `before` to `after`."""
    used: dict[str, float] = {}
    for pid, proc in after.items():
        start = before.get(pid)
        base = start.cpu_s if start is not None and start.role == proc.role else 0.0
        used[proc.role] = used.get(proc.role, 0.0) + max(0.0, proc.cpu_s - base)
    return used


def peak_rss(snap: dict[int, Proc], role: str) -> int:
    """The largest peak RSS of one process of the role."""
    return max((p.peak_rss_bytes for p in snap.values() if p.role == role), default=0)
