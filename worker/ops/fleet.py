"""Start and stop local workers (`python -m worker run`) as process groups, for the demo and tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


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
