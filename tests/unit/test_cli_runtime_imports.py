"""The runtime does not need the development modules the image leaves out (worker/sim, worker/localstack,
worker/ops/demo.py; see .dockerignore): in a fresh interpreter where importing them fails as it does in
the image, every other module of the package imports, the parser builds, runtime commands run, and the
development commands end in one line with exit 69 instead of an ImportError traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from worker.commands import DEV_MODULES, EXIT_UNAVAILABLE

ROOT = Path(__file__).resolve().parents[2]

# As in the image: importing a development module fails (ModuleNotFoundError, as when the file is absent).
BLOCK = r"""
import importlib.abc, sys

DEV = tuple(sys.argv[1].split(","))


def dev(name):
    return any(name == m or name.startswith(m + ".") for m in DEV)


class NotInTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if dev(name):
            raise ModuleNotFoundError(f"No module named {name!r} (not in the image)", name=name)
        return None


sys.meta_path.insert(0, NotInTheImage())
"""

IMPORT_ALL = (
    BLOCK
    + r"""
import importlib, json
from pathlib import Path

root = Path(sys.argv[2])
names = []
for path in sorted((root / "worker").rglob("*.py")):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    name = ".".join(parts)
    if not dev(name):
        importlib.import_module(name)
        names.append(name)
print(json.dumps({"imported": names, "dev_loaded": sorted(m for m in sys.modules if dev(m))}))
"""
)

RUN_CLI = (
    BLOCK
    + r"""
from worker.__main__ import main

sys.exit(main(sys.argv[2:]))
"""
)


def _python(tmp_path: Path, code: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FACEWATCH", "OPENSEARCH_", "KINESIS_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [sys.executable, "-c", code, ",".join(DEV_MODULES), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_runtime_module_imports_without_the_development_modules(tmp_path):
    done = _python(tmp_path, IMPORT_ALL, str(ROOT))
    assert done.returncode == 0, done.stderr[-4000:]
    found = json.loads(done.stdout)
    imported = set(found["imported"])
    for name in (
        "worker.__main__",
        "worker.source.processor",
        "worker.source.daemon",
        "worker.sinks.opensearch",
        "worker.ops.quarantine",
        "worker.ops.producer",
        "worker.ops.health",
        "worker.ops.retention",
        "worker.ops.rekognition",
        "worker.ops.leases",
    ):
        assert name in imported, name
    assert not {n for n in imported if n.startswith(DEV_MODULES)}
    assert found["dev_loaded"] == []


def test_the_cli_runs_and_says_what_is_not_installed_without_the_development_modules(tmp_path):
    helped = _python(tmp_path, RUN_CLI, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "simulate" in helped.stdout and "not in this installation" in helped.stdout
    health = _python(tmp_path, RUN_CLI, "health")
    assert health.returncode == 1, health.stderr  # it ran: no heartbeat directory is configured here
    assert "heartbeat_dir is not set" in health.stderr
    for argv in (["simulate", "--out", "x.jsonl"], ["stack", "status"], ["demo", "--workers", "1"]):
        done = _python(tmp_path, RUN_CLI, *argv)
        assert done.returncode == EXIT_UNAVAILABLE, done.stderr
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
        assert lines[0].startswith(f"facewatch {argv[0]}: a development command, not part of this installation")
