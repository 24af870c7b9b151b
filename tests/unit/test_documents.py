"""The document types and the index mappings agree field by field, and what the builders really write
(a simulated day through the real batch path) is exactly what the types declare."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import pytest

from worker.documents import FAMILY_DOCUMENTS, CameraStateSource, ShardProgressSource
from worker.model import RawRecord
from worker.sim.encode import encode_frame
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of
from worker.sinks.templates import FAMILIES


def _typed_dict(annotation: Any) -> type | None:
    """The TypedDict inside `X`, `X | None` or `list[X]`, if any."""
    if typing.is_typeddict(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        if arg is not type(None) and (found := _typed_dict(arg)) is not None:
            return found
    return None


def _compare(types_: tuple[type, ...], mapping: dict[str, Any], where: str) -> list[str]:
    hints: dict[str, Any] = {}
    for cls in types_:
        hints.update(typing.get_type_hints(cls))
    problems = [f"{where}.{k}: in the mapping, not in the type" for k in mapping if k not in hints]
    problems += [f"{where}.{k}: in the type, not in the mapping" for k in hints if k not in mapping]
    for key in set(hints) & set(mapping):
        nested = _typed_dict(hints[key])
        properties = mapping[key].get("properties")
        if nested is not None and properties is not None:
            problems += _compare((nested,), properties, f"{where}.{key}")
        elif properties is not None:
            problems.append(f"{where}.{key}: the mapping has properties, the type is {hints[key]}")
    return problems


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_document_type_declares_exactly_the_fields_of_its_mapping(family):
    assert _compare(FAMILY_DOCUMENTS[family], FAMILIES[family], family) == []


KIND_OF_STATE = {"camera_state": CameraStateSource, "shard_progress": ShardProgressSource}


def _required(cls: type) -> set[str]:
    return set(getattr(cls, "__required_keys__", set()))


def test_what_the_batch_path_writes_fits_the_document_types(make_pipeline):
    spec = ScenarioSpec(cameras=3, duration_s=90, seed=3, watchlist=1, watchlist_share=0.3)
    frames = frames_of(build_scenario(spec))
    cameras = json.dumps(
        [
            {"id": f.camera.camera_id, "stream_arn": f.camera.stream_arn, "site": "hq"}
            for f in {f.camera.stream_arn: f for f in frames}.values()
        ]
    )
    pipeline = make_pipeline({"FACEWATCH_CAMERAS": cameras})
    records = [
        RawRecord(encode_frame(f), str(10_000 + i), "pk", int(f.server_timestamp * 1000)) for i, f in enumerate(frames)
    ]
    for start in range(0, len(records), 50):
        pipeline.handler.handle(records[start : start + 50])
        pipeline.handler.flush()
    pipeline.handler.heartbeat()
    pipeline.handler.flush()
    seen: dict[str, int] = {}
    for (index, _), doc in pipeline.opensearch.docs.items():
        family = index[len("ut-") :].split("-", 1)[0]
        cls = KIND_OF_STATE[doc["kind"]] if family == "cameras" else FAMILY_DOCUMENTS[family][0]
        hints = typing.get_type_hints(cls)
        assert set(doc) <= set(hints), f"{family}: {set(doc) - set(hints)} not declared"
        assert _required(cls) <= set(doc), f"{family}: {_required(cls) - set(doc)} missing"
        seen[family] = seen.get(family, 0) + 1
    assert {"detections", "tracks", "alerts", "cameras"} <= set(seen), seen


def test_the_union_types_are_what_python_sees():
    # A guard against a future annotation the comparison above cannot read (e.g. a string forward ref).
    for kinds in FAMILY_DOCUMENTS.values():
        for cls in kinds:
            for name, hint in typing.get_type_hints(cls).items():
                assert not isinstance(hint, (str, typing.ForwardRef)), (cls, name)
                assert hint is not types.NoneType, (cls, name)
