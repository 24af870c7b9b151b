"""A webhook receiver for the local stack: what a customer's endpoint does with our alerts.

It checks the signature and the timestamp (worker.sinks.alerts.verify), counts each alert id, and keeps
when each first arrived. Tests and the alert benchmark turn it down (an HTTP status) or slow (a delay per
request) to see what the worker does about it. Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson

from worker.sinks.alerts import ALERT_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify


class WebhookReceiver:
    def __init__(self, secret: str, port: int = 0) -> None:
        self.secret = secret
        self.status = 200  # answer this instead of taking the alert (503: down)
        self.delay_s = 0.0  # wait this long before answering (slow)
        self.received: Counter[str] = Counter()  # alert id -> accepted deliveries
        self.first_at: dict[str, float] = {}  # alert id -> wall time of its first accepted delivery
        self.documents: dict[str, dict] = {}
        self.bad_signatures = 0
        self.refused = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._handle(self, body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def _handle(self, request: BaseHTTPRequestHandler, body: bytes) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        ts = request.headers.get(TIMESTAMP_HEADER) or ""
        given = request.headers.get(SIGNATURE_HEADER) or ""
        if not verify(self.secret, ts, body, given, time.time()):
            with self.lock:
                self.bad_signatures += 1
            request.send_response(401)
        elif self.status != 200:
            with self.lock:
                self.refused += 1
            request.send_response(self.status)
        else:
            doc = orjson.loads(body)
            alert_id = doc["alert_id"]
            status = 200 if alert_id == request.headers.get(ALERT_ID_HEADER) else 400
            if status == 200:
                with self.lock:
                    self.received[alert_id] += 1
                    self.first_at.setdefault(alert_id, time.time())
                    self.documents[alert_id] = doc
            request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
