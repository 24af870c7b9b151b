"""SnsAlertSink against a real boto3 SNS client under botocore's Stubber: what each PublishBatch answer
means per alert ("sent", "rejected", "retry"), which whole-call errors are AlertRetryable or
AlertRejected, and what goes out (message, subject, attributes, FIFO group and deduplication ids)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
import orjson
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from worker.sinks.alerts import AlertRejected, AlertRetryable, SnsAlertSink

pytestmark = pytest.mark.timeout(30)

TOPIC = "arn:aws:sns:us-east-1:123456789012:ut-alerts"
FIFO_TOPIC = "arn:aws:sns:us-east-1:123456789012:ut-alerts.fifo"


class Sns:
    """A real client with its Stubber; `published` keeps each PublishBatch's parameters."""

    def __init__(self) -> None:
        self.client = boto3.client("sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        self.stubber = Stubber(self.client)
        self.unreachable = 0
        self.published: list[dict[str, Any]] = []
        # On the Stubber's own event names, so that these run before it (first-registered, same node).
        self.client.meta.events.register_first("before-parameter-build.*.*", self._keep)
        self.client.meta.events.register_first("before-call.*.*", self._connect)

    def _keep(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "PublishBatch":
            self.published.append(params)

    def _connect(self, model: Any, **_: Any) -> None:
        if self.unreachable and model.name == "PublishBatch":
            self.unreachable -= 1
            raise EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com")

    def answer(self, successful: list[int], failed: Sequence[tuple[int, str, bool]] = ()) -> None:
        """Successful entry ids, and failed ones as (id, code, sender fault)."""
        self.stubber.add_response(
            "publish_batch",
            {
                "Successful": [{"Id": str(i), "MessageId": f"m{i}"} for i in successful],
                "Failed": [
                    {"Id": str(i), "Code": code, "Message": code, "SenderFault": fault} for i, code, fault in failed
                ],
            },
        )

    def fail(self, code: str, status: int) -> None:
        self.stubber.add_client_error(
            "publish_batch", service_error_code=code, service_message=f"scripted {code}", http_status_code=status
        )


@pytest.fixture
def sns():
    fake = Sns()
    with fake.stubber:
        yield fake
        fake.stubber.assert_no_pending_responses()


def alert(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "alert_id": f"alert-{n:04d}",
        "rule": "watchlist",
        "severity": "critical",
        "camera_id": "cam-1",
        "site": "hq",
        "zone": "lobby",
        "category": "watchlist",
        "identity": "emp-0042",
        **extra,
    }


def test_all_successful_entries_are_sent(sns):
    sns.answer([0, 1, 2])
    assert SnsAlertSink(sns.client, TOPIC).send_batch([alert(1), alert(2), alert(3)]) == ["sent"] * 3
    assert [e["Id"] for e in sns.published[0]["PublishBatchRequestEntries"]] == ["0", "1", "2"]
    assert sns.published[0]["TopicArn"] == TOPIC


def test_failed_entry_with_sender_fault_is_rejected(sns):
    sns.answer([0], [(1, "InvalidParameter", True)])
    assert SnsAlertSink(sns.client, TOPIC).send_batch([alert(1), alert(2)]) == ["sent", "rejected"]


def test_failed_entry_without_sender_fault_is_retry(sns):
    sns.answer([1], [(0, "InternalError", False), (2, "SomethingNew", False)])
    assert SnsAlertSink(sns.client, TOPIC).send_batch([alert(1), alert(2), alert(3)]) == ["retry", "sent", "retry"]


@pytest.mark.parametrize("code", ["Throttling", "ThrottledException", "KMSThrottlingException"])
def test_failed_entry_with_a_throttling_code_is_retry_even_as_sender_fault(sns, code):
    sns.answer([], [(0, code, True)])
    assert SnsAlertSink(sns.client, TOPIC).send_batch([alert(1)]) == ["retry"]


def test_an_entry_the_response_does_not_mention_is_retry(sns):
    sns.answer([0])
    assert SnsAlertSink(sns.client, TOPIC).send_batch([alert(1), alert(2)]) == ["sent", "retry"]


@pytest.mark.parametrize(
    "code,status", [("Throttling", 400), ("ThrottledException", 400), ("InternalError", 500), ("SomethingNew", 502)]
)
def test_a_throttling_or_5xx_client_error_raises_alert_retryable(sns, code, status):
    sns.fail(code, status)
    with pytest.raises(AlertRetryable, match=code):
        SnsAlertSink(sns.client, TOPIC).send_batch([alert(1)])


@pytest.mark.parametrize("code,status", [("AuthorizationError", 403), ("NotFound", 404), ("InvalidParameter", 400)])
def test_an_authorization_or_other_4xx_client_error_raises_alert_rejected(sns, code, status):
    sns.fail(code, status)
    with pytest.raises(AlertRejected, match=code):
        SnsAlertSink(sns.client, TOPIC).send_batch([alert(1)])


def test_no_connection_raises_alert_retryable(sns):
    sink = SnsAlertSink(sns.client, TOPIC)
    sns.unreachable = 1
    sns.answer([0])  # queued for the next call: the Stubber checks for one before the call fails
    with pytest.raises(AlertRetryable, match="EndpointConnectionError"):
        sink.send_batch([alert(1)])
    assert sink.send_batch([alert(1)]) == ["sent"]


def test_fifo_topic_sets_message_group_and_deduplication_ids(sns):
    sns.answer([0, 1])
    SnsAlertSink(sns.client, FIFO_TOPIC).send_batch([alert(1), alert(2, camera_id=None)])
    first, second = sns.published[0]["PublishBatchRequestEntries"]
    assert (first["MessageGroupId"], first["MessageDeduplicationId"]) == ("cam-1", "alert-0001")
    assert (second["MessageGroupId"], second["MessageDeduplicationId"]) == ("-", "alert-0002")


def test_standard_topic_sets_no_fifo_ids(sns):
    sns.answer([0])
    SnsAlertSink(sns.client, TOPIC).send_batch([alert(1)])
    entry = sns.published[0]["PublishBatchRequestEntries"][0]
    assert "MessageGroupId" not in entry and "MessageDeduplicationId" not in entry


def test_message_attributes_subject_and_body(sns):
    sns.answer([0])
    doc = alert(1, zone=None)
    SnsAlertSink(sns.client, TOPIC).send_batch([doc])
    entry = sns.published[0]["PublishBatchRequestEntries"][0]
    assert entry["MessageAttributes"] == {
        "severity": {"DataType": "String", "StringValue": "critical"},
        "rule": {"DataType": "String", "StringValue": "watchlist"},
        "camera_id": {"DataType": "String", "StringValue": "cam-1"},
        "site": {"DataType": "String", "StringValue": "hq"},
        "zone": {"DataType": "String", "StringValue": "-"},  # SNS refuses an empty attribute value
        "category": {"DataType": "String", "StringValue": "watchlist"},
    }
    assert entry["Subject"] == "[critical] watchlist at cam-1 (hq)"
    assert orjson.loads(entry["Message"]) == doc


def test_subject_is_cut_to_sns_limit(sns):
    sns.answer([0])
    SnsAlertSink(sns.client, TOPIC).send_batch([alert(1, camera_id="c" * 200)])
    assert len(sns.published[0]["PublishBatchRequestEntries"][0]["Subject"]) == 100


def test_send_raises_by_outcome(sns):
    sink = SnsAlertSink(sns.client, TOPIC)
    sns.answer([0])
    sink.send(alert(1))
    sns.answer([], [(0, "InternalError", False)])
    with pytest.raises(AlertRetryable):
        sink.send(alert(1))
    sns.answer([], [(0, "InvalidParameter", True)])
    with pytest.raises(AlertRejected):
        sink.send(alert(1))
