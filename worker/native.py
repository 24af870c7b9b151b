"""The tracker's hot modules compiled to C by mypyc, used only when a build of exactly these sources exists.

The same source runs either way: mypyc compiles our typed Python as it is (1.6-1.9x on the tracker, measured
in docs/BENCHMARKS.md; `python -m worker.native key` prints the key on stdout for tools/install.sh only).
A build is filed under a key made of the Python version and every source it was compiled from or against,
so an edited module never runs from a stale build: it simply runs as Python until `make deps` (or
`python -m worker.native build`) compiles it again. Nothing else changes: no code path
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
import time
from collections.abc import Sequence
from pathlib import Path

# Compiled: where the per-face work is. Left as Python: the parser and the detection documents (msgspec and
# dict building are already C; mypyc made the parser 3x slower) and everything with I/O.
COMPILED = ("assignment", "paths", "tracker", "cameras", "track_docs", "alerts")
_PACKAGE = Path(__file__).resolve().parent
_MARK = ".complete"  # written last, listing each library and its size

active: str | None = None  # the build in use, once `activate` found one


def _keyed(package: Path) -> list[Path]:
    """What the compiled modules were type-checked against: a change to any of these makes another key."""
    return [*sorted((package / "core").glob("*.py")), package / "model.py", package / "documents.py"]


_KEYED = tuple(_keyed(_PACKAGE))


def key(files: Sequence[Path] | None = None) -> str:
    digest = hashlib.blake2b(digest_size=10)
    digest.update(f"{sys.implementation.cache_tag}|{sysconfig.get_platform()}|{','.join(COMPILED)}".encode())
    for path in _KEYED if files is None else files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def builds_dir() -> Path:
    configured = os.environ.get("FACEWATCH_NATIVE_DIR")
    return Path(configured) if configured else _PACKAGE.parent / ".cache" / "native"


def _complete(build: Path) -> bool:
    """Every library the build listed when it finished is there, whole."""
    try:
        listed = (build / _MARK).read_text().split()
        return bool(listed) and all(
            (build / name).stat().st_size == int(size) for name, size in zip(listed[::2], listed[1::2], strict=True)
        )
    except (OSError, ValueError):  # absent, unreadable, or not what build() writes
        return False


def activate(core_path: list[str]) -> str | None:
    """Put the build of these sources first on `worker.core`'s search path, if there is one."""
    global active
    strays = [p.name for p in (_PACKAGE / "core").glob("*.so")]
    if strays:  # e.g. mypyc run by hand in the checkout: Python imports them before the sources, whatever we do
        print(f"facewatch: compiled modules in {_PACKAGE / 'core'} shadow their sources: {strays}", file=sys.stderr)
    if os.environ.get("FACEWATCH_NATIVE", "1") == "0":
        return None
    build = builds_dir() / key()
    if not _complete(build):
        return None
    core_path.insert(0, str(build / "worker" / "core"))
    if str(build) not in sys.path:
        # mypyc's shared library of the group, imported by a name every build shares: first, so that no
        # other copy on the path (a stray one in the working directory) is taken for it
        sys.path.insert(0, str(build))
    active = str(build)
    return active


def build(dest: Path | None = None) -> Path:
    """Compile COMPILED into dest/<key> (nothing to do when it is there); other keys' builds are removed.

    The key is that of the sources as copied for the build, so an edit meanwhile cannot be filed under it;
    each build stages in a folder of its own and is renamed into place whole, so two builds at once (two
    `make deps`) cannot mix their files, and a running worker keeps the libraries it loaded."""
    dest = dest or builds_dir()
    with tempfile.TemporaryDirectory(prefix="facewatch-native-") as tmp:
        work = Path(tmp)
        shutil.copytree(_PACKAGE, work / "worker", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        out = dest / key(_keyed(work / "worker"))
        if _complete(out):
            return out
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
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f"{out.name}.tmp-", dir=dest))
        (staging / "worker" / "core").mkdir(parents=True)
        libs = [lib for name in COMPILED for lib in (work / "worker" / "core").glob(f"{name}.*.so")]
        libs += list(work.glob("*__mypyc.*.so"))
        missing = [n for n in COMPILED if not any(lib.name.startswith(f"{n}.") for lib in libs)]
        if missing:
            shutil.rmtree(staging, ignore_errors=True)
            raise RuntimeError(f"mypyc built no library for {', '.join(missing)}")
        listing = []
        for lib in libs:
            target = staging / lib.relative_to(work)
            shutil.copy2(lib, target)
            listing.append(f"{target.relative_to(staging)} {target.stat().st_size}")
        (staging / _MARK).write_text("\n".join(listing) + "\n")
        try:
            staging.rename(out)
        except OSError:  # another build of the same key finished first (or left a broken one): use or replace it
            if not _complete(out):
                shutil.rmtree(out, ignore_errors=True)
                staging.rename(out)
            else:
                shutil.rmtree(staging, ignore_errors=True)
    stale = time.time() - 3600.0
    for old in dest.iterdir():  # other keys' builds, and staging folders a killed build left an hour ago
        if old != out and old.is_dir() and (".tmp-" not in old.name or old.stat().st_mtime < stale):
            shutil.rmtree(old, ignore_errors=True)
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
