"""Put records into a Kinesis stream with PutRecords, within its limits, losing none.

Used by `quarantine redrive` (runtime) and by the simulator, the demo, the benchmarks and the tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from worker.logs import get_logger
from worker.retry import Backoff

if TYPE_CHECKING:  # boto3-stubs: a development dependency
    from mypy_boto3_kinesis.client import KinesisClient

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024


@dataclass
class PutResult:
    records: int = 0
    bytes: int = 0
    failed_attempts: int = 0
    last_sequence: dict[str, str] = field(default_factory=dict)  # shard -> highest sequence number
    per_shard: dict[str, int] = field(default_factory=dict)


class KinesisProducer:
    def __init__(
        self,
        client: KinesisClient,
        stream_name: str,
        sleep: Callable[[float], None] = time.sleep,
        on_accepted: Callable[[str, bytes, str, str], None] | None = None,
    ) -> None:
        self.client = client
        self.on_accepted = on_accepted  # (partition key, data, shard, sequence number) of each accepted record
        self.stream_name = stream_name
        self.sleep = sleep
        self.result = PutResult()
        self.log = get_logger().bind(component="producer")

    def put(self, records: Iterable[tuple[str, bytes]]) -> None:
        """Put (partition_key, data) pairs; failed entries are resent until they are all accepted."""
        batch: list[tuple[str, bytes]] = []
        size = 0
        for key, data in records:
            entry_size = len(key.encode()) + len(data)
            if batch and (len(batch) >= MAX_RECORDS_PER_CALL or size + entry_size > MAX_BYTES_PER_CALL):
                self._put_batch(batch)
                batch, size = [], 0
            batch.append((key, data))
            size += entry_size
        if batch:
            self._put_batch(batch)

    def _put_batch(self, batch: list[tuple[str, bytes]]) -> None:
        pending = batch
        backoff = Backoff(0.1, 5.0, sleep=self.sleep)
        while pending:
            response = self.client.put_records(
                StreamName=self.stream_name,
                Records=[{"PartitionKey": k, "Data": d} for k, d in pending],
            )
            retry: list[tuple[str, bytes]] = []
            for (key, data), entry in zip(pending, response["Records"], strict=False):
                if entry.get("ErrorCode"):
                    retry.append((key, data))
                    continue
                shard, seq = entry["ShardId"], entry["SequenceNumber"]
                if self.on_accepted is not None:
                    self.on_accepted(key, data, shard, seq)
                self.result.records += 1
                self.result.bytes += len(data)
                self.result.per_shard[shard] = self.result.per_shard.get(shard, 0) + 1
                last = self.result.last_sequence.get(shard)
                if last is None or int(seq) > int(last):
                    self.result.last_sequence[shard] = seq
            if retry:
                self.result.failed_attempts += len(retry)
                backoff.wait()
            pending = retry
