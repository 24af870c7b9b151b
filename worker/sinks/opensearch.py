"""OpenSearch sink: bulk indexing that returns only when every document is acknowledged or rejected.

Every bulk response is read item by item: 429 and 5xx items are sent again alone, with capped,
jittered backoff; other 4xx items (a mapping error, a document too large) cannot succeed by retrying
and come back to the caller as rejected, for quarantine. A connection error or a 429/5xx answer to the
whole request retries the whole chunk. Nothing here gives up on retryable errors: the caller must not
checkpoint past data that is not acknowledged, so waiting (backpressure) is the only safe outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import orjson
from opensearchpy import OpenSearch, RequestsHttpConnection, Urllib3HttpConnection
from opensearchpy.exceptions import (
    ConnectionError as OSConnectionError,
)
from opensearchpy.exceptions import (
    TransportError,
)
from opensearchpy.serializer import JSONSerializer

from worker.config import OpenSearchSection
from worker.logs import get_logger
from worker.model import IndexOp, Rejected
from worker.retry import RetryPolicy
from worker.sinks.templates import FAMILIES, index_template

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# Whole-request answers that mean "not now" rather than "never": retried with backoff and logged loudly.
RETRYABLE_REQUEST_STATUS = RETRYABLE_STATUS | {401, 403}


def _request_retryable(exc: BaseException) -> tuple[str, str] | None:
    """A whole request that may succeed later (unreachable, throttled, not yet authorised): what to log."""
    if isinstance(exc, OSConnectionError):
        return "opensearch_unreachable", str(exc)[:200]
    if isinstance(exc, TransportError):
        status = exc.status_code if isinstance(exc.status_code, int) else 0
        if status in RETRYABLE_REQUEST_STATUS:
            return "opensearch_busy", f"status {status}"
    return None


class OrjsonSerializer(JSONSerializer):
    """opensearch-py's stdlib json serializer costs more CPU than the node itself; orjson does not."""

    def loads(self, s: str | bytes) -> Any:
        return orjson.loads(s)

    def dumps(self, data: Any) -> str:
        if isinstance(data, (str, bytes)):
            return data  # type: ignore[return-value]  # a bulk body comes encoded: sent as is, bytes or str
        return orjson.dumps(data, default=self.default).decode()


def make_client(cfg: OpenSearchSection, region: str = "us-east-1") -> OpenSearch:
    kwargs: dict[str, Any] = {
        "hosts": [cfg.url],
        "serializer": OrjsonSerializer(),
        "timeout": cfg.request_timeout_s,
        "max_retries": 0,  # retries are ours: per item, with backoff
        "verify_certs": cfg.verify_tls,
        "ssl_show_warn": cfg.verify_tls,
        "http_compress": False,
        "connection_class": Urllib3HttpConnection,
    }
    if cfg.ca_certs:
        kwargs["ca_certs"] = cfg.ca_certs
    if cfg.auth == "basic":
        kwargs["http_auth"] = (cfg.username, cfg.password)
    elif cfg.auth == "sigv4":
        import boto3
        from opensearchpy import AWSV4SignerAuth

        credentials = boto3.Session().get_credentials()
        kwargs["http_auth"] = AWSV4SignerAuth(credentials, region, "es")
        kwargs["connection_class"] = RequestsHttpConnection
    return OpenSearch(**kwargs)


def _chunks(ops: Sequence[IndexOp], max_bytes: int, max_docs: int) -> Iterator[list[tuple[IndexOp, bytes]]]:
    chunk: list[tuple[IndexOp, bytes]] = []
    size = 0
    for op in ops:
        if op.delete:
            line = orjson.dumps({"delete": {"_index": op.index, "_id": op.doc_id}}) + b"\n"
        else:
            line = (
                orjson.dumps({"create" if op.create else "index": {"_index": op.index, "_id": op.doc_id}})
                + b"\n"
                + orjson.dumps(op.source)
                + b"\n"
            )
        if chunk and (size + len(line) > max_bytes or len(chunk) >= max_docs):
            yield chunk
            chunk, size = [], 0
        chunk.append((op, line))
        size += len(line)
    if chunk:
        yield chunk


_MARK_DELIVERED = """
def s = ctx._source;
if (s.delivered_to == null) { s.delivered_to = []; }
else if (!(s.delivered_to instanceof List)) { s.delivered_to = [s.delivered_to]; }
if (!s.delivered_to.contains(params.sink)) { s.delivered_to.add(params.sink); }
if (s.delivered_at == null) { s.delivered_at = [:]; }
if (!s.delivered_at.containsKey(params.sink)) { s.delivered_at[params.sink] = params.at; }
if (s.sent_at == null) { s.sent_at = [:]; }
if (!s.sent_at.containsKey(params.sink)) { s.sent_at[params.sink] = params.sent; }
if (params.rejected) {
  if (s.rejected_by == null) { s.rejected_by = []; }
  if (!s.rejected_by.contains(params.sink)) { s.rejected_by.add(params.sink); }
}
"""


class OpenSearchSink:
    def __init__(
        self,
        client: OpenSearch,
        cfg: OpenSearchSection,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.client = client
        self.cfg = cfg
        self.retry = retry or RetryPolicy(cfg.retry_base_s, cfg.retry_max_s)
        self.log = get_logger().bind(sink="opensearch")
        self._pool: ThreadPoolExecutor | None = None

    def ensure_templates(self) -> None:
        """Install the index templates (idempotent), retrying while the cluster is unreachable."""
        for family in FAMILIES:
            body = index_template(self.cfg.index_prefix, family, self.cfg.replicas)
            name = f"{self.cfg.index_prefix}-{family}"
            self._call(partial(self.client.indices.put_index_template, name=name, body=body), "template")
            # Indices made by an older version keep their mapping: add the new fields to them too (only
            # additions, which OpenSearch allows), or a strict mapping would refuse the new documents.
            mapping = {"properties": body["template"]["mappings"]["properties"]}
            put_mapping = partial(
                self.client.indices.put_mapping, index=f"{name}-*", body=mapping, params={"allow_no_indices": "true"}
            )
            self._call(put_mapping, "mapping")

    def _call(self, fn: Callable[[], Any], what: str) -> Any:
        return self.retry.call(fn, _request_retryable, self.log, op=what)

    def get_many(self, refs: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """Real-time GET of documents by (index, id), retrying while unreachable; absent ones are left out."""
        if not refs:
            return {}
        body = {"docs": [{"_index": index, "_id": doc_id} for index, doc_id in refs]}
        response = self._call(lambda: self.client.mget(body=body), "mget")
        return {d["_id"]: d["_source"] for d in response["docs"] if d.get("found")}

    def mark_delivered(
        self, index: str, alert_id: str, sink: str, sent_ms: int, at_ms: int, rejected: bool, doc: dict[str, Any]
    ) -> None:
        """Record on an alert document that `sink` took it: atomic, so two sinks' lanes never undo each
        other, and idempotent, so a second owner recording the same delivery changes nothing. Creates the
        document (from `doc`) when the flush that creates it has not happened yet."""
        upsert = {**doc, "delivered_to": [sink], "sent_at": {sink: sent_ms}, "delivered_at": {sink: at_ms}}
        if rejected:
            upsert["rejected_by"] = [sink]
        body = {
            "script": {
                "lang": "painless",
                "source": _MARK_DELIVERED,
                "params": {"sink": sink, "sent": sent_ms, "at": at_ms, "rejected": rejected},
            },
            "upsert": upsert,
        }
        self._call(
            lambda: self.client.update(index=index, id=alert_id, body=body, params={"retry_on_conflict": "5"}),
            "mark_delivered",
        )

    def index(self, ops: Iterable[IndexOp]) -> list[Rejected]:
        """Index every op. Returns the ops OpenSearch rejected for good; the rest are acknowledged.

        The chunks go `bulk_in_flight` at a time: the ops of one call are distinct documents (the write
        buffer keeps one op per document, worker/buffer/pending.py), so no two requests in flight touch
        the same document and their order cannot matter. Across calls the order holds: this returns only
        once every chunk is acknowledged, so a later flush (a track's delete) never overtakes an earlier
        one (its index)."""
        chunks = list(_chunks(list(ops), self.cfg.bulk_max_bytes, self.cfg.bulk_max_docs))
        if len(chunks) > 1 and self.cfg.bulk_in_flight > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.cfg.bulk_in_flight, thread_name_prefix="bulk")
            futures = [self._pool.submit(self._index_chunk, chunk) for chunk in chunks]
            return [r for future in futures for r in future.result()]  # the first error raises, as before
        return [r for chunk in chunks for r in self._index_chunk(chunk)]

    def _index_chunk(self, chunk: list[tuple[IndexOp, bytes]]) -> list[Rejected]:
        rejected: list[Rejected] = []
        pending = chunk
        backoff = self.retry()
        while pending:
            body = b"".join(line for _, line in pending)
            try:
                response = self._call(partial(self.client.bulk, body=body), "bulk")
            except TransportError as exc:
                if exc.status_code == 413 and len(pending) > 1:
                    half = len(pending) // 2
                    return rejected + self._index_chunk(pending[:half]) + self._index_chunk(pending[half:])
                if exc.status_code == 413:
                    return rejected + [Rejected(pending[0][0], 413, "request too large")]
                raise
            items = response.get("items") or []
            # An answer with fewer items than ops cannot acknowledge the ops it does not mention: resend those.
            retry: list[tuple[IndexOp, bytes]] = list(pending[len(items) :])
            for (op, line), item in zip(pending, items, strict=False):
                result = item.get("index") or next(iter(item.values()))
                status = int(result.get("status", 500))
                if status < 300 or (op.delete and status == 404) or (op.create and status == 409):
                    continue
                if status in RETRYABLE_STATUS:
                    retry.append((op, line))
                else:
                    error = result.get("error") or {}
                    reason = error.get("type", "error") if isinstance(error, dict) else str(error)
                    rejected.append(Rejected(op, status, str(reason)[:500]))
            if retry:
                delay = backoff.next_delay()
                self.log.warning("bulk_items_retried", count=len(retry), retry_in_s=round(delay, 2))
                backoff.sleep(delay)
            pending = retry
        return rejected
