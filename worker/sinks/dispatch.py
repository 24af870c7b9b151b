"""Alert delivery: each sink has its own lane (a thread), and the alerts index records every delivery.

An alert is handed to the lane of every sink the moment the core raises it, while the batch that raised
it is still being processed: a guard should not wait for a flush. Unless the record that raised it is
newer than this process (so no earlier owner of the shard can have seen it), the lane first reads the
alert's document (a real-time GET) and skips a sink that the document says already took it. It sends,
and hands the delivery to the recorder, which writes it onto the document (an atomic scripted update of
`delivered_to`, `sent_at`, `delivered_at`, creating the document if the flush has not yet) and only then
reports it done. The flush also creates the document
(create-only, so whichever comes second keeps what the first wrote). So:
- a retry, a replay or a new owner re-raising the same alert finds the stored document and sends only
  to the sinks still missing (the id is the same, from track and rule);
- an alert a sink did not take stays pending: retried every `retry_every_s`, and found again in the
  index by the shard's next owner; while any is pending the processor holds the checkpoint;
- a webhook that is down or slow delays only its own lane: SNS, OpenSearch and Firehose go on at their
  own pace, and the record processor never waits on a receiver;
- what is left is at-least-once in one narrow window (a worker killed after a sink's acknowledgement
  and before the document says so): the alert id travels with every message (SNS attribute and FIFO
  deduplication id, webhook header), so a receiver can drop the second copy.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from opensearchpy.exceptions import TransportError

from worker.logs import get_logger
from worker.retry import Backoff
from worker.sinks.alerts import AlertRejected, AlertRetryable
from worker.sinks.opensearch import OpenSearchSink


class AlertSink(Protocol):
    name: str

    def send(self, doc: dict[str, Any]) -> None: ...


MAX_BATCH = 10  # SNS PublishBatch takes at most 10 entries


class DeliveryFailed(RuntimeError):
    """A lane could not record a delivery (or failed unexpectedly): the processor must not go on."""


@dataclass
class LaneResult:
    sink: str
    alert_id: str
    outcome: str  # "sent" | "already" | "rejected" | "retry" | "error"
    at_ms: int = 0
    error: BaseException | None = None


@dataclass
class Delivery:
    """One alert for one sink, as it goes through a lane and then the recorder."""

    index: str
    alert_id: str
    doc: dict[str, Any]
    check: bool  # read the stored document first: another process may have delivered it already
    sent_ms: int = 0
    at_ms: int = 0
    outcome: str = ""


class Recorder:
    """Writes each delivery onto its alert document, off the lanes' path: a lane goes on to the next alert
    while the last one is recorded. Reports to the dispatcher only once the record is written, so a held
    checkpoint is released only when the index says the alert was delivered."""

    def __init__(self, opensearch: OpenSearchSink, results: queue.Queue[LaneResult]) -> None:
        self.opensearch = opensearch
        self.results = results
        self.inbox: queue.Queue[tuple[str, Delivery] | None] = queue.Queue()
        self.log = get_logger().bind(sink="alerts-recorder")
        self.thread = threading.Thread(target=self._run, name="alerts-recorder", daemon=True)
        self.thread.start()

    def put(self, sink: str, delivery: Delivery) -> None:
        self.inbox.put((sink, delivery))

    def close(self) -> None:
        self.inbox.put(None)

    def _run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            sink, d = item
            try:
                self.opensearch.mark_delivered(
                    d.index, d.alert_id, sink, d.sent_ms, d.at_ms, d.outcome == "rejected", d.doc
                )
                self.results.put(LaneResult(sink, d.alert_id, d.outcome, d.at_ms))
            except TransportError as exc:
                if not isinstance(exc.status_code, int) or not 400 <= exc.status_code < 500:
                    self.results.put(LaneResult(sink, d.alert_id, "error", error=exc))
                    continue
                # The index refuses this alert's document for good: the alert was delivered, so it is done
                # (holding the checkpoint for ever, or exiting to send it again, would be worse); only the
                # record of its delivery is missing, and a next owner may send it once more.
                self.log.error(
                    "alert_delivery_unrecorded",
                    sink=sink,
                    alert_id=d.alert_id,
                    status=exc.status_code,
                    error=str(exc.error)[:200],
                )
                self.results.put(LaneResult(sink, d.alert_id, d.outcome, d.at_ms))
            except BaseException as exc:  # noqa: BLE001 - handed to the dispatcher's thread, which raises it
                self.results.put(LaneResult(sink, d.alert_id, "error", error=exc))


@dataclass
class SinkLane:
    """One sink's delivery thread: a receiver that is down or slow delays only its own alerts."""

    sink: AlertSink
    opensearch: OpenSearchSink
    attempts: int
    backoff: Callable[[], Backoff]
    results: queue.Queue[LaneResult]
    recorder: Recorder
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)
    in_flight: set[str] = field(default_factory=set)  # touched by the dispatcher's thread only
    retry_at: float = 0.0  # monotonic: no new attempt before this, after the sink failed
    failing: threading.Event = field(default_factory=threading.Event)
    inbox: queue.Queue[Delivery | None] = field(default_factory=queue.Queue)
    senders: int = 4  # alerts raised together (a group walking in) go out together, not one after another

    def __post_init__(self) -> None:
        self.log = get_logger().bind(sink=self.sink.name)
        self.threads = [
            threading.Thread(target=self._run, name=f"alerts-{self.sink.name}-{i}", daemon=True)
            for i in range(self.senders)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, index: str, alert_id: str, doc: dict[str, Any], check: bool) -> None:
        self.in_flight.add(alert_id)
        self.inbox.put(Delivery(index, alert_id, doc, check))

    def close(self) -> None:
        for _ in self.threads:
            self.inbox.put(None)

    def _run(self) -> None:
        batching = hasattr(self.sink, "send_batch")
        while True:
            first = self.inbox.get()
            if first is None:
                return
            batch = [first]
            while batching and len(batch) < MAX_BATCH:  # what was raised together goes out together
                try:
                    more = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.inbox.put(None)  # another sender's stop signal: leave it for that one
                    break
                batch.append(more)
            try:
                self._deliver(batch)
            except BaseException as exc:  # noqa: BLE001 - handed to the dispatcher's thread, which raises it
                for d in batch:
                    self.results.put(LaneResult(self.sink.name, d.alert_id, "error", error=exc))

    def _deliver(self, batch: list[Delivery]) -> None:
        # After one alert exhausted its attempts, the rest queued behind it fail fast until the dispatcher
        # tries again: a receiver that is down costs one retry policy, not one per alert.
        todo = []
        for d in batch:
            if self.failing.is_set():
                self.results.put(LaneResult(self.sink.name, d.alert_id, "retry"))
                continue
            if d.check:
                stored = self.opensearch.get_many([(d.index, d.alert_id)]).get(d.alert_id) or {}
                if self.sink.name in (stored.get("delivered_to") or []):
                    self.results.put(LaneResult(self.sink.name, d.alert_id, "already"))
                    continue  # an earlier owner of the shard delivered it
            todo.append(d)
        if not todo:
            return
        sent_ms = self.clock_ms()
        outcomes = self._send([d.doc for d in todo])
        at_ms = self.clock_ms()
        for d, outcome in zip(todo, outcomes, strict=True):  # _send answers every doc
            d.sent_ms, d.at_ms, d.outcome = sent_ms, at_ms, outcome
            if outcome == "retry":
                self.results.put(LaneResult(self.sink.name, d.alert_id, "retry", at_ms))
            else:
                self.recorder.put(self.sink.name, d)

    def _send(self, docs: list[dict[str, Any]]) -> list[str]:
        """Each doc's outcome: "sent", "rejected" (never retried) or "retry" (after `attempts` tries)."""
        outcomes = ["retry"] * len(docs)
        todo = list(range(len(docs)))
        backoff = self.backoff()
        error = ""
        for attempt in range(1, self.attempts + 1):
            try:
                if len(todo) == 1 or not hasattr(self.sink, "send_batch"):
                    for i in todo:
                        self.sink.send(docs[i])
                        outcomes[i] = "sent"
                else:
                    # A short answer leaves the unmentioned alerts at "retry".
                    for i, outcome in zip(todo, self.sink.send_batch([docs[i] for i in todo]), strict=False):
                        outcomes[i] = outcome
            except AlertRejected as exc:
                # Never retried: the receiver said no to this alert. Logged (without the identity) and
                # recorded on the document, so an operator can see and re-send it.
                for i in todo:
                    if outcomes[i] == "retry":
                        outcomes[i] = "rejected"
                        self.log.error(
                            "alert_rejected", alert_id=docs[i]["alert_id"], rule=docs[i]["rule"], error=str(exc)
                        )
            except AlertRetryable as exc:
                error = str(exc)
            todo = [i for i in todo if outcomes[i] == "retry"]
            if not todo:
                return outcomes
            if attempt < self.attempts:
                backoff.wait()
        self.failing.set()
        self.log.warning("alert_sink_unavailable", error=error or "entries refused as retryable", alerts=len(todo))
        return outcomes


class AlertDispatcher:
    def __init__(
        self,
        sinks: list[AlertSink],
        opensearch: OpenSearchSink,
        attempts: int,
        backoff: Callable[[], Backoff],
        retry_every_s: float = 2.0,
        fresh_after_ms: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.opensearch = opensearch
        self.retry_every_s = retry_every_s
        # Records that reached the stream after this is (less a margin) cannot have been processed by an
        # earlier owner of the shard: their alerts go out without reading the index first.
        self.fresh_after_ms = fresh_after_ms
        self.clock = clock
        self.results: queue.Queue[LaneResult] = queue.Queue()
        self.recorder = Recorder(opensearch, self.results)
        self.lanes = {
            sink.name: SinkLane(sink, opensearch, attempts, backoff, self.results, self.recorder) for sink in sinks
        }
        self.pending: dict[str, tuple[str, dict[str, Any]]] = {}  # alert id -> (index, document)
        self.fresh: set[str] = set()  # pending alerts raised from records no earlier owner saw
        self.log = get_logger()

    def raised(self, alerts: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """Alerts the core has just raised: handed to the lanes now, without waiting on any I/O."""
        if not alerts or not self.lanes:
            return
        for alert_id, (index, doc) in alerts.items():
            if alert_id not in self.pending:
                self.pending[alert_id] = (index, doc)
                if (doc.get("arrival_time") or 0) > self.fresh_after_ms > 0:
                    self.fresh.add(alert_id)
        self.deliver()

    def restore(self, docs: list[tuple[str, dict[str, Any]]]) -> None:
        """Undelivered alerts a previous owner of the shard left in the index."""
        for index, doc in docs:
            self.pending.setdefault(doc["alert_id"], (index, doc))

    def missing(self, doc: dict[str, Any]) -> list[str]:
        done = set(doc.get("delivered_to") or [])
        return [name for name in self.lanes if name not in done]

    def deliver(self, wait_s: float = 0.0) -> bool:
        """Take in what the lanes finished, hand them what is due; True when no alert is pending.

        Never waits on a sink, except up to `wait_s` for lanes to report (a shard that is stopping)."""
        self._collect()
        now = self.clock()
        due = sorted(self.pending.items(), key=lambda kv: kv[1][1].get("time", 0))
        for name, lane in self.lanes.items():
            if now < lane.retry_at:
                continue
            lane.failing.clear()
            for alert_id, (index, doc) in due:
                if name in self.missing(doc) and alert_id not in lane.in_flight:
                    lane.submit(index, alert_id, doc, check=alert_id not in self.fresh)
        if wait_s > 0 and self.pending:
            try:
                self._apply(self.results.get(timeout=wait_s))
            except queue.Empty:
                pass
            self._collect()
        return not self.pending

    def close(self) -> None:
        """The shard is gone: stop the lanes after what they are sending now; forget the rest."""
        for lane in self.lanes.values():
            lane.close()
        self.recorder.close()
        self.pending.clear()
        self.fresh.clear()

    def _collect(self) -> None:
        while True:
            try:
                result = self.results.get_nowait()
            except queue.Empty:
                return
            self._apply(result)

    def _apply(self, result: LaneResult) -> None:
        lane = self.lanes[result.sink]
        lane.in_flight.discard(result.alert_id)
        if result.outcome == "error":
            raise DeliveryFailed(f"alert lane {result.sink} failed: {result.error!r}") from result.error
        if result.outcome == "retry":
            lane.retry_at = max(lane.retry_at, self.clock() + self.retry_every_s)
            return
        entry = self.pending.get(result.alert_id)
        if entry is None:
            return
        index, doc = entry
        doc = {**doc, "delivered_to": sorted({*(doc.get("delivered_to") or []), result.sink})}
        if result.outcome == "rejected":
            doc["rejected_by"] = sorted({*(doc.get("rejected_by") or []), result.sink})
        arrival = doc.get("arrival_time")
        if result.outcome != "already":
            self.log.info(
                "alert_delivered",
                sink=result.sink,
                alert_id=result.alert_id,
                rule=doc.get("rule"),
                severity=doc.get("severity"),
                outcome=result.outcome,
                latency_ms=result.at_ms - arrival if arrival else None,
            )
        if self.missing(doc):
            self.pending[result.alert_id] = (index, doc)
        else:
            del self.pending[result.alert_id]
            self.fresh.discard(result.alert_id)
