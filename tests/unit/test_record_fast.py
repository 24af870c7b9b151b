"""The compiled fast path of the parser against the checked one: it may decline a record, never disagree.

`_fast` (msgspec, one pass in C) must return either None or exactly what `_checked` returns, and None for
every record `_checked` refuses, so the contract (reasons, fields, hostile-input behaviour) stays the
checked parser's. And it must actually take the records Rekognition writes, or it buys nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from test_batch_hostile import T0, records_strategy, valid_records

from worker.core.record import RecordError, _checked, _fast, parse_frame_record
from worker.sim.encode import encode_frame
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of

FIXTURES = Path(__file__).parent.parent / "fixtures"
ARRIVAL_MS = int((T0 + 30.0) * 1000)


def verdict(data: bytes, arrival_ms: int | None) -> object:
    try:
        return _checked(data, arrival_ms)
    except RecordError as exc:
        return ("refused", exc.reason, exc.field)


def assert_agree(data: bytes, arrival_ms: int | None = ARRIVAL_MS) -> None:
    fast, checked = _fast(data, arrival_ms), verdict(data, arrival_ms)
    if isinstance(checked, tuple):
        assert fast is None, f"fast path accepted a record the contract refuses: {checked}"
    elif fast is not None:
        assert fast == checked


@given(records_strategy)
def test_fast_path_never_disagrees_with_the_checked_parser(data: bytes) -> None:
    assert_agree(data)
    assert_agree(data, None)


@given(valid_records())
def test_fast_path_takes_every_valid_record_of_rekognitions_shape(doc: dict) -> None:
    data = orjson.dumps(doc)
    assert _fast(data, ARRIVAL_MS) is not None
    assert _fast(data, ARRIVAL_MS) == _checked(data, ARRIVAL_MS)


@pytest.mark.parametrize("path", sorted((FIXTURES / "hostile").glob("*.json")), ids=lambda p: p.stem)
def test_fast_path_agrees_on_the_corpus_of_worst_cases(path: Path) -> None:
    assert_agree(path.read_bytes())
    assert_agree(path.read_bytes(), None)


def test_fast_path_takes_the_aws_documented_record_and_the_simulators() -> None:
    aws = (FIXTURES / "aws_doc_record.json").read_bytes()
    assert _fast(aws, None) is not None and _fast(aws, None) == _checked(aws, None)
    spec = ScenarioSpec(cameras=4, duration_s=60, seed=3, start=T0)
    for frame in frames_of(build_scenario(spec)):
        data = encode_frame(frame)
        arrival = round(frame.frame_time * 1000) + 500
        assert _fast(data, arrival) == _checked(data, arrival)
        assert _fast(data, arrival) is not None


def test_a_producers_extra_field_is_still_parsed_by_the_checked_path() -> None:
    doc = json.loads((FIXTURES / "aws_doc_record.json").read_bytes())
    doc["InputInformation"]["KinesisVideo"]["CameraModel"] = {"vendor": "x", "nested": [[1, 2]]}
    doc["FaceSearchResponse"][0]["DetectedFace"]["Emotions"] = [{"Type": "CALM"}]
    data = orjson.dumps(doc)
    assert _fast(data, None) is None  # an unknown key: the schema no longer bounds the nesting
    parsed = parse_frame_record(data)
    assert parsed == _checked(orjson.dumps(json.loads((FIXTURES / "aws_doc_record.json").read_bytes())), None)


def test_duplicate_keys_mean_the_same_on_both_paths() -> None:
    doc = (FIXTURES / "aws_doc_record.json").read_bytes()
    data = doc.replace(b'"FrameOffsetInSeconds"', b'"FrameOffsetInSeconds": 25.0, "FrameOffsetInSeconds"', 1)
    assert data != doc
    assert_agree(data, None)
    data = doc.replace(b'"FrameOffsetInSeconds"', b'"FrameOffsetInSeconds": 1.5, "FrameOffsetInSeconds"', 1)
    data = data.replace(b'"FaceSearchResponse"', b'"FaceSearchResponse": "x", "FaceSearchResponse"', 1)
    assert_agree(data, None)
