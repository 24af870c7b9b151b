"""Standard Webhooks signatures (https://www.standardwebhooks.com/): what our webhook sink sends and what
a receiver checks. Standard library only, so a receiver can copy this one file as it is.

Each alert is POSTed as JSON with three headers:

- `webhook-id`: the alert id. It stays the same when we send the alert again (after a timeout, after a
  restart), so a receiver takes each id once;
- `webhook-timestamp`: when this attempt was signed, integer seconds since the epoch;
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, one per active secret,
  separated by spaces.

A secret is `whsec_` followed by the base64 of the key (24 to 64 random bytes; `new_secret()` makes one
of 32). During a rotation the sender holds both secrets, "whsec_new whsec_old", and signs with each;
a receiver that holds either one accepts the request. The receiver then drops the old one, and the
sender after it.

A receiver in Python:

    from worker.webhooks import ReplayGuard, WebhookVerificationError, verify

    SECRETS = os.environ["ALERT_WEBHOOK_SECRETS"]  # "whsec_..." (two, space-separated, while rotating)
    guard = ReplayGuard()  # ids seen within the tolerance window; use your own store to go further back

    def handle(headers, body: bytes) -> int:  # the raw body, before any JSON parsing
        try:
            alert_id = verify(SECRETS, headers, body)  # signature first, then the timestamp (5 minutes)
        except WebhookVerificationError as exc:
            log.warning("webhook refused: %s", exc)
            return 401  # a 4xx other than 408/425/429 is final: the sender does not retry it
        if guard.seen(alert_id) or already_processed(alert_id):
            return 200  # the sender retried something we already took: say yes, so it stops
        try:
            process(json.loads(body))
        except Exception:
            guard.forget(alert_id)  # not taken after all: let the sender's retry through
            return 503  # 5xx, 408, 425, 429: the sender tries again later
        return 200

Any Standard Webhooks library verifies our requests the same way, e.g. the `standardwebhooks` package:
`Webhook("whsec_...").verify(body, headers)` (it holds one secret: during a rotation, try each).

A captured request cannot be replayed later: its timestamp is signed, and `verify` refuses one more
than `tolerance_s` (5 minutes) in the past or the future. Within that window, a copy carries an id the
receiver has already seen and is acknowledged without being processed again: exactly what a legitimate
retry from us needs, and harmless for a copy.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

SECRET_PREFIX = "whsec_"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
TOLERANCE_S = 300.0  # the Standard Webhooks default: 5 minutes either way
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64  # the spec's upper bound; the worker's configuration refuses longer keys

Secrets = str | bytes | Iterable[str | bytes]


class WebhookVerificationError(ValueError):
    """The request is not one we signed (or not any more): answer a 4xx and do not process it."""


class MissingHeaderError(WebhookVerificationError):
    """A webhook-* header is absent, or malformed (a timestamp that is not integer seconds)."""


class BadSignatureError(WebhookVerificationError):
    """No v1 signature in webhook-signature matches the body under any of the receiver's secrets."""


class TimestampError(WebhookVerificationError):
    """Signed correctly, but longer ago (or further ahead) than the tolerance: a replay, or a clock off."""


def is_loopback(host: str) -> bool:
    """A host on this machine: the only place a webhook may be plain http (the local stack's receiver)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_secret(key_bytes: int = 32) -> str:
    """A fresh secret: `whsec_` + base64 of `key_bytes` random bytes."""
    if not MIN_KEY_BYTES <= key_bytes <= MAX_KEY_BYTES:
        raise ValueError(f"a webhook key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes")
    return SECRET_PREFIX + base64.b64encode(os.urandom(key_bytes)).decode()


def parse_secrets(secrets: Secrets) -> list[bytes]:
    """The HMAC keys: from one string of space-separated `whsec_...` secrets, or a sequence of them
    (bytes items are taken as keys already decoded). Raises ValueError, never quoting a secret."""
    if isinstance(secrets, (str, bytes)):
        items: list[str | bytes] = list(secrets.split()) if isinstance(secrets, str) else [secrets]
    else:
        items = [part for item in secrets for part in (item.split() if isinstance(item, str) else [item])]
    keys: list[bytes] = []
    for n, item in enumerate(items, 1):
        where = f"webhook secret {n} of {len(items)}"
        if isinstance(item, bytes):
            key = item
        elif not item.startswith(SECRET_PREFIX):
            raise ValueError(
                f"{where}: does not start with {SECRET_PREFIX!r}; a secret is {SECRET_PREFIX}"
                " followed by base64 (worker.webhooks.new_secret() makes one)"
            )
        else:
            encoded = item[len(SECRET_PREFIX) :]
            try:
                key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{where}: what follows {SECRET_PREFIX!r} is not base64") from None
        if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
            raise ValueError(f"{where}: the key is {len(key)} bytes; {MIN_KEY_BYTES} to {MAX_KEY_BYTES}")
        if key not in keys:
            keys.append(key)
    if not keys:
        raise ValueError("no webhook secret: give at least one whsec_... secret")
    return keys


def _mac(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secrets: Secrets, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature value: "v1,<base64>" per secret, space-separated."""
    if not msg_id:
        raise ValueError("a webhook message needs an id")
    stamp = str(int(timestamp))
    return " ".join("v1," + base64.b64encode(_mac(key, msg_id, stamp, body)).decode() for key in parse_secrets(secrets))


def sign_headers(secrets: Secrets, msg_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (timestamp: epoch seconds, now)."""
    stamp = int(timestamp)
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign(secrets, msg_id, stamp, body)}


def _header_values(headers: Mapping[str, str] | Any) -> dict[str, list[str]]:
    """Header name (lower case) -> values; for a dict, http.client/email messages, WSGI-style pairs."""
    items: Iterable[Any] = headers.items() if hasattr(headers, "items") else headers
    out: dict[str, list[str]] = {}
    for name, value in items:
        out.setdefault(str(name).lower(), []).append(str(value))
    return out


def verify(
    secrets: Secrets,
    headers: Mapping[str, str] | Any,
    body: bytes | str,
    now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> str:
    """Check one request as received; return its webhook-id (our alert id) or raise
    WebhookVerificationError: MissingHeaderError, BadSignatureError or TimestampError.

    `body` is the raw body, byte for byte; `headers` is any mapping (names in any case); `now` is the
    receiver's clock, epoch seconds (default: time.time())."""
    keys = parse_secrets(secrets)
    values = _header_values(headers)
    msg_id = (values.get(ID_HEADER) or [""])[0].strip()
    stamp = (values.get(TIMESTAMP_HEADER) or [""])[0].strip()
    given = " ".join(values.get(SIGNATURE_HEADER) or []).split()
    missing = [
        name for name, value in ((ID_HEADER, msg_id), (TIMESTAMP_HEADER, stamp), (SIGNATURE_HEADER, given)) if not value
    ]
    if missing:
        raise MissingHeaderError(f"missing header {', '.join(missing)}")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise MissingHeaderError(f"{TIMESTAMP_HEADER}: not integer seconds since the epoch")
    raw = body.encode() if isinstance(body, str) else bytes(body)
    expected = [_mac(key, msg_id, stamp, raw) for key in keys]
    matched = False
    for entry in given:
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # another scheme (e.g. v1a, asymmetric): not ours to check
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        for mac in expected:
            matched |= hmac.compare_digest(mac, candidate)
    if not matched:
        raise BadSignatureError(
            f"{SIGNATURE_HEADER}: no v1 signature matches the body with any of {len(keys)} secret(s)"
        )
    age = (time.time() if now is None else now) - int(stamp)
    if age > tolerance_s:
        raise TimestampError(
            f"{TIMESTAMP_HEADER}: signed {age:.0f} s ago, more than {tolerance_s:.0f} s"
            " (a replay, or a clock that is off)"
        )
    if -age > tolerance_s:
        raise TimestampError(
            f"{TIMESTAMP_HEADER}: {-age:.0f} s in the future, more than {tolerance_s:.0f} s (a clock that is off)"
        )
    return msg_id


class ReplayGuard:
    """The webhook-ids a receiver took recently, so a second delivery of one is acknowledged, not
    processed twice. Ask it only after `verify` passed (an unsigned request must not mark an id).

    An id is kept for twice the tolerance after it was last seen: a request signed at `t` passes
    `verify` until `t + tolerance`, and `t` is at most `tolerance` ahead of the moment it first
    arrived, so every copy that could still pass the timestamp check finds its id here. Later copies
    fail the timestamp check; a fresh retry from the sender after that is a new signed attempt, which
    only the receiver's own store of processed ids (e.g. a unique key in its database) can recognise.
    Bounded: past `max_ids`, the ids seen longest ago go first. Thread-safe."""

    def __init__(self, tolerance_s: float = TOLERANCE_S, max_ids: int = 100_000) -> None:
        self.keep_s = 2 * tolerance_s
        self.max_ids = max_ids
        self._ids: OrderedDict[str, float] = OrderedDict()  # id -> forget after (epoch s), oldest first
        self._lock = threading.Lock()

    def seen(self, msg_id: str, now: float | None = None) -> bool:
        """True if `msg_id` came before (within the window); either way, remember it from now."""
        at = time.time() if now is None else now
        with self._lock:
            while self._ids:
                oldest, forget_at = next(iter(self._ids.items()))
                if forget_at > at:
                    break
                del self._ids[oldest]
            known = msg_id in self._ids
            self._ids[msg_id] = at + self.keep_s
            self._ids.move_to_end(msg_id)
            while len(self._ids) > self.max_ids:
                self._ids.popitem(last=False)
            return known

    def forget(self, msg_id: str) -> None:
        """The receiver failed to process `msg_id` after all: a retry of it must not count as seen."""
        with self._lock:
            self._ids.pop(msg_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._ids)
