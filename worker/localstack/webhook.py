"""A webhook receiver for the local stack: what a customer's endpoint does with our alerts.

It verifies each request the Standard Webhooks way (worker.webhooks.verify: a v1 signature under one of
its secrets, a timestamp within 5 minutes), takes each alert id once, and keeps when each first arrived.
Answers, as a real receiver should:

- 400: a webhook-* header missing or malformed, or a body that is not the alert the id names;
- 401: no signature matches (`bad_signatures`), or the timestamp is out of tolerance (`stale`): a
  captured request replayed later ends here;
- 200 and counted in `duplicates`: an id it already took. That is what our own retry looks like after
  an answer that got lost (a timeout): the id is the same by design, and only a success stops the
  sender. A copy replayed within the window is also answered 200 and processed no further, which is
  harmless; an error there would make the sender record a delivered alert as refused.

Tests, the demo and the alert benchmark turn it down (`status`: answer that instead of taking the
alert), slow (`delay_s` per request) or make it redirect (`redirect_to`: answer `redirect_status`, 307,
with that Location), and read what it saw. HTTP/1.1 with keep-alive; listens on 127.0.0.1 only.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from worker.webhooks import (
    TOLERANCE_S,
    MissingHeaderError,
    ReplayGuard,
    Secrets,
    TimestampError,
    WebhookVerificationError,
    verify,
)


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a sender that gave up before the answer (its timeout): nothing to report
        super().handle_error(request, client_address)


class WebhookReceiver:
    def __init__(
        self,
        secrets: Secrets,
        port: int = 0,
        tolerance_s: float = TOLERANCE_S,
        idle_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secrets = secrets  # "whsec_... whsec_..." or a list; may be replaced while running (rotation)
        self.tolerance_s = tolerance_s
        self.clock = clock  # the receiver's wall clock, epoch seconds
        self.status = 200  # answer this instead of taking the alert (503: down)
        self.delay_s = 0.0  # wait this long before answering (slow)
        self.redirect_to = ""  # when set, answer `redirect_status` with this Location (an endpoint that moved)
        self.redirect_status = 307
        self.received: Counter[str] = Counter()  # alert id -> deliveries answered 2xx, duplicates included
        self.duplicates: Counter[str] = Counter()  # alert id -> repeats of an id already taken (200, not re-taken)
        self.first_at: dict[str, float] = {}  # alert id -> wall time of its first accepted delivery
        self.documents: dict[str, dict] = {}
        self.bad_signatures = 0  # 401: no signature matched
        self.stale = 0  # 401: signed correctly, timestamp out of tolerance
        self.malformed = 0  # 400: headers missing or malformed, or a body that is not the alert named
        self.refused = 0  # answered `status` (down)
        self.redirected = 0  # answered a redirect
        self.requests: Counter[str] = Counter()  # HTTP method -> requests, any path, whatever the answer
        self.connections = 0  # TCP connections accepted (keep-alive: one carries many requests)
        self.guard = ReplayGuard(tolerance_s)
        self.lock = threading.Lock()
        self._open: set[socket.socket] = set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the sender reuses one connection
            timeout = idle_timeout_s  # an idle connection is closed after this, as real servers do

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver.connections += 1
                    receiver._open.add(self.connection)

            def finish(self) -> None:
                with receiver.lock:
                    receiver._open.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:  # http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._count("POST")
                receiver._handle(self, body)

            def _other(self) -> None:
                receiver._count(self.command)
                receiver._answer(self, 405, b"POST only")

            do_GET = do_HEAD = do_PUT = do_PATCH = do_DELETE = _other  # noqa: N815 - http.server's handler names

            def log_message(self, *args: object) -> None:
                pass

        self.server = LocalHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.1,), name="webhook-receiver", daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def _count(self, method: str) -> None:
        with self.lock:
            self.requests[method] += 1

    def _handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.redirect_to:
            with self.lock:
                self.redirected += 1
            return self._answer(request, self.redirect_status, b"", {"Location": self.redirect_to})
        now = self.clock()
        try:
            alert_id = verify(self.secrets, request.headers, body, now, self.tolerance_s)
        except WebhookVerificationError as exc:
            with self.lock:
                if isinstance(exc, MissingHeaderError):
                    self.malformed += 1
                elif isinstance(exc, TimestampError):
                    self.stale += 1
                else:
                    self.bad_signatures += 1
            return self._answer(request, 400 if isinstance(exc, MissingHeaderError) else 401, str(exc).encode())
        if self.status != 200:
            with self.lock:
                self.refused += 1
            return self._answer(request, self.status, b"")
        try:
            doc = orjson.loads(body)
            named = isinstance(doc, dict) and doc.get("alert_id") == alert_id
        except orjson.JSONDecodeError:
            named = False
        if not named:
            with self.lock:
                self.malformed += 1
            return self._answer(request, 400, b"the body is not the alert webhook-id names")
        with self.lock:
            # The guard covers the replay window; the documents kept here cover the rest of this receiver's
            # life (a real one would look the id up in its own store).
            duplicate = self.guard.seen(alert_id, now) or alert_id in self.documents
            self.received[alert_id] += 1
            if duplicate:
                self.duplicates[alert_id] += 1
            else:
                self.first_at[alert_id] = now
                self.documents[alert_id] = doc
        self._answer(request, 200, b"")

    @staticmethod
    def _answer(
        request: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        request.send_response(status)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Type", "text/plain; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if body and request.command != "HEAD":
            request.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            open_now = list(self._open)
        for conn in open_now:  # keep-alive connections would otherwise wait for their idle timeout
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
