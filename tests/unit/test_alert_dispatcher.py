"""AlertDispatcher, its SinkLanes and its Recorder, with in-process sinks and a fake of the alerts index
(what the dispatcher uses of OpenSearchSink: `get_many` and `mark_delivered`): one sink failing does not
hold the other, a pending alert is retried only after `retry_every_s` (an injected clock), rejected is
final, the index records every delivery, a delivered alert is not sent twice, and a lane's unexpected
error stops the processor. The lanes are real threads: every wait is `deliver(wait_s=...)` or a poll,
bounded by a deadline; no test depends on how the lanes' threads interleave."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from opensearchpy.exceptions import TransportError

from worker.sinks.alerts import AlertRejected, AlertRetryable
from worker.sinks.dispatch import AlertDispatcher, DeliveryFailed

pytestmark = pytest.mark.timeout(30)

INDEX = "ut-alerts-2024.05.06"
DEADLINE_S = 5.0


def alert(alert_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "rule": "watchlist",
        "severity": "critical",
        "camera_id": "cam-1",
        "time": 1714996800000,
        "arrival_time": 1714996800500,
        **extra,
    }


class Clock:
    """The dispatcher's monotonic clock, moved only by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Mark:
    index: str
    alert_id: str
    sink: str
    sent_ms: int
    at_ms: int
    rejected: bool
    doc: dict[str, Any]


class AlertIndex:
    """The alerts index, as the dispatcher sees it through OpenSearchSink: real-time GET of documents,
    and `mark_delivered` (add the sink to `delivered_to`, and to `rejected_by` if it refused; create the
    document from `doc` if it is not there yet). `gate` cleared holds every mark_delivered until set."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.marks: list[Mark] = []
        self.gets: list[tuple[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.held = 0
        self.fail_with: Callable[[], BaseException] | None = None
        self.lock = threading.Lock()

    def get_many(self, refs: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        with self.lock:
            self.gets.extend(refs)
            return {doc_id: dict(self.docs[doc_id]) for _, doc_id in refs if doc_id in self.docs}

    def mark_delivered(
        self, index: str, alert_id: str, sink: str, sent_ms: int, at_ms: int, rejected: bool, doc: dict[str, Any]
    ) -> None:
        with self.lock:
            self.held += 1
        assert self.gate.wait(DEADLINE_S * 2), "the test never opened the gate"
        if self.fail_with is not None:
            raise self.fail_with()
        with self.lock:
            self.marks.append(Mark(index, alert_id, sink, sent_ms, at_ms, rejected, doc))
            stored = self.docs.setdefault(alert_id, dict(doc))
            for key, on in (("delivered_to", True), ("rejected_by", rejected)):
                if on and sink not in stored.setdefault(key, []):
                    stored[key] = [*stored[key], sink]

    def delivered_to(self, alert_id: str) -> list[str]:
        with self.lock:
            return sorted(self.docs.get(alert_id, {}).get("delivered_to", []))


class Sink:
    """An alert sink that records each send and raises `error()` while `error` is set."""

    def __init__(self, name: str, error: Callable[[], BaseException] | None = None) -> None:
        self.name = name
        self.error = error
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def send(self, doc: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(doc["alert_id"])
            error = self.error
        if error is not None:
            raise error()

    def sent(self) -> list[str]:
        with self.lock:
            return list(self.calls)


class BatchSink(Sink):
    """A sink with send_batch (as SNS has): each alert's outcome is `outcomes[alert_id]`, however the lane
    happens to batch them."""

    def __init__(self, name: str, outcomes: dict[str, str]) -> None:
        super().__init__(name)
        self.outcomes = outcomes

    def send_batch(self, docs: list[dict[str, Any]]) -> list[str]:
        with self.lock:
            self.calls.extend(d["alert_id"] for d in docs)
        return [self.outcomes[d["alert_id"]] for d in docs]

    def send(self, doc: dict[str, Any]) -> None:
        outcome = self.send_batch([doc])[0]
        if outcome == "retry":
            raise AlertRetryable("scripted")
        if outcome == "rejected":
            raise AlertRejected("scripted")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def index():
    fake = AlertIndex()
    yield fake
    fake.gate.set()


@pytest.fixture
def make_dispatcher(index, clock, no_sleep_retry):
    made: list[AlertDispatcher] = []

    def make(
        sinks: list[Sink], attempts: int = 2, retry_every_s: float = 5.0, fresh_after_ms: int = 0
    ) -> AlertDispatcher:
        d = AlertDispatcher(
            sinks,  # type: ignore[arg-type]  # list[Sink] of fakes: list is invariant
            index,
            attempts,
            no_sleep_retry.policy(),
            retry_every_s=retry_every_s,
            fresh_after_ms=fresh_after_ms,
            clock=clock,
        )
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def settle(d: AlertDispatcher, until: Callable[[], bool] | None = None) -> bool:
    """deliver(wait_s=...) until `until()` holds (by default: until nothing is pending), within a
    deadline; returns what the last deliver() said."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        done = d.deliver(wait_s=0.01)
        if until() if until is not None else done:
            return done
        assert time.monotonic() < deadline, "the dispatcher did not settle"
        if done:
            time.sleep(0.001)  # nothing pending, so deliver() did not wait


def poll(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.001)


def test_a_failing_sink_stays_pending_and_is_retried_after_retry_every_s_while_the_other_delivers_at_once(
    make_dispatcher, index, clock, no_sleep_retry
):
    sns, webhook = Sink("sns"), Sink("webhook", error=lambda: AlertRetryable("webhook 503"))
    d = make_dispatcher([sns, webhook], attempts=2, retry_every_s=5.0)
    lane = d.lanes["webhook"]
    d.raised({"a1": (INDEX, alert("a1"))})

    # SNS delivers (and it is recorded) while the webhook lane tries twice and reports "retry".
    assert settle(d, until=lambda: index.delivered_to("a1") == ["sns"] and lane.retry_at > 0) is False
    assert sns.sent() == ["a1"] and webhook.sent() == ["a1", "a1"]
    assert len(no_sleep_retry.waits) == 1  # one backoff between the lane's two attempts
    assert lane.retry_at == clock.now + 5.0

    clock.advance(4.9)
    assert d.deliver() is False
    assert "a1" not in lane.in_flight  # not handed to the lane again before retry_every_s

    webhook.error = None
    clock.advance(0.2)
    assert d.deliver() is False
    assert "a1" in lane.in_flight  # due now: handed to the webhook lane again, not to SNS
    assert settle(d) is True
    assert index.delivered_to("a1") == ["sns", "webhook"]
    assert sns.sent() == ["a1"] and webhook.sent() == ["a1", "a1", "a1"]


def test_a_rejected_alert_is_recorded_as_rejected_and_never_retried(make_dispatcher, index, clock):
    webhook = Sink("webhook", error=lambda: AlertRejected("webhook 400"))
    d = make_dispatcher([webhook], attempts=3)
    d.raised({"a1": (INDEX, alert("a1"))})
    assert settle(d) is True
    assert webhook.sent() == ["a1"]  # not even the lane's own attempts
    assert [(m.sink, m.rejected) for m in index.marks] == [("webhook", True)]
    assert index.docs["a1"]["rejected_by"] == ["webhook"] and index.delivered_to("a1") == ["webhook"]
    clock.advance(60)
    assert d.deliver() is True
    assert not d.lanes["webhook"].in_flight and webhook.sent() == ["a1"]


def test_the_recorder_writes_the_delivery_onto_the_alert_document(make_dispatcher, index):
    doc = alert("a1")
    d = make_dispatcher([Sink("sns")])
    d.raised({"a1": (INDEX, doc)})
    assert settle(d) is True
    [mark] = index.marks
    assert (mark.index, mark.alert_id, mark.sink, mark.rejected) == (INDEX, "a1", "sns", False)
    assert mark.doc == doc and 0 < mark.sent_ms <= mark.at_ms
    assert index.delivered_to("a1") == ["sns"]


def test_an_alert_stays_pending_until_its_delivery_is_recorded(make_dispatcher, index):
    sns = Sink("sns")
    index.gate.clear()
    d = make_dispatcher([sns])
    d.raised({"a1": (INDEX, alert("a1"))})
    poll(lambda: sns.sent() == ["a1"] and index.held == 1)  # sent, and the recorder is writing it
    assert d.deliver(wait_s=0.02) is False
    index.gate.set()
    assert settle(d) is True
    assert index.delivered_to("a1") == ["sns"]


def test_an_alert_the_stored_document_lists_as_delivered_is_not_sent_again(make_dispatcher, index):
    index.docs["a1"] = {**alert("a1"), "delivered_to": ["sns"]}  # an earlier owner of the shard sent it
    sns, webhook = Sink("sns"), Sink("webhook")
    d = make_dispatcher([sns, webhook])
    d.raised({"a1": (INDEX, alert("a1"))})
    assert settle(d) is True
    assert sns.sent() == [] and webhook.sent() == ["a1"]
    assert [m.sink for m in index.marks] == ["webhook"]
    assert (INDEX, "a1") in index.gets
    assert index.delivered_to("a1") == ["sns", "webhook"]


def test_an_alert_of_a_record_newer_than_the_process_is_sent_without_reading_the_index(make_dispatcher, index):
    index.docs["a1"] = {**alert("a1"), "delivered_to": ["sns"]}  # would be skipped, were it read
    sns = Sink("sns")
    d = make_dispatcher([sns], fresh_after_ms=1714996800000)
    d.raised({"a1": (INDEX, alert("a1", arrival_time=1714996800500))})
    assert settle(d) is True
    assert sns.sent() == ["a1"] and index.gets == []


def test_restored_alerts_go_only_to_the_sinks_their_document_lacks(make_dispatcher, index):
    stored = {**alert("a1"), "delivered_to": ["sns"]}
    index.docs["a1"] = dict(stored)
    sns, webhook = Sink("sns"), Sink("webhook")
    d = make_dispatcher([sns, webhook])
    d.restore([(INDEX, stored)])
    assert settle(d) is True
    assert sns.sent() == [] and webhook.sent() == ["a1"]


def test_batched_alerts_each_get_their_own_outcome(make_dispatcher, index):
    sns = BatchSink("sns", {"a1": "sent", "a2": "rejected", "a3": "sent"})
    d = make_dispatcher([sns])
    d.raised({alert_id: (INDEX, alert(alert_id)) for alert_id in ("a1", "a2", "a3")})
    assert settle(d) is True
    assert sorted(sns.sent()) == ["a1", "a2", "a3"]
    assert {m.alert_id: m.rejected for m in index.marks} == {"a1": False, "a2": True, "a3": False}


def test_a_lanes_unexpected_exception_surfaces_as_delivery_failed(make_dispatcher):
    d = make_dispatcher([Sink("sns", error=lambda: RuntimeError("a bug in the sink"))])
    d.raised({"a1": (INDEX, alert("a1"))})
    with pytest.raises(DeliveryFailed, match="sns") as raised:
        settle(d)
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_a_recorder_failure_surfaces_as_delivery_failed(make_dispatcher, index):
    index.fail_with = lambda: RuntimeError("the index client broke")
    d = make_dispatcher([Sink("sns")])
    d.raised({"a1": (INDEX, alert("a1"))})
    with pytest.raises(DeliveryFailed, match="sns"):
        settle(d)


def test_a_delivery_the_index_refuses_to_record_with_a_4xx_counts_as_done(make_dispatcher, index, clock):
    index.fail_with = lambda: TransportError(400, "mapper_parsing_exception", {})
    sns = Sink("sns")
    d = make_dispatcher([sns])
    d.raised({"a1": (INDEX, alert("a1"))})
    assert settle(d) is True
    clock.advance(60)
    assert d.deliver() is True and sns.sent() == ["a1"]
