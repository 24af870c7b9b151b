"""Fleet.kill9 kills a worker task the way a Fargate task dies: the daemon and every process under it.

The JVM forks its Python children from worker threads, not from its main thread. The stand-in here
does the same: a parent that forks a child from a non-main thread, and that child forks a grandchild.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from worker.ops import fleet as fleet_mod
from worker.ops.fleet import Fleet

GRANDCHILD = "import time; time.sleep(120)"
CHILD = (
    "import os, subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', sys.argv[2]], start_new_session=sys.argv[3] == 'setsid')\n"
    "with open(sys.argv[1], 'a') as f: f.write(f'{os.getpid()} {g.pid}\\n')\n"
    "time.sleep(120)\n"
)
# The forking thread stays alive, as the JVM's do: when a thread ends, the kernel hands its children to
# another thread of the process, and they would show up in the main thread's list again.
PARENT = (
    "import subprocess, sys, threading, time\n"
    "def spawn():\n"
    "    subprocess.Popen([sys.executable, '-c', sys.argv[2], sys.argv[1], sys.argv[3], sys.argv[4]])\n"
    "    time.sleep(120)\n"
    "threading.Thread(target=spawn).start()\n"
    "time.sleep(120)\n"
)


def _gone(pid: int) -> bool:
    """No such process, or every thread of it a zombie (dead; its new parent has not reaped it yet)."""
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            continue
    return all(state in ("Z", "X") for state in states)


def _start_task(tmp_path: Path, grandchild_mode: str = "same-group") -> tuple[subprocess.Popen, int, int]:
    """The stand-in worker task, started as start_worker starts the daemon (its own session)."""
    pids = tmp_path / "pids"
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(pids), CHILD, GRANDCHILD, grandchild_mode],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 20
    while not (pids.exists() and pids.read_text().endswith("\n")):
        assert time.monotonic() < deadline, "the stand-in task did not start its child and grandchild"
        time.sleep(0.02)
    child, grandchild = map(int, pids.read_text().split())
    return proc, child, grandchild


def _cleanup(proc: subprocess.Popen, *pids: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _fleet_with(proc: subprocess.Popen, tmp_path: Path, monkeypatch) -> Fleet:
    fleet = Fleet("s", {}, tmp_path / "logs")
    fleet.procs = {"w1": proc}
    monkeypatch.setattr(fleet, "start", lambda: "w2")  # no real replacement worker in a unit test
    return fleet


def test_kill9_kills_the_daemon_and_children_it_forked_from_another_thread(tmp_path, monkeypatch):
    proc, child, grandchild = _start_task(tmp_path)
    try:
        # The case today's kill missed: the main thread's children list does not name the child.
        main_thread_children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert str(child) not in main_thread_children
        assert os.getpgid(child) == os.getpgid(grandchild) == proc.pid

        fleet = _fleet_with(proc, tmp_path, monkeypatch)
        assert fleet.kill9() == "w1"

        assert proc.poll() == -signal.SIGKILL
        survivors = [pid for pid in (proc.pid, child, grandchild) if not _gone(pid)]
        assert survivors == [], f"processes of the killed task still alive: {survivors}"
        assert fleet.kills == 1
    finally:
        _cleanup(proc, child, grandchild)


def test_kill9_also_kills_a_descendant_that_left_the_process_group(tmp_path, monkeypatch):
    proc, child, grandchild = _start_task(tmp_path, "setsid")
    try:
        assert os.getpgid(grandchild) != proc.pid
        _fleet_with(proc, tmp_path, monkeypatch).kill9()
        survivors = [pid for pid in (proc.pid, child, grandchild) if not _gone(pid)]
        assert survivors == [], f"processes of the killed task still alive: {survivors}"
    finally:
        _cleanup(proc, child, grandchild)


def test_every_thread_s_children_are_found(tmp_path):
    proc, child, grandchild = _start_task(tmp_path)
    try:
        assert fleet_mod.children_of(proc.pid) == [child]
        assert fleet_mod.descendants_of(proc.pid) == [child, grandchild]
    finally:
        _cleanup(proc, child, grandchild)


def test_a_process_that_outlives_the_kill_is_reported(tmp_path, monkeypatch):
    proc, child, grandchild = _start_task(tmp_path)
    try:
        monkeypatch.setattr(fleet_mod.os, "killpg", lambda pgid, sig: None)  # as if the group kill failed
        with pytest.raises(fleet_mod.TaskSurvivors, match=rf"{proc.pid}.*still alive"):
            fleet_mod.kill_task(proc, timeout_s=0.5)
    finally:
        monkeypatch.undo()
        _cleanup(proc, child, grandchild)
