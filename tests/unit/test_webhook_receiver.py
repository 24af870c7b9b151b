"""The reference receiver (worker/localstack/webhook.py) that tests, the demo and the alert benchmark
deliver to: what it answers to forged, stale, replayed and repeated requests, and what it counts."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import orjson
import pytest

from worker.localstack.webhook import WebhookReceiver
from worker.webhooks import new_secret, sign_headers

SECRET = new_secret()


@pytest.fixture
def receiver():
    r = WebhookReceiver(SECRET)
    yield r
    r.close()


def post(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, bytes, dict[str, str]]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request(
            method,
            parts.path,
            body=body if method == "POST" else None,
            headers={"Content-Type": "application/json", **headers},
        )
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def signed(
    alert_id: str = "alert-0001", secret: str = SECRET, at: float | None = None, **doc
) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps({"alert_id": alert_id, "rule": "watchlist", "identity": "emp-0042", **doc})
    return body, sign_headers(secret, alert_id, body, int(time.time() if at is None else at))


def test_a_signed_alert_is_taken_once_and_recorded(receiver):
    body, headers = signed()
    assert post(receiver.url, body, headers)[0] == 200
    assert dict(receiver.received) == {"alert-0001": 1} and not receiver.duplicates
    assert receiver.documents["alert-0001"]["rule"] == "watchlist" and "alert-0001" in receiver.first_at


def test_a_bad_signature_is_401_and_counted(receiver):
    body, headers = signed(secret=new_secret())
    status, answer, _ = post(receiver.url, body, headers)
    assert status == 401 and b"no v1 signature matches" in answer
    tampered_body = body.replace(b"watchlist", b"unknown_face")
    assert post(receiver.url, tampered_body, signed()[1])[0] == 401
    assert receiver.bad_signatures == 2 and not receiver.received


def test_a_stale_or_future_timestamp_is_401_even_with_a_good_signature(receiver):
    body, headers = signed(at=time.time() - 400)  # a request captured 400 s ago, replayed now
    status, answer, _ = post(receiver.url, body, headers)
    assert status == 401 and b"s ago" in answer
    body, headers = signed("alert-0002", at=time.time() + 400)
    assert post(receiver.url, body, headers)[0] == 401
    assert receiver.stale == 2 and receiver.bad_signatures == 0 and not receiver.received


def test_missing_headers_and_a_body_that_is_not_the_named_alert_are_400(receiver):
    body, headers = signed()
    assert post(receiver.url, body, {k: v for k, v in headers.items() if k != "webhook-id"})[0] == 400
    other, _other_headers = signed("alert-0002")
    wrong = sign_headers(SECRET, "alert-0003", other, int(time.time()))  # signed, but the body is another alert
    assert post(receiver.url, other, wrong)[0] == 400
    not_json = sign_headers(SECRET, "alert-0004", b"not json", int(time.time()))
    assert post(receiver.url, b"not json", not_json)[0] == 400
    assert receiver.malformed == 3 and not receiver.received


def test_a_repeated_id_is_acknowledged_and_counted_as_a_duplicate_not_taken_again(receiver):
    body, headers = signed()
    assert post(receiver.url, body, headers)[0] == 200
    assert post(receiver.url, body, headers)[0] == 200  # the same request again (a copy, or our quick retry)
    body_later, headers_later = signed(at=time.time() + 1, note="re-signed")  # our retry, signed anew
    assert post(receiver.url, body_later, headers_later)[0] == 200
    assert dict(receiver.received) == {"alert-0001": 3} and dict(receiver.duplicates) == {"alert-0001": 2}
    assert "note" not in receiver.documents["alert-0001"]  # the first delivery is the one kept


def test_an_id_past_the_replay_window_is_still_a_duplicate_for_this_receiver():
    now = [time.time()]
    r = WebhookReceiver(SECRET, clock=lambda: now[0])
    try:
        body, headers = signed(at=now[0])
        assert post(r.url, body, headers)[0] == 200
        now[0] += 3600  # the guard forgot it an hour on; a fresh retry from us must not be taken twice all the same
        assert post(r.url, body, headers)[0] == 401  # the old copy: stale
        assert post(r.url, *signed(at=now[0]))[0] == 200
        assert len(r.guard) == 1 and r.stale == 1
        assert dict(r.duplicates) == {"alert-0001": 1} and len(r.documents) == 1
    finally:
        r.close()


def test_rotation_on_the_receiver_side(receiver):
    old, new = SECRET, new_secret()
    receiver.secrets = f"{new} {old}"  # the receiver takes the new secret first, keeps the old a while
    assert post(receiver.url, *signed("alert-0001", secret=old))[0] == 200
    assert post(receiver.url, *signed("alert-0002", secret=new))[0] == 200
    receiver.secrets = [new]  # old one retired
    assert post(receiver.url, *signed("alert-0003", secret=old))[0] == 401
    assert set(receiver.received) == {"alert-0001", "alert-0002"}


def test_down_slow_and_redirecting(receiver):
    receiver.status = 503
    assert post(receiver.url, *signed())[0] == 503
    assert receiver.refused == 1 and not receiver.received
    receiver.status, receiver.delay_s = 200, 0.3
    started = time.monotonic()
    assert post(receiver.url, *signed())[0] == 200
    assert time.monotonic() - started >= 0.3
    receiver.delay_s, receiver.redirect_to = 0.0, "http://127.0.0.1:9/moved"
    status, _, headers = post(receiver.url, *signed("alert-0002"))
    assert status == 307 and headers["Location"] == "http://127.0.0.1:9/moved" and receiver.redirected == 1
    assert set(receiver.received) == {"alert-0001"}


def test_every_request_is_counted_whatever_its_method(receiver):
    assert post(receiver.url, b"", {}, method="GET")[0] == 405
    post(receiver.url, *signed())
    assert dict(receiver.requests) == {"GET": 1, "POST": 1} and receiver.connections == 2
