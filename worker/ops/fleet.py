"""Start and stop local workers (`python -m worker run`) as process groups, for the demo, tests and benches."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def start_worker(
    stream: str, worker_id: str, env: dict[str, str], log_dir: Path | None = Path(".run/logs")
) -> subprocess.Popen:
    """A worker in its own process group; its output to <log_dir>/<worker id>.log, or, with no log_dir,
    to this process's own stdout and stderr (in a container: the task's log)."""
    command = [sys.executable, "-m", "worker", "run", "--stream", stream, "--worker-id", worker_id]
    if log_dir is None:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{worker_id}.log").open("wb") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
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
    """Direct children of a process, whichever of its threads forked them.

    `/proc/<pid>/task/<tid>/children` lists only what thread <tid> forked; the JVM forks its Python
    children from worker threads, so every thread's list is read."""
    children: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    for task in tasks:
        try:
            children += [int(x) for x in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # a thread that ended while we read
    return sorted(set(children))


def descendants_of(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, ...), parents before their children."""
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children_of(todo.pop(0)):
            if child not in found and child != pid:
                found.append(child)
                todo.append(child)
    return found


def _identity(pid: int) -> tuple[str, int] | None:
    """(state, start time) of a process, or None when there is no such process. A reused pid has
    another start time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def _outlives(pid: int, started: int | None) -> bool:
    """True while the process (the one that started at `started`) still exists and any of its threads
    is not a zombie: a killed JVM's main thread is a zombie while its other threads still exit."""
    ident = _identity(pid)
    if ident is None or (started is not None and ident[1] != started):
        return False
    states = [ident[0]]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                continue
    except OSError:
        pass
    return any(state not in ("Z", "X") for state in states)


class TaskSurvivors(RuntimeError):
    """Processes of a killed task that are still alive after the kill."""


def kill_task(proc: subprocess.Popen, timeout_s: float = 10.0) -> list[int]:
    """SIGKILL a worker task as Fargate loses it: the daemon and every process under it at once.

    The worker runs in its own session and process group (start_worker: start_new_session=True), so
    one killpg() delivers SIGKILL to all of them in one step: no child sees its parent die and goes on
    working. Descendants that left the group (setsid) were listed before the kill and are stopped
    (SIGSTOP) before it, then killed. Then waits until none of them is alive; raises TaskSurvivors
    naming any that is. Returns the pids that were killed (the daemon first)."""
    root = proc.pid
    tree = descendants_of(root)
    started = {pid: ident[1] for pid in [root, *tree] if (ident := _identity(pid)) is not None}
    try:
        group = os.getpgid(root)
    except ProcessLookupError:
        group = None
    if group is not None and group != root:
        raise RuntimeError(
            f"pid {root} is not a process group leader (pgid {group}): start it with"
            " start_new_session=True; killing its group would kill others"
        )
    outside = []
    for pid in tree:
        try:
            if os.getpgid(pid) != root:
                outside.append(pid)
        except ProcessLookupError:
            continue
    for pid in outside:  # frozen first, so nothing of the task runs after the group is killed
        try:
            os.kill(pid, signal.SIGSTOP)
        except ProcessLookupError:
            pass
    try:
        os.killpg(root, signal.SIGKILL)  # the one step: the kernel signals the whole group at once
    except ProcessLookupError:
        pass
    for pid in outside:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [pid for pid in [root, *tree] if _outlives(pid, started.get(pid))]
        alive += [pid for pid in _group_members(root) if pid not in alive]
        if not alive:
            return [root, *tree]
        if time.monotonic() > deadline:
            raise TaskSurvivors(f"kill -9 of task {root}: pid(s) {alive} still alive after {timeout_s:.0f} s")
        time.sleep(0.05)


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and _outlives(int(entry.name), None):
            members.append(int(entry.name))
    return members


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
        kill_task(proc)  # the JVM and its Python children in one step, as a Fargate task dies; verified
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
