"""The tracker on the motion real crowds show at ~1 analysed frame per second, with hand-built frames.

Each case is one failure seen on real pedestrian trajectories (issue 20): a column of three entering
together, a visitor tailgating an employee, a fast crossing. Each failed on the cheapest-pairs-first
tracker; the comments give the numbers in face widths (w).
"""

from __future__ import annotations

import math
import random
import time

import pytest
from test_tracker import run  # pytest puts tests/unit on sys.path (no package): the shared frame loop

from worker.core.alerts import AlertEngine, AlertRules, QualityGate
from worker.core.cameras import CameraRegistry
from worker.core.detections import detection_id
from worker.core.record import BoundingBox, DetectedFace, FaceMatch, FrameRecord, Pose
from worker.core.tracker import CameraTracker, Track, Tracker, TrackerParams
from worker.sim.encode import encode_frame
from worker.sim.scenario import build_scenario, frames_of, preset

CAM = "arn:aws:kinesisvideo:us-east-1:1:stream/cam-a/1"
T0 = 1_767_225_600.0
W = 0.05  # face width, share of the frame


def face(i: int, cx: float, cy: float = 0.5, w: float = W, who: str | None = None, sim: float = 95.0) -> DetectedFace:
    matches = (FaceMatch(who, f"fid-{who}", sim),) if who else ()
    box = BoundingBox(w, w * 1.25, cx - w / 2, cy - w * 0.625)
    return DetectedFace(i, box, 99.0, Pose(0.0, 0.0, 0.0), 60.0, 80.0, matches)


def frame(t: float, *faces: DetectedFace) -> FrameRecord:
    start = T0 + 2.0 * int((t - T0) // 2.0)
    return FrameRecord(CAM, f"{int(start * 1000):047d}", start, start + 0.5, round(t - start, 3), tuple(faces))


def owners(frames: list[FrameRecord], truth: dict[str, str]) -> tuple[dict[str, Track], dict[str, set[str]]]:
    """Run the frames; the final tracks, and the people whose faces each track holds."""
    _, tracks = run(frames)
    people = {tid: {truth[d] for d in t.detection_ids} for tid, t in tracks.items()}
    return tracks, people


def build(people: dict[str, list[tuple[int, float, float, str | None]]]) -> tuple[list[FrameRecord], dict[str, str]]:
    """people: name -> [(second, cx, cy, identity)]; one frame per second with everybody then visible."""
    seconds = sorted({s for obs in people.values() for s, *_ in obs})
    frames, truth = [], {}
    for s in seconds:
        here = [(name, cx, cy, who) for name, obs in people.items() for (t, cx, cy, who) in obs if t == s]
        faces = [face(i, cx, cy, who=who) for i, (_, cx, cy, who) in enumerate(here)]
        f = frame(T0 + s, *faces)
        for i, (name, *_) in enumerate(here):
            truth[detection_id(f.stream_arn, f.fragment_number, f.frame_offset_s, i)] = name
        frames.append(f)
    return frames, truth


def assert_one_track_each(tracks: dict[str, Track], people: dict[str, set[str]], names: set[str]) -> None:
    confirmed = {tid: who for tid, who in people.items() if tracks[tid].confirmed}
    assert all(len(who) == 1 for who in confirmed.values()), f"a track mixes people: {confirmed}"
    assert sorted(next(iter(who)) for who in confirmed.values()) == sorted(names), confirmed


def test_a_column_of_three_entering_at_two_widths_per_frame_is_three_tracks():
    # 2 w apart, 2 w per frame: at the second frame each person stands where the one in front stood.
    speed, gap = 2 * W, 2 * W
    people = {
        name: [(s, 0.20 + k * -gap + s * speed, 0.5, who) for s in range(6)]
        for k, (name, who) in enumerate([("emp-a", "emp-a"), ("visitor-b", None), ("visitor-c", None)])
    }
    frames, truth = build(people)
    tracks, owned = owners(frames, truth)
    assert_one_track_each(tracks, owned, set(people))
    named = {next(iter(owned[tid])): t.identity()[0] for tid, t in tracks.items() if t.confirmed}
    assert named == {"emp-a": "emp-a", "visitor-b": None, "visitor-c": None}


def test_a_tailgater_close_behind_an_employee_gets_an_unknown_track_and_an_alert():
    # The visitor comes in 1.5 w behind, a frame later, at the employee's 2 w per frame.
    speed = 2 * W
    people = {
        "emp-a": [(s, 0.15 + s * speed, 0.5, "emp-a") for s in range(7)],
        "visitor-b": [(s, 0.15 - 1.5 * W + s * speed, 0.5, None) for s in range(1, 7)],
    }
    frames, truth = build(people)
    tracks, owned = owners(frames, truth)
    assert_one_track_each(tracks, owned, set(people))
    visitor = next(t for tid, t in tracks.items() if owned[tid] == {"visitor-b"} and t.confirmed)
    assert visitor.identity()[0] is None and visitor.matched == 0
    # and the rule that exists for this raises an unknown-face alert for the visitor's track
    tracker = Tracker()
    engine = AlertEngine(AlertRules(), CameraRegistry([]), "wl_")
    alerts = [a for f in frames for a in engine.on_frame(f, tracker.observe(f))]
    unknown = [a for a in alerts if a.rule == "unknown_face"]
    assert len(unknown) == 1 and unknown[0].identity is None


def test_a_visitor_stepping_into_an_employees_first_place_is_not_given_the_employees_name():
    # The employee's first face opens a track; a frame later the visitor stands 0.5 w from that place while
    # the employee, recognised, has moved 4 w on and opens a track of its own. One person is not in two
    # places: once that track is seen again, the run of unmatched faces is split off the first track.
    people = {
        "emp-a": [(0, 0.30, 0.5, "emp-a")] + [(s, 0.30 + 4 * W + (s - 1) * 2 * W, 0.5, "emp-a") for s in range(1, 5)],
        "visitor-b": [(s, 0.30 + s * 0.5 * W, 0.5, None) for s in range(1, 5)],
    }
    frames, truth = build(people)
    tracks, owned = owners(frames, truth)
    confirmed = {next(iter(owned[tid])): t for tid, t in tracks.items() if t.confirmed and len(owned[tid]) == 1}
    assert {tid for tid, t in tracks.items() if t.confirmed and len(owned[tid]) > 1} == set()
    assert confirmed["visitor-b"].identity()[0] is None and confirmed["visitor-b"].hits == 4
    assert confirmed["emp-a"].identity()[0] == "emp-a"


def test_a_newcomer_where_a_walker_stood_a_frame_ago_is_priced_walking_like_the_walker():
    # The walker's first face is at 0 w; a frame later it is at 2.4 w and the second person appears at 0.5 w,
    # in the same lane, then both walk at ~2 w per frame. At the next frame the relink weighs "the second
    # person joined the walker's track" against "the walker did, and the second person is new": priced
    # standing still, the newcomer seemed to have taken the walker's place and both hypotheses broke up.
    walker = [0, 2.4, 4.6, 6.8, 9.0]
    follower = [0.5, 2.4, 4.5, 6.6]
    people = {
        "walker": [(s, 0.15 + x * W, 0.5, None) for s, x in enumerate(walker)],
        "follower": [(s + 1, 0.15 + x * W, 0.5, None) for s, x in enumerate(follower)],
    }
    frames, truth = build(people)
    tracks, owned = owners(frames, truth)
    assert_one_track_each(tracks, owned, set(people))
    assert sorted(t.hits for t in tracks.values() if t.confirmed) == [4, 5]


def test_a_fast_crossing_keeps_both_people_apart():
    # Positions in face widths. The fast walker speeds up from 1.5 to 2.1 w per frame just as the slower
    # one, coming the other way, passes 0.6 w beside its path; neither is ever recognised.
    fast = [(2.0, 0.08), (3.63, -0.19), (5.17, 0.01), (6.65, 0.04), (8.12, 0.04), (9.59, -0.05), (11.69, 0.04)]
    fast += [(13.27, -0.02), (15.42, -0.11)]
    slow = [(14.59, 0.69), (13.99, 0.64), (13.49, 0.5), (12.89, 0.84), (12.44, 0.58), (11.83, 0.31), (11.16, 0.62)]
    slow += [(10.63, 0.77), (10.19, 0.48)]
    people = {
        name: [(s, x * W, 0.5 + y * W, None) for s, (x, y) in enumerate(path)]
        for name, path in (("fast", fast), ("slow", slow))
    }
    frames, truth = build(people)
    tracks, owned = owners(frames, truth)
    assert_one_track_each(tracks, owned, set(people))
    assert all(t.hits == 9 for t in tracks.values() if t.confirmed)


def _projected(x: float, y: float, z: float, focal: float = 1.6) -> tuple[float, float, float]:
    """Image centre and face width of a head (0.16 m wide) at (x, y, z) m from a pinhole camera looking along z."""
    return 0.5 + focal * x / z, 0.5 + focal * y / z, focal * 0.16 / z


def _door_walk(x0: float, x1: float, lag_m: float, speed: float) -> list[tuple[int, float, float, float]]:
    """(second, cx, cy, width) of somebody walking straight from 14 m to 1.6 m before the camera, from x0 to x1
    m beside its axis, 0.25 m above it, at `speed` m/s, `lag_m` behind a walker who starts at second 0."""
    length = math.hypot(x1 - x0, 1.6 - 14.0)
    out = []
    for s in range(30):
        d = s * speed - lag_m
        if 0.0 <= d <= length:
            cx, cy, w = _projected(x0 + (x1 - x0) * d / length, -0.25, 14.0 + (1.6 - 14.0) * d / length)
            if 0.0 < cx < 1.0:
                out.append((s, cx, cy, w))
    return out


def test_a_face_walking_straight_at_the_camera_is_predicted_where_the_camera_sees_it():
    # Off the camera's axis, a face nearing it grows ever faster and slides away from the image centre as it
    # grows; the last step here is ~4 face widths. Two faces give the motion, and every later one is where
    # the prediction puts it (a constant image velocity missed the last ones by 1-3 face widths).
    walk = _door_walk(3.0, -0.6, 0.0, 1.5)
    camera = CameraTracker(CAM, TrackerParams())
    (s0, x, y, w), rest = walk[0], walk[1:]
    track = Track("t", CAM, T0 + s0, T0 + s0, (x, y), w, (x, y), w)
    camera._apply(track, face(0, x, y, w=w), T0 + s0, "f", 0.0)
    for i, (s, x, y, w) in enumerate(rest):
        if i >= 1:
            px, py, pw = camera._predict(track, T0 + s)
            assert math.hypot(px - x, py - y) / w < 1e-6 and abs(pw / w - 1.0) < 1e-6, (s, px, x, pw, w)
        camera._apply(track, face(0, x, y, w=w), T0 + s, "f", 0.0)


@pytest.mark.parametrize("x0, x1", [(-3.0, -0.6), (-3.0, 0.6), (3.0, -0.6), (3.0, 0.6), (-1.5, 0.6), (1.5, -0.6)])
@pytest.mark.parametrize("gap_m, speed", [(0.8, 1.2), (0.8, 1.5), (1.2, 1.5)])
def test_a_tailgater_walking_to_a_door_camera_behind_an_employee_stays_apart_to_the_door(x0, x1, gap_m, speed):
    # Both on one straight line from 14 m to 1.6 m before the camera, the visitor gap_m behind. Near the
    # camera each step is several face widths and the visitor steps where the employee was predicted to be:
    # with a constant image velocity the employee's track took the visitor's last faces.
    people = {"emp-a": (_door_walk(x0, x1, 0.0, speed), "emp-a"), "visitor-b": (_door_walk(x0, x1, gap_m, speed), None)}
    frames, truth = [], {}
    for s in sorted({s for walk, _ in people.values() for s, *_ in walk}):
        here = [(name, cx, cy, w, who) for name, (walk, who) in people.items() for (t, cx, cy, w) in walk if t == s]
        f = frame(T0 + s, *(face(i, cx, cy, w=w, who=who) for i, (_, cx, cy, w, who) in enumerate(here)))
        for i, (name, *_) in enumerate(here):
            truth[detection_id(f.stream_arn, f.fragment_number, f.frame_offset_s, i)] = name
        frames.append(f)
    tracks, owned = owners(frames, truth)
    assert_one_track_each(tracks, owned, set(people))


def test_a_walker_who_turns_sharply_just_before_the_camera_stays_one_track_unless_another_face_could_be_them():
    # Nearing the camera (the face grows ~50 % a frame), the walker turns: the last face is 5 face widths
    # beside the straight path, beyond any gate. Nobody else is there, so it is the walker, as one track.
    walk = _door_walk(1.5, 0.0, 0.0, 1.4)
    s, x, y, w = walk[-1]
    turned = [frame(T0 + t, face(0, cx, cy, w=cw)) for t, cx, cy, cw in walk[:-1]]
    _, tracks = run([*turned, frame(T0 + s, face(0, x - 5 * w, y, w=w))])
    assert sorted(t.hits for t in tracks.values()) == [len(walk)]
    # With a newcomer in the same frame as far on the other side, either face could be the walker: the far
    # second chance stands back, and each starts a track.
    _, tracks = run([*turned, frame(T0 + s, face(0, x - 5 * w, y, w=w), face(1, x + 4 * w, y + 0.5 * w, w=w))])
    assert sorted(t.hits for t in tracks.values()) == [1, 1, len(walk) - 1]


def _tailgaters_seen_whole(params: TrackerParams) -> tuple[int, int]:
    """(tailgaters with 3+ faces past the alert quality gate, those of them whose faces include 3 such in one
    confirmed unnamed track: what the unknown-face alert needs) in a PySocialForce tailgating scene."""
    from worker.core.record import parse_frame_record

    scenario = build_scenario(preset("tailgating", cameras=8, duration_s=600, seed=3))
    truth: dict[str, str] = {}
    tracker, tracks = Tracker(params), {}
    gate, passed = QualityGate(), set()
    for sim in frames_of(scenario):
        record = parse_frame_record(encode_frame(sim))
        for i, (sim_face, parsed) in enumerate(zip(sim.faces, record.faces, strict=True)):
            det = detection_id(record.stream_arn, record.fragment_number, record.frame_offset_s, i)
            truth[det] = sim_face.visit_id
            if gate.passes(parsed):
                passed.add(det)
        result = tracker.observe(record)
        for t in result.touched + result.closed:
            tracks[t.track_id] = t
        for t in result.absorbed:
            tracks.pop(t.track_id, None)
    tailgaters = {v.visit_id for v in scenario.visits if v.style == "tailgate" and v.person.kind == "visitor"}
    due = {v for v in tailgaters if sum(1 for d in passed if truth[d] == v) >= 3}
    whole = {
        v
        for t in tracks.values()
        if t.confirmed and t.identity()[0] is None
        for v in due
        if sum(1 for d in t.detection_ids if d in passed and truth[d] == v) >= 3
    }
    return len(due), len(whole)


def test_a_tailgater_who_turns_where_the_employee_turned_keeps_one_track():
    # PySocialForce walkers through speed gates: most leave by a side corridor, turning 2-6 face widths a
    # frame near the camera, the visitor a second behind the employee. No constant velocity follows the
    # turn, and with two candidates the far second chance stands back: the visitor's best faces broke
    # into one-face tracks, and no unknown-face alert. Where people walked lately (path memory) leads the
    # visitor through the turn.
    due, whole = _tailgaters_seen_whole(TrackerParams())
    _, without = _tailgaters_seen_whole(TrackerParams(path_memory_s=0))
    assert due > 40
    assert whole >= without + 3, (due, whole, without)
    assert whole >= 0.9 * due, (due, whole)


def test_path_memory_forgets_what_a_quiet_camera_saw_as_a_replay_from_its_quiet_point_would():
    # A rewind restarts a camera empty at a quiet point (no face for longer than a track stays open):
    # the live tracker must be in that state there too, remembering no path.
    params = TrackerParams()
    camera = CameraTracker(CAM, params)
    walk = [(s, 0.3 + 0.06 * s, 0.5, 0.04) for s in range(6)]
    for s, x, y, w in walk:
        camera.observe(frame(T0 + s, face(0, x, y, w=w)))
    assert len(camera.paths) > 0
    quiet = params.max_gap_s + params.stitch_wait_s
    camera.observe(frame(T0 + 5 + quiet - 0.5, face(0, 0.5, 0.5)))  # a pause shorter than that: kept
    assert len(camera.paths) > 0
    camera.observe(frame(T0 + 5 + 2 * quiet, face(0, 0.5, 0.5)))
    assert len(camera.paths) == 0


def _three_walkers(camera: CameraTracker, seconds: range) -> None:
    for s in seconds:  # three people a frame, each stepping 1.25 face widths: three steps remembered a second
        walkers = [face(i, 0.05 + 0.05 * (s % 18), 0.2 + 0.3 * i, w=0.04) for i in range(3)]
        camera.observe(frame(T0 + s, *walkers))


def test_path_memory_keeps_only_its_horizon_and_capacity():
    camera = CameraTracker(CAM, TrackerParams(path_memory_s=10.0, path_memory_max=1000))
    _three_walkers(camera, range(40))
    ends = [step.end for step in camera.paths]
    assert ends and min(ends) >= max(ends) - 10.0 and len(ends) < 3 * 12  # (forgotten as steps are added)
    camera = CameraTracker(CAM, TrackerParams(path_memory_s=120.0, path_memory_max=8))
    _three_walkers(camera, range(40))
    assert len(camera.paths) == 8


def test_path_memory_handed_over_at_any_frame_evicts_and_decides_as_the_live_one():
    # Full memory, several steps a frame: which step goes first is the order they were added, which a
    # new owner must keep (sorting them by time evicted other steps than the live tracker did).
    import orjson

    from worker.core.track_docs import camera_state, track_from_snapshot
    from worker.source.tracking import _path_steps

    params = TrackerParams(path_memory_max=7)
    live, handed = CameraTracker(CAM, params), CameraTracker(CAM, params)
    _three_walkers(live, range(30))
    _three_walkers(handed, range(30))
    for s in range(30, 60):
        state = orjson.loads(orjson.dumps(camera_state(handed, "cam-a", "shard-0", {})))
        handed = CameraTracker(CAM, params)
        tracks = [track_from_snapshot(entry) for entry in state["open_tracks"]]
        handed.restore(tracks, state["applied_until"] / 1000.0, state["previous_t"], _path_steps(state))
        _three_walkers(live, range(s, s + 1))
        _three_walkers(handed, range(s, s + 1))
        assert len(live.paths) == 7
        assert list(handed.paths) == list(live.paths), s


@pytest.mark.parametrize(
    "steps",
    [
        [[1.0, 2.0]],  # too short
        [["x"] * 11],  # not numbers
        [None, 3, "steps", {"start": 1.0}],  # not lists
        [[1.0, 2.0, 0.5, 0.5, 0.0, 0.6, 0.5, 0.04, 0.0, 0.0, "t"]],  # a zero width
        [[2.0, 2.0, 0.5, 0.5, 0.04, 0.6, 0.5, 0.04, 0.0, 0.0, "t"]],  # no time taken
        [[1.0, 2.0, float("nan"), 0.5, 0.04, 0.6, 0.5, 0.04, 0.0, 0.0, "t"]],
        [[1.0, 2.0, 1e300, 0.5, 0.04, 0.6, 0.5, 0.04, 0.0, 0.0, "t"]],
        [[1.0, 2.0, True, 0.5, 0.04, 0.6, 0.5, 0.04, 0.0, 0.0, "t"]],
    ],
)
def test_a_malformed_remembered_step_is_left_out_and_the_camera_goes_on(steps):
    camera = CameraTracker(CAM, TrackerParams())
    camera.restore([], 0.0, 0.0, steps)
    assert len(camera.paths) == 0
    _three_walkers(camera, range(5))  # and tracking goes on
    assert len(camera.open) == 3


def test_a_camera_state_with_malformed_paths_restores_no_path():
    from worker.source.tracking import _path_steps

    for paths in (None, [], "x", {"steps": None}, {"steps": 3}, {}):
        assert _path_steps({"paths": paths}) == []
    assert _path_steps({}) == []
    assert _path_steps({"paths": {"steps": [[1]]}}) == [[1]]  # (each step is checked by restore)
    # the compact form: each step's last element an index into `tracks`
    row = [1.0, 2.0, 0.5, 0.5, 0.04, 0.6, 0.5, 0.04, 0.0, 0.0]
    assert _path_steps({"paths": {"tracks": ["a", "b"], "steps": [[*row, 1], [*row, 0]]}}) == [
        [*row, "b"],
        [*row, "a"],
    ]
    for tracks, index in ((["a"], 1), (["a"], -1), (["a"], True), (["a"], "a"), ([3], 0), ("a", 0), (None, 0)):
        assert _path_steps({"paths": {"tracks": tracks, "steps": [[*row, index]]}}) in ([], [[*row, index]])
        if tracks is not None:  # (None: the first form, whose steps restore checks)
            assert _path_steps({"paths": {"tracks": tracks, "steps": [[*row, index]]}}) == []
    assert _path_steps({"paths": {"tracks": ["a"], "steps": [[], None, "x"]}}) == []


def test_remembered_steps_round_trip_exactly_through_the_state_and_the_first_form_still_restores():
    import orjson

    from worker.core.paths import PathStep, paths_document
    from worker.core.track_docs import camera_state
    from worker.source.tracking import _path_steps

    live = CameraTracker(CAM, TrackerParams())
    _three_walkers(live, range(40))
    assert len(live.paths) > 20
    state = orjson.loads(orjson.dumps(camera_state(live, "cam-a", "shard-0", {})))
    assert state["paths"]["tracks"] and all(isinstance(row[-1], int) for row in state["paths"]["steps"])
    handed = CameraTracker(CAM, TrackerParams())
    handed.restore([], state["applied_until"] / 1000.0, state["previous_t"], _path_steps(state))
    assert list(handed.paths) == list(live.paths)  # the same floats: rounded when remembered, not when written
    first_form = {"steps": [list(step) for step in live.paths]}  # as written before 2026-12-07 night
    older = CameraTracker(CAM, TrackerParams())
    older.restore([], 0.0, 0.0, _path_steps({"paths": first_form}))
    assert list(older.paths) == list(live.paths)
    assert len(orjson.dumps(paths_document(live.paths))) < 0.7 * len(orjson.dumps(first_form))
    noisy = PathStep.remembered(
        1767225600.1230001, 1767225601.1229999, 0.1 + 0.2, 0.5, 0.04, 0.6, 0.5, 0.041, 1 / 3, 0, "t"
    )
    assert noisy is not None
    assert noisy[:2] == (1767225600.123, 1767225601.123) and noisy.x0 == 0.3 and noisy.vx == 0.3333
    # frames under half a millisecond apart: no duration left once rounded, so not remembered (nor restorable)
    assert PathStep.remembered(1767225600.1231, 1767225600.1233, 0.3, 0.5, 0.04, 0.4, 0.5, 0.04, 1, 0, "t") is None


def test_a_walker_whose_frames_come_under_a_millisecond_apart_is_tracked_on():
    # Rounded to the millisecond such a step has no duration; remembered, it would divide by zero later.
    camera = CameraTracker(CAM, TrackerParams())
    for s in range(5):
        camera.observe(frame(T0 + s, face(0, 0.2 + 0.045 * s, 0.5, w=0.04)))
    start = T0 + 4.0  # the helper's frame times are whole milliseconds; these are not (FrameOffsetInSeconds)
    for n, (offset, x) in enumerate(((1.00051, 0.425), (1.00149, 0.47))):  # 1.1 widths on, 0.98 ms later
        fragment = f"{int(start * 1000) + n:047d}"  # (in one fragment, offsets a millisecond apart are one frame)
        camera.observe(FrameRecord(CAM, fragment, start, start + 0.5, offset, (face(0, x, w=0.04),)))
    assert camera.open[0].hits == 7 and len(camera.open) == 1
    assert all(step.end > step.start for step in camera.paths)
    for s in range(6, 9):
        camera.observe(frame(T0 + s, face(0, 0.2 + 0.06 * s, 0.5, w=0.04), face(1, 0.6, 0.5, w=0.04)))
    assert camera.open


def test_a_frame_of_4000_faces_is_tracked_in_well_under_a_second():
    def grid(t: float) -> FrameRecord:
        faces = [
            face(i, 0.01 + 0.0155 * (i % 64) + (t - T0) * 0.002, 0.01 + 0.0155 * (i // 64), w=0.008)
            for i in range(4000)
        ]
        return frame(t, *faces)

    tracker = Tracker()
    tracker.observe(grid(T0))
    started = time.process_time()
    result = tracker.observe(grid(T0 + 1))
    spent = time.process_time() - started
    assert len(result.touched) == 4000 and all(t.hits == 2 for t in result.touched)
    assert spent < 5.0  # the figure (< 1 s) is measured by bench/quality.py; this bounds the order only


def _random_walk_invariants(seed: int) -> str | None:
    """People walking, jumping, vanishing, recognised or not (and sometimes as somebody else), frames 1-4 s
    apart: every detection ends in exactly one track, hits match, no id twice, none touched and absorbed."""
    rng = random.Random(seed)
    tracker = Tracker()
    closed: dict[str, Track] = {}
    dets: set[str] = set()
    people = [
        [rng.random(), rng.random(), rng.uniform(-0.15, 0.15), rng.uniform(-0.1, 0.1), rng.uniform(0.05, 0.15), who]
        for who in rng.choices([None, "A", "B", "C"], k=rng.randint(1, 6))
    ]
    t = T0
    for step in range(rng.randint(5, 40)):
        t += rng.choice([1.0, 1.0, 1.0, 2.0, 3.0, 4.0])
        faces = []
        for p in people:
            p[0] += p[2] * rng.uniform(0.5, 1.5)
            p[1] += p[3]
            if rng.random() < 0.2:
                p[0], p[1] = rng.random(), rng.random()
            if rng.random() < 0.15:
                continue
            who = p[5] if p[5] and rng.random() < 0.7 else (rng.choice("ABC") if rng.random() < 0.1 else None)
            x, y = min(max(p[0], 0.02), 0.98), min(max(p[1], 0.02), 0.98)
            faces.append(face(len(faces), x, y, w=p[4] * rng.uniform(0.9, 1.1), who=who, sim=rng.uniform(81, 99)))
        f = frame(t, *faces)
        result = tracker.observe(f)
        dets |= {detection_id(f.stream_arn, f.fragment_number, f.frame_offset_s, x.index) for x in faces}
        if {x.track_id for x in result.absorbed} & {x.track_id for x in result.touched}:
            return f"touched and absorbed at step {step}"
        closed.update({x.track_id: x for x in result.closed})
        tracks = tracker.open_tracks() + list(closed.values())
        owners: dict[str, int] = {}
        for track in tracks:
            if track.hits != len(track.detection_ids):
                return f"hits {track.hits} != {len(track.detection_ids)} at step {step}"
            for d in track.detection_ids:
                owners[d] = owners.get(d, 0) + 1
        if len({x.track_id for x in tracks}) != len(tracks):
            return f"a track id twice at step {step}"
        if set(owners) != dets or any(n > 1 for n in owners.values()):
            return f"detections lost or doubled at step {step}"
    return None


def test_no_detection_is_lost_or_doubled_through_relinks_stitches_and_takeovers():
    # Found by review: a stitch into a track with a pending unmatched run, undone by a later takeover
    # split, lost the stitched detections; a relinked track listed twice was stitched into two tracks.
    failures = {seed: e for seed in range(400) if (e := _random_walk_invariants(seed)) is not None}
    assert failures == {}
