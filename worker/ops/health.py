"""The container's health signal. The worker has no HTTP port, so each record processor keeps a
heartbeat file per shard, touched at every callback and at every retry wait, and removed when it gives
the shard up. `facewatch health` (the image's HEALTHCHECK, the ECS task's health check) fails when one
of them is older than worker.health_max_age_s: a processor that is stuck, not one that is waiting on a
sink outage (that one retries, and beats while it does; replacing the task would not help)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".beat"


class Heartbeat:
    """One shard's heartbeat file; writes at most once per `every_s` so the hot path stays cheap."""

    def __init__(self, directory: str, shard_id: str, every_s: float = 1.0) -> None:
        self.path = Path(directory) / f"{shard_id}{SUFFIX}" if directory else None
        self.every_s = every_s
        self._last = float("-inf")

    def beat(self, now: float | None = None) -> None:
        if self.path is None:
            return
        now = time.monotonic() if now is None else now
        if now - self._last < self.every_s:
            return
        self._last = now
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
        except OSError:
            pass  # a full or read-only /tmp must not stop the processing; health will say so

    def clear(self) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Health:
    ok: bool
    message: str


def check(directory: str, max_age_s: float, now: float | None = None) -> Health:
    """Healthy when every shard this worker processes beat within max_age_s. No heartbeat at all is
    healthy: a worker that holds no lease yet (starting, or more tasks than shards) is idle, not stuck."""
    if not directory:
        return Health(False, "worker.heartbeat_dir is not set: no heartbeat to check (the image sets it)")
    now = time.time() if now is None else now
    base = Path(directory)
    beats = sorted(base.glob(f"*{SUFFIX}")) if base.is_dir() else []
    stale = []
    for beat in beats:
        try:
            age = now - beat.stat().st_mtime
        except FileNotFoundError:
            continue  # given up between the listing and the stat
        if age > max_age_s:
            stale.append(f"{beat.name[: -len(SUFFIX)]} ({age:.0f} s)")
    if stale:
        return Health(False, f"record processor stuck: no heartbeat for {', '.join(stale)} (limit {max_age_s:.0f} s)")
    return Health(True, f"ok: {len(beats)} shard(s) beating")
