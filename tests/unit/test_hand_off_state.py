"""The hand-off state a successor resumes a shard's tracks from, against the ways a worker really ends.

A worker killed in the middle of a flush: its successor, starting from the last checkpoint with whatever
part of that flush reached OpenSearch and Firehose, and skipping re-archiving up to the progress document
as a real one does (worker/compose.py), must end with exactly the documents of a worker never killed and
an archive holding every line at least once. The kill is the process dying between two writes of one
flush (a bulk request of several answered for some chunks and never sent for others, a PutRecordBatch
half done), at many places of a flush in turn; one record of the run is poison, so the dead-letter step
is in the flushes too. A worker whose lease moved during a flush leaves the state to the new owner. And
a state written by the previous version (open tracks named, their state in their own documents) is still
resumed."""

from __future__ import annotations

import json
import threading

import pytest

from tests.unit.conftest import SHARD, MappingOpenSearch, MemoryFirehose
from worker.model import RawRecord, Rejected
from worker.sim.encode import encode_frame
from worker.sim.scenario import build_scenario, frames_of, preset
from worker.sinks.writer import FlushAbandoned
from worker.source.progress import read_progress

BATCH = 20  # records per KCL batch
FLUSH_EVERY = 3  # batches per flush


class Killed(BaseException):
    """The process died: nothing after this point of the flush was written."""


class Budget:
    """Writes left before the process dies, shared by every sink of the process (and its threads)."""

    def __init__(self, writes: int | None = None) -> None:
        self.left = writes
        self.lock = threading.Lock()

    def spend(self) -> None:
        with self.lock:
            if self.left is None:
                return
            if self.left <= 0:
                raise Killed
            self.left -= 1


class DyingOpenSearch(MappingOpenSearch):
    budget: Budget = Budget()

    def index(self, ops):  # type: ignore[no-untyped-def]
        rejected: list[Rejected] = []
        for op in list(ops):
            self.budget.spend()
            rejected += super().index([op])
        return rejected


class DyingFirehose(MemoryFirehose):
    budget: Budget = Budget()

    def put(self, stream: str, lines: list[bytes]) -> None:
        for line in lines:
            self.budget.spend()
            super().put(stream, [line])


def _scenario(name: str) -> tuple[list[RawRecord], str]:
    frames = frames_of(build_scenario(preset(name, cameras=2, duration_s=60, seed=4)))
    arns = {f.camera.stream_arn: f.camera.camera_id for f in frames}
    cameras = json.dumps([{"id": camera_id, "stream_arn": arn} for arn, camera_id in arns.items()])
    records = [
        RawRecord(encode_frame(f), str(10_000 + i), "pk", int(f.server_timestamp * 1000)) for i, f in enumerate(frames)
    ]
    poison = len(records) // 3
    records[poison] = RawRecord(b'{"FaceSearchResponse": 7', records[poison].sequence_number, "pk", 0)
    return records, cameras


def _run(
    make_pipeline,
    cameras: str,
    opensearch: MappingOpenSearch,
    records: list[RawRecord],
    start: int,
    firehose: MemoryFirehose,
) -> int:
    """A worker handling records[start:] in batches, flushing every FLUSH_EVERY batches; the position of
    its last acknowledged flush (what the KCL checkpoint would hold) if it dies, else len(records)."""
    pipeline = make_pipeline({"FACEWATCH_CAMERAS": cameras, "FACEWATCH__FIREHOSE__ENABLED": "true"})
    handler = pipeline.handler
    handler.writer.opensearch = handler.sink = handler.tracking.sink = opensearch
    handler.writer.firehose = firehose
    if handler.cfg.firehose.skip_redelivered:  # as worker/compose.py builds a successor
        handler.archived_through = read_progress(opensearch, "ut", handler.cfg.application_name, SHARD)  # type: ignore[arg-type]
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
    """Every document but the hand-off state and progress, and without the wall clock of whichever worker
    wrote it first (an alert's received_time, a dead letter's time)."""
    wall = {"received_time", "quarantined_at", "worker_id"}
    return {
        k: {f: x for f, x in v.items() if f not in wall}
        for k, v in opensearch.docs.items()
        if not k[0].startswith("ut-cameras")
    }


def _whole_run(make_pipeline, scenario: str):
    records, cameras = _scenario(scenario)
    store, archive = DyingOpenSearch("ut"), DyingFirehose()
    store.budget = archive.budget = Budget()
    assert _run(make_pipeline, cameras, store, records, 0, archive) == len(records)
    return records, cameras, store, archive


@pytest.mark.parametrize("scenario", ["tailgating", "dense_walkway"])
def test_a_kill_at_any_point_of_a_flush_leaves_what_an_unkilled_worker_writes(make_pipeline, scenario):
    records, cameras, whole, archived = _whole_run(make_pipeline, scenario)
    want, want_lines = _docs(whole), _archived(archived)
    assert sum(1 for index, _ in want if "-tracks-" in index) > 10
    assert any("-quarantine-" in index for index, _ in want)
    assert len(want_lines) > len(records)  # every usable record, and the closed tracks
    writes = len(whole.docs) * 3  # more than one run's writes: some kill points past its end are fine
    broken = []
    # Dying at the n-th write of any sink, or of Firehose alone (OpenSearch all answered, the archive
    # thread still writing: the two are written at the same time).
    for where in ("any sink", "firehose"):
        for writes_before_death in range(7, writes, max(1, writes // 25)):
            store, archive = DyingOpenSearch("ut"), DyingFirehose()
            archive.budget = Budget(writes_before_death)
            store.budget = archive.budget if where == "any sink" else Budget()
            checkpoint = _run(make_pipeline, cameras, store, records, 0, archive)
            store.budget = archive.budget = Budget()
            assert _run(make_pipeline, cameras, store, records, checkpoint, archive) == len(records)
            got = _docs(store)
            assert _archived(archive) >= want_lines, (where, writes_before_death)  # the archive: at least once
            if got != want:
                differ = sorted(k[1] for k in set(got) | set(want) if got.get(k) != want.get(k))
                broken.append((where, writes_before_death, differ[:3]))
    assert broken == []


def test_a_flush_whose_lease_moved_meanwhile_leaves_the_state_to_the_new_owner(make_pipeline):
    records, cameras = _scenario("tailgating")
    pipeline = make_pipeline({"FACEWATCH_CAMERAS": cameras})
    pipeline.handler.handle(records[:BATCH])
    pipeline.handler.writer.abandon()  # lease_lost, while the flush is on the flusher thread
    with pytest.raises(FlushAbandoned):
        pipeline.handler.flush()
    families = {index.split("-")[1] for index, _ in pipeline.opensearch.docs}
    assert {"detections", "tracks"} <= families and "cameras" not in families


def test_a_state_the_previous_version_wrote_is_resumed(make_pipeline):
    records, cameras, whole, _ = _whole_run(make_pipeline, "tailgating")
    store, archive = DyingOpenSearch("ut"), DyingFirehose()
    half = (len(records) // 2) // (BATCH * FLUSH_EVERY) * (BATCH * FLUSH_EVERY)
    _run(make_pipeline, cameras, store, records[:half], 0, archive)
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
    _run(make_pipeline, cameras, store, records, half, archive)
    got = _docs(store)
    for doc in got.values():
        doc.pop("resume", None)
    assert got == _docs(whole)


def test_an_old_form_state_naming_a_track_document_without_its_state_loses_that_track_not_the_shard(
    make_pipeline,
):
    # A new worker rewrote the document (without `resume`) and died before its own state replaced the old
    # one: the next owner must go on (the visit may be split in two), not fail on every restart.
    records, cameras = _scenario("tailgating")
    store, archive = DyingOpenSearch("ut"), DyingFirehose()
    half = (len(records) // 2) // (BATCH * FLUSH_EVERY) * (BATCH * FLUSH_EVERY)
    _run(make_pipeline, cameras, store, records[:half], 0, archive)
    named = 0
    for key, doc in list(store.docs.items()):
        if doc.get("kind") == "camera_state":
            refs = [
                {"index": k[0], "id": k[1]}
                for entry in doc["open_tracks"]
                for k in store.docs
                if k[1] == entry["track"]["track_id"]
            ]
            named += len(refs)
            store.docs[key] = {**doc, "open_tracks": refs}
    assert named > 0
    assert _run(make_pipeline, cameras, store, records, half, archive) == len(records)
