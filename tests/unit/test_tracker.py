"""The tracker's rules on hand-built frames, and the property that no detection is ever lost."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.detections import detection_id
from worker.core.record import BoundingBox, DetectedFace, FaceMatch, FrameRecord, Pose
from worker.core.tracker import Track, Tracker, TrackerParams

CAM = "arn:aws:kinesisvideo:us-east-1:1:stream/cam-a/1"
CAM_B = "arn:aws:kinesisvideo:us-east-1:1:stream/cam-b/1"
T0 = 1_767_225_600.0


def face(
    i: int,
    cx: float,
    cy: float = 0.4,
    w: float = 0.1,
    who: str | None = None,
    sim: float = 95.0,
    sharp: float = 80.0,
    yaw: float = 0.0,
) -> DetectedFace:
    matches = (FaceMatch(who, f"fid-{who}", sim),) if who else ()
    return DetectedFace(
        i, BoundingBox(w, w * 1.2, cx - w / 2, cy - w * 0.6), 99.0, Pose(0.0, 0.0, yaw), 60.0, sharp, matches
    )


def frame(t: float, *faces: DetectedFace, cam: str = CAM) -> FrameRecord:
    # fragments of 2 s, as KVS cuts them
    start = T0 + 2.0 * int((t - T0) // 2.0)
    return FrameRecord(cam, f"{int(start * 1000):047d}", start, start + 0.5, round(t - start, 3), tuple(faces))


def run(frames: list[FrameRecord], params: TrackerParams | None = None) -> tuple[Tracker, dict[str, Track]]:
    tracker = Tracker(params)
    tracks: dict[str, Track] = {}
    for f in frames:
        result = tracker.observe(f)
        for t in result.touched + result.closed:
            tracks[t.track_id] = t
        for t in result.absorbed:
            del tracks[t.track_id]
    return tracker, tracks


def test_a_walk_at_one_frame_per_second_is_one_track_although_boxes_never_overlap():
    # 2 face widths per second: consecutive boxes do not overlap at all (IoU = 0).
    frames = [frame(T0 + s, face(0, 0.1 + 0.2 * s)) for s in range(5)]
    _, tracks = run(frames)
    assert len(tracks) == 1
    (track,) = tracks.values()
    assert track.hits == 5 and track.first_seen == T0 and track.last_seen == T0 + 4


def test_two_faces_of_one_frame_never_share_a_track():
    frames = [frame(T0 + s, face(0, 0.40 + 0.01 * s), face(1, 0.52 + 0.01 * s)) for s in range(4)]
    _, tracks = run(frames)
    assert len(tracks) == 2
    for track in tracks.values():
        assert track.hits == 4


def test_a_track_is_confirmed_only_after_min_hits():
    tracker = Tracker(TrackerParams(min_hits=3))
    (track,) = tracker.observe(frame(T0, face(0, 0.5))).touched
    assert not track.confirmed
    tracker.observe(frame(T0 + 1, face(0, 0.5)))
    assert not track.confirmed
    tracker.observe(frame(T0 + 2, face(0, 0.5)))
    assert track.confirmed


def test_a_gap_longer_than_max_gap_closes_the_track_and_starts_a_new_one():
    params = TrackerParams(max_gap_s=5.0, stitch_wait_s=0.0)
    tracker = Tracker(params)
    (first,) = tracker.observe(frame(T0, face(0, 0.5))).touched
    tracker.observe(frame(T0 + 1, face(0, 0.5)))
    result = tracker.observe(frame(T0 + 7, face(0, 0.5)))
    assert result.closed == [first] and first.closed
    assert len(result.touched) == 1 and result.touched[0].track_id != first.track_id


def test_a_person_hidden_for_three_seconds_stays_one_track():
    frames = [frame(T0 + s, face(0, 0.3 + 0.05 * s)) for s in range(4)]
    frames += [frame(T0 + s) for s in range(4, 7)]  # empty frames: occluded
    frames += [frame(T0 + s, face(0, 0.3 + 0.05 * s)) for s in range(7, 10)]
    _, tracks = run(frames)
    assert len(tracks) == 1 and next(iter(tracks.values())).hits == 7


def test_a_hidden_track_stays_open_while_a_newcomer_could_still_be_it_then_closes():
    tracker = Tracker(TrackerParams(max_gap_s=5.0, stitch_wait_s=3.0))
    tracker.observe(frame(T0, face(0, 0.5)))
    (track,) = tracker.observe(frame(T0 + 1, face(0, 0.5))).touched
    assert tracker.observe(frame(T0 + 9)).closed == []  # 8 s idle: within gap + stitch wait
    assert tracker.observe(frame(T0 + 9.5)).closed == [track] and track.closed


def test_a_newcomer_where_a_recognised_person_vanished_gets_their_own_track():
    frames = [frame(T0 + s, face(0, 0.5, who="emp-1", sim=97)) for s in range(4)]
    frames += [frame(T0 + s, face(0, 0.51)) for s in range(7, 11)]  # never matched, 4 s later
    _, tracks = run(frames)
    assert sorted(t.hits for t in tracks.values()) == [4, 4]


def test_a_person_reappearing_after_a_gap_is_stitched_once_their_new_track_has_a_second_face():
    tracker = Tracker(TrackerParams(min_hits=3))
    for s in range(3):
        tracker.observe(frame(T0 + s, face(0, 0.2 + 0.1 * s, who="emp-1", sim=95)))
    # hidden at T0+3..T0+5; the new track is tentative for one frame, then (its motion known) joins the old one
    first = tracker.observe(frame(T0 + 6, face(0, 0.8, who="emp-1", sim=95)))
    tentative = first.touched[0]
    assert tentative.hits == 1 and not first.absorbed
    second = tracker.observe(frame(T0 + 7, face(0, 0.9)))
    assert second.absorbed == [tentative]
    (track,) = second.touched
    assert track.hits == 5 and track.confirmed
    result = tracker.observe(frame(T0 + 8, face(0, 0.99, w=0.08)))
    assert result.touched == [track] and not result.absorbed
    assert track.hits == 6 and track.first_seen == T0 and track.last_seen == T0 + 8


def test_two_short_glimpses_of_one_person_either_side_of_a_gap_make_one_confirmed_sighting():
    """Two faces, hidden for 4 s, two faces: neither half reaches min_hits alone, together they do."""
    tracker = Tracker(TrackerParams(min_hits=3))
    for s in (0, 1):
        tracker.observe(frame(T0 + s, face(0, 0.2 + 0.1 * s, who="emp-1", sim=95)))
    tracker.observe(frame(T0 + 5, face(0, 0.7, who="emp-1", sim=96)))
    result = tracker.observe(frame(T0 + 6, face(0, 0.8, who="emp-1", sim=94)))
    (track,) = result.touched
    assert len(result.absorbed) == 1 and track.hits == 4 and track.confirmed
    assert tracker.open_tracks() == [track]


def test_a_restored_tracker_continues_the_persisted_track_and_skips_what_it_already_holds():
    frames = [frame(T0 + s, face(0, 0.2 + 0.05 * s)) for s in range(8)]
    _whole, tracks = run(frames)
    (want,) = tracks.values()
    first, _ = run(frames[:4])
    (half,) = first.open_tracks()
    taken = Tracker()
    taken.camera(CAM).restore([half], applied_until=frames[3].frame_time)
    for f in frames[2:]:  # the new owner replays from an older checkpoint
        taken.observe(f)
    (got,) = taken.open_tracks()
    assert got.track_id == want.track_id and got.hits == want.hits == 8
    assert got.detection_ids == want.detection_ids


def test_identity_is_voted_and_unknown_frames_do_not_vote():
    frames = [
        frame(T0, face(0, 0.5, who="emp-1", sim=96)),
        frame(T0 + 1, face(0, 0.5)),  # no match: no vote
        frame(T0 + 2, face(0, 0.5)),
        frame(T0 + 3, face(0, 0.5, who="emp-2", sim=84, sharp=20, yaw=60)),  # weak, profile view
        frame(T0 + 4, face(0, 0.5, who="emp-1", sim=93)),
    ]
    _, tracks = run(frames)
    (track,) = tracks.values()
    assert track.identity() == ("emp-1", 96.0)


def test_an_unmatched_track_is_unknown_and_a_tie_stays_unknown():
    _, tracks = run([frame(T0 + s, face(0, 0.5)) for s in range(3)])
    assert next(iter(tracks.values())).identity() == (None, 0.0)
    _, tracks = run([frame(T0, face(0, 0.5, who="emp-1", sim=85)), frame(T0 + 1, face(0, 0.5, who="emp-2", sim=85))])
    assert next(iter(tracks.values())).identity() == (None, 0.0)


def test_two_confident_different_identities_never_share_a_track():
    frames = [frame(T0 + s, face(0, 0.5, who="emp-1", sim=97)) for s in range(3)]
    frames.append(frame(T0 + 3, face(0, 0.5, who="emp-2", sim=97)))
    _, tracks = run(frames)
    assert sorted(t.hits for t in tracks.values()) == [1, 3]


def test_best_frame_prefers_a_large_sharp_frontal_face():
    frames = [
        frame(T0, face(0, 0.5, w=0.08, sharp=30, yaw=40)),
        frame(T0 + 1, face(0, 0.5, w=0.1, sharp=95, yaw=2)),
        frame(T0 + 2, face(0, 0.5, w=0.1, sharp=40, yaw=35)),
    ]
    _, tracks = run(frames)
    best = next(iter(tracks.values())).best_frame
    assert best is not None and best.frame_time == T0 + 1
    assert best.fragment_number == frames[1].fragment_number and best.frame_offset_s == frames[1].frame_offset_s


def test_heartbeat_closes_idle_tracks_by_the_latest_record_time_of_the_shard():
    tracker = Tracker(TrackerParams(max_gap_s=5.0, stitch_wait_s=3.0))
    tracker.observe(frame(T0, face(0, 0.5)))  # camera A goes quiet after this
    for s in range(1, 10):
        tracker.observe(frame(T0 + s, cam=CAM_B))  # camera B keeps the shard's clock moving
    closed = tracker.heartbeat()
    assert len(closed) == 1 and closed[0].stream_arn == CAM
    assert tracker.heartbeat() == []  # closing is idempotent


def test_duplicate_and_out_of_order_records():
    f0, f1, f2 = (frame(T0 + s, face(0, 0.5)) for s in range(3))
    _, tracks = run([f0, f2, f1, f2, f0])  # f1 late, f2 and f0 delivered twice
    (track,) = tracks.values()
    assert track.hits == 3
    assert track.first_seen == T0 and track.last_seen == T0 + 2
    assert len(set(track.detection_ids)) == 3


def test_a_frame_delivered_again_long_after_is_late_and_builds_no_second_track():
    frames = [frame(T0 + s, face(0, 0.5)) for s in range(20)]
    tracker, tracks = run(frames + frames[:3])  # the first three again, 17 s later
    assert len(tracks) == 1 and next(iter(tracks.values())).hits == 20
    assert tracker.observe(frames[0]).late


def test_track_ids_are_deterministic():
    frames = [frame(T0 + s, face(0, 0.2 + 0.1 * s), face(1, 0.8)) for s in range(5)]
    _, a = run(frames)
    _, b = run(frames)
    assert sorted(a) == sorted(b)
    assert {t.track_id for t in a.values()} == {t.track_id for t in b.values()}


@st.composite
def camera_frames(draw):
    cams = [CAM, CAM_B]
    frames = []
    for cam in cams:
        t = T0
        for _ in range(draw(st.integers(1, 25))):
            t += draw(st.sampled_from([0.5, 1.0, 1.0, 2.0, 7.0]))
            n = draw(st.integers(0, 5))
            faces = [
                face(
                    i,
                    draw(st.floats(0.05, 0.95)),
                    draw(st.floats(0.1, 0.9)),
                    draw(st.floats(0.04, 0.2)),
                    who=draw(st.sampled_from([None, "emp-1", "emp-2"])),
                    sim=draw(st.floats(80, 99.9)),
                )
                for i in range(n)
            ]
            frames.append(frame(t, *faces, cam=cam))
    # Records of one camera arrive in order, give or take a few seconds (at-least-once, retries).
    frames.sort(key=lambda f: f.frame_time + draw(st.sampled_from([0.0, 0.0, 1.5, 3.0])))
    return frames


@settings(max_examples=150, deadline=None)
@given(frames=camera_frames())
def test_every_detection_belongs_to_exactly_one_track(frames):
    _tracker, tracks = run(frames)
    expected = {
        detection_id(f.stream_arn, f.fragment_number, f.frame_offset_s, fc.index) for f in frames for fc in f.faces
    }
    owners: dict[str, int] = {}
    for track in tracks.values():
        assert track.hits == len(track.detection_ids)
        for det in track.detection_ids:
            owners[det] = owners.get(det, 0) + 1
    assert set(owners) == expected
    assert all(n == 1 for n in owners.values())
    for track in tracks.values():  # and no track mixes cameras
        assert all(det in expected for det in track.detection_ids)


def test_a_fast_walker_recognised_in_both_frames_is_followed_further_than_an_unknown_face():
    # 0.45 of the frame in one second with a 0.1-wide face: 4.5 widths, beyond the one-face gate (3.5)
    known, _ = run([frame(T0, face(0, 0.2, who="emp-1", sim=95)), frame(T0 + 1, face(0, 0.65, who="emp-1", sim=88))])
    assert len(known.open_tracks()) == 1  # the same person, by Rekognition's word: one track
    unknown, _ = run([frame(T0, face(0, 0.2)), frame(T0 + 1, face(0, 0.65))])
    assert len(unknown.open_tracks()) == 2  # nothing says it is the same face
    other, _ = run([frame(T0, face(0, 0.2, who="emp-1", sim=95)), frame(T0 + 1, face(0, 0.65, who="emp-2", sim=88))])
    assert len(other.open_tracks()) == 2
