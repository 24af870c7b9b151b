"""Flushes on a thread of their own, so the next batches are parsed and tracked while one is written.

Why: in the record loop a flush waits on OpenSearch and Firehose, and nothing else happens meanwhile. Here
the loop hands the flush over and goes on with the next batches (into a fresh buffer), and collects the
result when it is done. What does not change (worker/sinks/writer.py, worker/source/checkpointing.py):
- One flusher thread, so flushes run one after another in the order they were taken: a later flush (a
  track's delete, a newer camera state, the progress document) never overtakes an earlier one. Inside one
  flush the documents are distinct, so its bulk requests may go several at a time (`bulk_in_flight`).
- A result is collected in order and only then reaches the checkpoint tracker: the checkpoint still
  covers only what every sink acknowledged.
- At most `depth` flushes are outstanding; the loop waits for the oldest before it starts another, so a
  sink outage is still backpressure (the callback does not return, the daemon stops fetching) and memory
  stays bounded by (depth + 1) buffers.
- A flush's error is raised in the record loop when its result is collected, and ends the processor there.
  The flushes queued behind a failed one write nothing (FlushSkipped): each ends with its cameras' state
  and the shard's progress, which must never land past a flush that did not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from worker.sinks.writer import FlushResult


class FlushSkipped(RuntimeError):
    """An earlier flush failed: this one wrote nothing (its state would have skipped the failed one's)."""


class FlushPipeline:
    def __init__(self, depth: int) -> None:
        if depth < 1:
            raise ValueError("a pipeline holds at least one flush")
        self.depth = depth
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="flush")
        self._outstanding: deque[Future[FlushResult]] = deque()
        self._failed = False  # set and read on the flusher thread only

    @property
    def outstanding(self) -> int:
        return len(self._outstanding)

    def submit(self, flush: Callable[[], FlushResult]) -> list[FlushResult]:
        """Start `flush` behind the ones outstanding; first waits while `depth` of them are. Returns the
        results that finished meanwhile (in order)."""
        done = self.collect(keep=self.depth - 1)
        self._outstanding.append(self._thread.submit(self._run, flush))
        return done

    def _run(self, flush: Callable[[], FlushResult]) -> FlushResult:
        if self._failed:
            raise FlushSkipped("an earlier flush failed; this one wrote nothing")
        try:
            return flush()
        except BaseException:
            self._failed = True
            raise

    def collect(self, keep: int | None = None) -> list[FlushResult]:
        """The finished flushes' results, oldest first; with `keep`, waits until at most that many are
        outstanding. Raises the error of the first flush that failed."""
        out = []
        while self._outstanding:
            oldest = self._outstanding[0]
            if not oldest.done() and (keep is None or len(self._outstanding) <= keep):
                break
            out.append(oldest.result())  # waits for it if it is still running
            self._outstanding.popleft()
        return out

    def drain(self) -> list[FlushResult]:
        """Wait for every outstanding flush."""
        return self.collect(keep=0)

    def abandon(self) -> int:
        """The lease is gone: flushes not started are cancelled, the running one is waited for (a request
        cannot be taken back) and its outcome ignored. Returns how many were outstanding."""
        count = len(self._outstanding)
        for future in reversed(self._outstanding):  # newest first: none starts as an older one ends
            future.cancel()
        for future in self._outstanding:
            if not future.cancelled():
                future.exception()  # waits; the next owner writes all of it again anyway
        self._outstanding.clear()
        return count
