"""OpenSearchSink.index against an in-process fake of opensearch-py's client: what each bulk item status
and each whole-request error leads to (resent alone, rejected, done, split, retried), and chunking by the
configured bulk limits. Nothing sleeps: the sink's retry policy comes from the `no_sleep_retry` fixture."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    RequestError,
    TransportError,
)
from opensearchpy.exceptions import (
    ConnectionError as OSConnectionError,
)

from worker.config import load_config
from worker.config.sections import OpenSearchSection
from worker.sinks.opensearch import IndexOp, OpenSearchSink, Rejected

pytestmark = pytest.mark.timeout(30)

INDEX = "ut-detections-2024.05.06"

# An item's answer: a status, or (status, error type). A request's answer: one per item it carries, an
# exception the client raises for the whole request, or a function of what was sent giving either.
Item = int | tuple[int, str]
Answer = list[Item] | BaseException | Callable[[list["Sent"]], Any] | None

DEFAULT_ERROR = {
    400: "mapper_parsing_exception",
    404: "not_found",
    409: "version_conflict_engine_exception",
    429: "es_rejected_execution_exception",
    503: "unavailable_shards_exception",
}


class Sent:
    """One action of a bulk request, as the sink put it on the wire."""

    def __init__(self, action: str, meta: dict[str, Any], source: dict[str, Any] | None) -> None:
        self.action, self.index, self.doc_id, self.source = action, meta["_index"], meta["_id"], source

    def __repr__(self) -> str:
        return f"{self.action}:{self.doc_id}"


def parse_bulk(body: bytes) -> list[Sent]:
    lines = [orjson.loads(line) for line in body.split(b"\n") if line]
    sent, i = [], 0
    while i < len(lines):
        ((action, meta),) = lines[i].items()
        source = None if action == "delete" else lines[i + 1]
        sent.append(Sent(action, meta, source))
        i += 1 if action == "delete" else 2
    return sent


class FakeClient:
    """opensearch-py's client as far as `index` uses it: `bulk(body=...)`, answered from a script (one
    answer per request; once the script is used up, every item is acknowledged)."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.bodies: list[bytes] = []

    @property
    def requests(self) -> list[list[Sent]]:
        return [parse_bulk(body) for body in self.bodies]

    def ids(self, n: int) -> list[str]:
        """The doc ids of the n-th request (0-based), in order."""
        return [s.doc_id for s in self.requests[n]]

    def bulk(self, body: bytes, **_: Any) -> dict[str, Any]:
        assert isinstance(body, bytes) and body.endswith(b"\n"), "NDJSON ends with a newline"
        self.bodies.append(body)
        sent = parse_bulk(body)
        answer = self.answers.pop(0) if self.answers else None
        if callable(answer):
            answer = answer(sent)
        if isinstance(answer, BaseException):
            raise answer
        statuses: list[Item] = answer if answer is not None else [200 if s.action == "delete" else 201 for s in sent]
        assert len(statuses) == len(sent), "a scripted answer has one status per item sent"
        items = []
        for s, item in zip(sent, statuses, strict=True):
            status, error = item if isinstance(item, tuple) else (item, DEFAULT_ERROR.get(item, "error"))
            result: dict[str, Any] = {"_index": s.index, "_id": s.doc_id, "status": status}
            if status >= 300 and not (s.action == "delete" and status == 404):
                result["error"] = {"type": error, "reason": f"scripted {status}"}
            items.append({s.action: result})
        return {
            "took": 1,
            "errors": any(i[s.action]["status"] >= 300 for i, s in zip(items, sent, strict=True)),
            "items": items,
        }


def section(**values: str) -> OpenSearchSection:
    """The sink's settings; one bulk request at a time unless a test asks (scripted answers go in order)."""
    values.setdefault("bulk_in_flight", "1")
    env = {f"FACEWATCH__OPENSEARCH__{key.upper()}": value for key, value in values.items()}
    return load_config(env=env, stack_env_file=None).opensearch


@pytest.fixture
def make_sink(no_sleep_retry) -> Callable[..., OpenSearchSink]:
    def make(client: FakeClient, cfg: OpenSearchSection | None = None) -> OpenSearchSink:
        sink = OpenSearchSink(client, cfg or section(), **no_sleep_retry.kwargs(OpenSearchSink))  # type: ignore[arg-type]  # a fake
        return sink

    return make


def op(n: int, **kw: Any) -> IndexOp:
    return IndexOp(INDEX, f"d{n}", {"n": n, "pad": "x" * kw.pop("pad", 0)}, **kw)


def ops(count: int) -> list[IndexOp]:
    return [op(i) for i in range(count)]


def test_all_items_ok_returns_no_rejections_after_one_request(make_sink, no_sleep_retry):
    client = FakeClient()
    assert make_sink(client).index(ops(4)) == []
    assert client.ids(0) == ["d0", "d1", "d2", "d3"]
    assert [s.action for s in client.requests[0]] == ["index"] * 4
    assert client.requests[0][2].source == {"n": 2, "pad": ""}
    assert len(client.bodies) == 1 and no_sleep_retry.waits == []


def test_items_429_and_503_are_resent_alone_until_ok(make_sink, no_sleep_retry):
    client = FakeClient([201, 429, 503, 201, 201], [429, 200], [200])
    assert make_sink(client).index(ops(5)) == []
    assert client.ids(0) == ["d0", "d1", "d2", "d3", "d4"]
    assert client.ids(1) == ["d1", "d2"]  # only the refused items, in their order
    assert client.ids(2) == ["d1"]
    # Each resend carries the same lines as the first request did for those documents.
    first = client.bodies[0].split(b"\n")
    assert client.bodies[1] == b"\n".join(first[2:6]) + b"\n"
    assert len(client.bodies) == 3 and len(no_sleep_retry.waits) == 2  # a backoff before each resend


def test_item_400_is_rejected_with_status_and_error_type_and_not_retried(make_sink, no_sleep_retry):
    client = FakeClient([201, (400, "mapper_parsing_exception"), 201])
    batch = ops(3)
    assert make_sink(client).index(batch) == [Rejected(batch[1], 400, "mapper_parsing_exception")]
    assert len(client.bodies) == 1 and no_sleep_retry.waits == []


def test_rejected_and_retried_items_of_one_response_are_each_handled(make_sink):
    client = FakeClient([(400, "strict_dynamic_mapping_exception"), 429, 201], [201])
    batch = ops(3)
    assert make_sink(client).index(batch) == [Rejected(batch[0], 400, "strict_dynamic_mapping_exception")]
    assert client.ids(1) == ["d1"]


def test_delete_answered_404_counts_as_done(make_sink, no_sleep_retry):
    client = FakeClient([404, 200])
    batch = [op(0, delete=True), op(1, delete=True)]
    assert make_sink(client).index(batch) == []
    assert [s.action for s in client.requests[0]] == ["delete", "delete"]
    assert [s.source for s in client.requests[0]] == [None, None]  # a delete has no source line
    assert len(client.bodies) == 1 and no_sleep_retry.waits == []


def test_create_answered_409_counts_as_done(make_sink, no_sleep_retry):
    client = FakeClient([409, 201])
    assert make_sink(client).index([op(0, create=True), op(1, create=True)]) == []
    assert [s.action for s in client.requests[0]] == ["create", "create"]
    assert len(client.bodies) == 1 and no_sleep_retry.waits == []


def test_404_and_409_on_a_plain_index_are_rejected(make_sink):
    client = FakeClient([404, 409])
    batch = ops(2)
    assert make_sink(client).index(batch) == [
        Rejected(batch[0], 404, "not_found"),
        Rejected(batch[1], 409, "version_conflict_engine_exception"),
    ]
    assert len(client.bodies) == 1


def test_request_413_splits_the_chunk_in_halves(make_sink):
    client = FakeClient(TransportError(413, "request_entity_too_large", {}))
    assert make_sink(client).index(ops(4)) == []
    assert client.ids(0) == ["d0", "d1", "d2", "d3"]
    assert client.ids(1) == ["d0", "d1"]
    assert client.ids(2) == ["d2", "d3"]
    assert len(client.bodies) == 3


def test_request_413_splits_until_the_too_large_doc_is_alone_then_rejects_it_413(make_sink):
    def too_large(sent: list[Sent]) -> Any:  # a proxy that refuses any request holding d2
        return TransportError(413, "request_entity_too_large", {}) if any(s.doc_id == "d2" for s in sent) else None

    client = FakeClient(*[too_large] * 10)
    batch = ops(5)
    assert make_sink(client).index(batch) == [Rejected(batch[2], 413, "request too large")]
    indexed = {s.doc_id for request in client.requests if not any(s.doc_id == "d2" for s in request) for s in request}
    assert indexed == {"d0", "d1", "d3", "d4"}
    assert ["d2"] in [client.ids(n) for n in range(len(client.bodies))]


def test_single_doc_413_is_rejected_413_without_retry(make_sink, no_sleep_retry):
    client = FakeClient(TransportError(413, "request_entity_too_large", {}))
    batch = ops(1)
    assert make_sink(client).index(batch) == [Rejected(batch[0], 413, "request too large")]
    assert len(client.bodies) == 1 and no_sleep_retry.waits == []


@pytest.mark.parametrize(
    "error",
    [
        TransportError(429, "too_many_requests", {}),
        TransportError(503, "unavailable", {}),
        AuthenticationException(401, "unauthorized", {}),
        AuthorizationException(403, "forbidden", {}),
    ],
    ids=["429", "503", "401", "403"],
)
def test_whole_request_429_503_401_403_is_retried_with_the_same_body(make_sink, no_sleep_retry, error):
    client = FakeClient(error, error, None)
    assert make_sink(client).index(ops(3)) == []
    assert len(client.bodies) == 3
    assert client.bodies[0] == client.bodies[1] == client.bodies[2]
    assert len(no_sleep_retry.waits) == 2


def test_connection_error_is_retried_then_ok(make_sink, no_sleep_retry):
    down = OSConnectionError("N/A", "Connection refused", OSError("refused"))
    client = FakeClient(down, down, down, None)
    assert make_sink(client).index(ops(2)) == []
    assert len(client.bodies) == 4 and client.bodies[0] == client.bodies[3]
    assert len(no_sleep_retry.waits) == 3


def test_whole_request_400_is_raised_not_retried(make_sink, no_sleep_retry):
    client = FakeClient(RequestError(400, "illegal_argument_exception", {}))
    with pytest.raises(RequestError):
        make_sink(client).index(ops(2))
    assert len(client.bodies) == 1 and no_sleep_retry.waits == []


def test_chunks_by_bulk_max_docs(make_sink):
    client = FakeClient()
    cfg = section(bulk_max_docs="3")
    assert cfg.bulk_max_docs == 3
    assert make_sink(client, cfg).index(ops(7)) == []
    assert [client.ids(n) for n in range(len(client.bodies))] == [["d0", "d1", "d2"], ["d3", "d4", "d5"], ["d6"]]


def test_chunks_by_bulk_max_bytes(make_sink):
    client = FakeClient()
    cfg = section(bulk_max_bytes="1024")
    assert cfg.bulk_max_bytes == 1024
    batch = [op(i, pad=300) for i in range(7)]  # ~370 bytes each: two fit in 1 KiB, three do not
    assert make_sink(client, cfg).index(batch) == []
    assert all(len(body) <= 1024 for body in client.bodies)
    assert [len(r) for r in client.requests] == [2, 2, 2, 1]
    assert [s.doc_id for r in client.requests for s in r] == [o.doc_id for o in batch]  # each once, in order


def test_a_doc_larger_than_bulk_max_bytes_goes_in_a_request_of_its_own(make_sink):
    client = FakeClient()
    batch = [op(0), op(1, pad=2000), op(2)]
    assert make_sink(client, section(bulk_max_bytes="1024")).index(batch) == []
    assert [client.ids(n) for n in range(len(client.bodies))] == [["d0"], ["d1"], ["d2"]]


def test_each_chunk_is_retried_on_its_own(make_sink):
    client = FakeClient([201, 429], [201], [503, 201], [201])
    assert make_sink(client, section(bulk_max_docs="2")).index(ops(4)) == []
    assert [client.ids(n) for n in range(len(client.bodies))] == [["d0", "d1"], ["d1"], ["d2", "d3"], ["d2"]]


def test_a_response_with_fewer_items_than_ops_resends_the_ops_it_does_not_mention(make_sink):
    class ShortAnswer(FakeClient):
        def bulk(self, body: bytes, **kw: Any) -> dict[str, Any]:
            response = super().bulk(body, **kw)
            if len(self.bodies) == 1:
                response["items"] = response["items"][:1]  # only d0 acknowledged
            return response

    client = ShortAnswer()
    assert make_sink(client).index(ops(3)) == []
    assert [client.ids(n) for n in range(len(client.bodies))] == [["d0", "d1", "d2"], ["d1", "d2"]]


class ConcurrentClient(FakeClient):
    """Counts requests in flight at once; each waits until `together` of them are in flight (or 2 s)."""

    def __init__(self, together: int, *answers: Answer) -> None:
        super().__init__(*answers)
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.together = threading.Barrier(together)

    def bulk(self, body: bytes, **kw: Any) -> dict[str, Any]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        try:
            self.together.wait(timeout=2.0)
        except threading.BrokenBarrierError:
            pass
        try:
            with self.lock:
                return super().bulk(body, **kw)
        finally:
            with self.lock:
                self.now -= 1


def test_the_chunks_of_one_call_go_bulk_in_flight_at_a_time(make_sink):
    client = ConcurrentClient(2)
    cfg = section(bulk_max_docs="2", bulk_in_flight="2")
    assert make_sink(client, cfg).index(ops(8)) == []
    assert client.peak == 2  # two at once, never more
    assert sorted(s.doc_id for r in client.requests for s in r) == sorted(f"d{i}" for i in range(8))


def test_one_at_a_time_when_bulk_in_flight_is_1(make_sink):
    client = ConcurrentClient(1)
    assert make_sink(client, section(bulk_max_docs="2", bulk_in_flight="1")).index(ops(6)) == []
    assert client.peak == 1 and len(client.bodies) == 3


def test_a_rejection_or_an_error_of_a_concurrent_chunk_reaches_the_caller(make_sink):
    def refuse_d3(sent: list[Sent]) -> list[Item]:
        return [400 if s.doc_id == "d3" else 201 for s in sent]

    client = ConcurrentClient(2, refuse_d3, refuse_d3)
    rejected = make_sink(client, section(bulk_max_docs="2", bulk_in_flight="2")).index(ops(4))
    assert [(r.op.doc_id, r.status) for r in rejected] == [("d3", 400)]
    client = ConcurrentClient(2, RequestError(400, "parse", {}), RequestError(400, "parse", {}))
    with pytest.raises(RequestError):
        make_sink(client, section(bulk_max_docs="2", bulk_in_flight="2")).index(ops(4))
