"""The simulator writes the exact AWS shape, and what it writes parses back to what it meant."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.record import parse_frame_record
from worker.sim.encode import encode_frame, java_double
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of


@pytest.mark.parametrize(
    "value, text",
    [(1605467332.479, "1.605467332479E9"), (1510552593.0, "1.510552593E9"), (12345678.5, "1.23456785E7")],
)
def test_java_double_formats_like_rekognition(value, text):
    assert java_double(value) == text
    assert float(text) == value


def test_records_carry_scientific_notation_and_string_fragments():
    frames = frames_of(build_scenario(ScenarioSpec(cameras=2, duration_s=20, seed=1)))
    raw = encode_frame(frames[0]).decode()
    assert '"ProducerTimestamp":1.' in raw and "E9" in raw
    video = json.loads(raw)["InputInformation"]["KinesisVideo"]
    assert isinstance(video["FragmentNumber"], str) and len(video["FragmentNumber"]) == 47


def test_scenario_is_deterministic_and_has_every_kind_of_visit():
    spec = ScenarioSpec(cameras=4, duration_s=300, seed=5)
    a, b = build_scenario(spec), build_scenario(spec)
    assert [v.truth() for v in a.visits] == [v.truth() for v in b.visits]
    kinds = {v.person.kind for v in a.visits}
    styles = {v.style for v in a.visits}
    assert kinds == {"employee", "visitor"} and styles == {"walk", "linger"}
    assert any(v.hidden for v in a.visits)
    frames = frames_of(a)
    assert [encode_frame(f) for f in frames] == [encode_frame(f) for f in frames_of(b)]
    assert max(len(f.faces) for f in frames) >= 2  # several faces per frame occur
    assert any(len(face.matches) >= 2 for f in frames for face in f.faces)  # several matches per face
    assert any(f.faces and not f.faces[0].matches for f in frames)  # unknown faces


def test_about_one_frame_per_second_per_camera():
    spec = ScenarioSpec(cameras=3, duration_s=60, seed=2)
    frames = frames_of(build_scenario(spec))
    assert len(frames) == 3 * 60
    per_camera = {}
    for f in frames:
        per_camera.setdefault(f.camera.camera_id, []).append(f.frame_time)
    for times in per_camera.values():
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(abs(g - 1.0) < 1e-6 for g in gaps)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cameras=st.integers(1, 4))
def test_every_simulated_frame_round_trips_through_the_parser(seed, cameras):
    for frame in frames_of(build_scenario(ScenarioSpec(cameras=cameras, duration_s=15, seed=seed))):
        parsed = parse_frame_record(encode_frame(frame))
        assert parsed.stream_arn == frame.camera.stream_arn
        assert parsed.fragment_number == frame.fragment_number
        assert parsed.frame_time == pytest.approx(frame.frame_time, abs=1e-6)
        assert len(parsed.faces) == len(frame.faces)
        for got, want in zip(parsed.faces, frame.faces):
            assert got.box.width == pytest.approx(want.box[0])
            people = {m.external_image_id for m in want.matches}
            assert {m.external_image_id for m in got.matches} == people
