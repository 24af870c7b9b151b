"""The simulator writes the exact AWS shape, and what it writes parses back to what it meant."""

from __future__ import annotations

import itertools
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
        gaps = [b - a for a, b in itertools.pairwise(times)]
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
        for got, want in zip(parsed.faces, frame.faces, strict=True):
            assert got.box.width == pytest.approx(want.box[0])
            people = {m.external_image_id for m in want.matches}
            assert {m.external_image_id for m in got.matches} == people


def test_a_day_in_windows_has_frames_only_inside_them_and_every_kind_of_person():
    windows = ((0.0, 60.0, 8.0), (3600.0, 60.0, 8.0))
    spec = ScenarioSpec(
        cameras=3,
        seed=4,
        windows=windows,
        watchlist=2,
        watchlist_share=0.2,
        glance_share=0.3,
        poor_frame_share=0.1,
        restricted={"cam-01": ("emp-0001",)},
        intruder_share=0.5,
    )
    scenario = build_scenario(spec)
    frames = frames_of(scenario)
    assert all(any(spec.start + s <= f.frame_time < spec.start + s + n + 1 for s, n, _ in windows) for f in frames)
    assert {round(f.frame_time - spec.start) // 3600 for f in frames} == {0, 1}
    assert {v.person.kind for v in scenario.visits} == {"employee", "visitor", "watchlist"}
    assert all(v.person.person_id.startswith("wl_") for v in scenario.visits if v.person.kind == "watchlist")
    faces = [(face, {v.visit_id: v for v in scenario.visits}[face.visit_id]) for f in frames for face in f.faces]
    glancing = [face for face, visit in faces if visit.glancing]
    assert glancing and all(face.poor for face in glancing)  # a glancing visit never shows a usable face
    assert all(abs(face.pose[2]) > 45 or face.sharpness < 16 for face in glancing)
    good = [face for face, _ in faces if not face.poor]
    assert good and all(abs(face.pose[2]) <= 35 and face.sharpness >= 30 for face in good)
    lab = [v for v in scenario.visits if v.camera.camera_id == "cam-01" and v.person.kind == "employee"]
    assert {v.person.person_id == "emp-0001" for v in lab} == {True, False}  # staff and intruders
