"""Alert delivery: the alerts index is the outbox, and each sink has its own lane (a thread).

An alert document is created (never overwritten) in the alerts index in the same bulk as the track that
raised it, with `delivered_to: []`. Once OpenSearch has acknowledged it, the alert is handed to the lane
of every sink missing from `delivered_to`. A lane sends, then records the delivery on the document itself
(an atomic scripted update: `delivered_to`, `delivered_at`), and reports back. So:
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
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from worker.logs import get_logger
from worker.retry import Backoff
from worker.sinks.alerts import AlertRejected, AlertRetryable
from worker.sinks.opensearch import OpenSearchSink


class AlertSink(Protocol):
    name: str

    def send(self, doc: dict[str, Any]) -> None: ...


class DeliveryFailed(RuntimeError):
    """A lane could not record a delivery (or failed unexpectedly): the processor must not go on."""


@dataclass
class LaneResult:
    sink: str
    alert_id: str
    outcome: str  # "sent" | "rejected" | "retry" | "error"
    at_ms: int = 0
    error: BaseException | None = None


@dataclass
class SinkLane:
    """One sink's delivery thread: a receiver that is down or slow delays only its own alerts."""

    sink: AlertSink
    opensearch: OpenSearchSink
    attempts: int
    backoff: Callable[[], Backoff]
    results: "queue.Queue[LaneResult]"
    clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)
    in_flight: set[str] = field(default_factory=set)  # touched by the dispatcher's thread only
    retry_at: float = 0.0  # monotonic: no new attempt before this, after the sink failed
    failing: threading.Event = field(default_factory=threading.Event)
    inbox: "queue.Queue[tuple[str, str, dict[str, Any]] | None]" = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        self.log = get_logger().bind(sink=self.sink.name)
        self.thread = threading.Thread(target=self._run, name=f"alerts-{self.sink.name}", daemon=True)
        self.thread.start()

    def submit(self, index: str, alert_id: str, doc: dict[str, Any]) -> None:
        self.in_flight.add(alert_id)
        self.inbox.put((index, alert_id, doc))

    def close(self) -> None:
        self.inbox.put(None)

    def _run(self) -> None:
        while True:
            item = self.inbox.get()
            if item is None:
                return
            index, alert_id, doc = item
            try:
                # After one alert exhausted its attempts, the rest queued behind it fail fast until the
                # dispatcher tries again: a receiver that is down costs one retry policy, not one per alert.
                outcome = "retry" if self.failing.is_set() else self._send(doc)
                at_ms = self.clock_ms()
                if outcome in ("sent", "rejected"):
                    self.opensearch.mark_delivered(index, alert_id, self.sink.name, at_ms, outcome == "rejected")
                self.results.put(LaneResult(self.sink.name, alert_id, outcome, at_ms))
            except BaseException as exc:  # noqa: BLE001 - handed to the dispatcher's thread, which raises it
                self.results.put(LaneResult(self.sink.name, alert_id, "error", error=exc))

    def _send(self, doc: dict[str, Any]) -> str:
        backoff = self.backoff()
        for attempt in range(1, self.attempts + 1):
            try:
                self.sink.send(doc)
                return "sent"
            except AlertRejected as exc:
                # Never retried: the receiver said no to this alert. Logged (without the identity) and
                # recorded on the document, so an operator can see and re-send it.
                self.log.error("alert_rejected", alert_id=doc["alert_id"], rule=doc["rule"], error=str(exc))
                return "rejected"
            except AlertRetryable as exc:
                if attempt == self.attempts:
                    self.failing.set()
                    self.log.warning("alert_sink_unavailable", error=str(exc), alert_id=doc["alert_id"])
                    return "retry"
                backoff.wait()
        return "retry"


class AlertDispatcher:
    def __init__(self, sinks: list[AlertSink], opensearch: OpenSearchSink, attempts: int,
                 backoff: Callable[[], Backoff], retry_every_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.opensearch = opensearch
        self.retry_every_s = retry_every_s
        self.clock = clock
        self.results: queue.Queue[LaneResult] = queue.Queue()
        self.lanes = {sink.name: SinkLane(sink, opensearch, attempts, backoff, self.results) for sink in sinks}
        self.pending: dict[str, tuple[str, dict[str, Any]]] = {}  # alert id -> (index, document)
        self.log = get_logger()

    @property
    def sinks(self) -> list[AlertSink]:
        return [lane.sink for lane in self.lanes.values()]

    def add(self, alerts: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """Alerts OpenSearch has just acknowledged; what is stored wins (an earlier owner may have sent them)."""
        if not alerts or not self.lanes:
            return
        stored = self.opensearch.get_many([(index, alert_id) for alert_id, (index, _) in alerts.items()])
        for alert_id, (index, doc) in alerts.items():
            if alert_id not in self.pending:
                self.pending[alert_id] = (index, stored.get(alert_id, doc))

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
                    lane.submit(index, alert_id, doc)
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
        self.pending.clear()

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
        self.log.info("alert_delivered", sink=result.sink, alert_id=result.alert_id, rule=doc.get("rule"),
                      severity=doc.get("severity"), outcome=result.outcome,
                      latency_ms=result.at_ms - arrival if arrival else None)
        if self.missing(doc):
            self.pending[result.alert_id] = (index, doc)
        else:
            del self.pending[result.alert_id]
