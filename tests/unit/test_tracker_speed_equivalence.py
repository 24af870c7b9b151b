"""The tracker's fast paths give exactly what the plain computations they replace give.

The hot code is written for speed: detection ids hashed from the frame's common part, a track's figures
computed once per frame and every pair priced in one loop, small competing groups solved without scipy.
Each is checked here against the straightforward computation (no timing: speed is for the benchmarks).
"""

from __future__ import annotations

import math
import random

from worker.core import assignment
from worker.core.detections import MATCH_THRESHOLD, detection_id, detection_ids
from worker.core.record import BoundingBox, DetectedFace, FaceMatch, FrameRecord, Pose
from worker.core.tracker import CameraTracker, Track, TrackerParams, _face_view

CAM = "arn:aws:kinesisvideo:us-east-1:1:stream/cam-a/1"


def test_detection_ids_of_a_frame_are_detection_id_of_each_face():
    rng = random.Random(1)
    for _ in range(200):
        offset = rng.choice([0.0, 0.5, 1.0000000001, 0.0005, 19.9995, rng.uniform(0, 20)])
        faces = tuple(
            DetectedFace(rng.randrange(0, 100), BoundingBox(0.1, 0.1, 0.1, 0.1), 99.0, None, None, None, ())
            for _ in range(rng.randrange(1, 6))
        )
        arn = rng.choice([CAM, "arn:aws:kinesisvideo:eu-west-1:2:stream/caméra/7"])
        frame = FrameRecord(arn, str(rng.randrange(10**46, 10**47)), 1.7e9, 1.7e9, offset, faces)
        expected = [detection_id(arn, frame.fragment_number, offset, f.index) for f in faces]
        assert detection_ids(frame) == expected


def reference_cost(camera: CameraTracker, track: Track, face: DetectedFace, t: float) -> float | None:
    """The pair's price as the tracker computed it one pair at a time (before the per-frame views)."""
    p = camera.params
    if abs(t - track.last_seen) > p.direct_gap_s:
        return None
    best = face.best_match
    known = best is not None and best.similarity >= MATCH_THRESHOLD
    mine = track.strong_identity(p.strong_similarity) if known else None
    conflict = known and best is not None and mine is not None and mine != best.external_image_id
    if conflict and best is not None and best.similarity >= p.conflict_veto_similarity:
        return None
    winner = track.identity()[0] if track.votes else None
    same_person = known and best is not None and winner == best.external_image_id
    scale = p.same_identity_gate if same_person else 1.0
    if conflict or (
        (track.hits >= 3 and not known and track.matched >= 0.8 * track.hits)
        or (track.hits >= 2 and known and track.matched == 0)
    ):
        scale = p.unknown_face_gate
    px, py, pw = camera._predict(track, t)
    width = face.box.width
    ratio = max(width, pw) / max(min(width, pw), 1e-6)
    if ratio > (p.max_size_ratio_unmoved if track.hits <= 1 else p.max_size_ratio) or not (
        -0.05 <= px <= 1.05 and -0.05 <= py <= 1.05
    ):
        return None
    cx, cy = face.box.centre
    distance = math.hypot(cx - px, cy - py) / max((width + pw) / 2.0, 1e-6)
    gate = camera._gate(track, abs(t - track.last_seen))
    if distance > gate * scale:
        return None
    if p.uncertainty_ref > 0:  # the distance in the track's own uncertainty (TrackerParams.uncertainty_ref)
        rel = (gate / p.uncertainty_ref) ** p.uncertainty_power
        place = distance / rel + math.log(rel) + 3.0 * (ratio - 1.0)
    else:
        place = distance + 3.0 * (ratio - 1.0)
    if same_person:
        return place - p.identity_bonus
    if known and winner is not None:
        return place + p.identity_conflict
    if known and track.hits >= 2 and track.matched == 0:
        return place + p.unknown_vs_known * min(1.0, track.hits / 3.0)
    if not known and track.matched >= p.takeover_min_matched and track.matched >= 0.8 * track.hits:
        return place + p.unmatched_for_recognised
    if not known and track.hits >= 1 and track.matched == track.hits:
        return place + p.unmatched_for_young
    return place


def reference_reach(camera: CameraTracker, track: Track, t: float) -> tuple[float, float, float] | None:
    p = camera.params
    dt = abs(t - track.last_seen)
    if dt > p.direct_gap_s:
        return None
    px, py, pw = camera._predict(track, t)
    scale = pw * (1.0 + (p.max_size_ratio_unmoved if track.hits <= 1 else p.max_size_ratio)) / 2.0
    widen = p.same_identity_gate if track.votes else 1.0
    return px, py, camera._gate(track, dt) * widen * scale


def random_face(rng: random.Random, index: int) -> DetectedFace:
    w = rng.uniform(0.03, 0.12)
    who = rng.choice([None, "emp-1", "emp-2", "emp-3"])
    sim = rng.choice([70.0, 80.0, 84.0, 85.0, 89.0, 90.0, 97.0])
    matches = (FaceMatch(who, f"fid-{who}", sim),) if who else ()
    pose = Pose(rng.uniform(-40, 40), 0.0, rng.uniform(-60, 60)) if rng.random() < 0.8 else None
    cx, cy = rng.uniform(-0.1, 1.1), rng.uniform(-0.1, 1.1)
    return DetectedFace(index, BoundingBox(w, w * 1.2, cx - w / 2, cy - w * 0.6), 99.0, pose, 60.0, 70.0, matches)


def random_track(camera: CameraTracker, rng: random.Random, t: float) -> Track:
    faces = [random_face(rng, 0)]
    start = t - rng.uniform(0.5, 4.0)
    box = faces[0].box
    track = Track("x", CAM, start, start, box.centre, box.width, box.centre, box.width)
    step = start
    for _ in range(rng.randrange(0, 5)):
        last = faces[-1].box
        step += rng.uniform(0.4, 1.2)
        cx, cy = last.centre[0] + rng.gauss(0, 0.03), last.centre[1] + rng.gauss(0, 0.03)
        w = last.width * rng.uniform(0.85, 1.15)
        who = rng.choice([None, "emp-1", "emp-2"])
        matches = (FaceMatch(who, f"fid-{who}", rng.choice([82.0, 91.0, 96.0])),) if who else ()
        faces.append(
            DetectedFace(0, BoundingBox(w, w * 1.2, cx - w / 2, cy - w * 0.6), 99.0, None, 60.0, 70.0, matches)
        )
    for i, f in enumerate(faces):
        camera._apply(track, f, start if i == 0 else start + i * (step - start) / max(len(faces) - 1, 1), "1", 0.0)
    return track


def test_per_frame_views_price_every_pair_as_the_pair_by_pair_cost():
    camera = CameraTracker(CAM, TrackerParams())
    rng = random.Random(7)
    priced = 0
    for _ in range(3000):
        t = 1_767_225_600.0 + rng.uniform(0, 100)
        track = random_track(camera, rng, t)
        # faces near the prediction, so that many pass the gates
        faces = [random_face(rng, i) for i in range(6)]
        px, py, _ = camera._predict(track, t)
        faces += [
            DetectedFace(
                9,
                BoundingBox(track.width, track.width * 1.2, px + rng.gauss(0, 0.02) - track.width / 2, py - 0.05),
                99.0,
                None,
                60.0,
                70.0,
                f.matches,
            )
            for f in faces[:3]
        ]
        views = [_face_view(f) for f in faces]
        view = camera._view(track, t)
        reach = reference_reach(camera, track, t)
        assert (view is None) == (reach is None)
        if view is None or reach is None:
            continue
        assert view[-1] == reach
        got = dict(camera._prices(view, views, range(len(faces)), reach))
        for fi, f in enumerate(faces):
            cx, cy = f.box.centre
            inside = (cx - reach[0]) ** 2 + (cy - reach[1]) ** 2 <= reach[2] * reach[2]
            expected = reference_cost(camera, track, f, t) if inside else None
            assert got.get(fi) == expected
            priced += expected is not None
    assert priced > 1000  # the check exercised the gates, not only rejections


def test_small_groups_are_solved_as_scipy_solves_them_ties_included():
    rng = random.Random(3)
    for _ in range(4000):
        n_tracks, n_faces = rng.randrange(1, 4), rng.randrange(1, 4)
        # coarse costs make exact ties common; a few just below leaving both alone (6.0)
        values = [0.5, 1.0, 1.0, 1.5, 2.0, 3.0, 5.999999999999, 6.0 - 1e-10]
        pairs = {(ti, fi): rng.choice(values) for ti in range(n_tracks) for fi in range(n_faces) if rng.random() < 0.7}
        kept = {k: c for k, c in pairs.items() if c < 6.0}
        expected: set[tuple[int, int]] = set()
        for group in {id(g): g for g in assignment._groups(list(kept)).values()}.values():
            group = sorted(group)
            tracks = sorted({ti for ti, _ in group})
            faces = sorted({fi for _, fi in group})
            expected |= set(assignment._optimal(group, kept, tracks, faces, 3.0))
        assert set(assignment.assign(pairs, 3.0)) == expected
