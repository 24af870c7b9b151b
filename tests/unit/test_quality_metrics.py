"""The scoring of the quality benchmark (bench/quality.py) on tiny hand-built inputs."""

from __future__ import annotations

import importlib
import math
import random
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from worker.core.tracker import Track, TrackerParams
from worker.sim.scenario import Person, preset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
quality = importlib.import_module("quality")

CAM = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-01/1600000000001"
BOX_A = (0.1, 0.1, 0.1, 0.12)
BOX_B = (0.6, 0.1, 0.1, 0.12)


def frames(*rows):
    """rows of [(detection id, visit id, box), ...], one row per frame of camera CAM."""
    return [(CAM, list(row)) for row in rows]


def summary(frame_rows, hypothesis_of):
    return quality.mot_summary(quality.mot_partials(quality.accumulate(frame_rows, hypothesis_of).values()))


def test_iou_distance_is_one_minus_iou_and_nan_beyond_half():
    d = quality.iou_distance([BOX_A, BOX_B], [BOX_A, (0.15, 0.1, 0.1, 0.12), BOX_B])
    assert d[0, 0] == pytest.approx(0.0) and d[1, 2] == pytest.approx(0.0)
    assert math.isnan(d[0, 2]) and math.isnan(d[1, 0])
    assert math.isnan(d[0, 1])  # half a box to the side: IoU 1/3, distance 2/3 > 0.5
    assert quality.iou_distance([(0, 0, 1, 1)], [(0, 0, 1, 0.6)])[0, 0] == pytest.approx(0.4)
    assert quality.iou_distance([BOX_A], []).shape == (1, 0)
    assert quality.iou_distance([], [BOX_A]).shape == (0, 1)


def test_perfect_tracks_score_one():
    rows = frames(*[[(f"a{i}", "A", BOX_A), (f"b{i}", "B", BOX_B)] for i in range(4)])
    hyp = {f"a{i}": "t1" for i in range(4)} | {f"b{i}": "t2" for i in range(4)}
    s = summary(rows, hyp)
    assert (s["idf1"], s["mota"], s["id_switches"], s["fragmentations"]) == (1.0, 1.0, 0, 0)


def test_tracks_swapping_visits_give_id_switches_and_lower_idf1():
    rows = frames(*[[(f"a{i}", "A", BOX_A), (f"b{i}", "B", BOX_B)] for i in range(4)])
    # t1 follows A for two frames, then B; t2 the other way round.
    hyp = {"a0": "t1", "a1": "t1", "a2": "t2", "a3": "t2", "b0": "t2", "b1": "t2", "b2": "t1", "b3": "t1"}
    s = summary(rows, hyp)
    assert s["id_switches"] == 2
    assert s["idf1"] == pytest.approx(0.5)  # each track matches its visit in half of its faces
    assert s["mota"] == pytest.approx(1 - 2 / 8)


def test_tentative_faces_are_misses_and_a_gap_is_a_fragmentation():
    rows = frames(*[[(f"a{i}", "A", BOX_A)] for i in range(4)])
    hyp = {"a0": "t1", "a1": "t1", "a3": "t1"}  # a2 is in a track that never confirmed
    s = summary(rows, hyp)
    assert s["fragmentations"] == 1
    assert s["id_switches"] == 0
    assert s["mota"] == pytest.approx(0.75)
    assert s["mot_counts"]["num_misses"] == 1
    assert s["idf1"] == pytest.approx(2 * 3 / (4 + 3), abs=1e-5)


def test_overall_idf1_comes_from_summed_counts_not_an_average():
    small = quality.mot_partials(quality.accumulate(frames([("a0", "A", BOX_A)]), {}).values())  # IDF1 0
    rows = frames(*[[(f"b{i}", "B", BOX_B)] for i in range(9)])
    big = quality.mot_partials(quality.accumulate(rows, {f"b{i}": "t" for i in range(9)}).values())  # IDF1 1
    s = quality.mot_summary(small + big)
    assert s["idf1"] == pytest.approx(2 * 9 / (10 + 9), abs=1e-5)
    assert s["idf1"] != pytest.approx(0.5)


def test_hypotheses_are_only_faces_of_confirmed_tracks():
    tracks = {"t1": _track("t1", ["d1"], confirmed=True), "t2": _track("t2", ["d2"], confirmed=False)}
    assert quality.hypotheses(tracks, {"d1": "t1", "d2": "t2", "d3": "gone"}) == {"d1": "t1"}


def _track(track_id, dets, confirmed=True, named=None):
    return Track(
        track_id=track_id,
        stream_arn=CAM,
        first_seen=0.0,
        last_seen=1.0,
        centre=(0.5, 0.5),
        width=0.1,
        votes={named: 1.0} if named else {},
        best_similarity={named: 95.0} if named else {},
        detection_ids=list(dets),
        confirmed=confirmed,
    )


def _scenario(*visits):
    people = {
        "emp": Person("emp-0001", "employee", ("f",)),
        "v1": Person("visitor-00001", "visitor", ()),
        "v2": Person("visitor-00002", "visitor", ()),
        "v3": Person("visitor-00003", "visitor", ()),
    }
    return SimpleNamespace(visits=[SimpleNamespace(visit_id=v, person=people[p]) for v, p in visits])


def test_a_visitor_inside_an_employee_named_track_is_stolen():
    scenario = _scenario(("E", "emp"), ("V1", "v1"), ("V2", "v2"), ("V3", "v3"))
    truth = {"e1": "E", "e2": "E", "x1": "V1", "x2": "V1", "x3": "V1", "y1": "V2", "z1": "V3"}
    tracks = {
        "t-emp": _track("t-emp", ["e1", "e2", "x1", "x2"], named="emp-0001"),  # V1 mostly here: stolen
        "t-v1": _track("t-v1", ["x3"]),
        "t-v2": _track("t-v2", ["y1"]),  # V2 in an unnamed track: fine
        "t-v3": _track("t-v3", ["z1"], confirmed=False),  # V3 never a sighting: not counted
    }
    counts = quality.score(scenario, truth, tracks)
    assert (counts["visitor_visits"], counts["visitor_visits_stolen"]) == (2, 1)
    assert counts["employee_visits_named"] == 1
    assert counts["merged_tracks"] == 1
    assert quality.summarise(counts)["stolen_identity_rate"] == 0.5


def _result(stolen=0.0, **kw):
    return {
        "tracks_per_visit": 1.0,
        "false_merge_rate": 0.0,
        "identity_accuracy": 1.0,
        "idf1": 1.0,
        "stolen_identity_rate": stolen,
        "tracker_faces_per_s": 50000,
    } | kw


def test_targets_are_checked_in_every_scenario_and_tailgating_allows_no_theft():
    overall = _result(0.0005)
    met = quality.check_targets(overall, {"lobby": _result(0.001), "tailgating_door": _result(0.001)}, 0.5)
    assert met["stolen_identity_rate"] and not met["stolen_identity_rate_tailgating"]
    met = quality.check_targets(overall, {"lobby": _result(0.001, idf1=0.97), "tailgating_door": _result()}, 2.0)
    assert met["stolen_identity_rate_tailgating"]
    assert not met["idf1"] and not met["frame_4000_faces_s"]
    assert quality.check_targets(overall, {"lobby": _result()}, None)["frame_4000_faces_s"] is None


def test_track_all_maps_every_detection_to_a_live_track_after_absorption():
    _, _, records, truth = quality.records_and_truth(preset("hidden", cameras=1, duration_s=40, seed=5))
    tracks, _, ends_in = quality.track_all(records, TrackerParams())
    assert set(ends_in) == set(truth)
    assert set(ends_in.values()) == set(tracks)
    for d, t in ends_in.items():
        assert d in tracks[t].detection_ids


def test_scale_frame_is_a_dense_grid_inside_the_frame():
    frame = quality.crowd_frame(400, 1_767_225_600.0, random.Random(1), "1")
    assert len(frame.faces) == 400
    assert all(f.box.left > -0.01 and f.box.left + f.box.width < 1.01 for f in frame.faces)
    assert all(0.009 < f.box.width < 0.011 for f in frame.faces)
    seconds, open_tracks = quality.scale_frame_s(100, TrackerParams())
    assert open_tracks == 100 and seconds >= 0.0
