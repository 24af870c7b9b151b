"""The diagnosis of bench/tracker_errors.py on tiny hand-built tracks: each kind of error lands in its box."""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from tracker_errors import breaks, confusable, merged_faces

from worker.core.tracker import TrackerParams

CAM = "cam"


def frames_of(faces: dict) -> dict:
    in_frame: dict = collections.defaultdict(list)
    for d, f in faces.items():
        in_frame[(f[5], f[0])].append(d)
    return in_frame


def face(t: float, x: float, visit: str, w: float = 0.05) -> tuple:
    return (t, x, 0.5, w, visit, CAM)


def test_foreign_faces_are_told_apart_by_where_the_tracks_own_person_was():
    faces = {
        "a0": face(0, 0.1, "A"),
        "b1": face(1, 0.2, "B"),  # A is out of this frame, and back at t=2: a stand-in
        "a2": face(2, 0.3, "A"),
        "c0": face(0, 0.6, "C"),
        "d1": face(1, 0.7, "D"),  # C is in this frame, in another track: a swap
        "c1": face(1, 0.9, "C"),
        "c2": face(2, 0.8, "C"),
        "e3": face(3, 0.8, "E"),  # C is never seen again: the track went on with somebody else
    }
    tracks = {
        "t1": SimpleNamespace(confirmed=True, detection_ids=["a0", "b1", "a2"]),
        "t2": SimpleNamespace(confirmed=True, detection_ids=["c0", "d1", "c2", "e3"]),
        "t3": SimpleNamespace(confirmed=False, detection_ids=["c1"]),
    }
    got = merged_faces(tracks, faces, frames_of(faces))
    assert got == collections.Counter({"middle/absent": 1, "middle/present": 1, "last/gone": 1})


def test_a_break_says_whether_the_visits_track_took_somebody_else_and_where_the_face_went():
    faces = {
        "a0": face(0, 0.1, "A"),
        "a1": face(1, 0.15, "A"),  # went to a new tentative track while t1 took B's face
        "b1": face(1, 0.12, "B"),
        "c0": face(0, 0.6, "C"),
        "c1": face(1, 0.62, "C", w=0.08),  # 1.6x larger: a size jump
        "d0": face(0, 0.9, "D"),
        "d4": face(4, 0.9, "D"),  # four seconds later: a gap
    }
    ends_in = {"a0": "t1", "b1": "t1", "a1": "t2", "c0": "t3", "c1": "t4", "d0": "t5", "d4": "t6"}
    tracks = {
        "t1": SimpleNamespace(confirmed=True),
        "t2": SimpleNamespace(confirmed=False),
        "t4": SimpleNamespace(confirmed=True),
        "t6": SimpleNamespace(confirmed=True),
    }
    got = breaks(tracks, faces, ends_in, frames_of(faces), TrackerParams())
    assert got == collections.Counter({"took_other/tentative": 1, "size/confirmed": 1, "gap/confirmed": 1})


def test_a_face_is_confusable_when_another_lies_nearer_the_true_motions_prediction():
    walker = {f"a{t}": face(t, 0.1 + 0.1 * t, "A") for t in range(3)}
    far = {"b2": face(2, 0.9, "B")}
    share, n = confusable({**walker, **far}, frames_of({**walker, **far}))
    assert (share, n) == (0.0, 1)
    near = {"b2": face(2, 0.3, "B")}  # exactly where A is predicted, A itself 0.4 w further on
    shifted = {**walker, "a2": face(2, 0.32, "A"), **near}
    share, n = confusable(shifted, frames_of(shifted))
    assert (share, n) == (1.0, 1)
