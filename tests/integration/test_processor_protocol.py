"""The record processor driven through the MultiLang protocol (what the daemon writes to its stdin),
against the real OpenSearch node: checkpoints only after acknowledgement, quarantine, outages."""

from __future__ import annotations

import base64

import orjson

from .helpers import FIXTURE, CuttableProxy, count, initialize, kinesis_record, simulated_records


def test_checkpoint_comes_after_opensearch_acknowledged_and_poison_is_quarantined(child, isolated_env, opensearch):
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    c = child()
    initialize(c)
    records, faces = simulated_records(100)
    poison = [
        b"not json at all",
        b'{"InputInformation": 5}',
        FIXTURE.replace(b'"RUNNING"', b"RUNNING"),
        b"\xff" * 1_000_000,
    ]
    # Poison in the middle: the records after it must still be indexed.
    batch = records[:10] + [kinesis_record(p, 90 + i) for i, p in enumerate(poison)] + records[10:]
    c.send({"action": "processRecords", "records": batch, "millisBehindLatest": 0})
    request = c.expect()
    assert request["action"] == "checkpoint" and request["sequenceNumber"] == batch[-1]["sequenceNumber"]
    # At the moment the checkpoint is asked for, every document is already in OpenSearch.
    assert count(opensearch, f"{prefix}-detections") == faces
    assert count(opensearch, f"{prefix}-quarantine") == len(poison)
    c.send(
        {"action": "checkpoint", "sequenceNumber": request["sequenceNumber"], "subSequenceNumber": None, "error": None}
    )
    assert c.expect() == {"action": "status", "responseFor": "processRecords"}

    reasons = opensearch.search(index=f"{prefix}-quarantine", body={"size": 10, "sort": ["sequence_number"]})
    got = {h["_source"]["sequence_number"]: h["_source"] for h in reasons["hits"]["hits"]}
    assert got["90"]["reason"] == "not_json" and got["91"]["reason"] == "wrong_type"
    assert got["92"]["reason"] == "not_json" and got["93"]["reason"] == "not_json"
    assert "payload_b64" not in got["90"]  # the searchable copy holds no record bytes (personal data)
    assert got["93"]["size_bytes"] == 1_000_000

    # The same records delivered again (at-least-once) rewrite the same documents: nothing doubles.
    c.send(
        {
            "action": "processRecords",
            "records": [dict(r, sequenceNumber=str(int(r["sequenceNumber"]) + 1000)) for r in records],
            "millisBehindLatest": 0,
        }
    )
    request = c.expect()
    c.send(
        {"action": "checkpoint", "sequenceNumber": request["sequenceNumber"], "subSequenceNumber": None, "error": None}
    )
    assert c.expect() == {"action": "status", "responseFor": "processRecords"}
    assert count(opensearch, f"{prefix}-detections") == faces

    # Shutdown with everything already checkpointed: nothing more to checkpoint.
    c.send({"action": "shutdownRequested"})
    assert c.expect() == {"action": "status", "responseFor": "shutdownRequested"}


def test_throttled_checkpoint_is_retried_and_lost_lease_stops_checkpointing(child):
    c = child()
    initialize(c)
    records, _ = simulated_records(500, duration_s=3)
    c.send({"action": "processRecords", "records": records, "millisBehindLatest": 0})
    first = c.expect()
    c.send(
        {
            "action": "checkpoint",
            "sequenceNumber": first["sequenceNumber"],
            "subSequenceNumber": None,
            "error": "ThrottlingException",
        }
    )
    again = c.expect()
    assert again == first  # asked again, for the same position
    c.send(
        {
            "action": "checkpoint",
            "sequenceNumber": first["sequenceNumber"],
            "subSequenceNumber": None,
            "error": "ShutdownException",
        }
    )
    assert c.expect() == {"action": "status", "responseFor": "processRecords"}
    # Once it knows it lost the shard it no longer tries to checkpoint.
    c.send({"action": "shardEnded"})
    assert c.expect() == {"action": "status", "responseFor": "shardEnded"}


def test_opensearch_outage_holds_the_checkpoint_until_it_is_back(child, isolated_env, opensearch, local_stack):
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    upstream = int(local_stack["OPENSEARCH_URL"].rsplit(":", 1)[1])
    proxy = CuttableProxy(upstream)
    try:
        c = child({"OPENSEARCH_URL": f"http://127.0.0.1:{proxy.port}", "FACEWATCH__OPENSEARCH__RETRY_MAX_S": "1"})
        initialize(c)
        proxy.cut()
        records, faces = simulated_records(1000, duration_s=10, seed=9)
        c.send({"action": "processRecords", "records": records, "millisBehindLatest": 0})
        assert c.nothing_for(6.0)  # no checkpoint while OpenSearch cannot acknowledge
        assert c.proc.poll() is None  # and the processor did not give up or crash
        proxy.restore()
        request = c.expect(timeout_s=30)
        assert request["action"] == "checkpoint" and request["sequenceNumber"] == records[-1]["sequenceNumber"]
        assert count(opensearch, f"{prefix}-detections") == faces
        c.send(
            {
                "action": "checkpoint",
                "sequenceNumber": request["sequenceNumber"],
                "subSequenceNumber": None,
                "error": None,
            }
        )
        assert c.expect() == {"action": "status", "responseFor": "processRecords"}
        assert any(b"opensearch_unreachable" in line for line in c.stderr)
    finally:
        proxy.close()


def test_with_the_flusher_thread_the_checkpoint_trails_the_batches_and_covers_only_acknowledged_data(
    child, isolated_env, opensearch
):
    """flushes_in_flight 1 (the default): a call returns while its flush is written, so its checkpoint
    comes in a later call, and then every document below it is already in OpenSearch."""
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    c = child({"FACEWATCH__PROCESSOR__FLUSHES_IN_FLIGHT": "1"})
    initialize(c)
    records, faces = simulated_records(100, duration_s=30)
    size = 15
    batches = [records[i : i + size] for i in range(0, len(records), size)]
    ends = [b[-1]["sequenceNumber"] for b in batches]
    faces_through: dict[str, int] = {}
    total = 0
    for b in batches:
        total += sum(len(orjson.loads(base64.b64decode(r["data"])).get("FaceSearchResponse") or []) for r in b)
        faces_through[b[-1]["sequenceNumber"]] = total
    assert total == faces
    checkpoints: list[tuple[int, str]] = []  # (index of the call, position)

    def answer(request: dict, call: int) -> None:
        position = request["sequenceNumber"]
        assert position in faces_through, f"{position} is not the end of a batch"
        # At the moment it is asked for, everything up to it is acknowledged: in the index.
        assert count(opensearch, f"{prefix}-detections") >= faces_through[position]
        checkpoints.append((call, position))
        c.send({"action": "checkpoint", "sequenceNumber": position, "subSequenceNumber": None, "error": None})

    for call, batch in enumerate(batches + [[]] * 3):  # then three idle heartbeats, as the daemon sends
        c.send({"action": "processRecords", "records": batch, "millisBehindLatest": 0})
        while (message := c.expect())["action"] == "checkpoint":
            answer(message, call)
        assert message == {"action": "status", "responseFor": "processRecords"}
    c.send({"action": "shutdownRequested"})
    while (message := c.expect())["action"] == "checkpoint":
        answer(message, len(batches) + 3)
    assert message == {"action": "status", "responseFor": "shutdownRequested"}

    positions = [int(p) for _, p in checkpoints]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert checkpoints[-1][1] == ends[-1]  # in the end, all of it
    # Never in the call of its own batch: that call returned while the batch was still being written.
    assert all(ends.index(p) < call for call, p in checkpoints if call < len(batches))
    assert count(opensearch, f"{prefix}-detections") == faces
