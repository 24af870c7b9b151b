"""The local stack keeps OpenSearch's data across a crash and a restart; only `stack reset` deletes it.

The restart test crashes the stack's own OpenSearch (kill -9 of the pid in .run/pids/opensearch.pid)
and calls stack.up() again, as `make stack-up` does. The reset tests need no server: they point the
stack module at a temporary .run folder.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from worker.localstack import processes, stack
from worker.ops.fleet import wait_for

pytestmark = pytest.mark.integration

N_DOCS = 50


def _gone(pid: int) -> bool:
    """Dead: no such process, or every thread of it a zombie nobody has reaped yet (reaped here if it is
    our child). A killed JVM's main thread is a zombie while its other threads still hold its ports."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            continue
    return all(state in ("Z", "X") for state in states)


def test_opensearch_killed_with_minus_9_comes_back_with_every_document(local_stack, opensearch):
    index = f"it-restart-{uuid.uuid4().hex[:10]}"
    ids = [f"doc-{i:03d}" for i in range(N_DOCS)]
    try:
        opensearch.indices.create(index=index, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
        lines = []
        for n, doc_id in enumerate(ids):
            lines += [{"index": {"_index": index, "_id": doc_id}}, {"n": n, "note": "survives a crash"}]
        result = opensearch.bulk(body=lines, refresh="true")
        assert not result["errors"]
        assert opensearch.count(index=index)["count"] == N_DOCS

        pid_file = stack.PIDS / "opensearch.pid"
        old_pid = int(pid_file.read_text().strip())
        os.kill(old_pid, signal.SIGKILL)  # a crash: no shutdown hook, no flush, the lock file stays
        wait_for(lambda: _gone(old_pid), 30, "the killed OpenSearch to be gone", every_s=0.2)
        assert not stack._opensearch_ok()

        stack.up(log=lambda m: None)  # what `make stack-up` does: start what is not running

        new_pid = int(pid_file.read_text().strip())
        assert new_pid != old_pid and not _gone(new_pid), "stack.up() did not start OpenSearch again"
        opensearch.indices.refresh(index=index)
        assert opensearch.count(index=index)["count"] == N_DOCS
        hits = opensearch.search(index=index, body={"size": N_DOCS + 10, "_source": False, "query": {"match_all": {}}})[
            "hits"
        ]["hits"]
        assert sorted(h["_id"] for h in hits) == ids
    finally:
        try:
            opensearch.indices.delete(index=index, ignore_unavailable=True)
        except Exception:  # noqa: BLE001 - a failed test leaves a dead node; the next up() recovers it
            pass


# ---- `stack reset`: what it deletes, and when it refuses (no server needed) ----


@pytest.fixture
def run_dir(tmp_path, monkeypatch):
    run = tmp_path / ".run"
    monkeypatch.setattr(stack, "RUN", run)
    monkeypatch.setattr(stack, "PIDS", run / "pids")
    monkeypatch.setattr(stack, "LOGS", run / "logs")
    monkeypatch.setattr(stack, "STACK_ENV", run / "stack.env")
    data = run / "data" / "opensearch" / "node_1" / "data" / "nodes" / "0"
    (data / "indices" / "abc" / "0" / "index").mkdir(parents=True)
    (data / "indices" / "abc" / "0" / "index" / "segments_1").write_bytes(b"lucene")
    (data / "node.lock").touch()
    (run / "logs").mkdir()
    (run / "logs" / "opensearch.log").write_text("kept\n")
    (run / "w1.properties").write_text("kept\n")
    (run / "data" / "other").mkdir()
    (run / "data" / "other" / "keep.txt").write_text("kept\n")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "keep.txt").write_text("kept\n")
    return run


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_reset_deletes_only_the_opensearch_data_folder_and_says_so(run_dir):
    before = _files(run_dir.parent)
    messages: list[str] = []
    deleted = stack.reset(log=messages.append)
    assert deleted == [run_dir / "data" / "opensearch"]
    assert not (run_dir / "data" / "opensearch").exists()
    assert _files(run_dir.parent) == {f for f in before if not f.startswith(".run/data/opensearch/")}
    text = "\n".join(messages)
    assert f"deleting {run_dir / 'data' / 'opensearch'}" in text
    assert "in memory" in text and "kinesalite" in text and "dynamodb" in text.lower() and "moto" in text
    assert stack.reset(log=messages.append) == []  # again: nothing left, nothing else touched
    assert "does not exist" in messages[-2]


def test_reset_refuses_while_the_stack_runs_and_deletes_nothing(run_dir, capsys):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / "pids").mkdir()
        (run_dir / "pids" / "opensearch.pid").write_text(str(sleeper.pid))
        before = _files(run_dir.parent)
        with pytest.raises(stack.StackError, match=r"refused: the stack is running \(opensearch \(pid \d+\)\)"):
            stack.reset(log=lambda m: None)
        assert _files(run_dir.parent) == before

        from worker.__main__ import main

        assert main(["stack", "reset"]) == 3
        assert "stack down" in capsys.readouterr().err and _files(run_dir.parent) == before
    finally:
        sleeper.kill()
        sleeper.wait()
    # The pid file of a server that died (a crash) does not block the reset.
    assert stack.reset(log=lambda m: None) == [run_dir / "data" / "opensearch"]


def test_reset_refuses_while_another_process_holds_the_node_lock(run_dir):
    lock = run_dir / "data" / "opensearch" / "node_1" / "data" / "nodes" / "0" / "node.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys, time\n"
                "fd = os.open(sys.argv[1], os.O_RDWR); fcntl.lockf(fd, fcntl.LOCK_EX); print('locked', flush=True)\n"
                "time.sleep(60)"
            ),
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(stack.StackError, match=rf"in use by pid {holder.pid} "):
            stack.reset(log=lambda m: None)
        assert lock.exists()
    finally:
        holder.kill()
        holder.wait()
    # A lock file left behind by a dead process is not held: that is not "in use".
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert processes.data_in_use(run_dir / "data" / "opensearch") == []
