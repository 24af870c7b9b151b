"""FirehoseSink.put against a real boto3 Firehose client under botocore's Stubber: partial failures
(FailedPutCount) resend only the refused entries, a response that cannot be matched up resends all,
throttling and connection errors retry the call, a missing stream stops with FirehoseConfigError, and
batches keep within Firehose's limits. No network, no real sleep (the `no_sleep_retry` fixture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.stub import Stubber

from worker.sinks.firehose import MAX_RECORD_BYTES, FirehoseConfigError, FirehoseSink, batches

pytestmark = pytest.mark.timeout(30)

STREAM = "ut-raw"


class Firehose:
    """A real client with its Stubber, and a way to make the next calls fail before they reach it."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "firehose", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.stubber = Stubber(self.client)
        self.unreachable = 0  # the next this many calls fail with EndpointConnectionError
        # On the Stubber's own event name, so that it runs before the Stubber answers.
        self.client.meta.events.register_first("before-call.*.*", self._connect)

    def _connect(self, model: Any, **_: Any) -> None:
        if self.unreachable and model.name == "PutRecordBatch":
            self.unreachable -= 1
            raise EndpointConnectionError(endpoint_url="https://firehose.us-east-1.amazonaws.com")

    def expect(self, lines: list[bytes], response: dict[str, Any] | None = None) -> None:
        """The next call must carry exactly `lines`; it answers `response` (default: all accepted)."""
        self.stubber.add_response("put_record_batch", response or accepted(len(lines)), records(lines))

    def expect_error(self, lines: list[bytes], code: str, status: int) -> None:
        self.stubber.add_client_error(
            "put_record_batch",
            service_error_code=code,
            service_message=code,
            http_status_code=status,
            expected_params=records(lines),
        )


def records(lines: list[bytes]) -> dict[str, Any]:
    return {"DeliveryStreamName": STREAM, "Records": [{"Data": line} for line in lines]}


def accepted(n: int) -> dict[str, Any]:
    return {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": [{"RecordId": f"r{i}"} for i in range(n)]}


def partial(*errors: str | None) -> dict[str, Any]:
    """One entry per record: None accepted, else the entry's ErrorCode."""
    return {
        "FailedPutCount": sum(e is not None for e in errors),
        "Encrypted": False,
        "RequestResponses": [
            {"RecordId": f"r{i}"} if e is None else {"ErrorCode": e, "ErrorMessage": f"scripted {e}"}
            for i, e in enumerate(errors)
        ],
    }


def lines(n: int, size: int = 0) -> list[bytes]:
    return [(b'{"n":%d,"pad":"%s"}\n' % (i, b"x" * size)) for i in range(n)]


@pytest.fixture
def firehose():
    fh = Firehose()
    with fh.stubber:
        yield fh
        fh.stubber.assert_no_pending_responses()


@pytest.fixture
def make_sink(firehose, no_sleep_retry) -> Callable[..., FirehoseSink]:
    def make(**limits: int) -> FirehoseSink:
        return FirehoseSink(firehose.client, **limits, **no_sleep_retry.kwargs(FirehoseSink))

    return make


def test_all_accepted_in_one_call(firehose, make_sink, no_sleep_retry):
    batch = lines(3)
    firehose.expect(batch)
    assert make_sink().put(STREAM, batch) == 1
    assert no_sleep_retry.waits == []


def test_failed_entries_only_are_resent_until_none_fail(firehose, make_sink, no_sleep_retry):
    a, b, c, d = lines(4)
    firehose.expect([a, b, c, d], partial(None, "ServiceUnavailableException", None, "InternalFailure"))
    firehose.expect([b, d], partial(None, "ServiceUnavailableException"))
    firehose.expect([d])
    assert make_sink().put(STREAM, [a, b, c, d]) == 3
    assert len(no_sleep_retry.waits) == 2  # a backoff before each resend


def test_a_response_whose_entries_do_not_match_the_records_resends_the_whole_batch(firehose, make_sink):
    batch = lines(3)
    firehose.expect(
        batch, {"FailedPutCount": 1, "RequestResponses": [{"ErrorCode": "InternalFailure", "ErrorMessage": "?"}]}
    )
    firehose.expect(batch)
    assert make_sink().put(STREAM, batch) == 2


@pytest.mark.parametrize(
    "code,status",
    [
        ("ServiceUnavailableException", 503),
        ("ThrottlingException", 400),
        ("LimitExceededException", 400),
        ("InternalFailure", 500),
    ],
)
def test_throttling_and_unavailable_client_errors_retry_the_call(firehose, make_sink, no_sleep_retry, code, status):
    batch = lines(2)
    firehose.expect_error(batch, code, status)
    firehose.expect_error(batch, code, status)
    firehose.expect(batch)
    assert make_sink().put(STREAM, batch) == 3
    assert len(no_sleep_retry.waits) == 2


def test_endpoint_connection_error_retries_the_call(firehose, make_sink, no_sleep_retry):
    batch = lines(2)
    firehose.unreachable = 2
    firehose.expect(batch)
    assert make_sink().put(STREAM, batch) == 3
    assert len(no_sleep_retry.waits) == 2


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "InvalidArgumentException"])
def test_a_non_retryable_client_error_raises_firehose_config_error_at_once(firehose, make_sink, no_sleep_retry, code):
    batch = lines(2)
    firehose.expect_error(batch, code, 400)
    with pytest.raises(FirehoseConfigError, match=f"{STREAM}.*{code}") as raised:
        make_sink().put(STREAM, batch)
    assert isinstance(raised.value.__cause__, ClientError)
    assert no_sleep_retry.waits == []


def test_batches_are_split_by_max_records(firehose, make_sink):
    batch = lines(5)
    firehose.expect(batch[0:2])
    firehose.expect(batch[2:4])
    firehose.expect(batch[4:5])
    assert make_sink(max_records=2).put(STREAM, batch) == 3


def test_batches_are_split_by_max_bytes(firehose, make_sink):
    batch = lines(5, size=100)  # 116 bytes each: two fit in 300 bytes, three do not
    firehose.expect(batch[0:2])
    firehose.expect(batch[2:4])
    firehose.expect(batch[4:5])
    assert make_sink(max_bytes=300).put(STREAM, batch) == 3


def test_a_partial_failure_in_one_batch_resends_only_from_that_batch(firehose, make_sink):
    a, b, c, d = lines(4)
    firehose.expect([a, b], partial("ServiceUnavailableException", None))
    firehose.expect([a])
    firehose.expect([c, d])
    assert make_sink(max_records=2).put(STREAM, [a, b, c, d]) == 3


def test_batches_keep_order_and_limits():
    batch = lines(7, size=50)
    split = list(batches(batch, max_records=3, max_bytes=200))
    assert [line for part in split for line in part] == batch
    assert all(len(part) <= 3 and sum(map(len, part)) <= 200 for part in split)


def test_a_line_over_max_record_bytes_raises_value_error_before_any_call(firehose, make_sink):
    too_long = b'"' + b"x" * MAX_RECORD_BYTES + b'"\n'
    with pytest.raises(ValueError, match="record limit"):
        make_sink().put(STREAM, [lines(1)[0], too_long, lines(1)[0]])
    # the Stubber has no response queued: any call would have failed with UnStubbedResponseError


def test_a_line_of_exactly_max_record_bytes_is_sent(firehose, make_sink):
    line = b"x" * (MAX_RECORD_BYTES - 1) + b"\n"
    firehose.expect([line])
    assert make_sink().put(STREAM, [line]) == 1


def test_a_malformed_request_is_not_retried_for_ever(no_sleep_retry):
    """botocore's ParamValidationError is a BotoCoreError, but no retry can fix our own request."""
    from botocore.exceptions import ParamValidationError

    from worker.sinks.firehose import FirehoseSink

    class Client:
        def put_record_batch(self, **kwargs):
            raise ParamValidationError(report="Invalid length for parameter DeliveryStreamName")

    with pytest.raises(ParamValidationError):
        FirehoseSink(Client(), retry=no_sleep_retry.policy()).put("", [b"{}\n"])
    assert no_sleep_retry.waits == []


def test_a_line_too_large_fails_before_any_batch_is_sent(no_sleep_retry):
    from worker.sinks.firehose import MAX_RECORD_BYTES, FirehoseSink

    sent = []

    class Client:
        def put_record_batch(self, **kwargs):
            sent.append(kwargs)
            return {"FailedPutCount": 0}

    lines = [b"x\n"] * 3 + [b"y" * (MAX_RECORD_BYTES + 1)]
    with pytest.raises(ValueError):
        FirehoseSink(Client(), max_records=2, retry=no_sleep_retry.policy()).put("s", lines)
    assert sent == []
