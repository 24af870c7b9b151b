"""The hand-off state a successor resumes a shard's tracks from, against the ways a worker really ends.

A worker killed in the middle of a flush: its successor, starting from the last checkpoint with whatever
part of that flush reached OpenSearch, must end with exactly the documents of a worker never killed. The
kill is a process dying between two documents of one flush (a bulk request of several, answered for some
chunks and never sent for others), at many places of a flush in turn. And a state written by the
previous version (open tracks named, their state in their own documents) is still resumed."""

from __future__ import annotations

import json

import pytest

from tests.unit.conftest import MappingOpenSearch, MemoryFirehose
from worker.model import RawRecord, Rejected
from worker.sim.encode import encode_frame
from worker.sim.scenario import build_scenario, frames_of, preset

BATCH = 20  # records per KCL batch
FLUSH_EVERY = 3  # batches per flush


class Killed(BaseException):
    """The process died: nothing after this point of the flush was written."""


class DyingOpenSearch(MappingOpenSearch):
    """Writes documents until `budget` of them have been written, then dies."""

    budget: int | None = None

    def index(self, ops):  # type: ignore[no-untyped-def]
        if self.budget is None:
            return super().index(ops)
        ops = list(ops)
        rejected: list[Rejected] = []
        for op in ops:
            if self.budget <= 0:
                raise Killed
            self.budget -= 1
            rejected += super().index([op])
        return rejected


def _scenario(name: str) -> tuple[list[RawRecord], str]:
    frames = frames_of(build_scenario(preset(name, cameras=2, duration_s=60, seed=4)))
    arns = {f.camera.stream_arn: f.camera.camera_id for f in frames}
    cameras = json.dumps([{"id": camera_id, "stream_arn": arn} for arn, camera_id in arns.items()])
    records = [
        RawRecord(encode_frame(f), str(10_000 + i), "pk", int(f.server_timestamp * 1000)) for i, f in enumerate(frames)
    ]
    return records, cameras


def _run(
    make_pipeline,
    cameras: str,
    opensearch: MappingOpenSearch,
    records: list[RawRecord],
    start: int,
    firehose: MemoryFirehose | None = None,
) -> int:
    """Handle records[start:] in batches, flushing every FLUSH_EVERY batches; the position of the last
    acknowledged flush (what the KCL checkpoint would hold) if the process dies, else len(records)."""
    pipeline = make_pipeline({"FACEWATCH_CAMERAS": cameras, "FACEWATCH__FIREHOSE__ENABLED": "true"})
    handler = pipeline.handler
    handler.writer.opensearch = handler.sink = handler.tracking.sink = opensearch
    if firehose is not None:
        handler.writer.firehose = firehose
    checkpoint = start
    try:
        for n, first in enumerate(range(start, len(records), BATCH), 1):
            handler.handle(records[first : first + BATCH])
            if n % FLUSH_EVERY == 0 or first + BATCH >= len(records):
                handler.flush()
                checkpoint = min(first + BATCH, len(records))
        handler.heartbeat()
        handler.flush()
    except Killed:
        return checkpoint
    return len(records)


def _archived(firehose: MemoryFirehose) -> set[bytes]:
    return {line for lines in firehose.lines.values() for line in lines}


def _docs(opensearch: MappingOpenSearch) -> dict:
    """Every document but the hand-off state, and but an alert's received_time (the wall clock of whichever
    worker raised it first)."""
    return {
        k: {f: x for f, x in v.items() if f != "received_time"}
        for k, v in opensearch.docs.items()
        if not k[0].startswith("ut-cameras")
    }


@pytest.mark.parametrize("scenario", ["tailgating", "dense_walkway"])
def test_a_kill_at_any_point_of_a_flush_leaves_what_an_unkilled_worker_writes(make_pipeline, scenario):
    records, cameras = _scenario(scenario)
    whole, archived = DyingOpenSearch("ut"), MemoryFirehose()
    assert _run(make_pipeline, cameras, whole, records, 0, archived) == len(records)
    want, want_lines = _docs(whole), _archived(archived)
    assert len(want_lines) > len(records)  # every record, and the closed tracks
    assert sum(1 for index, _ in want if "-tracks-" in index) > 10
    written = [0]

    class Counting(MappingOpenSearch):
        def index(self, ops):  # type: ignore[no-untyped-def]
            ops = list(ops)
            written[0] += len(ops)
            return super().index(ops)

    _run(make_pipeline, cameras, Counting("ut"), records, 0)
    total = written[0]
    broken = []
    for budget in range(7, total, max(1, total // 30)):
        store, archive = DyingOpenSearch("ut"), MemoryFirehose()
        store.budget = budget
        checkpoint = _run(make_pipeline, cameras, store, records, 0, archive)
        store.budget = None
        assert _run(make_pipeline, cameras, store, records, checkpoint, archive) == len(records)
        got = _docs(store)
        assert _archived(archive) >= want_lines, budget  # the archive: at least once, nothing lost
        if got != want:
            broken.append((budget, sorted(k[1] for k in set(got) | set(want) if got.get(k) != want.get(k))[:3]))
    assert broken == []


def test_a_state_the_previous_version_wrote_is_resumed(make_pipeline):
    records, cameras = _scenario("tailgating")
    whole = MappingOpenSearch("ut")
    assert _run(make_pipeline, cameras, whole, records, 0) == len(records)
    store = DyingOpenSearch("ut")
    store.budget = None
    half = (len(records) // 2) // (BATCH * FLUSH_EVERY) * (BATCH * FLUSH_EVERY)
    _run(make_pipeline, cameras, store, records[:half], 0)
    resumed = 0
    for key, doc in list(store.docs.items()):
        if doc.get("kind") != "camera_state":
            continue
        refs = []
        for entry in doc["open_tracks"]:  # the old form: the track's document holds its own resume state
            track_key = next(k for k in store.docs if k[1] == entry["track"]["track_id"])
            store.docs[track_key] = {**store.docs[track_key], "resume": entry["resume"]}
            refs.append({"index": track_key[0], "id": track_key[1]})
        resumed += len(refs)
        store.docs[key] = {**doc, "open_tracks": refs}
    assert resumed > 0
    _run(make_pipeline, cameras, store, records, half)
    got = _docs(store)
    for doc in got.values():
        doc.pop("resume", None)
    assert got == _docs(whole)
