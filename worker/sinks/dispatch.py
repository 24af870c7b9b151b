"""Alert delivery with an outbox: the alerts index.

An alert document is created (never overwritten) in the alerts index in the same bulk as the track that
raised it; `delivered_to` lists the sinks that took it. After OpenSearch acknowledged it, every alert sink
without its name in `delivered_to` gets it, and the document is rewritten with the name added. So:
- a retry, a replay or a new owner re-raising the same alert finds the stored document and sends only
  to the sinks still missing (the id is the same, from track and rule);
- an alert a sink did not take stays pending: retried at every flush, and found again in the index by
  the shard's next owner; while any is pending the processor holds the checkpoint;
- a sink that keeps failing costs one retry policy per flush, then is skipped for the rest of it, so a
  webhook that is down does not stall OpenSearch, Firehose or SNS.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from worker.logs import get_logger
from worker.retry import Backoff
from worker.sinks.alerts import AlertRejected, AlertRetryable
from worker.sinks.opensearch import IndexOp, OpenSearchSink


class AlertSink(Protocol):
    name: str

    def send(self, doc: dict[str, Any]) -> None: ...


class AlertDispatcher:
    def __init__(self, sinks: list[AlertSink], opensearch: OpenSearchSink, attempts: int,
                 backoff: Callable[[], Backoff]) -> None:
        self.sinks = sinks
        self.opensearch = opensearch
        self.attempts = attempts
        self.backoff = backoff
        self.pending: dict[str, tuple[str, dict[str, Any]]] = {}  # alert id -> (index, document)
        self.log = get_logger()

    def add(self, alerts: dict[str, tuple[str, dict[str, Any]]]) -> None:
        """Alerts OpenSearch has just acknowledged; what is stored wins (an earlier owner may have sent them)."""
        if not alerts or not self.sinks:
            return
        stored = self.opensearch.get_many([(index, alert_id) for alert_id, (index, _) in alerts.items()])
        for alert_id, (index, doc) in alerts.items():
            if alert_id not in self.pending:
                self.pending[alert_id] = (index, stored.get(alert_id, doc))

    def restore(self, docs: list[tuple[str, dict[str, Any]]]) -> None:
        """Undelivered alerts a previous owner of the shard left in the index."""
        for index, doc in docs:
            self.pending.setdefault(doc["alert_id"], (index, doc))

    def missing(self, doc: dict[str, Any]) -> list[AlertSink]:
        done = set(doc.get("delivered_to") or [])
        return [sink for sink in self.sinks if sink.name not in done]

    def deliver(self) -> bool:
        """Try every pending alert on every sink that lacks it; True when none is left pending."""
        broken: set[str] = set()
        updates: list[IndexOp] = []
        for alert_id, (index, doc) in sorted(self.pending.items(), key=lambda kv: kv[1][1].get("time", 0)):
            changed = False
            for sink in self.missing(doc):
                if sink.name in broken:
                    continue
                outcome = self._send(sink, doc)
                if outcome == "retry":
                    broken.add(sink.name)
                    continue
                doc = {**doc, "delivered_to": sorted({*(doc.get("delivered_to") or []), sink.name})}
                if outcome == "rejected":
                    doc["rejected_by"] = sorted({*(doc.get("rejected_by") or []), sink.name})
                changed = True
            if changed:
                self.pending[alert_id] = (index, doc)
                updates.append(IndexOp(index, alert_id, doc))
        if updates:
            refused = self.opensearch.index(updates)
            if refused:
                raise RuntimeError(f"alerts index refused a delivery record: {refused[0].status} {refused[0].error}")
        for alert_id, (_, doc) in list(self.pending.items()):
            if not self.missing(doc):
                del self.pending[alert_id]
        return not self.pending

    def _send(self, sink: AlertSink, doc: dict[str, Any]) -> str:
        backoff = self.backoff()
        for attempt in range(1, self.attempts + 1):
            try:
                sink.send(doc)
                return "sent"
            except AlertRejected as exc:
                # Never retried: the receiver said no to this alert. Logged (without the identity) and
                # recorded on the document, so an operator can see and re-send it.
                self.log.error("alert_rejected", sink=sink.name, alert_id=doc["alert_id"], rule=doc["rule"],
                               error=str(exc))
                return "rejected"
            except AlertRetryable as exc:
                if attempt == self.attempts:
                    self.log.warning("alert_sink_unavailable", sink=sink.name, error=str(exc),
                                     pending=len(self.pending))
                    return "retry"
                delay = backoff.next_delay()
                backoff.sleep(delay)
        return "retry"
