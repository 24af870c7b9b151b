"""The crowd presets (worker/sim/crowd.py) show the motion they are named after, deterministically."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import defaultdict
from functools import cache

import numpy as np
import pytest

from worker.sim import crowd
from worker.sim.encode import encode_frame
from worker.sim.scenario import PRESETS, Scenario, SimFrame, Visit, build_scenario, frames_of, preset

CROWDS = ("groups", "tailgating", "family_split", "fast_crossing", "overtaking", "dense_walkway")


@cache
def built(name: str) -> tuple[Scenario, list[SimFrame]]:
    scenario = build_scenario(preset(name, cameras=2, duration_s=240, seed=3))
    return scenario, frames_of(scenario)


def stats(name: str) -> dict:
    return crowd.motion_stats(*built(name))


def samples(visit: Visit) -> dict[int, tuple[float, float, float]]:
    """A visit's face at each frame it is seen: ms -> (cx, cy, width), noise free."""
    return {round(t * 1000): (x, y, w) for t, x, y, w in visit.trajectory}


def gap(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """Centre distance in face widths (the mean of the two)."""
    return math.hypot(a[0] - b[0], a[1] - b[1]) / ((a[2] + b[2]) / 2)


def groups_of(scenario: Scenario) -> dict[str, list[Visit]]:
    out: dict[str, list[Visit]] = defaultdict(list)
    for v in scenario.visits:
        if v.group:
            out[v.group].append(v)
    return out


def closest_approach(a: Visit, b: Visit) -> float | None:
    """The least distance (face widths) between two faces, their paths taken straight between frames."""
    sa, sb = samples(a), samples(b)
    common = sorted(set(sa) & set(sb))
    best = None
    for k0, k1 in itertools.pairwise(common):
        if k1 - k0 > 1100:
            continue
        r0 = np.subtract(sa[k0][:2], sb[k0][:2])
        r1 = np.subtract(sa[k1][:2], sb[k1][:2])
        dr = r1 - r0
        s = float(np.clip(-(r0 @ dr) / max(float(dr @ dr), 1e-12), 0.0, 1.0))
        width = (sa[k0][2] + sb[k0][2] + sa[k1][2] + sb[k1][2]) / 4
        d = float(np.linalg.norm(r0 + s * dr)) / width
        best = d if best is None else min(best, d)
    return best


def test_every_crowd_preset_is_in_presets_and_takes_the_usual_overrides():
    assert set(CROWDS) <= set(PRESETS)
    spec = preset("groups", cameras=8, duration_s=600, seed=3)
    assert (spec.crowd, spec.cameras, spec.duration_s, spec.seed) == ("groups", 8, 600, 3)


def test_a_crowd_scenario_is_deterministic():
    spec = preset("tailgating", cameras=2, duration_s=90, seed=11)
    a, b = build_scenario(spec), build_scenario(spec)
    assert [v.truth() for v in a.visits] == [v.truth() for v in b.visits]
    assert [encode_frame(f) for f in frames_of(a)] == [encode_frame(f) for f in frames_of(b)]
    other = build_scenario(preset("tailgating", cameras=2, duration_s=90, seed=12))
    assert [v.truth() for v in other.visits] != [v.truth() for v in a.visits]


@pytest.mark.parametrize("name", CROWDS)
def test_faces_are_plausible_and_people_leave(name):
    scenario, frames = built(name)
    spec = scenario.spec
    assert len(frames) == 2 * 240  # one analysed frame per second per camera, as the straight-line model
    visits = {v.visit_id: v for v in scenario.visits}
    assert visits and all(v.trajectory for v in visits.values())
    for frame in frames:
        for face in frame.faces:
            w, h, left, top = face.box
            assert 0.018 <= w <= 0.13 and 1.1 <= h / w <= 1.4
            assert min(left, top) >= -0.03 and max(left + w, top + h) <= 1.03  # + detection jitter
            assert visits[face.visit_id].camera == frame.camera
    # nobody stands at an image edge: a visit lasts as long as a walk through the view
    assert max(v.end - v.start for v in visits.values()) < 45
    assert statistics.median(v.end - v.start for v in visits.values()) < 15
    # who they are: the usual draw (visitor_share, employees matched by Rekognition)
    kinds = {v.person.kind for v in visits.values()}
    assert {"employee", "visitor"} <= kinds
    matched = [face for f in frames for face in f.faces if visits[face.visit_id].person.kind == "employee"]
    share = sum(bool(face.matches) for face in matched) / len(matched)
    assert abs(share - spec.match_rate) < 0.05
    assert all(not face.matches for f in frames for face in f.faces if visits[face.visit_id].person.kind == "visitor")
    truth = scenario.visits[0].truth()
    assert truth["style"] in {"group", "tailgate", "split", "cross", "overtake", "walk"} and "group" in truth


def test_groups_walk_in_together_side_by_side_and_in_a_column():
    scenario, _ = built("groups")
    s = stats("groups")
    assert 1.0 <= s["speed_p50"] <= 2.5
    assert 1.0 <= s["companion_gap_p50"] <= 3.0
    assert s["visits_by_style"]["group"] > 3 * s["visits_by_style"].get("walk", 0)
    groups = groups_of(scenario)
    sizes = [len({v.visit_id for v in vs}) for vs in groups.values()]
    assert min(sizes) >= 1 and max(sizes) <= 5 and statistics.mean(sizes) >= 2
    # both formations in the image: a side-by-side companion is as far away (as wide), one in a column is not
    ratio: dict[str, list[float]] = defaultdict(list)
    for vs in groups.values():
        for a in vs:
            for b in vs:
                if a is b:
                    continue
                sa, sb = samples(a), samples(b)
                for k in set(sa) & set(sb):
                    if gap(sa[k], sb[k]) < 3.5:
                        ratio[a.role].append(min(sa[k][2], sb[k][2]) / max(sa[k][2], sb[k][2]))
    assert len(ratio["abreast"]) > 100 and len(ratio["column"]) > 30
    assert statistics.median(ratio["abreast"]) > 0.88 > statistics.median(ratio["column"])
    # a group enters together: its members' visits start within a few seconds of each other
    assert statistics.median(max(v.start for v in vs) - min(v.start for v in vs) for vs in groups.values()) <= 3


def test_tailgating_visitors_walk_one_or_two_face_widths_behind_an_employee():
    scenario, _ = built("tailgating")
    s = stats("tailgating")
    assert s["visits_by_style"]["tailgate"] >= 0.7 * len(scenario.visits)
    visitors = [v for v in scenario.visits if v.person.kind == "visitor"]
    close = 0
    for v in visitors:
        leader = next((o for o in groups_of(scenario).get(v.group, []) if o.role == "leader"), None)
        if v.role != "follower" or leader is None:
            continue
        assert leader.person.kind == "employee"
        sv, sl = samples(v), samples(leader)
        common = sorted(set(sv) & set(sl))
        if not common:
            continue
        gaps = [gap(sv[k], sl[k]) for k in common]
        behind = sum(sv[k][2] < sl[k][2] for k in common) / len(common)  # smaller: farther from the camera
        if 0.8 <= statistics.median(gaps) <= 2.5 and behind >= 0.7:
            close += 1
    assert close >= 0.6 * len(visitors)
    assert 1.0 <= s["speed_p50"] <= 2.5


def test_families_enter_together_and_split_up():
    scenario, _ = built("family_split")
    families = [vs for vs in groups_of(scenario).values() if len(vs) >= 3]
    assert len(families) >= 10
    split = seen_both = 0
    for vs in families:
        assert max(v.start for v in vs) - min(v.start for v in vs) <= 6
        parts = [[v for v in vs if v.role == role] for role in ("split-a", "split-b")]
        if not all(parts):
            continue
        centres = []
        for part in parts:
            at: dict[int, list[tuple[float, float, float]]] = defaultdict(list)
            for v in part:
                for k, p in samples(v).items():
                    at[k].append(p)
            centres.append({k: tuple(np.mean(ps, axis=0)) for k, ps in at.items()})
        common = sorted(set(centres[0]) & set(centres[1]))
        if len(common) < 3:
            continue
        seen_both += 1
        d = [gap(centres[0][k], centres[1][k]) for k in common]
        split += max(d) >= d[0] + 2.0
    assert seen_both >= 8 and split >= 0.6 * seen_both


def test_fast_crossings_pass_close_in_opposite_directions():
    scenario, _ = built("fast_crossing")
    pairs = [vs for vs in groups_of(scenario).values() if len(vs) == 2]
    assert len(pairs) >= 20
    opposite, approaches, fast, slow = 0, [], [], []
    for a, b in pairs:
        da = a.trajectory[-1][1] - a.trajectory[0][1]
        db = b.trajectory[-1][1] - b.trajectory[0][1]
        opposite += da * db < 0
        d = closest_approach(a, b)
        if d is not None:
            approaches.append(d)
        for v in (a, b):
            tr = v.trajectory
            speeds = [gap(p[1:], q[1:]) for p, q in itertools.pairwise(tr) if q[0] - p[0] < 1.1]
            (fast if v.role == "fast" else slow).extend(speeds)
    assert opposite >= 0.7 * len(pairs)
    assert statistics.median(approaches) <= 1.5 and np.percentile(approaches, 25) <= 1.0
    assert statistics.median(fast) > statistics.median(slow)
    assert 1.0 <= statistics.median(fast) <= 2.5 and np.percentile(fast, 75) <= 3.0


def test_overtaking_a_faster_walker_passes_a_slower_one_in_the_same_lane():
    scenario, _ = built("overtaking")
    pairs = [vs for vs in groups_of(scenario).values() if {v.role for v in vs} == {"fast", "slow"}]
    assert len(pairs) >= 20
    passed, approaches = 0, []
    for vs in pairs:
        fast = next(v for v in vs if v.role == "fast")
        slow = next(v for v in vs if v.role == "slow")
        sf, ss = samples(fast), samples(slow)
        common = sorted(set(sf) & set(ss))
        if len(common) < 2:
            continue
        # behind (smaller, farther) when first seen together, ahead (larger, nearer) when last
        passed += sf[common[0]][2] < ss[common[0]][2] * 1.02 and sf[common[-1]][2] > ss[common[-1]][2]
        d = closest_approach(fast, slow)
        if d is not None:
            approaches.append(d)
    assert passed >= 0.7 * len(pairs)
    assert statistics.median(approaches) <= 2.5


def test_a_dense_walkway_is_dense():
    scenario, _ = built("dense_walkway")
    s = stats("dense_walkway")
    assert 8 <= s["faces_per_frame_p50"] <= 20
    assert s["near_share"] >= 1 / 3
    assert 1.0 <= s["speed_p50"] <= 2.5
    # people come and go all the time, and faces move both ways across the image
    spec = scenario.spec
    assert len(scenario.visits) / (spec.cameras * spec.duration_s / 60) >= 30  # visits per camera per minute
    leftwards = sum(v.trajectory[-1][1] < v.trajectory[0][1] for v in scenario.visits)
    assert 0.25 <= leftwards / len(scenario.visits) <= 0.75


def test_a_crowd_day_in_windows_keeps_the_spec_s_people():
    windows = ((0.0, 60.0, 8.0), (3600.0, 60.0, 8.0))
    spec = preset(
        "groups",
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
    assert len(frames) == 3 * 2 * 60
    assert all(any(spec.start + s <= f.frame_time < spec.start + s + n + 1 for s, n, _ in windows) for f in frames)
    assert {round(v.start - spec.start) // 3600 for v in scenario.visits} == {0, 1}
    assert {v.person.kind for v in scenario.visits} == {"employee", "visitor", "watchlist"}
    assert any(v.glancing for v in scenario.visits)
    lab = [v for v in scenario.visits if v.camera.camera_id == "cam-01" and v.person.kind == "employee"]
    assert {v.person.person_id == "emp-0001" for v in lab} == {True, False}
    ids = [v.visit_id for v in scenario.visits]
    assert len(set(ids)) == len(ids) and len({v.group for v in scenario.visits if v.group}) > 1


def test_motion_stats_of_a_straight_line_preset():
    scenario = build_scenario(preset("crossing", cameras=1, duration_s=60, seed=2))
    s = crowd.motion_stats(scenario, frames_of(scenario))
    assert s["faces"] > 0 and s["speed_p50"] > 0 and s["visits_by_style"] == {"walk": len(scenario.visits)}


def test_the_fast_forces_compute_what_pysocialforce_computes():
    psf = crowd._social_force()
    rng = np.random.default_rng(2)
    n = 30
    state = np.zeros((n, 6))
    state[:, 0] = rng.uniform(2, 18, n)
    state[:, 1] = rng.uniform(-2.9, 2.9, n)
    state[:, 2] = rng.uniform(-1.5, 0.5, n)
    state[:, 3] = rng.uniform(-0.3, 0.3, n)
    walls = crowd._walls(gates=True)
    ours = crowd._simulator(state.copy(), [], walls)
    theirs = psf.Simulator(state.copy(), groups=[], obstacles=walls)
    ours.peds.agent_radius = theirs.peds.agent_radius
    for force in ours.forces:
        if hasattr(force, "pairs"):
            force.pairs = crowd._hall_pairs(np.zeros(n, dtype=int))
    for name, (original, fast) in crowd._fast_forces().items():
        want = next(f for f in theirs.forces if type(f) is original).get_force()
        got = next(f for f in ours.forces if type(f) is fast).get_force()
        assert np.allclose(got, want, rtol=1e-9, atol=1e-9), name
        assert np.abs(want).max() > 0.1, name
