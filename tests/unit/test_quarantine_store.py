"""QuarantineStore (the S3 dead letter) against a real boto3 S3 client under botocore's Stubber: what
`put` writes and where, retries on S3's transient errors and on no connection, NoSuchBucket stopping
with QuarantineConfigError, and keys / read / move for `worker quarantine list|redrive`. No network,
no real sleep (the `no_sleep_retry` fixture)."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from worker.sinks.quarantine import QuarantineConfigError, QuarantineEntry, QuarantineStore

try:  # the shared types moved to worker.model; before that, they lived in the quarantine module
    from worker.model import RefusedItem
except ImportError:  # pragma: no cover
    from worker.sinks.quarantine import RefusedItem  # type: ignore[attr-defined,no-redef]  # the older layout

pytestmark = pytest.mark.timeout(30)

BUCKET = "ut-quarantine"
PREFIX = "quarantine/"
ARRIVAL_MS = 1714996800000  # 2024-05-06T12:00:00Z
PAYLOAD = b'{"FaceSearchResponse": [{"MatchedFaces": []}], "oops"'


class S3:
    """A real client with its Stubber; `unreachable` makes the next PutObject calls fail before it."""

    def __init__(self) -> None:
        self.client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        self.stubber = Stubber(self.client)
        self.unreachable = 0
        self.put_params: list[dict[str, Any]] = []  # each PutObject's parameters, as the store gave them
        # On the Stubber's own event names, so that these run before it (first-registered, same node).
        self.client.meta.events.register_first("before-parameter-build.*.*", self._keep)
        self.client.meta.events.register_first("before-call.*.*", self._connect)

    def _keep(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "PutObject":
            self.put_params.append(dict(params))

    def _connect(self, model: Any, **_: Any) -> None:
        if self.unreachable and model.name == "PutObject":
            self.unreachable -= 1
            raise EndpointConnectionError(endpoint_url=f"https://{BUCKET}.s3.amazonaws.com")

    def expect_put(self, key: str) -> None:
        self.stubber.add_response("put_object", {"ETag": '"e"'}, put(key))

    def expect_put_error(self, key: str, code: str, status: int) -> None:
        self.stubber.add_client_error(
            "put_object",
            service_error_code=code,
            service_message=code,
            http_status_code=status,
            expected_params=put(key),
        )


def put(key: str) -> dict[str, Any]:
    return {"Bucket": BUCKET, "Key": key, "Body": ANY, "ContentType": "application/json"}


def entry(
    seq: str = "49650000000000000000000000000000000000000000000000000001", reason: str = "bad_json", **kw: Any
) -> QuarantineEntry:
    return QuarantineEntry(
        stage=kw.pop("stage", "parse"),
        reason=reason,
        detail="unexpected end of input",
        shard_id="shardId-000000000000",
        sequence_number=seq,
        partition_key="cam-1",
        arrival_ms=ARRIVAL_MS,
        payload=PAYLOAD,
        **kw,
    )


def key_of(e: QuarantineEntry) -> str:
    return f"{PREFIX}2024/05/06/{e.reason}/{e.entry_id}.json"


@pytest.fixture
def s3():
    fake = S3()
    with fake.stubber:
        yield fake
        fake.stubber.assert_no_pending_responses()


@pytest.fixture
def make_store(s3, no_sleep_retry) -> Callable[[], QuarantineStore]:
    return lambda: QuarantineStore(s3.client, BUCKET, PREFIX, **no_sleep_retry.kwargs(QuarantineStore))


def test_put_stores_each_entry_under_its_day_and_reason_with_the_original_bytes(s3, make_store, no_sleep_retry):
    parse = entry()
    refused = entry(
        seq="2",
        reason="sink_rejected",
        stage="sink",
        document=b'{"n": 1}',
        items=(RefusedItem("d1", "ut-detections-2024.05.06", 400, "mapper_parsing_exception"),),
    )
    s3.expect_put(key_of(parse))
    s3.expect_put(key_of(refused))
    make_store().put([parse, refused], "w-test")
    first, second = (orjson.loads(p["Body"]) for p in s3.put_params)
    assert base64.b64decode(first["payload_b64"]) == PAYLOAD
    assert first["quarantine_id"] == parse.entry_id and first["worker_id"] == "w-test"
    assert first["shard_id"] == "shardId-000000000000" and first["reason"] == "bad_json"
    assert second["refused"] == [
        {"doc_id": "d1", "index": "ut-detections-2024.05.06", "status": 400, "error": "mapper_parsing_exception"}
    ]
    assert base64.b64decode(second["document_b64"]) == b'{"n": 1}'
    assert no_sleep_retry.waits == []


def test_put_of_the_same_record_again_writes_the_same_key(s3, make_store):
    s3.expect_put(key_of(entry()))
    s3.expect_put(key_of(entry()))
    make_store().put([entry()], "w-1")
    make_store().put([entry()], "w-2")
    assert s3.put_params[0]["Key"] == s3.put_params[1]["Key"]


@pytest.mark.parametrize("code,status", [("InternalError", 500), ("SlowDown", 503), ("ServiceUnavailable", 503)])
def test_put_is_retried_on_a_transient_s3_error_then_stored(s3, make_store, no_sleep_retry, code, status):
    e = entry()
    s3.expect_put_error(key_of(e), code, status)
    s3.expect_put_error(key_of(e), code, status)
    s3.expect_put(key_of(e))
    make_store().put([e], "w-test")
    assert len(s3.put_params) == 3 and len(no_sleep_retry.waits) == 2
    assert s3.put_params[0]["Body"] == s3.put_params[2]["Body"]


def test_put_is_retried_on_endpoint_connection_error_then_stored(s3, make_store, no_sleep_retry):
    e = entry()
    s3.unreachable = 3
    s3.expect_put(key_of(e))
    make_store().put([e], "w-test")
    assert len(s3.put_params) == 4 and len(no_sleep_retry.waits) == 3


def test_a_retried_entry_does_not_hold_back_nor_repeat_the_others(s3, make_store):
    a, b = entry(seq="1"), entry(seq="2")
    s3.expect_put(key_of(a))
    s3.expect_put_error(key_of(b), "SlowDown", 503)
    s3.expect_put(key_of(b))
    make_store().put([a, b], "w-test")
    assert [p["Key"] for p in s3.put_params] == [key_of(a), key_of(b), key_of(b)]


def test_no_such_bucket_raises_quarantine_config_error_without_retry(s3, make_store, no_sleep_retry):
    a, b = entry(seq="1"), entry(seq="2")
    s3.expect_put_error(key_of(a), "NoSuchBucket", 404)
    with pytest.raises(QuarantineConfigError, match=f"{BUCKET}.*NoSuchBucket") as raised:
        make_store().put([a, b], "w-test")
    assert isinstance(raised.value.__cause__, ClientError)
    assert len(s3.put_params) == 1 and no_sleep_retry.waits == []  # b was not attempted


def listing(keys: list[str], token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "IsTruncated": token is not None,
        "KeyCount": len(keys),
        "Contents": [{"Key": k, "Size": 10} for k in keys],
    }
    if token:
        page["NextContinuationToken"] = token
    return page


def test_keys_lists_every_page_and_filters_by_reason(s3, make_store):
    k1 = f"{PREFIX}2024/05/06/bad_json/a.json"
    k2 = f"{PREFIX}2024/05/06/sink_rejected/b.json"
    k3 = f"{PREFIX}2024/05/07/bad_json/c.json"
    for _ in range(2):
        s3.stubber.add_response("list_objects_v2", listing([k1, k2], token="t1"), {"Bucket": BUCKET, "Prefix": PREFIX})
        s3.stubber.add_response(
            "list_objects_v2", listing([k3]), {"Bucket": BUCKET, "Prefix": PREFIX, "ContinuationToken": "t1"}
        )
    store = make_store()
    assert list(store.keys()) == [k1, k2, k3]
    assert list(store.keys(reason="bad_json")) == [k1, k3]


def test_keys_of_one_day_list_under_that_day_only(s3, make_store):
    k1 = f"{PREFIX}2024/05/06/bad_json/a.json"
    s3.stubber.add_response("list_objects_v2", listing([k1]), {"Bucket": BUCKET, "Prefix": f"{PREFIX}2024/05/06/"})
    s3.stubber.add_response(
        "list_objects_v2", {"IsTruncated": False, "KeyCount": 0}, {"Bucket": BUCKET, "Prefix": "redriven/2024/05/07/"}
    )
    store = make_store()
    assert list(store.keys(day="2024-05-06")) == [k1]
    assert list(store.keys(day="2024-05-07", prefix="redriven/")) == []


def test_read_returns_the_stored_entry(s3, make_store):
    key = f"{PREFIX}2024/05/06/bad_json/a.json"
    body = orjson.dumps({"quarantine_id": "a", "reason": "bad_json", "payload_b64": base64.b64encode(PAYLOAD).decode()})
    s3.stubber.add_response(
        "get_object", {"Body": StreamingBody(io.BytesIO(body), len(body))}, {"Bucket": BUCKET, "Key": key}
    )
    stored = make_store().read(key)
    assert stored["quarantine_id"] == "a"
    assert base64.b64decode(stored["payload_b64"]) == PAYLOAD


def test_move_copies_under_the_new_prefix_then_deletes_the_old_key(s3, make_store):
    old = f"{PREFIX}2024/05/06/bad_json/a.json"
    new = "redriven/2024/05/06/bad_json/a.json"
    s3.stubber.add_response(
        "copy_object",
        {"CopyObjectResult": {"ETag": '"e"'}},
        {"Bucket": BUCKET, "Key": new, "CopySource": {"Bucket": BUCKET, "Key": old}},
    )
    s3.stubber.add_response("delete_object", {}, {"Bucket": BUCKET, "Key": old})
    assert make_store().move(old, "redriven/") == new
