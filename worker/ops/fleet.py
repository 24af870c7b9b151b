"""Start and stop local workers (`python -m worker run`) as process groups, for the demo, tests and benches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable


def start_worker(stream: str, worker_id: str, env: dict[str, str], log_dir: Path = Path(".run/logs")) -> subprocess.Popen:
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{worker_id}.log").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "worker", "run", "--stream", stream, "--worker-id", worker_id],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True,
        )


def stop_worker(proc: subprocess.Popen, timeout_s: float = 60.0, sig: int = signal.SIGTERM) -> int | None:
    """Signal the daemon alone, as ECS does: it drains its children and checkpoints (KCL graceful
    shutdown). Signalling the whole group would kill the children first and leave a lease hand-off
    half done. Whatever outlives the timeout is killed with its group."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait()
    return proc.returncode


def children_of(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Fleet:
    """A local fleet of workers on one stream: start, kill -9 (ECS then starts a replacement), stop."""

    def __init__(self, stream: str, env: dict[str, str], log_dir: Path) -> None:
        self.stream, self.env, self.log_dir = stream, env, log_dir
        self.procs: dict[str, Any] = {}
        self.started = 0
        self.stops: list[dict] = []
        self.kills = 0

    def start(self) -> str:
        self.started += 1
        worker_id = f"w{self.started}"
        self.procs[worker_id] = start_worker(self.stream, worker_id, self.env, self.log_dir)
        return worker_id

    def kill9(self) -> str:
        worker_id = sorted(self.procs)[self.kills % len(self.procs)]
        proc = self.procs.pop(worker_id)
        for pid in children_of(proc.pid) + [proc.pid]:  # the Python children, then the JVM
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        self.kills += 1
        self.start()  # ECS starts a replacement task
        return worker_id

    def stop(self, worker_id: str) -> None:
        proc = self.procs.pop(worker_id)
        t0 = time.monotonic()
        code = stop_worker(proc, timeout_s=100)
        self.stops.append({"worker": worker_id, "exit_code": code, "seconds": round(time.monotonic() - t0, 1)})

    def stop_all(self) -> None:
        threads = [threading.Thread(target=self.stop, args=(w,)) for w in list(self.procs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


def wait_for(pred: Callable[[], bool], timeout_s: float, what: str, fail: bool = True, every_s: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every_s)
    if fail:
        raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
    sys.stderr.write(f"  (gave up waiting for {what} after {timeout_s:.0f} s)\n")
    return False
