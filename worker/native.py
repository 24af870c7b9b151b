"""The tracker's hot modules compiled to C by mypyc, used only when a build of exactly these sources exists.

The same source runs either way: mypyc compiles our typed Python as it is (1.6-1.8x on the tracker, measured
in docs/BENCHMARKS.md). A build is filed under a key made of the Python version and every source it was
compiled from or against, so an edited module never runs from a stale build: it simply runs as Python until
`make deps` (or `python -m worker.native build`) compiles it again. Nothing else changes: no code path
depends on being compiled, and `FACEWATCH_NATIVE=0` turns it off (the equivalence test runs both ways).

Builds live in `.cache/native/<key>/` of a checkout, or in `FACEWATCH_NATIVE_DIR` (the image's). This module
imports nothing of ours: `worker/core/__init__.py` calls `activate` before any core module is imported.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

# Compiled: where the per-face work is. Left as Python: the parser and the detection documents (msgspec and
# dict building are already C; mypyc made the parser 3x slower) and everything with I/O.
COMPILED = ("assignment", "paths", "tracker", "cameras", "track_docs", "alerts")
_PACKAGE = Path(__file__).resolve().parent
_CORE = _PACKAGE / "core"
# What the compiled modules were type-checked against: a change to any of these makes another key.
_KEYED = (*sorted(_CORE.glob("*.py")), _PACKAGE / "model.py", _PACKAGE / "documents.py")
_MARK = ".complete"

active: str | None = None  # the build in use, once `activate` found one


def key() -> str:
    digest = hashlib.blake2b(digest_size=10)
    digest.update(f"{sys.implementation.cache_tag}|{sysconfig.get_platform()}|{','.join(COMPILED)}".encode())
    for path in _KEYED:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def builds_dir() -> Path:
    configured = os.environ.get("FACEWATCH_NATIVE_DIR")
    return Path(configured) if configured else _PACKAGE.parent / ".cache" / "native"


def activate(core_path: list[str]) -> str | None:
    """Put the build of these sources first on `worker.core`'s search path, if there is one."""
    global active
    if os.environ.get("FACEWATCH_NATIVE", "1") == "0":
        return None
    build = builds_dir() / key()
    if not (build / _MARK).is_file():
        return None
    core_path.insert(0, str(build / "worker" / "core"))
    if str(build) not in sys.path:
        sys.path.append(str(build))  # mypyc's shared runtime module of the group, imported by name
    active = str(build)
    return active


def build(dest: Path | None = None) -> Path:
    """Compile COMPILED into dest/<key> (nothing to do when it is there); other keys' builds are removed."""
    dest = dest or builds_dir()
    out = dest / key()
    if (out / _MARK).is_file():
        return out
    with tempfile.TemporaryDirectory(prefix="facewatch-native-") as tmp:
        work = Path(tmp)
        shutil.copytree(_PACKAGE, work / "worker", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        pyproject = _PACKAGE.parent / "pyproject.toml"
        if pyproject.is_file():  # the type-checking settings the modules are checked with elsewhere
            shutil.copy(pyproject, work / "pyproject.toml")
        sources = [f"worker/core/{name}.py" for name in COMPILED]
        done = subprocess.run(
            [sys.executable, "-m", "mypyc", *sources], cwd=work, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
            raise RuntimeError(f"mypyc failed (exit {done.returncode}):\n{tail}")
        staging = dest / f"{out.name}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "worker" / "core").mkdir(parents=True)
        for name in COMPILED:
            for lib in (work / "worker" / "core").glob(f"{name}.*.so"):
                shutil.copy2(lib, staging / "worker" / "core" / lib.name)
        for lib in work.glob("*__mypyc.*.so"):
            shutil.copy2(lib, staging / lib.name)
        missing = [n for n in COMPILED if not list((staging / "worker" / "core").glob(f"{n}.*.so"))]
        if missing:
            raise RuntimeError(f"mypyc built no library for {', '.join(missing)}")
        (staging / _MARK).write_text(out.name + "\n")
        for old in dest.iterdir():
            if old.is_dir() and old != staging:
                shutil.rmtree(old, ignore_errors=True)
        staging.rename(out)
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        dest = Path(argv[1]) if len(argv) > 1 else None
        try:
            print(build(dest), file=sys.stderr)
        except (RuntimeError, OSError) as exc:
            print(f"native build failed, the tracker runs as Python: {exc}", file=sys.stderr)
            return 1
        return 0
    if argv[:1] == ["key"]:
        print(key())
        return 0
    print("usage: python -m worker.native build [DEST] | key", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
