"""The MultiLangDaemon's side of the MultiLang protocol, in Python: no JVM, no Kinesis.

It starts the real record processor (`python -m worker processor`, the command the daemon runs), hands
it batches of records exactly as the daemon does (JSON lines on its stdin, base64 data), answers its
checkpoints, and asks it to shut down, which makes it flush and checkpoint everything. So the processor
can be measured alone against real sinks: its ceiling is what it can take when records cost nothing to
fetch. Used by bench/processor.py; usable on its own:

    with ProtocolDriver(env) as driver:
        driver.initialize("shardId-000000000000")
        for batch in batches:
            driver.process_records(batch)
        driver.shutdown_requested()
    print(driver.checkpoints[-1])
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from worker.model import RawRecord


class ProtocolError(RuntimeError):
    """The processor said something the daemon would not accept, or died."""


class ProtocolDriver:
    def __init__(self, env: Mapping[str, str], stderr: Path | None = None) -> None:
        self.env = dict(env)
        self.stderr_path = stderr
        self.proc: subprocess.Popen[bytes] | None = None
        self.checkpoints: list[str] = []  # every sequence number the processor checkpointed, in order
        self._err: IO[bytes] | None = None

    def __enter__(self) -> ProtocolDriver:
        self._err = self.stderr_path.open("wb") if self.stderr_path else None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "processor"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err if self._err is not None else subprocess.DEVNULL,
            env=self.env,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            if self.proc.stdin:
                self.proc.stdin.close()  # the daemon ends a child by closing its stdin
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._err is not None:
            self._err.close()

    # -- the daemon's messages ---------------------------------------------------------------------
    def initialize(self, shard_id: str, sequence_number: str = "TRIM_HORIZON") -> None:
        self._send(
            {"action": "initialize", "shardId": shard_id, "sequenceNumber": sequence_number, "subSequenceNumber": 0}
        )
        self._until_status("initialize")

    def process_records(self, records: Sequence[RawRecord], millis_behind_latest: int = 0) -> None:
        """One GetRecords batch; returns when the processor has returned from process_records."""
        self._send(
            {
                "action": "processRecords",
                "millisBehindLatest": millis_behind_latest,
                "records": [
                    {
                        "action": "record",
                        "data": base64.b64encode(r.data).decode(),
                        "partitionKey": r.partition_key,
                        "sequenceNumber": r.sequence_number,
                        "subSequenceNumber": 0,
                        "approximateArrivalTimestamp": r.arrival_ms,
                    }
                    for r in records
                ],
            }
        )
        self._until_status("processRecords")

    def shutdown_requested(self) -> None:
        """The worker is stopping: the processor flushes, checkpoints all it holds, and answers."""
        self._send({"action": "shutdownRequested"})
        self._until_status("shutdownRequested")

    # -- the wire ----------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(orjson.dumps(message) + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise ProtocolError(f"the processor exited ({self.proc.poll()})") from exc

    def _until_status(self, response_for: str) -> None:
        """Read the processor's messages, answering checkpoints, until its status for `response_for`."""
        assert self.proc is not None and self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise ProtocolError(f"the processor exited ({self.proc.wait()}) before answering {response_for}")
            if not line.strip():
                continue  # kclpy writes a newline before each message
            message = orjson.loads(line)
            action = message.get("action")
            if action == "checkpoint":
                sequence = message.get("sequenceNumber")
                if sequence is not None:
                    self.checkpoints.append(sequence)
                answer = {"action": "checkpoint", "sequenceNumber": sequence, "subSequenceNumber": 0, "error": None}
                self._send(answer)
            elif action == "status":
                if message.get("responseFor") != response_for:
                    raise ProtocolError(f"status for {message.get('responseFor')}, expected {response_for}")
                return
            else:
                raise ProtocolError(f"unexpected message from the processor: {message}")
