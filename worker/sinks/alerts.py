"""Alert hand-off: SNS, and an HTTPS webhook signed the Standard Webhooks way (worker/webhooks.py).

Each sink's `send` delivers one alert document or raises: `AlertRetryable` (throttling, 5xx, timeouts,
no connection: try again later) or `AlertRejected` (the receiver refused this alert for good, e.g. a
400, or answered with a redirect; retrying cannot help). The dispatcher (worker/sinks/dispatch.py)
decides when to try again and what holds the checkpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import urllib3
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from worker import webhooks
from worker.logs import get_logger

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_sns.client import SNSClient

RETRYABLE_HTTP = {408, 425, 429}  # and every 5xx
SNS_RETRYABLE = {"Throttling", "ThrottledException", "InternalError", "ServiceUnavailable", "KMSThrottlingException"}
MAX_RESPONSE_BYTES = 64 * 1024  # a receiver's answer is read up to this, then the connection is dropped
USER_AGENT = "facewatch-webhook/1"


class AlertRetryable(Exception):
    pass


class AlertRejected(Exception):
    pass


class SnsAlertSink:
    name = "sns"

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
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
        entry: dict[str, Any] = dict(
            Message=orjson.dumps(doc).decode(), Subject=subject[:100], MessageAttributes=attributes
        )
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
        # Plain dicts (_entry builds them by keyword): the stubs' TypedDict cannot follow, botocore validates them.
        entries: list[Any] = [{"Id": str(i), **self._entry(doc)} for i, doc in enumerate(docs)]
        try:
            response = self.client.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in SNS_RETRYABLE or status >= 500:
                raise AlertRetryable(f"sns {code or status}") from None
            raise AlertRejected(f"sns {code}: {exc.response.get('Error', {}).get('Message', '')[:200]}") from None
        except ParamValidationError as exc:  # our request is malformed: retrying cannot help
            raise AlertRejected(f"sns {type(exc).__name__}") from None
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
    """POSTs each alert as JSON with the Standard Webhooks headers (`webhook-id` = the alert id, the same
    on every retry; `webhook-timestamp`; `webhook-signature`, one `v1,` per secret while rotating).

    One pool of keep-alive connections for the lane (`maxsize`: the lane's sender threads), so a TLS
    handshake is paid once, not per alert. Nothing is retried here (the dispatcher does that) and
    redirects are never followed: a 3xx is refused, since following it would send a signed alert, with
    its identity, to wherever the answer points. http:// is for a receiver on this machine only (the
    local stack): an alert holds personal data. Certificates are verified (the system's CAs, or
    `ca_certs`, a PEM bundle, for a receiver behind a private CA)."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secrets: webhooks.Secrets,
        timeout_s: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
        maxsize: int = 4,
        ca_certs: str | None = None,
    ) -> None:
        parts = urllib3.util.parse_url(url)
        if parts.scheme not in ("http", "https") or not parts.host:
            raise ValueError("alerts.webhook_url: not an http(s) URL")
        if parts.scheme == "http" and not webhooks.is_loopback(parts.host):
            raise ValueError(
                f"alerts.webhook_url: http:// to {parts.host}; use https:// (http only reaches a"
                " receiver on this machine, the local stack)"
            )
        self.keys = webhooks.parse_secrets(secrets)  # ValueError now, not at the first alert
        self.url = url
        self.host = parts.host
        self.path = parts.request_uri
        self.timeout_s = timeout_s
        self.wall_clock = wall_clock
        tls = {"ca_certs": ca_certs} if parts.scheme == "https" and ca_certs else {}  # default: the system's CAs
        self.pool = urllib3.connection_from_url(
            url,
            maxsize=maxsize,
            block=True,
            retries=False,
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
            **tls,
        )
        self._redirects_logged: set[tuple[int, str]] = set()
        self._lock = threading.Lock()

    def send(self, doc: dict[str, Any]) -> None:
        body = orjson.dumps(doc)
        headers = webhooks.sign_headers(self.keys, doc["alert_id"], body, int(self.wall_clock()))
        try:
            response = self.pool.urlopen(
                "POST",
                self.path,
                body=body,
                headers={**self.pool.headers, **headers},
                retries=False,
                redirect=False,
                preload_content=False,
                release_conn=False,
                pool_timeout=self.timeout_s,  # type: ignore[arg-type]  # stub says int; a float works (queue.get)
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # no connection, timeouts, TLS, pool full
            raise AlertRetryable(f"webhook {type(exc).__name__}") from None
        status = response.status
        location = response.headers.get("Location") or ""
        try:  # the answer is not used; read it so the connection can carry the next alert
            if len(response.read(MAX_RESPONSE_BYTES + 1, decode_content=False)) > MAX_RESPONSE_BYTES:
                response.close()  # too long to drain: drop this connection, the pool opens another
        except (urllib3.exceptions.HTTPError, OSError):
            response.close()  # the status is in; only the rest of the answer was lost
        finally:
            response.release_conn()
        if 200 <= status < 300:
            return
        if 300 <= status < 400:
            host = _location_host(location, self.host)
            self._log_redirect(doc, status, host)
            raise AlertRejected(
                f"webhook {status}: refused a redirect to {host} (redirects are never followed;"
                " set alerts.webhook_url to the final https URL)"
            )
        if status in RETRYABLE_HTTP or 500 <= status < 600:
            raise AlertRetryable(f"webhook {status}")
        if 400 <= status < 500:
            raise AlertRejected(f"webhook {status}")
        raise AlertRetryable(f"webhook unexpected status {status}")

    def close(self) -> None:
        self.pool.close()

    def _log_redirect(self, doc: dict[str, Any], status: int, host: str) -> None:
        """Once per (status, target) and process: the dispatcher logs each rejected alert anyway
        (`alert_rejected`); this says why, for whoever fixes the URL. No identity, only ids."""
        with self._lock:
            if (status, host) in self._redirects_logged or len(self._redirects_logged) >= 32:
                return  # bounded: a receiver that redirects everywhere does not grow this for ever
            self._redirects_logged.add((status, host))
        get_logger().warning(
            "webhook_redirect_refused",
            sink=self.name,
            alert_id=doc.get("alert_id"),
            rule=doc.get("rule"),
            status=status,
            location_host=host,
        )


def _location_host(location: str, own_host: str) -> str:
    """Where a redirect points, host (and port) only: no path, query or credentials."""
    if not location:
        return "nowhere (no Location header)"
    try:
        parts = urlsplit(location.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an unparsable Location"
    if not host:
        return f"{own_host} (same host)"
    host = "".join(c for c in host if c.isprintable())[:253]
    return f"{host}:{port}" if port else host
