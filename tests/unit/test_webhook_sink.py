"""WebhookAlertSink against real HTTP servers in this process (127.0.0.1, a free port): what goes on the
wire, what each answer means to the dispatcher, redirects refused, one kept-alive connection, and the
reference `standardwebhooks` library verifying a request exactly as the sink sent it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import orjson
import pytest
from structlog.testing import capture_logs

from worker.localstack.webhook import LocalHTTPServer, WebhookReceiver
from worker.sinks.alerts import AlertRejected, AlertRetryable, WebhookAlertSink
from worker.webhooks import new_secret, verify

IDENTITY = "emp-0042-jane-doe"  # must never reach a log line


def alert(n: int = 1, **extra) -> dict:
    return {
        "alert_id": f"alert-{n:04d}",
        "rule": "watchlist",
        "severity": "critical",
        "camera_id": "cam-1",
        "identity": IDENTITY,
        **extra,
    }


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


@dataclass
class Capture:
    """Keeps every request as it arrived and answers `status` (with `headers`) after `delay_s`."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    tls: ssl.SSLContext | None = None
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        capture = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                capture.seen.append(
                    Seen(self.command, self.path, dict(self.headers.items()), body, self.client_address[1])
                )
                time.sleep(capture.delay_s)
                self.send_response(capture.status)
                for name, value in capture.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET = _any  # noqa: N815 - http.server's handler names

            def log_message(self, *args: object) -> None:
                pass

        self.server = LocalHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        scheme = "https" if self.tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}/hooks/alerts?tenant=t1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def capture():
    c = Capture()
    yield c
    c.close()


@pytest.fixture
def receivers():
    made: list[WebhookReceiver] = []

    def make(secrets, **kwargs) -> WebhookReceiver:
        made.append(WebhookReceiver(secrets, **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_the_request_is_a_json_post_with_the_three_standard_headers(capture):
    secret = new_secret()
    sink = WebhookAlertSink(capture.url, secret, 2.0, wall_clock=lambda: 1_772_582_400.7)
    sink.send(alert())
    (req,) = capture.seen
    assert (req.method, req.path) == ("POST", "/hooks/alerts?tenant=t1")
    headers = {k.lower(): v for k, v in req.headers.items()}
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == "alert-0001"
    assert headers["webhook-timestamp"] == "1772582400"  # integer seconds
    assert headers["webhook-signature"].startswith("v1,") and " " not in headers["webhook-signature"]
    assert "x-facewatch-signature" not in headers and "x-facewatch-alert-id" not in headers
    assert orjson.loads(req.body) == alert()
    assert verify(secret, req.headers, req.body, 1_772_582_400) == "alert-0001"


def test_a_retry_carries_the_same_webhook_id_and_a_fresh_timestamp(capture):
    clock = iter([1_772_582_400.0, 1_772_582_460.0])
    sink = WebhookAlertSink(capture.url, new_secret(), 2.0, wall_clock=lambda: next(clock))
    sink.send(alert())
    sink.send(alert())
    first, second = ({k.lower(): v for k, v in r.headers.items()} for r in capture.seen)
    assert first["webhook-id"] == second["webhook-id"] == "alert-0001"
    assert (first["webhook-timestamp"], second["webhook-timestamp"]) == ("1772582400", "1772582460")


def test_with_two_secrets_it_signs_twice_and_a_receiver_holding_only_the_new_one_accepts(capture, receivers):
    new, old = new_secret(), new_secret()
    WebhookAlertSink(capture.url, f"{new} {old}", 2.0).send(alert())
    signatures = {k.lower(): v for k, v in capture.seen[0].headers.items()}["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)

    only_new = receivers(new)
    WebhookAlertSink(only_new.url, [new, old], 2.0).send(alert(2))
    assert dict(only_new.received) == {"alert-0002": 1} and only_new.bad_signatures == 0

    neither = receivers(new_secret())
    with pytest.raises(AlertRejected, match="401"):
        WebhookAlertSink(neither.url, [new, old], 2.0).send(alert(3))
    assert neither.bad_signatures == 1 and not neither.received


@pytest.mark.parametrize("status", [307, 302, 308, 301, 303])
def test_a_redirect_is_refused_and_its_target_never_hears_from_us(status, receivers):
    secret = new_secret()
    target = receivers(secret)
    moved = receivers(secret)
    moved.redirect_to = target.url + "?token=do-not-log-me"
    moved.redirect_status = status
    sink = WebhookAlertSink(moved.url, secret, 2.0)
    with capture_logs() as logs:
        for n in (1, 2):
            with pytest.raises(AlertRejected) as info:
                sink.send(alert(n))
            message = str(info.value)
            assert f"webhook {status}" in message and "refused a redirect" in message
            assert f"127.0.0.1:{target.server.server_address[1]}" in message and "token" not in message
    assert moved.redirected == 2 and not moved.received
    assert sum(target.requests.values()) == 0 and target.connections == 0  # no GET, no POST: nothing at all
    assert logs == [
        {
            "event": "webhook_redirect_refused",
            "log_level": "warning",
            "sink": "webhook",
            "alert_id": "alert-0001",
            "rule": "watchlist",
            "status": status,
            "location_host": f"127.0.0.1:{target.server.server_address[1]}",
        }
    ]  # once, no identity
    assert IDENTITY not in str(logs)


def test_a_relative_or_missing_location_is_refused_too(capture):
    sink = WebhookAlertSink(capture.url, new_secret(), 2.0)
    capture.status, capture.headers = 302, {"Location": "/elsewhere?x=1"}
    with pytest.raises(AlertRejected, match=r"redirect to 127\.0\.0\.1 \(same host\)"):
        sink.send(alert())
    capture.headers = {}
    with pytest.raises(AlertRejected, match="no Location"):
        sink.send(alert(2))
    assert [r.method for r in capture.seen] == ["POST", "POST"]


def test_sequential_alerts_share_one_kept_alive_connection(receivers, capture):
    secret = new_secret()
    receiver = receivers(secret)
    sink = WebhookAlertSink(receiver.url, secret, 2.0)
    for n in range(10):
        sink.send(alert(n))
    assert len(receiver.received) == 10 and receiver.connections == 1

    other = WebhookAlertSink(capture.url, secret, 2.0)
    for n in range(5):
        other.send(alert(n))
    assert len({r.client_port for r in capture.seen}) == 1  # one client port: one TCP connection


def tls_files(tmp_path) -> tuple[str, str, str]:
    """A CA and a certificate it signed for 127.0.0.1: (ca.pem, cert.pem, key.pem)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    def make(subject: str, issuer_name, issuer_key, key, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "facewatch test CA")])
    ca = make("facewatch test CA", ca_name, ca_key, ca_key, True)
    leaf = make("127.0.0.1", ca_name, ca_key, leaf_key, False)
    paths = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return tuple(map(str, paths))


def test_over_https_one_handshake_carries_every_alert_and_the_certificate_is_checked(tmp_path):
    ca, cert, key = tls_files(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = Capture(tls=context)
    try:
        sink = WebhookAlertSink(server.url, new_secret(), 2.0, ca_certs=ca)
        for n in range(5):
            sink.send(alert(n))
        assert len(server.seen) == 5 and len({r.client_port for r in server.seen}) == 1
        with pytest.raises(AlertRetryable, match="SSLError"):  # not signed by a CA it trusts: no alert sent
            WebhookAlertSink(server.url, new_secret(), 2.0).send(alert(9))
        assert len(server.seen) == 5
    finally:
        server.close()


def test_four_senders_at_once_use_at_most_four_connections(receivers):
    secret = new_secret()
    receiver = receivers(secret)
    receiver.delay_s = 0.05  # so they overlap
    sink = WebhookAlertSink(receiver.url, secret, 2.0)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(sink.send, [alert(n) for n in range(40)]))
    assert len(receiver.received) == 40 and sum(receiver.duplicates.values()) == 0
    assert 1 <= receiver.connections <= 4


def test_a_connection_the_server_closed_while_idle_is_replaced_quietly(receivers):
    secret = new_secret()
    receiver = receivers(secret, idle_timeout_s=0.2)
    sink = WebhookAlertSink(receiver.url, secret, 2.0)
    sink.send(alert(1))
    time.sleep(0.6)  # the receiver drops the idle connection, as nginx or a load balancer would
    sink.send(alert(2))
    assert len(receiver.received) == 2 and receiver.connections == 2


@pytest.mark.parametrize("status", [503, 500, 502, 504, 507, 408, 425, 429])
def test_server_errors_throttling_and_timeouts_answered_by_the_server_are_retryable(status, capture):
    capture.status = status
    with pytest.raises(AlertRetryable, match=str(status)):
        WebhookAlertSink(capture.url, new_secret(), 2.0).send(alert())


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
def test_other_client_errors_are_rejections(status, capture):
    capture.status = status
    with pytest.raises(AlertRejected, match=f"webhook {status}"):
        WebhookAlertSink(capture.url, new_secret(), 2.0).send(alert())


def test_a_receiver_that_is_down_is_retryable_and_the_alert_goes_through_once_it_is_back(receivers):
    secret = new_secret()
    receiver = receivers(secret)
    receiver.status = 503
    sink = WebhookAlertSink(receiver.url, secret, 2.0)
    with pytest.raises(AlertRetryable, match="503"):
        sink.send(alert())
    receiver.status = 200
    sink.send(alert())
    assert receiver.refused == 1 and dict(receiver.received) == {"alert-0001": 1}


def test_a_slow_answer_is_a_retryable_timeout(capture):
    capture.delay_s = 1.0
    started = time.monotonic()
    with pytest.raises(AlertRetryable, match="Timeout"):
        WebhookAlertSink(capture.url, new_secret(), 0.2).send(alert())
    assert time.monotonic() - started < 0.9


def test_no_listener_is_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    with pytest.raises(AlertRetryable):
        WebhookAlertSink(f"http://127.0.0.1:{port}/alerts", new_secret(), 0.5).send(alert())


def test_after_a_lost_answer_the_retry_is_taken_as_a_duplicate_and_acknowledged(receivers):
    secret = new_secret()
    receiver = receivers(secret)
    receiver.delay_s = 0.5  # the receiver takes it, but answers after the sender gave up
    sink = WebhookAlertSink(receiver.url, secret, 0.2)
    with pytest.raises(AlertRetryable):
        sink.send(alert())
    time.sleep(0.4)
    receiver.delay_s = 0.0
    sink.send(alert())  # the dispatcher's retry: same id, answered 200, so the lane stops
    assert dict(receiver.received) == {"alert-0001": 2} and dict(receiver.duplicates) == {"alert-0001": 1}
    assert len(receiver.documents) == 1


def test_plain_http_is_only_for_this_machine_and_a_bad_secret_fails_at_start():
    WebhookAlertSink("http://localhost:9/alerts", new_secret())
    WebhookAlertSink("http://[::1]:9/alerts", new_secret())
    WebhookAlertSink("https://hooks.example.com/alerts", new_secret())
    with pytest.raises(ValueError, match="use https://"):
        WebhookAlertSink("http://hooks.example.com/alerts", new_secret())
    with pytest.raises(ValueError, match="not an http"):
        WebhookAlertSink("ftp://hooks.example.com/alerts", new_secret())
    with pytest.raises(ValueError, match="does not start with 'whsec_'") as info:
        WebhookAlertSink("https://hooks.example.com/alerts", "my-old-hex-secret-0123456789abcdef")
    assert "0123456789abcdef" not in str(info.value)


def test_the_reference_library_verifies_the_request_exactly_as_sent(capture):
    standardwebhooks = pytest.importorskip("standardwebhooks")
    new, old = new_secret(), new_secret()
    WebhookAlertSink(capture.url, f"{new} {old}", 2.0).send(alert())
    (req,) = capture.seen
    for secret in (new, old):  # the library holds one secret: a receiver on either side of a rotation
        assert standardwebhooks.Webhook(secret).verify(req.body, req.headers) == alert()
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(new_secret()).verify(req.body, req.headers)
