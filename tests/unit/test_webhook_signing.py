"""worker.webhooks, the Standard Webhooks signing our sink uses and receivers check: the signature format,
the spec's published example, rotation, the timestamp tolerance, the replay guard, and agreement with
the reference `standardwebhooks` library in both directions."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from worker.webhooks import (
    BadSignatureError,
    MissingHeaderError,
    ReplayGuard,
    TimestampError,
    WebhookVerificationError,
    new_secret,
    parse_secrets,
    sign,
    sign_headers,
    verify,
)

NOW = 1_772_582_400
BODY = b'{"alert_id":"a-1","rule":"watchlist"}'


def key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix("whsec_"))


def test_the_spec_example_signs_to_the_published_signature():
    # The example of the Standard Webhooks reference implementations' test suites.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    got = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_headers_carry_the_id_the_integer_timestamp_and_a_v1_hmac_of_id_timestamp_body():
    secret = new_secret()
    headers = sign_headers(secret, "a-1", BODY, NOW)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "a-1" and headers["webhook-timestamp"] == str(NOW)
    version, encoded = headers["webhook-signature"].split(",")
    assert version == "v1"
    by_hand = hmac.new(key_of(secret), f"a-1.{NOW}.".encode() + BODY, hashlib.sha256).digest()
    assert base64.b64decode(encoded, validate=True) == by_hand
    assert verify(secret, headers, BODY, NOW) == "a-1"


def test_new_secrets_are_whsec_and_32_random_bytes():
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and len(key_of(a)) == 32 and a != b
    assert parse_secrets(a) == [key_of(a)]


def test_secrets_come_as_one_space_separated_string_or_a_sequence():
    new, old = new_secret(), new_secret()
    assert parse_secrets(f"  {new}   {old} ") == parse_secrets([new, old]) == [key_of(new), key_of(old)]
    assert parse_secrets([new, new]) == [key_of(new)]  # the same secret twice signs once
    assert parse_secrets(new.rstrip("=")) == [key_of(new)]  # unpadded base64, as some tools print it


@pytest.mark.parametrize(
    "bad, why",
    [
        ("", "no webhook secret"),
        ("hunter2-plain-text-secret-of-old", "does not start with 'whsec_'"),
        ("whsec_not*base64!", "not base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64"),
    ],
)
def test_a_malformed_secret_is_refused_without_quoting_it(bad, why):
    with pytest.raises(ValueError, match=why) as info:
        parse_secrets(bad)
    assert not bad or bad.removeprefix("whsec_") not in str(info.value)


def test_during_a_rotation_each_secret_signs_and_a_receiver_with_either_one_accepts():
    new, old = new_secret(), new_secret()
    headers = sign_headers(f"{new} {old}", "a-1", BODY, NOW)
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert signatures == [sign(new, "a-1", NOW, BODY), sign(old, "a-1", NOW, BODY)]
    assert verify(new, headers, BODY, NOW) == "a-1"  # a receiver that already moved to the new secret
    assert verify([old], headers, BODY, NOW) == "a-1"  # one that has not yet
    assert verify([new_secret(), new], headers, BODY, NOW) == "a-1"  # a receiver rotating too
    with pytest.raises(BadSignatureError):
        verify(new_secret(), headers, BODY, NOW)


def test_any_change_to_body_id_or_timestamp_breaks_the_signature():
    secret = new_secret()
    headers = sign_headers(secret, "a-1", BODY, NOW)
    with pytest.raises(BadSignatureError):
        verify(secret, headers, BODY.replace(b"watchlist", b"after_hours"), NOW)
    with pytest.raises(BadSignatureError):
        verify(secret, {**headers, "webhook-id": "a-2"}, BODY, NOW)
    with pytest.raises(BadSignatureError):
        verify(secret, {**headers, "webhook-timestamp": str(NOW - 1)}, BODY, NOW)


def test_header_names_are_case_insensitive_and_unknown_or_garbled_signatures_are_skipped():
    secret = new_secret()
    headers = sign_headers(secret, "a-1", BODY, NOW)
    good = headers["webhook-signature"]
    shouted = {
        "Webhook-Id": "a-1",
        "WEBHOOK-TIMESTAMP": str(NOW),
        "Webhook-Signature": f"v1a,AAAA v1,%%%notbase64 v2,{good[3:]} {good}",
    }
    assert verify(secret, shouted, BODY.decode(), NOW) == "a-1"
    assert verify(secret, list(shouted.items()), BODY, NOW) == "a-1"  # WSGI-style pairs
    with pytest.raises(BadSignatureError):  # the right MAC under another version label is not a v1
        verify(secret, {**headers, "webhook-signature": "v2," + good[3:]}, BODY, NOW)


@pytest.mark.parametrize("drop", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(drop):
    secret = new_secret()
    headers = {k: v for k, v in sign_headers(secret, "a-1", BODY, NOW).items() if k != drop}
    with pytest.raises(MissingHeaderError, match=f"missing header {drop}"):
        verify(secret, headers, BODY, NOW)


@pytest.mark.parametrize("stamp", ["1772582400.5", "-5", "soon", "1" * 40])
def test_a_timestamp_that_is_not_integer_seconds_is_refused(stamp):
    secret = new_secret()
    headers = {**sign_headers(secret, "a-1", BODY, NOW), "webhook-timestamp": stamp}
    with pytest.raises(MissingHeaderError, match="integer seconds"):
        verify(secret, headers, BODY, NOW)


def test_timestamps_beyond_the_tolerance_either_way_are_refused_after_the_signature_checked_out():
    secret = new_secret()
    headers = sign_headers(secret, "a-1", BODY, NOW)
    assert verify(secret, headers, BODY, NOW + 300) == "a-1"
    assert verify(secret, headers, BODY, NOW - 300) == "a-1"
    with pytest.raises(TimestampError, match="301 s ago"):
        verify(secret, headers, BODY, NOW + 301)
    with pytest.raises(TimestampError, match="in the future"):
        verify(secret, headers, BODY, NOW - 301)
    assert verify(secret, headers, BODY, NOW + 3000, tolerance_s=3600) == "a-1"
    with pytest.raises(BadSignatureError):  # a forged old request is a bad signature, not a stale one
        verify(new_secret(), headers, BODY, NOW + 3000)
    assert issubclass(TimestampError, WebhookVerificationError) and issubclass(WebhookVerificationError, ValueError)


def test_the_replay_guard_remembers_ids_for_twice_the_tolerance_and_stays_bounded():
    guard = ReplayGuard(tolerance_s=300)
    assert guard.seen("a-1", NOW) is False
    assert guard.seen("a-1", NOW + 599) is True  # a copy signed up to 300 s ahead still passes verify here
    assert guard.seen("a-1", NOW + 599 + 600) is False  # forgotten 600 s after last seen: verify refuses copies
    small = ReplayGuard(tolerance_s=300, max_ids=3)
    for i in range(5):
        assert small.seen(f"a-{i}", NOW + i) is False
    assert len(small) == 3 and small.seen("a-4", NOW + 5) is True and small.seen("a-0", NOW + 5) is False
    small.forget("a-4")  # the receiver could not process it after all: its retry must get through
    assert small.seen("a-4", NOW + 6) is False


def test_the_reference_library_accepts_what_we_sign_and_we_accept_what_it_signs():
    standardwebhooks = pytest.importorskip("standardwebhooks")
    secret = new_secret()
    now = int(datetime.now(UTC).timestamp())  # the library checks against its own clock
    ours = sign_headers(secret, "a-1", BODY, now)
    assert standardwebhooks.Webhook(secret).verify(BODY, ours) == {"alert_id": "a-1", "rule": "watchlist"}
    theirs = standardwebhooks.Webhook(secret).sign("msg_2", datetime.fromtimestamp(now, UTC), BODY.decode())
    assert theirs == sign(secret, "msg_2", now, BODY)
    headers = {"webhook-id": "msg_2", "webhook-timestamp": str(now), "webhook-signature": theirs}
    assert verify(secret, headers, BODY, now) == "msg_2"
