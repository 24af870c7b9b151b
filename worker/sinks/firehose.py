"""Firehose sink: newline-delimited JSON lines to a delivery stream, returning only when all are accepted.

PutRecordBatch can succeed as a call while refusing some of its entries (`FailedPutCount`): every
response is read entry by entry and only the refused entries are sent again, with capped, jittered
backoff. Throttling and connection errors retry the whole call. Nothing is ever given up: the caller
holds the checkpoint until this returns, which is the backpressure the shard needs while Firehose is
unavailable. A line too large for Firehose (1,000 KiB) must be caught before it reaches here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, ParamValidationError

from worker.logs import get_logger
from worker.retry import RetryPolicy

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_firehose.client import FirehoseClient
    from mypy_boto3_firehose.type_defs import PutRecordBatchOutputTypeDef

MAX_RECORD_BYTES = 1000 * 1024  # Firehose's limit per record, before base64
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
# Whole-call errors that mean "not now": anything else (a missing delivery stream, a validation error)
# is a configuration problem and ends the processor with the error, rather than spinning silently.
RETRYABLE_CODES = {
    "ServiceUnavailableException",
    "ThrottlingException",
    "LimitExceededException",
    "InternalFailure",
    "InternalServerError",
    "RequestTimeout",
    "RequestTimeoutException",
    "SlowDown",
    "AccessDeniedException",
    "ExpiredTokenException",
}


def _call_retryable(exc: BaseException) -> tuple[str, str] | None:
    """A whole PutRecordBatch call that may pass later; other errors are configuration problems."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        return ("firehose_busy", code) if code in RETRYABLE_CODES else None
    if isinstance(exc, ParamValidationError):
        return None  # our request is malformed (an empty stream name): retrying cannot help
    if isinstance(exc, (EndpointConnectionError, BotoCoreError)):
        return "firehose_unreachable", str(exc)[:200]
    return None


class FirehoseConfigError(RuntimeError):
    """The delivery stream cannot take records for a reason retrying will not fix."""


def batches(
    lines: Sequence[bytes], max_records: int = MAX_BATCH_RECORDS, max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[list[bytes]]:
    """Split lines into PutRecordBatch calls within Firehose's count and byte limits, keeping order."""
    batch: list[bytes] = []
    size = 0
    for line in lines:
        if len(line) > MAX_RECORD_BYTES:
            raise ValueError(f"a {len(line)}-byte line exceeds Firehose's {MAX_RECORD_BYTES}-byte record limit")
        if batch and (len(batch) >= max_records or size + len(line) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(line)
        size += len(line)
    if batch:
        yield batch


class FirehoseSink:
    def __init__(
        self,
        client: FirehoseClient,
        max_records: int = MAX_BATCH_RECORDS,
        max_bytes: int = MAX_BATCH_BYTES,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.client = client
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.retry = retry or RetryPolicy(0.2, 10.0)
        self.log = get_logger().bind(sink="firehose")

    def put(self, stream: str, lines: Sequence[bytes]) -> int:
        """Deliver every line to `stream`; returns the number of PutRecordBatch calls made."""
        calls = 0
        # Every batch is made before the first call: a line too large fails before anything is sent.
        for batch in list(batches(lines, self.max_records, self.max_bytes)):
            calls += self._put_batch(stream, batch)
        return calls

    def _put_batch(self, stream: str, batch: list[bytes]) -> int:
        pending = batch
        backoff = self.retry()  # between partial resends; whole-call errors retry inside retry.call
        calls = 0

        def put() -> PutRecordBatchOutputTypeDef:
            nonlocal calls
            calls += 1
            return self.client.put_record_batch(DeliveryStreamName=stream, Records=[{"Data": line} for line in pending])

        while pending:
            try:
                response = self.retry.call(put, _call_retryable, self.log, stream=stream)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                raise FirehoseConfigError(f"delivery stream {stream}: {code}: {exc}") from exc
            if not response.get("FailedPutCount"):
                return calls
            results = response.get("RequestResponses") or []
            if len(results) != len(pending):
                # Cannot tell which entries failed: sending all again may duplicate, never lose.
                failed, codes = pending, ["ResponseLengthMismatch"]
            else:
                failed = [line for line, result in zip(pending, results, strict=True) if result.get("ErrorCode")]
                codes = sorted({r["ErrorCode"] for r in results if r.get("ErrorCode")})
            delay = backoff.next_delay()
            self.log.warning(
                "firehose_entries_retried", stream=stream, count=len(failed), errors=codes, retry_in_s=round(delay, 2)
            )
            backoff.sleep(delay)
            pending = failed
        return calls
