"""The record parser: the AWS example, the shapes real streams carry, and what must be quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from worker.core.detections import detection_id, detections_of
from worker.core.record import RecordError, camera_id_from_arn, parse_frame_record

FIXTURES = Path(__file__).parent.parent / "fixtures"
DOC_RECORD = (FIXTURES / "aws_doc_record.json").read_bytes()


def record(**video_overrides: object) -> dict:
    doc = json.loads(DOC_RECORD)
    doc["InputInformation"]["KinesisVideo"].update(video_overrides)
    return doc


def test_aws_documentation_example_parses_to_the_right_values():
    frame = parse_frame_record(DOC_RECORD)
    assert frame.stream_arn == "arn:aws:kinesisvideo:us-west-2:nnnn:stream/stream-name"
    assert frame.fragment_number == "91343852333289682796718532614445757584843717598"  # kept exact, as text
    assert frame.frame_time == pytest.approx(1510552595.193)
    assert frame.upstream_lag_s == pytest.approx(0.262)
    (face,) = frame.faces
    assert face.box.width == pytest.approx(0.05625) and face.box.top == pytest.approx(0.40833333)
    assert face.pose is not None and face.pose.yaw == pytest.approx(23.84388)
    assert face.sharpness == pytest.approx(96.09025)
    assert face.best_match is not None
    assert face.best_match.external_image_id == "matchedImage.jpeg"
    assert face.best_match.similarity == pytest.approx(88.86396)
    assert camera_id_from_arn(frame.stream_arn) == "stream-name"


def test_scientific_notation_timestamps():
    raw = DOC_RECORD.replace(b"1510552593.193", b"1.605467332479E9").replace(b"1510552593.455", b"1.605467333001E9")
    frame = parse_frame_record(raw)
    assert frame.producer_timestamp == pytest.approx(1605467332.479, abs=1e-6)
    assert frame.frame_time == pytest.approx(1605467334.479, abs=1e-6)
    assert frame.upstream_lag_s == pytest.approx(0.522, abs=1e-6)


def test_empty_matched_faces_is_an_unknown_face():
    doc = record()
    doc["FaceSearchResponse"][0]["MatchedFaces"] = []
    frame = parse_frame_record(json.dumps(doc).encode())
    assert frame.faces[0].best_match is None
    (det,) = detections_of(frame)
    assert det.source["status"] == "unknown"
    assert det.source["identity"] is None and det.source["face_id"] is None


def test_several_matches_group_by_person_and_keep_the_best():
    doc = record()
    match = doc["FaceSearchResponse"][0]["MatchedFaces"][0]
    doc["FaceSearchResponse"][0]["MatchedFaces"] = [
        {**match, "Similarity": 91.0, "Face": {**match["Face"], "ExternalImageId": "emp-1", "FaceId": "a"}},
        {**match, "Similarity": 97.5, "Face": {**match["Face"], "ExternalImageId": "emp-1", "FaceId": "b"}},
        {**match, "Similarity": 93.0, "Face": {**match["Face"], "ExternalImageId": "emp-2", "FaceId": "c"}},
    ]
    face = parse_frame_record(json.dumps(doc).encode()).faces[0]
    assert [(m.external_image_id, m.face_id, m.similarity) for m in face.matches] == [
        ("emp-1", "b", 97.5),
        ("emp-2", "c", 93.0),
    ]
    (det,) = detections_of(parse_frame_record(json.dumps(doc).encode()))
    assert det.source["identity"] == "emp-1" and det.source["status"] == "known"


def test_match_below_threshold_is_not_an_identity():
    doc = record()
    doc["FaceSearchResponse"][0]["MatchedFaces"][0]["Similarity"] = 75.0
    (det,) = detections_of(parse_frame_record(json.dumps(doc).encode()))
    assert det.source["status"] == "unknown" and det.source["identity"] is None
    assert det.source["similarity"] == 75.0


@pytest.mark.parametrize("faces", [None, []])
def test_frame_without_faces_gives_no_documents(faces):
    doc = record()
    if faces is None:
        del doc["FaceSearchResponse"]
    else:
        doc["FaceSearchResponse"] = faces
    frame = parse_frame_record(json.dumps(doc).encode())
    assert frame.faces == () and detections_of(frame) == []


def _broken(mutate) -> bytes:
    doc = record()
    mutate(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"this is not json", "not_json"),
        (b"", "not_json"),
        (b"[1, 2, 3]", "wrong_type"),
        (b'{"FaceSearchResponse": []}', "missing_field"),
        (_broken(lambda d: d["InputInformation"]["KinesisVideo"].pop("StreamArn")), "missing_field"),
        (_broken(lambda d: d["InputInformation"]["KinesisVideo"].update(FragmentNumber=123)), "wrong_type"),
        (_broken(lambda d: d["InputInformation"]["KinesisVideo"].update(ProducerTimestamp="soon")), "wrong_type"),
        (_broken(lambda d: d["InputInformation"]["KinesisVideo"].update(FrameOffsetInSeconds=True)), "wrong_type"),
        (_broken(lambda d: d.update(FaceSearchResponse={"a": 1})), "wrong_type"),
        (_broken(lambda d: d["FaceSearchResponse"][0]["DetectedFace"].pop("BoundingBox")), "missing_field"),
        (_broken(lambda d: d["FaceSearchResponse"][0]["DetectedFace"]["BoundingBox"].update(Width=0)), "invalid_value"),
        (_broken(lambda d: d["FaceSearchResponse"][0]["MatchedFaces"][0].pop("Similarity")), "missing_field"),
        (_broken(lambda d: d["FaceSearchResponse"][0].update(MatchedFaces="none")), "wrong_type"),
        (b"\x00" * 1_000_000, "not_json"),  # a 1 MB blob
        (b" " * (1024 * 1024 + 1), "too_large"),
    ],
)
def test_malformed_records_raise_with_a_reason(data, reason):
    with pytest.raises(RecordError) as err:
        parse_frame_record(data)
    assert err.value.reason == reason
    assert err.value.detail


def test_detection_ids_are_deterministic_and_distinct():
    a = detection_id("arn:cam1", "123", 1.5, 0)
    assert a == detection_id("arn:cam1", "123", 1.5, 0)
    assert a == detection_id("arn:cam1", "123", 1.5000000001, 0)  # the same frame, float noise
    others = {
        detection_id("arn:cam2", "123", 1.5, 0),
        detection_id("arn:cam1", "124", 1.5, 0),
        detection_id("arn:cam1", "123", 2.5, 0),
        detection_id("arn:cam1", "123", 1.5, 1),
    }
    assert a not in others and len(others) == 4


def test_detection_documents_of_the_example():
    frame = parse_frame_record(DOC_RECORD)
    (det,) = detections_of(frame)
    assert det.day == "2017.11.13"
    assert det.source["camera_id"] == "stream-name"
    assert det.source["frame_time"] == 1510552595193
    assert det.source["fragment_number"] == "91343852333289682796718532614445757584843717598"
    assert det.doc_id == det.source["detection_id"] == detection_id(frame.stream_arn, frame.fragment_number, 2.0, 0)
