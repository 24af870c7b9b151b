"""Alert delivery through the real record processor: SNS (moto, with an SQS subscription to read what
subscribers get) and a signed webhook (a local receiver that checks the HMAC itself). Each alert reaches
each sink once; a webhook that is down holds the checkpoint without holding the other sinks, and gets
its alerts when it is back."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from worker import aws
from worker.config import load_config
from worker.core.cameras import CameraRegistry

from .test_processor_protocol import child, initialize  # noqa: F401 - child is a fixture
from .test_tracks import expected_alerts, scenario_records, stored_alerts

SECRET = "test-secret-not-a-real-one"


class Receiver:
    """A webhook endpoint: checks the signature and the timestamp the way a customer's receiver would."""

    def __init__(self) -> None:
        self.status = 200
        self.received: Counter[str] = Counter()
        self.bad_signatures = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers["X-Facewatch-Timestamp"]
                want = "sha256=" + hmac.new(SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
                if not hmac.compare_digest(want, self.headers["X-Facewatch-Signature"]) or abs(time.time() - int(ts)) > 300:
                    outer.bad_signatures += 1
                    self.send_response(401)
                elif outer.status != 200:
                    self.send_response(outer.status)
                else:
                    doc = json.loads(body)
                    assert doc["alert_id"] == self.headers["X-Facewatch-Alert-Id"]
                    outer.received[doc["alert_id"]] += 1
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def alert_env(isolated_env):
    cfg = load_config(env=isolated_env, stack_env_file=None)
    sns, sqs = aws.sns(cfg), aws.sqs(cfg)
    name = f"it-alerts-{uuid.uuid4().hex[:8]}"
    topic = sns.create_topic(Name=name)["TopicArn"]
    queue = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "false"})
    receiver = Receiver()
    env = {**isolated_env, "FACEWATCH__ALERTS__SNS_TOPIC_ARN": topic, "FACEWATCH__ALERTS__WEBHOOK_URL": receiver.url,
           "FACEWATCH__ALERTS__WEBHOOK_SECRET": SECRET, "FACEWATCH__ALERTS__DELIVERY_ATTEMPTS": "1",
           "FACEWATCH__ALERTS__RETRY_EVERY_S": "0"}
    yield env, receiver, lambda: sns_messages(sqs, queue)
    receiver.close()
    sns.delete_topic(TopicArn=topic)
    sqs.delete_queue(QueueUrl=queue)


def sns_messages(sqs, queue: str) -> list[dict]:
    out = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            out.append(json.loads(message["Body"]))
        sqs.delete_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                          for i, m in enumerate(batch)])


def run_batches(c, records: list[dict], size: int) -> list[str | None]:
    """Send batches; answer checkpoint requests; return, per batch, the position checkpointed (or None)."""
    positions = []
    for start in range(0, len(records), size):
        c.send({"action": "processRecords", "records": records[start: start + size], "millisBehindLatest": 0})
        positions.append(answer(c, "processRecords"))
    return positions


def answer(c, action: str) -> str | None:
    message = c.expect(timeout_s=60)
    if message["action"] == "checkpoint":
        c.send({"action": "checkpoint", "sequenceNumber": message["sequenceNumber"], "subSequenceNumber": None,
                "error": None})
        assert c.expect() == {"action": "status", "responseFor": action}
        return message["sequenceNumber"]
    assert message == {"action": "status", "responseFor": action}
    return None


def test_each_alert_reaches_sns_and_the_webhook_once_signed(child, alert_env, opensearch):
    env, receiver, messages = alert_env
    records, frames = scenario_records()
    c = child(env)
    initialize(c)
    run_batches(c, records, 25)
    run_batches(c, records[:60], 20)  # delivered again (a replay): no alert is sent twice
    want = expected_alerts(frames, CameraRegistry())
    assert len(want) >= 5
    assert dict(receiver.received) == {alert_id: 1 for alert_id in want}
    assert receiver.bad_signatures == 0
    got = messages()
    assert Counter(json.loads(m["Message"])["alert_id"] for m in got) == Counter({alert_id: 1 for alert_id in want})
    attributes = got[0]["MessageAttributes"]
    assert attributes["rule"]["Value"] == "unknown_face" and attributes["severity"]["Value"] == "high"
    assert {"camera_id", "site"} <= set(attributes)
    stored = stored_alerts(opensearch, env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"])
    assert {k: d["delivered_to"] for k, d in stored.items()} == {k: ["sns", "webhook"] for k in want}


def test_a_webhook_that_is_down_holds_the_checkpoint_but_not_sns_and_gets_its_alerts_later(child, alert_env, opensearch):
    env, receiver, messages = alert_env
    records, frames = scenario_records()
    want = expected_alerts(frames, CameraRegistry())
    receiver.status = 503
    c = child(env)
    initialize(c)
    positions = run_batches(c, records, 5)
    first_alert_time = min(a["time"] for a in want.values()) / 1000.0
    before_alert = next(i for i, f in enumerate(frames) if f.frame_time >= first_alert_time) // 5
    assert before_alert > 0 and all(p is not None for p in positions[:before_alert])  # checkpointed as usual
    assert all(p is None for p in positions[before_alert:])  # from the batch with the first alert: held ...
    assert receiver.received == Counter()
    sns_ids = Counter(json.loads(m["Message"])["alert_id"] for m in messages())
    assert sns_ids == Counter({alert_id: 1 for alert_id in want})  # ... while SNS got every alert
    receiver.status = 200
    c.send({"action": "processRecords", "records": [], "millisBehindLatest": 0})  # a quiet shard's heartbeat
    assert answer(c, "processRecords") == records[-1]["sequenceNumber"]  # delivered: the checkpoint moves on
    assert dict(receiver.received) == {alert_id: 1 for alert_id in want}
    assert messages() == []  # nothing sent to SNS a second time


def test_a_new_owner_delivers_what_the_previous_one_left_undelivered(child, alert_env, opensearch):
    env, receiver, messages = alert_env
    records, frames = scenario_records()
    want = expected_alerts(frames, CameraRegistry())
    receiver.status = 503
    first = child(env)
    initialize(first)
    run_batches(first, records, 25)
    first.close()  # gone with its alerts still owed to the webhook (they are in the index)
    receiver.status = 200
    second = child(env)
    initialize(second)
    second.send({"action": "processRecords", "records": [], "millisBehindLatest": 0})
    answer(second, "processRecords")
    assert dict(receiver.received) == {alert_id: 1 for alert_id in want}
    assert Counter(json.loads(m["Message"])["alert_id"] for m in messages()) == Counter({a: 1 for a in want})
