"""In-process fakes of the sinks for unit tests of the batch path, and the fixtures that build them.

`MappingOpenSearch` is not a stub that takes everything: it checks each document against the index
mappings the worker installs (worker/sinks/templates.py) the way OpenSearch would, so a value OpenSearch
refuses (a float beyond 3.4e38, an integer beyond 32 bits, a field no mapping declares) is refused here
too, with the status and error type OpenSearch answers.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from worker.config import load_config
from worker.model import IndexOp, QuarantineEntry, Rejected
from worker.retry import RetryPolicy
from worker.sinks.firehose import MAX_RECORD_BYTES
from worker.sinks.quarantine import s3_body, s3_key
from worker.sinks.templates import FAMILIES
from worker.sinks.writer import SinkWriter
from worker.source.batch import BatchHandler

FLOAT_MAX = 3.4028234663852886e38
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
MAX_KEYWORD_BYTES = 32766  # Lucene's longest term
MAX_ID_BYTES = 512
_INDEX_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")


class MappingError(Exception):
    pass


def _check(value: Any, mapping: dict[str, Any], where: str) -> None:
    if value is None:
        return
    if isinstance(value, list):
        for item in value:
            _check(item, mapping, where)
        return
    kind = mapping.get("type", "object")
    if kind == "object" or "properties" in mapping:
        if mapping.get("enabled") is False:
            return
        if not isinstance(value, dict):
            raise MappingError(f"mapper_parsing_exception: {where} is not an object")
        for key, item in value.items():
            if key not in mapping.get("properties", {}):
                raise MappingError(f"strict_dynamic_mapping_exception: {where}.{key}")
            _check(item, mapping["properties"][key], f"{where}.{key}")
        return
    if kind == "keyword":
        if not isinstance(value, (str, int, float, bool)):
            raise MappingError(f"mapper_parsing_exception: {where} is not a keyword")
        size = len(str(value).encode("utf-8", "surrogatepass"))
        if size > MAX_KEYWORD_BYTES and "ignore_above" not in mapping:
            raise MappingError(f"illegal_argument_exception: immense term in {where}")
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            raise MappingError(f"mapper_parsing_exception: {where} is not a boolean")
        return
    if kind == "binary":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise MappingError(f"mapper_parsing_exception: {where} is not base64") from None
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MappingError(f"mapper_parsing_exception: {where} is not a number")
    if kind in ("float", "double") and not math.isfinite(float(value)):
        raise MappingError(f"mapper_parsing_exception: {where} is not finite")
    if kind == "float" and abs(float(value)) > FLOAT_MAX:
        raise MappingError(f"mapper_parsing_exception: {where} out of range for a float")
    if kind == "integer" and not INT32[0] <= value <= INT32[1]:
        raise MappingError(f"mapper_parsing_exception: {where} out of range for an integer")
    if kind in ("long", "date") and not INT64[0] <= value <= INT64[1]:
        raise MappingError(f"mapper_parsing_exception: {where} out of range for a long")


def family_of(index: str, prefix: str) -> str:
    rest = index[len(prefix) + 1 :]
    return rest.split("-", 1)[0]


@dataclass
class MappingOpenSearch:
    """What OpenSearch would do with the worker's writes, in memory: index, refuse, create-only, get."""

    prefix: str
    docs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    refuse: Callable[[IndexOp], str | None] = lambda op: None  # a test's extra refusals: the error type
    calls: int = 0

    def index(self, ops: Iterable[IndexOp]) -> list[Rejected]:
        self.calls += 1
        rejected: list[Rejected] = []
        for op in ops:
            error = self._error(op)
            if error is not None:
                rejected.append(Rejected(op, 400, error))
                continue
            key = (op.index, op.doc_id)
            if op.delete:
                self.docs.pop(key, None)
            elif op.create and key in self.docs:
                continue
            else:
                self.docs[key] = orjson.loads(orjson.dumps(op.source))  # what a JSON round trip keeps
        return rejected

    def _error(self, op: IndexOp) -> str | None:
        if not _INDEX_NAME.fullmatch(op.index) or len(op.index.encode()) > 255:
            return "invalid_index_name_exception"
        if not op.doc_id or len(op.doc_id.encode()) > MAX_ID_BYTES:
            return "action_request_validation_exception"
        extra = self.refuse(op)
        if extra is not None:
            return extra
        if op.delete:
            return None
        try:
            orjson.dumps(op.source)
            _check(op.source, {"properties": FAMILIES[family_of(op.index, self.prefix)]}, "")
        except MappingError as exc:
            return str(exc).split(":", 1)[0]
        except (TypeError, orjson.JSONEncodeError):
            return "not_x_content_exception"
        return None

    def get_many(self, refs: Sequence[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        return {doc_id: self.docs[(index, doc_id)] for index, doc_id in refs if (index, doc_id) in self.docs}

    def family(self, family: str) -> dict[str, dict[str, Any]]:
        start = f"{self.prefix}-{family}-"
        return {doc_id: doc for (index, doc_id), doc in self.docs.items() if index.startswith(start)}


@dataclass
class MemoryFirehose:
    """PutRecordBatch that checks what Firehose and the archive's readers need of each line."""

    lines: dict[str, list[bytes]] = field(default_factory=dict)

    def put(self, stream: str, lines: list[bytes]) -> None:
        for line in lines:
            assert len(line) <= MAX_RECORD_BYTES, f"{len(line)} bytes: Firehose refuses the whole batch"
            assert line.endswith(b"\n") and b"\n" not in line[:-1], "not one newline-delimited line"
            orjson.loads(line)
        self.lines.setdefault(stream, []).extend(lines)


@dataclass
class MemoryQuarantine:
    """The S3 dead-letter store: keeps each entry as the JSON object S3 would hold, by key."""

    prefix: str = "quarantine/"
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    entries: list[QuarantineEntry] = field(default_factory=list)

    def put(self, entries: list[QuarantineEntry], worker_id: str) -> None:
        for entry in entries:
            self.objects[s3_key(entry, self.prefix)] = orjson.loads(s3_body(entry, worker_id))
            self.entries.append(entry)


@dataclass
class Pipeline:
    handler: BatchHandler
    opensearch: MappingOpenSearch
    firehose: MemoryFirehose
    quarantine: MemoryQuarantine


PREFIX = "ut"
SHARD = "shardId-000000000000"


@pytest.fixture
def make_pipeline() -> Callable[..., Pipeline]:
    """The real BatchHandler and SinkWriter over the in-process fakes; `env` adds configuration."""

    def make(env: dict[str, str] | None = None, refuse: Callable[[IndexOp], str | None] | None = None) -> Pipeline:
        cfg = load_config(env={"FACEWATCH__OPENSEARCH__INDEX_PREFIX": PREFIX, **(env or {})}, stack_env_file=None)
        opensearch = MappingOpenSearch(PREFIX)
        if refuse is not None:
            opensearch.refuse = refuse
        firehose, quarantine = MemoryFirehose(), MemoryQuarantine()
        writer = SinkWriter(opensearch, firehose, quarantine, PREFIX, SHARD, "w-test")  # type: ignore[arg-type]  # fakes
        handler = BatchHandler(cfg, writer, SHARD, "w-test")
        return Pipeline(handler, opensearch, firehose, quarantine)

    return make


class RetriedForever(AssertionError):
    """A unit test's code under test kept retrying: a bug, or a stub that never answers what it expects."""


@dataclass
class NoSleepRetry:
    """The retry policy the sinks' unit tests hand to the code under test: tiny delays, never a real sleep,
    each wait's delay kept in `waits` (so a test can count the backoffs), and a stop after `limit` waits
    (a retry loop that never ends fails the test at once instead of at its timeout)."""

    waits: list[float] = field(default_factory=list)
    limit: int = 50

    def sleep(self, delay: float) -> None:
        self.waits.append(delay)
        if len(self.waits) > self.limit:
            raise RetriedForever(f"{len(self.waits)} backoff waits")

    def policy(self) -> RetryPolicy:
        """The policy the sinks and the dispatcher take (a factory of fresh backoffs, one per operation)."""
        return RetryPolicy(base_s=0.001, cap_s=0.01, sleep=self.sleep)

    def kwargs(self, cls: type) -> dict[str, Any]:
        """The keyword argument by which `cls` (a sink) takes its retry policy."""
        return {"retry": self.policy()}


@pytest.fixture
def no_sleep_retry() -> NoSleepRetry:
    return NoSleepRetry()
