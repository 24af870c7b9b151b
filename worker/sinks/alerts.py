"""Alert hand-off: SNS and an HTTPS webhook signed with HMAC-SHA256.

Each sink's `send` delivers one alert document or raises: `AlertRetryable` (throttling, 5xx, timeouts,
no connection: try again later) or `AlertRejected` (the receiver refused this alert for good, e.g. a
400; retrying cannot help). The dispatcher (worker/sinks/dispatch.py) decides when to try again and
what holds the checkpoint."""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.error
import urllib.request
from typing import Any, Callable

import orjson
from botocore.exceptions import BotoCoreError, ClientError

RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}
SNS_RETRYABLE = {"Throttling", "ThrottledException", "InternalError", "ServiceUnavailable", "KMSThrottlingException"}

SIGNATURE_HEADER = "X-Facewatch-Signature"
TIMESTAMP_HEADER = "X-Facewatch-Timestamp"
ALERT_ID_HEADER = "X-Facewatch-Alert-Id"


class AlertRetryable(Exception):
    pass


class AlertRejected(Exception):
    pass


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>": a receiver recomputes it and rejects old timestamps, so a
    captured request cannot be replayed later."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, given: str, now: float, tolerance_s: float = 300.0) -> bool:
    """What a receiver does (the local test receiver uses it): right signature, recent timestamp."""
    try:
        age = abs(now - float(timestamp))
    except ValueError:
        return False
    return age <= tolerance_s and hmac.compare_digest(signature(secret, timestamp, body), given)


class SnsAlertSink:
    name = "sns"

    def __init__(self, client: Any, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.fifo = topic_arn.endswith(".fifo")

    def _entry(self, doc: dict[str, Any]) -> dict[str, Any]:
        # Attributes let subscribers filter (an SQS queue per site, a pager for critical only).
        attributes = {
            key: {"DataType": "String", "StringValue": str(doc.get(key) or "-")}
            for key in ("severity", "rule", "camera_id", "site", "zone", "category")
        }
        subject = f"[{doc['severity']}] {doc['rule']} at {doc.get('camera_id')} ({doc.get('site') or 'no site'})"
        entry: dict[str, Any] = dict(Message=orjson.dumps(doc).decode(), Subject=subject[:100],
                                     MessageAttributes=attributes)
        if self.fifo:  # SNS FIFO drops a second publish of the same alert id within 5 minutes
            entry.update(MessageGroupId=str(doc.get("camera_id") or "-"), MessageDeduplicationId=doc["alert_id"])
        return entry

    def send(self, doc: dict[str, Any]) -> None:
        outcome = self.send_batch([doc])[0]
        if outcome == "retry":
            raise AlertRetryable("sns entry failed")
        if outcome == "rejected":
            raise AlertRejected("sns refused the entry")

    def send_batch(self, docs: list[dict[str, Any]]) -> list[str]:
        """Up to 10 alerts in one PublishBatch (alerts raised together go in one request): per alert
        "sent", "rejected" (SNS said no for good) or "retry"; raises when the whole call failed."""
        entries = [{"Id": str(i), **self._entry(doc)} for i, doc in enumerate(docs)]
        try:
            response = self.client.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in SNS_RETRYABLE or status >= 500:
                raise AlertRetryable(f"sns {code or status}") from None
            raise AlertRejected(f"sns {code}: {exc.response.get('Error', {}).get('Message', '')[:200]}") from None
        except BotoCoreError as exc:  # no connection, timeouts
            raise AlertRetryable(f"sns {type(exc).__name__}") from None
        outcomes = ["retry"] * len(docs)
        for ok in response.get("Successful", []):
            outcomes[int(ok["Id"])] = "sent"
        for failed in response.get("Failed", []):
            retryable = failed.get("Code") in SNS_RETRYABLE or not failed.get("SenderFault", False)
            outcomes[int(failed["Id"])] = "retry" if retryable else "rejected"
        return outcomes


class WebhookAlertSink:
    name = "webhook"

    def __init__(self, url: str, secret: str, timeout_s: float = 5.0,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.secret = secret
        self.timeout_s = timeout_s
        self.wall_clock = wall_clock

    def send(self, doc: dict[str, Any]) -> None:
        body = orjson.dumps(doc)
        timestamp = str(int(self.wall_clock()))
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self.secret, timestamp, body),
            ALERT_ID_HEADER: doc["alert_id"],  # receivers deduplicate on it: a retry carries the same id
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code in RETRYABLE_HTTP:
                raise AlertRetryable(f"webhook {exc.code}") from None
            raise AlertRejected(f"webhook {exc.code}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise AlertRetryable(f"webhook {type(exc).__name__}") from None
