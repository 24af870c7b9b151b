"""An HTTP proxy in front of a local server that injects the faults real services produce.

Used by the integration tests and `make faults`, on 127.0.0.1 only. It speaks HTTP/1.1 with keep-alive
and forwards everything unchanged, except where a fault is switched on:
- `down`: every connection is dropped before an answer, as when a node is unreachable;
- `bulk_429_share`: that share of the items of each OpenSearch `_bulk` request is not forwarded and is
  answered `429 es_rejected_execution_exception` inside an otherwise successful response;
- `firehose_fail_share`: that share of the entries of each Firehose `PutRecordBatch` is not forwarded
  and is answered `ServiceUnavailableException`, with `FailedPutCount` set, in a successful response.
Items refused here never reach the server, so a client that does not resend them loses them: exactly
the behaviour the sinks must survive.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
}


@dataclass
class FaultState:
    down: bool = False
    bulk_429_share: float = 0.0
    firehose_fail_share: float = 0.0


@dataclass
class FaultCounts:
    requests: int = 0
    dropped_connections: int = 0
    bulk_items_429: int = 0
    firehose_entries_failed: int = 0
    last_authorization: str = ""  # the scheme and credential of the last request, for auth tests


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", proxy.listen_port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the stdlib access log
        pass

    def do_GET(self) -> None:  # the stdlib's naming
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_GET  # noqa: N815 - http.server's handler names

    def _drop(self) -> None:
        self.server.proxy._count("dropped_connections")
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self) -> None:
        proxy = self.server.proxy
        state = proxy.state
        if state.down:
            return self._drop()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        proxy._count("requests")
        proxy.counts.last_authorization = self.headers.get("Authorization", "")
        path = self.path.split("?", 1)[0]
        target = self.headers.get("X-Amz-Target", "")
        if state.bulk_429_share and self.command == "POST" and path.endswith("/_bulk"):
            return self._bulk_with_429(body, state.bulk_429_share)
        if state.firehose_fail_share and target.endswith(".PutRecordBatch"):
            return self._firehose_partial(body, state.firehose_fail_share)
        self._relay(*self._upstream(body))

    # -- forwarding ------------------------------------------------------------------------------
    def _upstream(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Content-Length"] = str(len(body))
        for attempt in (1, 2):
            conn = self.server.proxy._connection()
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP], data
            except (OSError, http.client.HTTPException):
                self.server.proxy._reset_connection()
                if attempt == 2:
                    return 502, [("Content-Type", "text/plain")], b"fault proxy: upstream unreachable"
        raise AssertionError("unreachable")

    def _relay(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # -- faults ----------------------------------------------------------------------------------
    def _bulk_with_429(self, body: bytes, share: float) -> None:
        lines = [line for line in body.split(b"\n") if line.strip()]
        items: list[tuple[str, dict, list[bytes]]] = []  # (action, meta, lines)
        i = 0
        while i < len(lines):
            header = orjson.loads(lines[i])
            action = next(iter(header))
            n = 1 if action == "delete" else 2
            items.append((action, header[action], lines[i : i + n]))
            i += n
        proxy = self.server.proxy
        refused = {k for k in range(len(items)) if proxy._chance(share)}
        kept = [item for k, item in enumerate(items) if k not in refused]
        upstream_items: list[dict] = []
        if kept:
            forwarded = b"\n".join(line for _, _, group in kept for line in group) + b"\n"
            status, headers, data = self._upstream(forwarded)
            if status >= 300:
                return self._relay(status, headers, data)
            upstream_items = orjson.loads(data)["items"]
        proxy._count("bulk_items_429", len(refused))
        merged, it = [], iter(upstream_items)
        for k, (action, meta, _) in enumerate(items):
            if k in refused:
                merged.append(
                    {
                        action: {
                            "_index": meta.get("_index"),
                            "_id": meta.get("_id"),
                            "status": 429,
                            "error": {
                                "type": "es_rejected_execution_exception",
                                "reason": "rejected by the fault proxy",
                            },
                        }
                    }
                )
            else:
                merged.append(next(it))
        answer = orjson.dumps(
            {
                "took": 1,
                "errors": bool(refused)
                or any((next(iter(x.values())).get("status", 200) >= 300) for x in upstream_items),
                "items": merged,
            }
        )
        self._relay(200, [("Content-Type", "application/json; charset=UTF-8")], answer)

    def _firehose_partial(self, body: bytes, share: float) -> None:
        request = orjson.loads(body)
        records = request["Records"]
        proxy = self.server.proxy
        failed = {k for k in range(len(records)) if proxy._chance(share)}
        kept = [r for k, r in enumerate(records) if k not in failed]
        upstream: list[dict] = []
        upstream_failed = 0
        if kept:
            status, headers, data = self._upstream(orjson.dumps({**request, "Records": kept}))
            if status >= 300:
                return self._relay(status, headers, data)
            answer = orjson.loads(data)
            upstream, upstream_failed = answer["RequestResponses"], int(answer.get("FailedPutCount", 0))
        proxy._count("firehose_entries_failed", len(failed))
        merged, it = [], iter(upstream)
        for k in range(len(records)):
            if k in failed:
                merged.append(
                    {
                        "ErrorCode": "ServiceUnavailableException",
                        "ErrorMessage": "Slow down (injected by the fault proxy)",
                    }
                )
            else:
                merged.append(next(it))
        answer = orjson.dumps(
            {"FailedPutCount": len(failed) + upstream_failed, "Encrypted": False, "RequestResponses": merged}
        )
        self._relay(200, [("Content-Type", "application/x-amz-json-1.1")], answer)


class FaultProxy:
    """`with FaultProxy(upstream_port) as proxy:` then `proxy.url`, `proxy.set(...)`, `proxy.counts`."""

    def __init__(self, upstream_port: int, listen_port: int = 0, seed: int = 7) -> None:
        self.upstream_port = upstream_port
        self.listen_port = listen_port
        self.state = FaultState()
        self.counts = FaultCounts()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server: _Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._server = _Server(self)
        threading.Thread(target=self._server.serve_forever, daemon=True, name="fault-proxy").start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def set(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                if not hasattr(self.state, key):
                    raise AttributeError(f"no fault named {key}")
                setattr(self.state, key, value)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {**asdict(self.state), **asdict(self.counts)}

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.counts, name, getattr(self.counts, name) + n)

    def _chance(self, share: float) -> bool:
        with self._lock:
            return self._rng.random() < share

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=60)
            self._local.conn = conn
        return conn

    def _reset_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None
