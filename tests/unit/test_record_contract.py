"""The record contract's edges, the one-dead-letter-per-record rule, and the failures after parsing that
used to stop a shard (each of these raised out of the batch path or doubled dead letters before)."""

from __future__ import annotations

import json
import queue

import orjson
import pytest
from opensearchpy.exceptions import TransportError

from worker.core.record import MAX_FACES_PER_FRAME, RecordError, parse_frame_record
from worker.model import RawRecord
from worker.sinks.dispatch import Delivery, LaneResult, Recorder

T0 = 1_767_225_600.0
ARN = "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/door-0/1700000000000"


def frame(faces: int = 1, **video: object) -> bytes:
    face = {
        "DetectedFace": {"BoundingBox": {"Width": 0.05, "Height": 0.06, "Left": 0.3, "Top": 0.3}, "Confidence": 99.0},
        "MatchedFaces": [{"Similarity": 95.0, "Face": {"FaceId": "face-0001-uuid", "ExternalImageId": "emp-0001"}}],
    }
    doc = {
        "InputInformation": {
            "KinesisVideo": {
                "StreamArn": ARN,
                "FragmentNumber": "1" * 47,
                "ProducerTimestamp": T0,
                "ServerTimestamp": T0 + 0.2,
                "FrameOffsetInSeconds": 1.0,
                **video,
            }
        },
        "FaceSearchResponse": [
            dict(
                face,
                DetectedFace=dict(
                    face["DetectedFace"], BoundingBox={**face["DetectedFace"]["BoundingBox"], "Left": 0.008 * i}
                ),
            )
            for i in range(faces)
        ],
    }
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "value, reason, field",
    [
        (T0 * 1000, "timestamp_in_ms", "InputInformation.KinesisVideo.ProducerTimestamp"),
        (T0 * 1_000_000, "invalid_value", "InputInformation.KinesisVideo.ProducerTimestamp"),
        (253402300800.0, "invalid_value", "InputInformation.KinesisVideo.ProducerTimestamp"),  # year 10000
    ],
)
def test_timestamps_outside_the_plausible_span(value, reason, field):
    with pytest.raises(RecordError) as err:
        parse_frame_record(frame(ProducerTimestamp=value, ServerTimestamp=value))
    assert (err.value.reason, err.value.field) == (reason, field)
    assert "seconds" in err.value.detail


def test_the_frame_time_is_judged_against_the_records_arrival_not_the_wall_clock():
    arrival_ms = int(T0 * 1000)
    parse_frame_record(frame(), arrival_ms=arrival_ms + 3 * 365 * 86400 * 1000)  # replayed years later: fine
    with pytest.raises(RecordError) as err:
        parse_frame_record(frame(), arrival_ms=arrival_ms - 2 * 86400 * 1000)  # filmed two days after it arrived
    assert err.value.reason == "invalid_value" and "arrival" in err.value.detail
    with pytest.raises(RecordError):
        parse_frame_record(frame(), arrival_ms=arrival_ms + 11 * 365 * 86400 * 1000)


def test_faces_per_frame_are_capped_at_rekognitions_limit():
    assert len(parse_frame_record(frame(MAX_FACES_PER_FRAME)).faces) == MAX_FACES_PER_FRAME
    with pytest.raises(RecordError) as err:
        parse_frame_record(frame(MAX_FACES_PER_FRAME + 1))
    assert err.value.reason == "too_many_faces"


def test_a_30_digit_integer_is_a_value_error_not_a_crash():
    data = frame().replace(b'"FrameOffsetInSeconds": 1.0', b'"FrameOffsetInSeconds": 123456789012345678901234567890')
    with pytest.raises(RecordError) as err:
        parse_frame_record(data)
    assert err.value.reason == "invalid_value"


def test_one_dead_letter_per_record_however_many_of_its_documents_a_sink_refuses(make_pipeline):
    pipeline = make_pipeline(refuse=lambda op: "mapper_parsing_exception" if "-detections-" in op.index else None)
    records = [
        RawRecord(frame(40, FrameOffsetInSeconds=float(i)), str(1000 + i), "pk", int(T0 * 1000)) for i in range(2)
    ]
    pipeline.handler.handle(records)
    result = pipeline.handler.flush()
    assert result.quarantined == 2 and result.reasons == {"opensearch_400": 2}
    assert sorted(e.sequence_number for e in pipeline.quarantine.entries) == ["1000", "1001"]
    for entry in pipeline.quarantine.entries:
        assert entry.payload == records[int(entry.sequence_number) - 1000].data
        assert len(entry.items) == 40 and {i.error for i in entry.items} == {"mapper_parsing_exception"}
    stored = list(pipeline.quarantine.objects.values())
    assert len(stored) == 2 and len(stored[0]["refused"]) == 40
    searchable = list(pipeline.opensearch.family("quarantine").values())
    assert len(searchable) == 2 and searchable[0]["refused_items"] == 40
    assert "payload_b64" not in searchable[0] and "document_b64" not in searchable[0]


def test_a_long_batch_beats_the_heartbeat_while_it_works(make_pipeline):
    pipeline = make_pipeline()
    beats = []
    pipeline.handler.on_progress = lambda: beats.append(1)
    pipeline.handler.handle(
        [RawRecord(frame(0, FrameOffsetInSeconds=i / 100), str(i + 1), "pk", int(T0 * 1000)) for i in range(1000)]
    )
    assert len(beats) == 10  # every 200 records parsed, and again every 200 whose documents are built


def test_a_batch_is_tracked_before_its_documents_are_built(make_pipeline):
    """Alerts leave from the tracker: building every record's documents first would delay them all."""
    pipeline = make_pipeline()
    handler = pipeline.handler
    order: list[str] = []
    track, prepare = handler.tracking.process, handler._prepare

    def tracked(*args: object, **kwargs: object):
        order.append("track")
        return track(*args, **kwargs)

    def prepared(*args: object, **kwargs: object):
        order.append("prepare")
        return prepare(*args, **kwargs)

    handler.tracking.process, handler._prepare = tracked, prepared
    handler.handle(
        [RawRecord(frame(0, FrameOffsetInSeconds=i / 10), str(i + 1), "pk", int(T0 * 1000)) for i in range(3)]
    )
    assert order == ["track", "prepare", "prepare", "prepare"]


class RefusingIndex:
    def mark_delivered(self, *args: object) -> None:
        raise TransportError(400, "mapper_parsing_exception", {"error": {"type": "mapper_parsing_exception"}})


def test_an_alert_document_the_index_refuses_does_not_stop_the_worker():
    results: queue.Queue[LaneResult] = queue.Queue()
    recorder = Recorder(RefusingIndex(), results)  # type: ignore[arg-type]  # a duck-typed fake
    recorder.put("sns", Delivery("ut-alerts-2026.01.01", "a1", {"alert_id": "a1"}, check=False, outcome="sent"))
    result = results.get(timeout=5)
    recorder.close()
    assert (result.alert_id, result.outcome) == ("a1", "sent")  # delivered, only its record is missing


def test_the_quarantine_index_copy_keeps_no_personal_data(make_pipeline):
    pipeline = make_pipeline()
    data = frame(ProducerTimestamp=T0 * 1000)
    pipeline.handler.handle([RawRecord(data, "7", "pk", int(T0 * 1000))])
    pipeline.handler.flush()
    (doc,) = pipeline.opensearch.family("quarantine").values()
    assert doc["reason"] == "timestamp_in_ms" and doc["field"].endswith("ProducerTimestamp")
    assert b"emp-0001" not in orjson.dumps(doc) and b"face-0001-uuid" not in orjson.dumps(doc)
    (stored,) = pipeline.quarantine.objects.values()
    assert stored["payload_b64"]  # the original bytes stay in the (encrypted) S3 dead letter
