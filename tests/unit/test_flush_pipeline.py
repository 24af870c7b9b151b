"""The flusher thread's contract (worker/source/pipeline.py): flushes run one after another in the order
taken, results come back in that order, at most `depth` are outstanding, and an error reaches the loop."""

from __future__ import annotations

import threading
import time

import pytest

from worker.sinks.writer import FlushResult
from worker.source.pipeline import FlushPipeline, FlushSkipped

pytestmark = pytest.mark.timeout(30)


class Flushes:
    """Flushes that record when they ran and can be held until released."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()
        self.gates: dict[int, threading.Event] = {}

    def make(self, n: int, hold: bool = False, error: Exception | None = None):
        gate = self.gates.setdefault(n, threading.Event())
        if not hold:
            gate.set()

        def run() -> FlushResult:
            with self.lock:
                self.started.append(n)
                self.running += 1
                self.peak = max(self.peak, self.running)
            gate.wait(10)
            time.sleep(0.01)
            with self.lock:
                self.running -= 1
            if error is not None:
                raise error
            return FlushResult(str(n), records=1)

        return run


def test_flushes_run_one_at_a_time_in_order_and_results_come_back_in_order():
    f, pipeline = Flushes(), FlushPipeline(depth=4)
    results = []
    for n in range(8):
        results += pipeline.submit(f.make(n))
    results += pipeline.drain()
    assert [r.last_sequence for r in results] == [str(n) for n in range(8)]
    assert f.started == list(range(8)) and f.peak == 1
    assert pipeline.outstanding == 0


def test_submit_waits_while_depth_flushes_are_outstanding():
    f, pipeline = Flushes(), FlushPipeline(depth=1)
    assert pipeline.submit(f.make(0, hold=True)) == []
    assert pipeline.outstanding == 1
    blocked = threading.Event()
    out: list[FlushResult] = []

    def second() -> None:
        out.extend(pipeline.submit(f.make(1)))
        blocked.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not blocked.wait(0.3), "a second flush started while the first was outstanding"
    f.gates[0].set()
    assert blocked.wait(5)
    thread.join()
    assert [r.last_sequence for r in out] == ["0"]  # the first one's result, collected before the second
    assert [r.last_sequence for r in pipeline.drain()] == ["1"]


def test_collect_returns_only_finished_flushes_without_waiting():
    f, pipeline = Flushes(), FlushPipeline(depth=2)
    pipeline.submit(f.make(0, hold=True))
    assert pipeline.collect() == []
    f.gates[0].set()
    assert [r.last_sequence for r in pipeline.drain()] == ["0"]


def test_a_failed_flush_raises_when_collected_and_nothing_after_it_is_reported_done():
    f, pipeline = Flushes(), FlushPipeline(depth=3)
    pipeline.submit(f.make(0))
    pipeline.submit(f.make(1, error=RuntimeError("bulk refused")))
    pipeline.submit(f.make(2))
    with pytest.raises(RuntimeError, match="bulk refused"):
        pipeline.drain()


def test_flushes_queued_behind_a_failed_one_write_nothing():
    # Each flush ends with its cameras' state and the shard's progress: the one after a failure must not
    # write them, or a successor would skip the failed flush's frames.
    f, pipeline = Flushes(), FlushPipeline(depth=3)
    pipeline.submit(f.make(0, hold=True, error=RuntimeError("bulk refused")))
    pipeline.submit(f.make(1))
    pipeline.submit(f.make(2))
    queued = list(pipeline._outstanding)[1:]
    f.gates[0].set()
    with pytest.raises(RuntimeError, match="bulk refused"):
        pipeline.drain()
    assert [type(future.exception(timeout=5)) for future in queued] == [FlushSkipped, FlushSkipped]
    assert f.started == [0]


def test_abandon_cancels_flushes_not_started_and_waits_for_the_running_one():
    f, pipeline = Flushes(), FlushPipeline(depth=3)
    pipeline.submit(f.make(0, hold=True))
    pipeline.submit(f.make(1))
    pipeline.submit(f.make(2))
    while not f.started:
        time.sleep(0.01)
    threading.Timer(0.2, f.gates[0].set).start()
    assert pipeline.abandon() == 3
    assert f.started == [0] and pipeline.outstanding == 0


def test_depth_below_one_is_refused():
    with pytest.raises(ValueError):
        FlushPipeline(0)
