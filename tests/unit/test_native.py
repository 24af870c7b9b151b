"""The compiled core (worker/native.py) is used only for exactly its sources, and changes no decision.

`make deps` compiles the tracker's hot modules with mypyc; a checkout whose sources differ from the build must
run them as Python (a stale build would run old code), and the compiled build must give every document the
Python one gives, byte for byte, on crowd scenes and an ordinary day.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from worker import native

ROOT = Path(__file__).resolve().parents[2]

# Every document and archive line a shard's processor would write, over three simulated scenes with a change
# of owner half-way through each (the camera states restored), digested.
DIGEST = r"""
import hashlib, json, sys
sys.path.insert(0, "bench")
import orjson
import worker.core.tracker as tracker_module
from pure_path import NoPreviousOwner
from worker.config import load_config
from worker.model import RawRecord
from worker.sim.encode import encode_frame
from worker.sim.scenario import build_scenario, frames_of, make_cameras, preset
from worker.sinks.writer import SinkWriter
from worker.source.batch import BatchHandler

class PreviousOwner:  # the camera states the first owner wrote, read back by the next one

    def __init__(self, states):
        self.states = states

    read = 0

    def get_many(self, refs):
        found = {doc_id: self.states[doc_id] for _, doc_id in refs if doc_id in self.states}
        PreviousOwner.read += sum(len(state.get("open_tracks", [])) for state in found.values())
        return found


def owner(cfg, sink):
    writer = SinkWriter(sink, None, None, cfg.opensearch.index_prefix, "shard-0", "test")
    return BatchHandler(cfg, writer, "shardId-000000000000", "test", clock=lambda: 0.0)


digest = hashlib.sha256()
count = 0
for name, seed in (("tailgating", 3), ("dense_walkway", 4), ("crowded_lobby", 5)):
    spec = preset(name, cameras=2, duration_s=240.0, seed=seed, start=1_767_225_600.0)
    cameras = [{"id": c.camera_id, "stream_arn": c.stream_arn, "site": "hq"} for c in make_cameras(2)]
    cfg = load_config(env={"FACEWATCH_CAMERAS": json.dumps(cameras)}, stack_env_file=None)
    handler = owner(cfg, NoPreviousOwner())
    states = {}
    frames = frames_of(build_scenario(spec))
    records = [
        RawRecord(encode_frame(f), f"{49_000_000_000 + i:056d}", f.camera.stream_arn, round(f.frame_time * 1000) + 500)
        for i, f in enumerate(frames)
    ]
    for start in range(0, len(records), 200):
        if start == 200 * (len(records) // 400):  # a new owner takes the shard over from the states written
            handler = owner(cfg, PreviousOwner(orjson.loads(orjson.dumps(states))))
        handler.handle(records[start : start + 200], received_ms=0)
        pending = handler.buffer.take()
        for op in list(pending.ops.values()) + handler.tracking.hand_off_ops():
            digest.update(orjson.dumps([op.index, op.doc_id, op.source], option=orjson.OPT_SORT_KEYS))
            count += 1
            if op.source.get("kind") == "camera_state":
                states[op.doc_id] = op.source
        for lines in pending.archive.values():
            digest.update(b"".join(lines))
print(json.dumps({"tracker": tracker_module.__file__, "documents": count, "restored_tracks": PreviousOwner.read,
                  "digest": digest.hexdigest()}))
"""


def _digest(compiled: bool) -> dict[str, object]:
    env = {**os.environ, "FACEWATCH_NATIVE": "1" if compiled else "0"}
    done = subprocess.run(
        [sys.executable, "-c", DIGEST], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]

    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_compiled_core_writes_exactly_what_the_python_one_writes():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler here: the core runs as Python only")
    build = native.builds_dir() / native.key()
    assert (build / ".complete").is_file(), f"no compiled core for these sources in {build}: run make deps"
    compiled, python = _digest(True), _digest(False)
    assert str(compiled["tracker"]).endswith(".so") and str(compiled["tracker"]).startswith(str(build))
    assert str(python["tracker"]).endswith("tracker.py")
    assert int(str(python["documents"])) > 1000 and int(str(python["restored_tracks"])) > 3
    assert compiled == {**python, "tracker": compiled["tracker"]}


def _fake_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("FACEWATCH_NATIVE_DIR", str(tmp_path))
    monkeypatch.delenv("FACEWATCH_NATIVE", raising=False)
    build = tmp_path / native.key()
    (build / "worker" / "core").mkdir(parents=True)
    (build / "worker" / "core" / "tracker.so").write_bytes(b"1234")
    (build / ".complete").write_text("worker/core/tracker.so 4\n")
    return build


def test_a_build_of_these_sources_goes_first_on_the_core_path(monkeypatch, tmp_path):
    build = _fake_build(monkeypatch, tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(native, "active", None)
    path = ["/src/worker/core"]
    assert native.activate(path) == str(build)
    assert path == [str(build / "worker" / "core"), "/src/worker/core"]
    assert str(build) in sys.path


def test_no_build_an_unfinished_one_or_native_off_leaves_the_python_core(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(native, "active", None)
    monkeypatch.setenv("FACEWATCH_NATIVE_DIR", str(tmp_path / "none"))
    path = ["/src/worker/core"]
    assert native.activate(path) is None
    build = _fake_build(monkeypatch, tmp_path)
    (build / ".complete").unlink()  # a build interrupted before it was complete
    assert native.activate(path) is None
    (build / ".complete").write_text(build.name)  # not a listing of its libraries
    assert native.activate(path) is None
    (build / ".complete").write_text("worker/core/tracker.so 4\n")
    (build / "worker" / "core" / "tracker.so").write_bytes(b"12")  # a library cut short (a full disk, a race)
    assert native.activate(path) is None
    (build / "worker" / "core" / "tracker.so").unlink()
    assert native.activate(path) is None
    (build / "worker" / "core" / "tracker.so").write_bytes(b"1234")
    monkeypatch.setenv("FACEWATCH_NATIVE", "0")
    assert native.activate(path) is None
    assert path == ["/src/worker/core"] and native.active is None


def test_a_build_of_other_sources_is_never_used(monkeypatch, tmp_path):
    """An edited module (or one it is compiled against) changes the key, so an old build is not found."""
    sources = tmp_path / "src"
    sources.mkdir()
    files = []
    for name in ("tracker.py", "record.py", "documents.py"):
        (sources / name).write_text(f"# {name}\n")
        files.append(sources / name)
    monkeypatch.setattr(native, "_KEYED", tuple(files))
    before = native.key()
    for path in files:
        original = path.read_text()
        path.write_text(original + "x = 1\n")
        assert native.key() != before, path.name
        path.write_text(original)
    assert native.key() == before
    monkeypatch.setattr(native, "COMPILED", (*native.COMPILED, "detections"))
    assert native.key() != before


def test_the_image_compiles_with_the_mypy_the_project_pins():
    pinned = re.search(r'"(mypy==[^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned is not None
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert f"pip install --no-cache-dir {pinned.group(1)} " in dockerfile
    assert "python -m worker.native build /opt/native" in dockerfile
    assert "FACEWATCH_NATIVE_DIR=/opt/native" in dockerfile


def test_a_state_written_with_other_json_types_restores_in_the_compiled_core_too():
    """The compiled tracker holds each field to its annotation (a str field refuses an int): a state document
    edited by hand or written by another tool must still restore, as it does in Python."""
    import orjson

    from worker.core.record import BoundingBox, DetectedFace, FrameRecord
    from worker.core.track_docs import track_from_snapshot, track_snapshot
    from worker.core.tracker import CameraTracker, TrackerParams

    arn = "arn:aws:kinesisvideo:us-east-1:1:stream/cam-a/1"
    camera = CameraTracker(arn, TrackerParams())
    camera.observe(
        FrameRecord(
            arn,
            "1" * 47,
            1.7e9,
            1.7e9,
            0.0,
            (DetectedFace(0, BoundingBox(0.04, 0.05, 0.3, 0.3), 99.0, None, None, None, ()),),
        )
    )
    snapshot = orjson.loads(orjson.dumps(track_snapshot(camera.open[0])))
    resume = snapshot["resume"]
    assert resume["observations"], "a one-face track keeps its face to be rebuilt from"
    resume["split_from"] = None
    for o in resume["observations"]:
        o["quality"], o["fragment_number"], o["det"] = 1, 11111, 7
    snapshot["track"]["track_id"] = 12345
    track = track_from_snapshot(snapshot)
    assert track.track_id == "12345" and track.split_from == ""
    assert track.observations[0].quality is True and track.observations[0].fragment_number == "11111"
