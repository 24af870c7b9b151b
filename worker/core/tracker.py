"""Face tracks: one track per person visit, built from detections across frames and fragments.

Pure and deterministic: no I/O, no wall clock. Time is frame time (ProducerTimestamp +
FrameOffsetInSeconds), so replaying the same records in the same order, whatever the batch split,
gives the same tracks.

Association. Analysed frames are ~1 s apart and a walking face moves more than its own width
between them, so frame-to-frame IoU fails. A face is matched to an open track of its camera by the
distance between its centre and the track's predicted centre (a pinhole camera's view of a head moving
at a steady 3D velocity: _ahead), measured in face widths, plus a size-ratio gate and identity
evidence: two confident, different identities never match, and a face recognised as the track's person
costs less, one recognised as somebody else or unknown against a recognised track costs more. The gate
widens with elapsed time, more for a fast track than for a still one, and for a face nearing the camera.
Per frame the assignment is one-to-one and jointly optimal (worker/core/assignment.py), candidates found
through a spatial grid.

Young tracks. At a track's second face its velocity is unknown, and in a group walking in a column
the nearest face is often the person behind, who has stepped into the place of the one in front. So the
links made at the previous frame between one-face tracks and the faces that joined them are provisional:
at the next frame of the camera they are chosen again, jointly, with what that frame shows (does the
pair's constant-velocity prediction find a face?), and the young tracks are rebuilt from their kept
faces. The decision is taken by record time, one frame later, and never revisited. A face priced as
starting a track of its own moves as the young pairs beside it would: people who enter together walk
together.

Takeovers and turns. A recognised track that takes two unmatched faces in a row loses them to a track
of their own (somebody else walked into the place: a tailgater); it gets them back if that track is then
recognised as it. A track matched in a few faces loses its run of unmatched faces at once when another
open track, seen since the run began, is recognised as its person: one person is not in two places.
A moving track left without a face may take, beyond its gate, a face no track took, where identity
does not object (people turn, and near the camera image motion grows fast); further still for a face
nearing the camera, when the track and the face are each other's only candidates.

Re-appearance. A face is associated directly only with a track seen within `direct_gap_s`. After a
longer gap (the person was hidden) it starts a tentative track; when that track is confirmed it is
stitched onto the lost track if the place and the identity evidence agree. Waiting for a few frames
before deciding keeps a newcomer who appears where somebody else vanished out of that person's track.

Identity. Each frame votes for its best match with weight similarity x quality; frames without a
match vote for nobody. The identity with the largest total wins; a tie stays unknown. A name also needs
matched faces in at least MIN_MATCHED_SHARE of the track's faces: in a crowd, one face of an employee
walking beside a visitor can land in the visitor's track, and one match among seven unmatched faces is
far likelier that than an employee Rekognition failed to match six times (at a 60 % match rate, a
track of seven with one match or none happens 1.9 % of the time; at 92 %, never). Such a track stays
unknown, so the unknown-face rule can still see a stranger.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from worker.core.assignment import assign, gated_pairs
from worker.core.detections import MATCH_THRESHOLD, detection_ids, stable_id
from worker.core.paths import PathMemory, PathStep
from worker.core.record import BoundingBox, DetectedFace, FrameRecord

# A track is named only when at least this share of its faces matched somebody (see Identity above).
# Measured (bench-quality, seeds 3/5/9): stolen identities 7.55 % -> 4.97 % of visitor visits, at a cost
# to employees matched in only 60 % of their frames (unmatched_employee 99.78 % -> 99.44 %: the share
# counts every face, not only those that could match); on seed 3, 0.2 and 0.25 left more of those
# unnamed (98.6 %, 97.3 %). See docs/BENCHMARKS.md.
MIN_MATCHED_SHARE = 0.15
# Face widths: the furthest a remembered path is followed in one step (a walker across the line of sight
# moves ~8 face widths a second): a track with no free face this near looks up no path.
PATH_REACH = 10.0


@dataclass(frozen=True)
class TrackerParams:
    max_gap_s: float = 6.0  # the longest gap (a hidden face) a track bridges
    stitch_wait_s: float = 3.0  # a lost track stays open this much longer, for a tentative track to confirm
    reorder_window_s: float = 5.0  # a frame further behind the camera's latest is late: not tracked
    direct_gap_s: float = 2.5  # longer gaps re-join a track only by stitching a confirmed tentative track
    min_hits: int = 3  # faces before a track is confirmed (may alert, counts as a sighting)
    max_distance: float = 1.25  # face widths between predicted and observed centre, with no time elapsed
    max_distance_still: float = 0.75  # ...for a track standing still, growing to max_distance at moving_speed
    moving_speed: float = 0.2  # face widths per second
    distance_per_s: float = 0.15  # the gate widens by this many face widths per second of gap...
    distance_per_speed: float = 1.0  # ...plus this share of the track's own speed (widths/s) per second
    max_distance_unmoved: float = 3.5  # the gate of a track with one face (no velocity known yet)
    same_identity_gate: float = 1.5  # the gate widens by this factor for a face matching the track's identity
    max_size_ratio: float = 1.3  # larger / smaller of the predicted and the observed face width
    strong_similarity: float = 90.0  # two different identities above this never share a track
    conflict_veto_similarity: float = 85.0  # nor does a track surely of X take a face matched to Y this well
    stitch_distance: float = 0.5  # face widths, as max_distance, for re-joining after a gap (stricter)
    max_speed: float = 0.6  # frame widths per second: faster "motion" is noise, not velocity
    max_growth: float = 0.5  # |d(ln width)/dt| at most, 1/s: faster is noise (or another face)
    stitch_min_matched: int = 2  # a known track this often matched does not take back a never-matched one
    stitch_max_unknown: int = 2  # an unknown track this long, never matched, does not take back a known one
    unpaired_cost: float = 1.25  # price of leaving a track, or a face, unpaired in a frame (see uncertainty_ref)
    identity_bonus: float = 1.5  # a face recognised as the track's own person costs this much less
    identity_conflict: float = 1.5  # ...recognised as somebody else (below strong_similarity): this much more
    unknown_vs_known: float = 1.0  # a recognised face for a track never recognised: up to this much more
    takeover_faces: int = 2  # unmatched faces in a row after which a recognised track is split
    takeover_min_matched: int = 3  # ...a track counts as recognised from this many matched frames (and 80 %)
    split_min_matched: int = 1  # a track matched in this many faces (and 80 %) is split, while not recognised,
    # after one unmatched face once another open track is recognised as its person (_named_elsewhere)
    # face widths: a track of the previous frame left without a face, beyond its gate (kept below 2 x
    # unpaired_cost: assign() never pairs at that price)
    second_chance_gate: float = 2.5
    second_chance_min_speed: float = 0.5  # ...of a track moving at least this fast (face widths/s)
    unmatched_for_recognised: float = 0.5  # an unmatched face for a recognised track costs this much more
    unknown_face_gate: float = 0.6  # gate share for an unmatched face of a track matched throughout, and the reverse
    relink_miss_cost: float = 3.5  # a young pair (or one face) the next frame finds nothing for
    relink_new_cost: float = 4.0  # a face at the previous frame starting a track of its own
    # A pair's distance is priced in the track's own uncertainty: divided by rel = (gate / uncertainty_ref) **
    # uncertainty_power, plus log(rel) (the shape of a negative log-likelihood), so the same distance is less
    # evidence against a fast or young track, whose prediction is looser, than against a slow one. Priced in
    # raw face widths (uncertainty_ref 0), a crowd's faces went to whichever track moved least. The square
    # root, not the gate itself: dividing by the whole gate let a fast walker take a slower face beside it.
    uncertainty_ref: float = 1.0
    uncertainty_power: float = 0.5
    relink_max_distance: float = 0.75  # max_distance of a young pair's look ahead: its velocity is one step's
    relink_borrow_radius: float = 4.0  # ...priced moving as the young pairs this close (face widths) would
    # A face nearing the camera slides away from the image centre as it grows (see _ahead): an error in its
    # growth rate moves the prediction by its offset from the centre (face widths) x growth x time, which
    # widens the gate by this share of that.
    radial_share: float = 1.0
    max_size_ratio_unmoved: float = 1.5  # max_size_ratio of a track with one face (its growth unknown yet)
    unmatched_for_young: float = 1.0  # an unmatched face for a track matched in every face so far: this much more
    second_chance_far: float = 6.0  # face widths: a second chance this far, for a track growing at least...
    far_min_growth: float = 0.15  # ...this fast (1/s: near the camera), when track and face are each other's only one
    # Paths other people took here (CameraTracker.paths): a track's step made within the last path_memory_s
    # (record time; at most path_memory_max of them per camera) predicts where a track now standing where
    # that step began goes next, for a second chance: at a door, a corridor's turn, the one behind walks the
    # leader's path a second later, which no constant velocity foresees. 0 turns it off.
    path_memory_s: float = 120.0
    path_memory_max: int = 256
    path_near: float = 1.0  # face widths between the track's place and where a remembered step began
    path_gate: float = 1.0  # face widths between the face and where the remembered step leads
    path_heading: float = 1.0  # face widths per second between the track's velocity and theirs as they began it
    path_min_step: float = 1.5  # face widths: shorter remembered steps are not used
    path_min_hits: int = 3  # faces a track needs before it follows a remembered path
    path_source_hits: int = 4  # ...and before its own steps are remembered (a younger track's links may be wrong)
    path_remember_min: float = 1.0  # face widths: shorter steps are not remembered (half the steps: their cost)


@dataclass(frozen=True)
class BestFrame:
    score: float
    fragment_number: str
    frame_offset_s: float
    frame_time: float
    box: BoundingBox


@dataclass(slots=True)
class Observation:
    """One face of a young track, kept until the track's links are final so it can be rebuilt."""

    det: str
    t: float
    face: DetectedFace
    fragment_number: str
    frame_offset_s: float
    quality: bool = False  # passed the alert quality gate (set by the alert engine)


@dataclass
class Track:
    track_id: str
    stream_arn: str
    first_seen: float
    last_seen: float
    centre: tuple[float, float]
    width: float
    first_centre: tuple[float, float] = (0.0, 0.0)
    first_width: float = 0.0
    velocity: tuple[float, float] = (0.0, 0.0)
    growth: float = 0.0  # d(ln width)/dt, 1/s: a face nearing the camera grows, and moves faster in the image
    hits: int = 0
    matched: int = 0  # frames with a match at or above MATCH_THRESHOLD
    votes: dict[str, float] = field(default_factory=dict)
    best_similarity: dict[str, float] = field(default_factory=dict)
    best_frame: BestFrame | None = None
    detection_ids: list[str] = field(default_factory=list)
    confirmed: bool = False
    closed: bool = False
    quality_frames: int = 0  # faces that passed the alert quality gate (worker/core/alerts.py)
    alerted: set[str] = field(default_factory=set)  # alert rules this track has raised: never twice
    observations: list[Observation] = field(default_factory=list)  # while young: its faces, for a relink
    # A recognised track's latest unmatched faces, and the track as it was before them: if they go on,
    # somebody else has taken over the place (a tailgater), and they leave as a track of their own.
    streak: list[Observation] = field(default_factory=list)
    before_streak: Track | None = None
    split_from: str = ""  # the recognised track this one was split from (it rejoins it if recognised as them)

    @property
    def unmatched(self) -> int:
        return self.hits - self.matched

    def identity(self) -> tuple[str | None, float]:
        """(identity, confidence): the weighted vote's winner, or (None, 0) when unknown, tied, or matched in
        too few of its faces to be anybody's track (MIN_MATCHED_SHARE)."""
        if not self.votes or self.matched < MIN_MATCHED_SHARE * self.hits:
            return None, 0.0
        if len(self.votes) == 1:
            ((winner, _),) = self.votes.items()
            return winner, self.best_similarity[winner]
        ranked = sorted(self.votes.items(), key=lambda kv: (-kv[1], kv[0]))
        if len(ranked) > 1 and math.isclose(ranked[0][1], ranked[1][1]):
            return None, 0.0
        winner = ranked[0][0]
        return winner, self.best_similarity[winner]

    def strong_identity(self, threshold: float) -> str | None:
        winner, similarity = self.identity()
        return winner if winner is not None and similarity >= threshold else None

    def note_quality_face(self) -> None:
        """The face it got in this frame passed the alert quality gate."""
        self.quality_frames += 1
        if self.streak:
            self.streak[-1].quality = True
        elif self.observations:
            self.observations[-1].quality = True

    def speed(self) -> float:
        """Face widths per second."""
        return math.hypot(*self.velocity) / max(self.width, 1e-6)


@dataclass
class FrameResult:
    touched: list[Track] = field(default_factory=list)  # created or changed by this frame
    closed: list[Track] = field(default_factory=list)  # ended by this frame's time
    absorbed: list[Track] = field(default_factory=list)  # tentative tracks stitched into an older one
    faces: dict[str, DetectedFace] = field(default_factory=dict)  # track id -> the face it got in this frame
    late: bool = False  # behind the reorder window (or already in restored tracks): not tracked


def quality_weight(face: DetectedFace) -> float:
    """0..1: frontal, sharp, well-lit faces count more (in votes and for the best frame)."""
    # (max(0.0, x) written as a comparison, the same value: this runs for every face)
    sharpness, brightness, pose = face.sharpness, face.brightness, face.pose
    sharp = (sharpness if sharpness is not None else 50.0) / 100.0
    bright = brightness if brightness is not None else 50.0
    light = 1.0 - abs(bright - 60.0) / 60.0
    yaw = abs(pose.yaw) if pose else 0.0
    pitch = abs(pose.pitch) if pose else 0.0
    frontal = 1.0 - (yaw / 90.0) - (pitch / 90.0)
    return 0.2 + 0.8 * (0.4 * sharp + 0.2 * (light if light > 0.0 else 0.0) + 0.4 * (frontal if frontal > 0.0 else 0.0))


def best_frame_score(face: DetectedFace, quality: float | None = None) -> float:
    # Larger faces carry more pixels; area is capped so one huge box does not win on size alone.
    area = face.box.area
    return (area if area <= 0.05 else 0.05) / 0.05 * 0.5 + (quality_weight(face) if quality is None else quality) * 0.5


# What pricing one face needs of it: centre x, y, width, recognised (a match at or above MATCH_THRESHOLD),
# who it is matched to (None when not recognised), that match's similarity.
_FaceView = tuple[float, float, float, bool, str | None, float]
# What pricing faces for one track at one frame time needs, computed once per track and frame
# (CameraTracker._view): predicted x, y, width; the gate (face widths); whether the prediction is still in
# the frame; its identity and strong identity; whether an unmatched / a recognised face narrows its gate;
# the price of an unmatched face for it (recognised, or matched in every face so far); the price of a
# recognised face for a never recognised track; its size-ratio limit; its reach (a superset of its gates,
# frame units, for the spatial pre-check).
_View = tuple[
    float,
    float,
    float,
    float,
    bool,
    str | None,
    str | None,
    bool,
    bool,
    float,
    float,
    float,
    tuple[float, float, float],
]


def _ahead(x: float, y: float, w: float, vx: float, vy: float, g: float, dt: float) -> tuple[float, float, float]:
    """Centre and width dt seconds after a face at (x, y) of width w, moving at image velocity (vx, vy) (frame
    units/s) and growing at relative rate g (1/s), under a pinhole camera.

    A head moving at a steady 3D velocity keeps, in the camera's coordinates, a steady rate of its offset from
    the image centre measured in face widths (u = (x - 0.5) / w, = X / face size) and of its inverse width
    (s = 1 / w, = depth / (focal length x face size)): all three are linear in time, whatever the direction of
    walking. In image terms, a face nearing the camera grows ever faster and slides away from the image
    centre as it grows; both are predicted here, where a constant image velocity lost people at the end of
    their walk towards a door camera."""
    w = w if w >= 1e-6 else 1e-6
    s = 1.0 / w
    u, v = (x - 0.5) * s, (y - 0.5) * s
    du, dv = vx * s - u * g, vy * s - v * g
    shrink = 1.0 - g * dt  # s(t) / s: depth shrinks linearly; capped so a face at most 2.5 x its width
    shrink = 0.4 if shrink < 0.4 else shrink
    pw = w / shrink
    return 0.5 + (u + du * dt) * pw, 0.5 + (v + dv * dt) * pw, pw


def _radial(p: TrackerParams, centre: tuple[float, float], width: float, growth: float, dt: float) -> float:
    """What a growing face's gate widens by for the error of its growth rate (TrackerParams.radial_share)."""
    if growth <= 0.0 or not p.radial_share:
        return 0.0
    return (
        p.radial_share * math.hypot(centre[0] - 0.5, centre[1] - 0.5) / (width if width >= 1e-6 else 1e-6) * growth * dt
    )


def _gate_base(p: TrackerParams, speed: float) -> float:
    """A track's gate before time widens it: max_distance for a walker, narrower for somebody standing."""
    if speed >= p.moving_speed:
        return p.max_distance
    return p.max_distance_still + (p.max_distance - p.max_distance_still) * speed / p.moving_speed


def _face_view(face: DetectedFace) -> _FaceView:
    cx, cy = face.box.centre
    best = face.best_match
    if best is not None and best.similarity >= MATCH_THRESHOLD:
        return cx, cy, face.box.width, True, best.external_image_id, best.similarity
    return cx, cy, face.box.width, False, None, 0.0 if best is None else best.similarity


def _place(
    px: float, py: float, pw: float, inside: bool, gate: float, cx: float, cy: float, width: float, max_ratio: float
) -> float | None:
    """Cost of a face at (cx, cy) of this width being a track predicted at (px, py, pw), or None when it
    cannot be: sizes too far apart, the prediction out of the frame, or beyond the gate (face widths)."""
    ratio = max(width, pw) / max(min(width, pw), 1e-6)
    if ratio > max_ratio or not inside:
        return None  # out of the frame: its path has left it, a face here now is someone else
    scale = (width + pw) / 2.0
    distance = math.hypot(cx - px, cy - py) / max(scale, 1e-6)
    if distance > gate:
        return None
    return distance + 3.0 * (ratio - 1.0)


class CameraTracker:
    """The tracks of one camera (one Kinesis partition key)."""

    def __init__(self, stream_arn: str, params: TrackerParams) -> None:
        self.stream_arn = stream_arn
        self.params = params
        self.open: list[Track] = []
        self.seen: set[str] = set()  # detection ids already assigned: duplicates are ignored
        self.watermark = 0.0  # latest frame time seen on this camera
        self.applied_until = 0.0  # frames at or before this time are already in restored tracks
        self.previous_t = 0.0  # the latest frame time with faces: its links to young tracks are provisional
        # Recent steps of tracks at this camera (see TrackerParams.path_memory_s)
        margin = params.path_near * params.max_size_ratio
        self.paths = PathMemory(params.path_memory_s, int(params.path_memory_max), margin)

    # -- gates -----------------------------------------------------------------------------------

    def _predict(self, track: Track, t: float) -> tuple[float, float, float]:
        """Centre and width at time t (see _ahead)."""
        (x, y), (vx, vy), width = track.centre, track.velocity, track.width
        return _ahead(x, y, width, vx, vy, track.growth, t - track.last_seen)

    def _gate(self, track: Track, dt: float, base: float | None = None, radial: bool = True) -> float:
        """The track's gate after dt seconds, in face widths (not `radial`: without the widening for a growing
        face, as stitching after a gap wants: over seconds it would grow by several widths)."""
        if track.hits <= 1:
            return self.params.max_distance_unmoved
        p = self.params
        speed = track.speed()
        start = _gate_base(p, speed) if base is None else base
        widen = _radial(p, track.centre, track.width, track.growth, dt) if radial else 0.0
        return start + dt * (p.distance_per_s + p.distance_per_speed * speed) + widen

    def _place_cost(
        self,
        track: Track,
        centre: tuple[float, float],
        width: float,
        t: float,
        gate_scale: float = 1.0,
        base: float | None = None,
    ) -> float | None:
        """Cost of the face at `centre` being `track` at time t, or None when it cannot be (for stitching after
        a gap: the strict gate, not widened for a growing face)."""
        px, py, pw = self._predict(track, t)
        inside = -0.05 <= px <= 1.05 and -0.05 <= py <= 1.05
        gate = self._gate(track, abs(t - track.last_seen), base, radial=False) * gate_scale
        return _place(px, py, pw, inside, gate, centre[0], centre[1], width, self.params.max_size_ratio)

    def _view(self, track: Track, t: float, base: float | None = None) -> _View | None:
        """The track's figures at time t that every face it is priced against shares: computed once per track
        and frame rather than once per pair. None: seen too long ago to take a face directly."""
        p = self.params
        elapsed = t - track.last_seen
        dt = abs(elapsed)
        if dt > p.direct_gap_s:
            return None
        # _predict and _gate, written out: this runs for every open track of every frame
        growth, width, (x, y), (vx, vy) = track.growth, track.width, track.centre, track.velocity
        px, py, pw = _ahead(x, y, width, vx, vy, growth, elapsed)
        hits, matched = track.hits, track.matched
        if hits <= 1:
            gate = p.max_distance_unmoved
        else:
            speed = math.hypot(vx, vy) / (width if width >= 1e-6 else 1e-6)
            start = _gate_base(p, speed) if base is None else base
            gate = (
                start + dt * (p.distance_per_s + p.distance_per_speed * speed) + _radial(p, (x, y), width, growth, dt)
            )
        winner, similarity = track.identity() if track.votes else (None, 0.0)
        ratio_limit = p.max_size_ratio_unmoved if hits <= 1 else p.max_size_ratio
        # _place measures in the mean width of prediction and face (at most max_size_ratio apart)
        scale = pw * (1.0 + ratio_limit) / 2.0
        widen = p.same_identity_gate if track.votes else 1.0  # only a recognised track widens
        return (
            px,
            py,
            pw,
            gate,
            -0.05 <= px <= 1.05 and -0.05 <= py <= 1.05,
            winner,
            winner if winner is not None and similarity >= p.strong_similarity else None,
            hits >= 3 and matched >= 0.8 * hits,  # matched throughout: an unmatched face only where clear
            hits >= 2 and matched == 0,  # never matched: a recognised face only where clear
            p.unmatched_for_recognised
            if matched >= p.takeover_min_matched and matched >= 0.8 * hits  # as _recognised
            else (p.unmatched_for_young if 1 <= hits == matched else 0.0),
            p.unknown_vs_known * min(1.0, hits / 3.0),
            ratio_limit,
            (px, py, gate * widen * scale),
        )

    def _prices(
        self, view: _View, faces: Sequence[_FaceView], candidates: Iterable[int], reach: tuple[float, float, float]
    ) -> list[tuple[int, float]]:
        """The candidate faces (indices into `faces`) within `reach` that the track of `view` may take, with
        their costs, in candidate order. One call per track: this loop runs for every pair of every frame,
        so _place is written out in it."""
        p = self.params
        px, py, pw, gate, inside, winner, strong, unknown_tight, known_tight, unmatched_extra, unknown_extra = view[:11]
        max_ratio = view[11]
        out: list[tuple[int, float]] = []
        if not inside:
            return out  # its path has left the frame: a face here now is someone else
        x, y, radius = reach
        radius2 = radius * radius
        veto = p.conflict_veto_similarity
        norm = p.uncertainty_ref
        for fi in candidates:
            cx, cy, width, known, who, similarity = faces[fi]
            if (cx - x) ** 2 + (cy - y) ** 2 > radius2:
                continue  # beyond any gate: not worth pricing
            conflict = known and strong is not None and strong != who
            if conflict and similarity >= veto:
                continue  # surely X, and this face is somebody else: two people
            # Recognised as the track's own person: evidence enough to follow a fast walker a little further.
            same_person = known and winner == who
            if conflict or (known_tight if known else unknown_tight):
                # A weaker match of somebody else for a track surely of X (a profile view may be matched
                # wrong), an unmatched face for a track recognised in nearly every frame, or a recognised face
                # for a track never recognised: it may still be them (one frame in ten of a person is not
                # matched, more when they look away), but only where the motion says so clearly.
                scale = p.unknown_face_gate
            else:
                scale = p.same_identity_gate if same_person else 1.0
            small, large = (width, pw) if width < pw else (pw, width)
            ratio = large / (small if small >= 1e-6 else 1e-6)
            if ratio > max_ratio:
                continue
            mean = (width + pw) / 2.0
            distance = math.hypot(cx - px, cy - py) / (mean if mean >= 1e-6 else 1e-6)
            if distance > gate * scale:
                continue
            if norm > 0:  # in the track's own uncertainty: its gate (see TrackerParams.uncertainty_ref)
                rel = (gate / norm) ** p.uncertainty_power
                place = distance / rel + math.log(rel) + 3.0 * (ratio - 1.0)
            else:
                place = distance + 3.0 * (ratio - 1.0)
            if same_person:
                out.append((fi, place - p.identity_bonus))
            elif known and winner is not None:
                out.append((fi, place + p.identity_conflict))  # recognised as somebody else, below the veto
            elif known and known_tight:
                # A face Rekognition recognises joining a track it never recognised: strong evidence of two
                # people (a stranger is never matched). The reverse, an unmatched face for a recognised
                # track, is weak evidence (one frame in ten of an employee is not matched) and is not priced.
                out.append((fi, place + unknown_extra))
            elif not known and unmatched_extra:
                out.append((fi, place + unmatched_extra))
            else:
                out.append((fi, place))
        return out

    def _identities_agree(self, lost: Track, new: Track) -> bool:
        p = self.params
        x, y = lost.identity()[0], new.identity()[0]
        if x is not None and y is not None:
            return x == y
        if x is not None and new.matched == 0 and lost.matched >= p.stitch_min_matched:
            return False  # a recognised person came back unrecognised in every frame: someone else
        if y is not None and lost.matched == 0 and lost.unmatched >= p.stitch_max_unknown:
            return False  # a long-unknown face came back recognised: someone else
        return True

    # -- frames ----------------------------------------------------------------------------------

    def observe(self, frame: FrameRecord) -> FrameResult:
        """Add one frame's faces."""
        t = frame.frame_time
        if t <= self.applied_until + 0.0005 or t < self.watermark - self.params.reorder_window_s:
            # Replayed after a hand-off (restored tracks hold it), or delivered again long after: its
            # tracks may be closed, and a new one would duplicate them. The detection is still indexed.
            return FrameResult(late=True)
        result = FrameResult(closed=self.advance(t))
        if not frame.faces:
            return result
        seen = self.seen
        faces = [(det, face) for det, face in zip(detection_ids(frame), frame.faces, strict=True) if det not in seen]
        views = [_face_view(f) for _, f in faces]
        existed = {id(x) for x in self.open}
        if faces and t - self.previous_t > self.params.max_gap_s + self.params.stitch_wait_s and self.paths:
            # No face for longer than a track stays open: the camera was quiet, and starts again with no open
            # track and no path in mind, as a replay started here does (worker/ops/rewind.py, quiet points).
            self.paths.clear()
        if faces and t > self.previous_t + 0.0005:
            self._relink(t, views, result)
        self._associate(t, faces, views, frame, result)
        # Tracks a tentative one may continue: seen twice (motion known), then not for over direct_gap_s.
        lost_tracks = [tr for tr in self.open if tr.hits >= 2 and tr.last_seen < t - self.params.direct_gap_s]
        result.touched = list({id(x): x for x in result.touched}.values())  # a relinked track may be there twice
        for track in list(result.touched):
            if track.confirmed or track.hits not in (2, self.params.min_hits) or track in result.absorbed:
                continue
            # From its second face on (its motion known), a tentative track may continue a lost one: a
            # short visit hidden half-way then still makes one sighting rather than two that never confirm.
            lost = self._stitch_target(track, lost_tracks) if lost_tracks else None
            if lost is not None:
                self._absorb(lost, track)
                result.touched = [lost if x is track else x for x in result.touched]
                if track.track_id in result.faces:
                    result.faces[lost.track_id] = result.faces.pop(track.track_id)
                result.absorbed.append(track)
            elif track.hits == self.params.min_hits:
                track.confirmed = True
        result.touched = list({id(x): x for x in result.touched}.values())
        if result.absorbed:
            self._settle_absorbed(result, existed)
        for track in result.touched:
            if track.hits > 2:
                track.observations = []  # its links are final: nothing to rebuild from
        if faces:
            self.previous_t = max(self.previous_t, t)
        return result

    def _associate(
        self,
        t: float,
        faces: list[tuple[str, DetectedFace]],
        face_views: list[_FaceView],
        frame: FrameRecord,
        result: FrameResult,
    ) -> None:
        """Pair this frame's faces with open tracks (jointly), and start a track for each face left."""
        tracks = self.open
        view = self._view
        views = [view(track, t) for track in tracks]
        reaches = [None if v is None else v[-1] for v in views]
        fragment, offset = frame.fragment_number, frame.frame_offset_s

        def prices(ti: int, candidates: Sequence[int]) -> list[tuple[int, float]]:
            view, reach = views[ti], reaches[ti]
            return [] if view is None or reach is None else self._prices(view, face_views, candidates, reach)

        pairs = gated_pairs(reaches, [(f[0], f[1]) for f in face_views], prices)
        chosen = assign(pairs, self.params.unpaired_cost)
        chosen += self._second_chance(t, tracks, faces, chosen)
        used_faces: set[int] = set()
        p = self.params
        remember = p.path_memory_s > 0
        for ti, fi in sorted(chosen):
            used_faces.add(fi)
            det, face = faces[fi]
            track = tracks[ti]
            snapshot = self._before_unmatched(track, face)
            if remember and track.hits >= p.path_source_hits:
                self._remember_step(track, face, t)
            self._add(track, det, face, t, fragment, offset)
            result.touched.append(track)
            result.faces[track.track_id] = face
            self._watch_identity(track, snapshot, Observation(det, t, face, fragment, offset), result)
        for fi, (det, face) in enumerate(faces):
            if fi in used_faces:
                continue
            track = self._new_track(frame.stream_arn, t, face)
            self._add(track, det, face, t, fragment, offset)
            self.open.append(track)
            result.touched.append(track)
            result.faces[track.track_id] = face

    def _remember_step(self, track: Track, face: DetectedFace, t: float) -> None:
        """Keep the step this face makes the track take, for a track walking there later (path_memory_s)."""
        dt = t - track.last_seen
        (x0, y0), w0 = track.centre, track.width
        if not 0.0 < dt <= self.params.direct_gap_s or w0 < 1e-6:
            return
        (x1, y1), w1 = face.box.centre, face.box.width
        shortest = self.params.path_remember_min * w0
        if (x1 - x0) ** 2 + (y1 - y0) ** 2 < shortest * shortest:
            return  # nearly in place: the next step, starting about here, says where they went
        vx, vy = track.velocity
        step = PathStep.remembered(track.last_seen, t, x0, y0, w0, x1, y1, w1, vx / w0, vy / w0, track.track_id)
        if step is not None:
            self.paths.add(step)

    def _path_ahead(self, track: Track, t: float) -> list[tuple[float, float, float]]:
        """Where the track would be at time t had it walked on as somebody did who passed where it stands,
        coming the same way (centre x, y, width): one per such remembered step, since two people may have
        turned different ways there.

        The track stands at a share f along a remembered step (start -> end, within path_near of it); a
        step later that person was the same share along their next step, so the track moves by (1 - f) of
        this step and f of the next, in face widths where it stands."""
        p = self.params
        (x, y), w, elapsed = track.centre, track.width, t - track.last_seen
        ux, uy = track.velocity[0] / w, track.velocity[1] / w
        horizon = t - p.path_memory_s
        out = []
        for x_lo, x_hi, y_lo, y_hi, step in self.paths.near(x, y):
            if x < x_lo or x > x_hi or y < y_lo or y > y_hi:
                continue  # passed elsewhere (the quick test: outside its box)
            start, end, x0, y0, w0, x1, y1, w1, wx, wy, _ = step
            dt = end - start
            if not horizon <= end <= t or abs(dt - elapsed) > 0.25 * elapsed:
                continue  # forgotten, from a later frame (delivered out of order), or a step of another length
            sx, sy = x1 - x0, y1 - y0
            span = sx * sx + sy * sy
            f = ((x - x0) * sx + (y - y0) * sy) / span if span > 1e-12 else 0.0
            f = 0.0 if f < 0.0 else 1.0 if f > 1.0 else f
            wp = w0 + f * (w1 - w0)  # their width there
            small, large = (w, wp) if w < wp else (wp, w)
            if large > p.max_size_ratio * small:
                continue
            if math.hypot(x - x0 - f * sx, y - y0 - f * sy) > p.path_near * (w + wp) / 2.0:
                continue  # not on their way
            if math.hypot(ux - (wx + f * (sx / dt / w0 - wx)), uy - (wy + f * (sy / dt / w0 - wy))) > p.path_heading:
                continue  # coming another way (their velocity there against the track's, face widths/s)
            mx, my, mw = (1.0 - f) * sx, (1.0 - f) * sy, (1.0 - f) * w1
            if f > 0.0:
                nxt = self.paths.following(step)
                if nxt is not None and abs(nxt.end - nxt.start - dt) > 0.25 * dt:
                    nxt = None  # their next step took another time (a frame missed): not one step on
                if nxt is None:
                    if f > 0.5:
                        continue  # past the middle of their step, and where they went next is not known
                    mx, my, mw = sx, sy, w1 + f * (w1 - w0)
                else:
                    mx, my, mw = mx + f * (nxt.x1 - nxt.x0), my + f * (nxt.y1 - nxt.y0), mw + f * nxt.w1
            if mx * mx + my * my < (p.path_min_step * wp) ** 2:
                continue  # a short move: the track's own motion foresees it as well
            out.append((x + mx * w / wp, y + my * w / wp, w * mw / wp))
        return out

    def _second_chance(
        self, t: float, tracks: list[Track], faces: list[tuple[str, DetectedFace]], chosen: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """Pairs, beyond the gates, of a track seen in the previous frame that got no face and a face no
        track took: a walker who turned or sped up (near the camera, image motion grows fast). Only where
        identity cannot object: never an unmatched face for a recognised track, nor the reverse. Up to
        second_chance_far for a track nearing the camera (growing), where a turn moves the face furthest, if
        the track and the face have no other candidate here: then nobody else can be that face."""
        p = self.params
        if p.second_chance_gate <= 0 or len(chosen) == len(faces):
            return []
        used_t = {ti for ti, _ in chosen}
        used_f = {fi for _, fi in chosen}
        pairs: dict[tuple[int, int], float] = {}
        far: dict[tuple[int, int], float] = {}
        free = [face.box.centre for fi, (_, face) in enumerate(faces) if fi not in used_f]
        for ti, track in enumerate(tracks):
            if ti in used_t or track.hits < 2 or abs(track.last_seen - self.previous_t) > 0.0005:
                continue
            if t - track.last_seen > p.direct_gap_s:
                continue  # longer gaps are for stitching
            # somebody standing still does not jump: a face beyond the gate is a newcomer, unless somebody
            # else's path went on from here (path_memory_s)
            nearing = track.growth >= p.far_min_growth  # walking at the camera: moving, however slow in the image
            moving = nearing or track.speed() >= p.second_chance_min_speed
            ways = []
            if self.paths and track.hits >= p.path_min_hits:
                (x, y), reach = track.centre, PATH_REACH * track.width
                if any(abs(x - fx) <= reach and abs(y - fy) <= reach for fx, fy in free):
                    ways = self._path_ahead(track, t)
            px, py, pw = self._predict(track, t)
            if nearing:
                # Near the camera, a face whose straight path has left the image but who is still seen turned
                # along its edge (a corridor beside the camera): look for it at the edge, not beyond.
                px = 0.0 if px < 0.0 else 1.0 if px > 1.0 else px
                py = 0.0 if py < 0.0 else 1.0 if py > 1.0 else py
            direct = moving and -0.05 <= px <= 1.05 and -0.05 <= py <= 1.05
            if not (direct or ways):
                continue
            winner = track.identity()[0] if track.votes else None
            for fi, (_, face) in enumerate(faces):
                if fi in used_f:
                    continue
                best = face.best_match
                known = best is not None and best.similarity >= MATCH_THRESHOLD
                if known and best is not None and winner is not None and winner != best.external_image_id:
                    continue
                if (not known and self._recognised(track)) or (known and track.matched == 0):
                    continue
                width = face.box.width
                cx, cy = face.box.centre
                if direct and max(width, pw) / max(min(width, pw), 1e-6) <= p.max_size_ratio:
                    distance = math.hypot(cx - px, cy - py) / max((width + pw) / 2.0, 1e-6)
                    if distance <= p.second_chance_gate and distance < 2.0 * p.unpaired_cost:
                        pairs[(ti, fi)] = distance  # (assign() never pairs at twice the unpaired price or more)
                    elif distance <= p.second_chance_far and nearing:
                        far[(ti, fi)] = distance
                for hx, hy, hw in ways:
                    if max(width, hw) / max(min(width, hw), 1e-6) > p.max_size_ratio:
                        continue
                    distance = math.hypot(cx - hx, cy - hy) / max((width + hw) / 2.0, 1e-6)
                    if distance <= p.path_gate and distance < pairs.get((ti, fi), math.inf):
                        pairs[(ti, fi)] = distance
                        far.pop((ti, fi), None)
        if far:
            candidates = [*pairs, *far]
            per_t = collections.Counter(ti for ti, _ in candidates)
            per_f = collections.Counter(fi for _, fi in candidates)
            for ti, fi in far:
                if per_t[ti] == 1 and per_f[fi] == 1:
                    pairs[(ti, fi)] = 1.9 * p.unpaired_cost  # below leaving both unpaired (2 x unpaired_cost)
        return assign(pairs, p.unpaired_cost) if pairs else []

    @staticmethod
    def _settle_absorbed(result: FrameResult, existed: set[int]) -> None:
        """What downstream must remove: tracks that existed before this frame and are gone, under an id no
        touched track carries. A track split off and stitched on within the frame was never reported. A track
        dropped by a relink can come back in the same frame under its id (split off again from the face it
        began with): it lives on, and its document is rewritten, not deleted."""
        touched = {x.track_id: x for x in result.touched}
        kept = []
        for gone in result.absorbed:
            if id(gone) not in existed:
                continue
            back = touched.get(gone.track_id)
            if back is None:
                kept.append(gone)
            else:
                back.alerted |= gone.alerted  # alerts it raised stay raised
        result.absorbed = kept

    def _new_track(self, stream_arn: str, t: float, face: DetectedFace) -> Track:
        return Track(
            track_id=stable_id("track", stream_arn, f"{t:.3f}", face.index),
            stream_arn=stream_arn,
            first_seen=t,
            last_seen=t,
            centre=face.box.centre,
            width=face.box.width,
            first_centre=face.box.centre,
            first_width=face.box.width,
        )

    # -- young tracks: the previous frame's provisional links, chosen again -----------------------

    def _relink(self, t: float, faces: list[_FaceView], result: FrameResult) -> None:
        """Choose again how the previous frame's faces joined one-face tracks, knowing this frame.

        Parents are the first faces of young tracks (one face, or two with the second at the previous
        frame); children are the previous frame's faces in young tracks. A pair costs its link plus how
        well its constant-velocity prediction finds a face now; a parent left alone costs how well it
        alone finds one, a child left alone starts a track and costs the same way. The joint optimum
        replaces the links made one frame ago when it differs.
        """
        p = self.params
        t1 = self.previous_t
        if t1 <= 0.0 or t - t1 > p.direct_gap_s:
            return
        parents: list[Observation] = []
        children: list[Observation] = []
        owner: dict[str, Track] = {}
        for track in self.open:
            obs = track.observations
            if track.confirmed or not obs or len(obs) != track.hits or len(obs) > 2:
                continue  # restored (no faces kept), confirmed, or final
            if abs(obs[-1].t - t1) <= 0.0005:
                children.append(obs[-1])
                if len(obs) == 2:
                    parents.append(obs[0])
            elif len(obs) == 1 and t1 - obs[0].t <= p.direct_gap_s:
                parents.append(obs[0])  # a one-face track the previous frame did not continue
            else:
                continue
            for o in obs:
                owner[o.det] = track
        if not parents or not children:
            return
        probes = [self._probe([a]) for a in parents]
        seen_as = [_face_view(b.face) for b in children]
        links: dict[tuple[int, int], float] = {}
        for ai, a in enumerate(parents):
            then = self._view(probes[ai], t1)
            if then is None:
                continue
            for bi, b in enumerate(children):
                # within its reach then; priced at the child's own time (the same, but for rounding)
                view = then if b.t == t1 else self._view(probes[ai], b.t)
                if b.t > a.t and view is not None:
                    for _, link in self._prices(view, seen_as, (bi,), then[-1]):
                        links[(ai, bi)] = link
        if not links or self._uncontested(links, parents, children, owner):
            return
        miss = p.relink_miss_cost

        def ahead(probe: Track) -> float:
            view = self._view(probe, t, base=p.relink_max_distance)
            if view is None:
                return miss
            costs = [c for _, c in self._prices(view, faces, range(len(faces)), view[-1])]
            return min(min(costs), miss) if costs else miss

        paired = {key: self._probe([parents[key[0]], children[key[1]]]) for key in links}
        alone_parent = [ahead(probe) for probe in probes]  # a parent's probe is the one that priced its links
        alone_child = [p.relink_new_cost + ahead(self._alone(bi, b, paired)) for bi, b in enumerate(children)]
        # each pair relative to leaving both alone, plus the two unpaired prices assign() charges
        pairs = {
            (ai, bi): link + ahead(paired[(ai, bi)]) - alone_parent[ai] - alone_child[bi] + 2 * p.unpaired_cost
            for (ai, bi), link in links.items()
        }
        chosen = dict(assign(pairs, p.unpaired_cost))
        groups: list[list[Observation]] = [
            [a] + ([children[chosen[ai]]] if ai in chosen else []) for ai, a in enumerate(parents)
        ]
        linked = set(chosen.values())
        groups += [[b] for bi, b in enumerate(children) if bi not in linked]
        current = {tuple(o.det for o in owner[o.det].observations) for o in parents + children}
        if {tuple(o.det for o in g) for g in groups} == current:
            return
        heads = {tr.observations[0].det: tr for tr in owner.values()}
        kept: set[int] = set()
        for group in groups:
            head = heads.get(group[0].det)
            if head is None:
                head = self._new_track(self.stream_arn, group[0].t, group[0].face)
                self.open.append(head)
            track = head
            kept.add(id(track))
            if [o.det for o in track.observations] != [o.det for o in group]:
                self._rebuild(track, group)
                result.touched.append(track)
        gone = [tr for tr in {id(x): x for x in owner.values()}.values() if id(tr) not in kept]
        if gone:
            ids = {id(tr) for tr in gone}
            self.open = [tr for tr in self.open if id(tr) not in ids]
            result.absorbed += gone
            result.touched = [tr for tr in result.touched if id(tr) not in ids]

    @staticmethod
    def _uncontested(
        links: dict[tuple[int, int], float],
        parents: list[Observation],
        children: list[Observation],
        owner: dict[str, Track],
    ) -> bool:
        """Every parent and child has at most one possible partner, and those pairs are already linked."""
        seen_a: set[int] = set()
        seen_b: set[int] = set()
        for ai, bi in links:
            if ai in seen_a or bi in seen_b or owner[parents[ai].det] is not owner[children[bi].det]:
                return False
            seen_a.add(ai)
            seen_b.add(bi)
        return True

    def _alone(self, bi: int, child: Observation, paired: dict[tuple[int, int], Track]) -> Track:
        """The probe of a face of the previous frame starting a track of its own, moving as the pairs beside it
        that do not hold it would (people entering together walk together): left standing still, a newcomer
        behind a walker is priced as if it took the place the walker has left."""
        probe = self._probe([child])
        radius = self.params.relink_borrow_radius
        if radius <= 0:
            return probe
        (cx, cy), width = child.face.box.centre, child.face.box.width
        # People walking together share one 3D velocity: in the camera's coordinates (see _ahead), the same rates
        # of u, v and of the inverse width relative to it, which the newcomer's own place turns into image motion.
        total = su = sv = sg = 0.0
        for (_, other), pair in paired.items():
            if other == bi or pair.hits < 2:
                continue
            d = math.hypot(cx - pair.centre[0], cy - pair.centre[1]) / ((width + pair.width) / 2.0)
            if d > radius or max(width, pair.width) / min(width, pair.width) > self.params.max_size_ratio:
                continue
            w = 1.0 / (1.0 + d)
            total += w
            (px, py), (vx, vy), g, ps = pair.centre, pair.velocity, pair.growth, 1.0 / pair.width
            su += w * (vx * ps - (px - 0.5) * ps * g)
            sv += w * (vy * ps - (py - 0.5) * ps * g)
            sg += w * g * ps  # one 3D velocity: one rate of the inverse width (-growth / width)
        if total > 0.0:
            du, dv, g = su / total, sv / total, sg / total * width
            probe.velocity = ((du * width + (cx - 0.5) * g), (dv * width + (cy - 0.5) * g))
            probe.growth = g
        return probe

    def _probe(self, obs: list[Observation]) -> Track:
        """A throw-away track made of these faces, to price what it would do next."""
        first = obs[0]
        box = first.face.box
        probe = Track("", self.stream_arn, first.t, first.t, box.centre, box.width, box.centre, box.width)
        for o in obs:
            self._apply(probe, o.face, o.t, o.fragment_number, o.frame_offset_s, scored=False)
        return probe

    def _rebuild(self, track: Track, obs: list[Observation]) -> None:
        """The track made again from these faces (its id and the alerts it raised stay)."""
        first = obs[0]
        track.first_seen = track.last_seen = first.t
        track.centre = track.first_centre = first.face.box.centre
        track.width = track.first_width = first.face.box.width
        track.velocity, track.growth = (0.0, 0.0), 0.0
        track.hits = track.matched = track.quality_frames = 0
        track.votes, track.best_similarity, track.best_frame = {}, {}, None
        track.detection_ids, track.observations = [], []
        track.streak, track.before_streak = [], None  # a run of unmatched faces counts again from here...
        for o in obs:
            snapshot = self._before_unmatched(track, o.face)
            self._apply(track, o.face, o.t, o.fragment_number, o.frame_offset_s)
            track.detection_ids.append(o.det)
            if len(track.observations) < 2:
                track.observations.append(o)
            track.quality_frames += o.quality
            # ...as _watch_identity counts it: a recognised first face then unmatched ones may still be split off
            best = o.face.best_match
            if best is not None and best.similarity >= MATCH_THRESHOLD:
                track.streak, track.before_streak = [], None
            elif snapshot is not None or track.before_streak is not None:
                track.before_streak = track.before_streak or snapshot
                track.streak.append(o)

    def _stitch_target(self, new: Track, candidates: list[Track]) -> Track | None:
        """The lost track (seen at least twice, so its motion is known) this tentative one continues."""
        best: tuple[float, str, Track] | None = None
        for lost in candidates:
            if lost is new or lost.hits < 2 or lost.last_seen >= new.first_seen:
                continue
            gap = new.first_seen - lost.last_seen
            if gap <= self.params.direct_gap_s or gap > self.params.max_gap_s:
                continue
            cost = self._place_cost(
                lost, new.first_centre, new.first_width, new.first_seen, base=self.params.stitch_distance
            )
            if cost is None or not self._identities_agree(lost, new):
                continue
            if best is None or (cost, lost.track_id) < best[:2]:
                best = (cost, lost.track_id, lost)
        return best[2] if best else None

    # -- takeovers: somebody else in a recognised person's place -----------------------------------

    def _recognised(self, track: Track) -> bool:
        p = self.params
        return track.matched >= p.takeover_min_matched and track.matched >= 0.8 * track.hits

    def _before_unmatched(self, track: Track, face: DetectedFace) -> Track | None:
        """A copy of a recognised track about to take its first unmatched face in a row (else None)."""
        best = face.best_match
        p = self.params
        if track.streak or (best is not None and best.similarity >= MATCH_THRESHOLD):
            return None
        if track.matched < p.split_min_matched or track.matched < 0.8 * track.hits:
            return None
        return dataclasses.replace(
            track,
            votes=dict(track.votes),
            best_similarity=dict(track.best_similarity),
            detection_ids=list(track.detection_ids),
            alerted=set(track.alerted),
            observations=[],
            streak=[],
            before_streak=None,
        )

    def _watch_identity(self, track: Track, snapshot: Track | None, obs: Observation, result: FrameResult) -> None:
        """After a face joined: count a recognised track's unmatched faces in a row; split them off when
        they go on; bring a split-off track back when it is recognised as the track it left."""
        best = obs.face.best_match
        if best is not None and best.similarity >= MATCH_THRESHOLD:
            track.streak, track.before_streak = [], None
            parent = self._by_id(track.split_from) if track.split_from else None
            if (
                parent is not None
                and parent.identity()[0] == best.external_image_id
                and parent.last_seen < track.first_seen
            ):
                self._absorb(parent, track)  # the same person after all: one track again
                parent.streak, parent.before_streak = [], None
                result.touched = [parent if x is track else x for x in result.touched]
                result.faces[parent.track_id] = result.faces.pop(track.track_id)
                result.absorbed.append(track)
            return
        if snapshot is not None:
            track.before_streak = snapshot
        if track.before_streak is None:
            return
        track.streak.append(obs)
        p = self.params
        before = track.before_streak
        long_enough = self._recognised(before) and len(track.streak) >= p.takeover_faces
        if not long_enough and not self._named_elsewhere(track, before, track.streak[0].t):
            return
        streak, before = track.streak, track.before_streak
        new = self._new_track(self.stream_arn, streak[0].t, streak[0].face)
        new.split_from = track.track_id
        self._rebuild(new, streak)
        for name in (
            "first_seen",
            "last_seen",
            "centre",
            "width",
            "first_centre",
            "first_width",
            "velocity",
            "growth",
            "hits",
            "matched",
            "votes",
            "best_similarity",
            "best_frame",
            "detection_ids",
            "confirmed",
            "quality_frames",
        ):
            setattr(track, name, getattr(before, name))
        track.streak, track.before_streak = [], None
        self.open.append(new)
        result.touched.append(new)
        result.faces[new.track_id] = result.faces.pop(track.track_id)

    def _named_elsewhere(self, track: Track, before: Track, since: float) -> bool:
        """Another open track, seen since the run of unmatched faces began, is recognised as the person this
        track was named for: one person is not in two places, so the run is somebody else's."""
        who = before.identity()[0]
        if who is None:
            return False
        for other in self.open:
            if other is not track and other.last_seen >= since and other.matched and other.identity()[0] == who:
                return True
        return False

    def _by_id(self, track_id: str) -> Track | None:
        return next((tr for tr in self.open if tr.track_id == track_id), None)

    def _absorb(self, lost: Track, new: Track) -> None:
        lost.detection_ids += new.detection_ids
        lost.hits += new.hits
        lost.matched += new.matched
        lost.quality_frames += new.quality_frames
        lost.alerted |= new.alerted
        for who, weight in new.votes.items():
            lost.votes[who] = lost.votes.get(who, 0.0) + weight
        for who, sim in new.best_similarity.items():
            lost.best_similarity[who] = max(lost.best_similarity.get(who, 0.0), sim)
        if new.best_frame and (lost.best_frame is None or new.best_frame.score > lost.best_frame.score):
            lost.best_frame = new.best_frame
        lost.centre, lost.width, lost.velocity, lost.growth = new.centre, new.width, new.velocity, new.growth
        lost.last_seen = new.last_seen
        # A run of unmatched faces pending before the gap is no longer one run: a split must never undo this.
        lost.streak, lost.before_streak = [], None
        lost.confirmed = lost.confirmed or lost.hits >= self.params.min_hits
        self.open = [x for x in self.open if x is not new]

    def _add(self, track: Track, det: str, face: DetectedFace, t: float, fragment: str, offset: float) -> None:
        self.seen.add(det)
        track.detection_ids.append(det)
        if track.hits < 2 and len(track.observations) == track.hits:  # young, and not restored
            track.observations.append(Observation(det, t, face, fragment, offset))
        self._apply(track, face, t, fragment, offset)

    def _apply(
        self, track: Track, face: DetectedFace, t: float, fragment: str, offset: float, scored: bool = True
    ) -> None:
        """Move the track to this face: position, velocity, identity votes, best frame (not `scored`: a
        throw-away probe, whose best frame nobody reads)."""
        # Hot (every face, and every probe of a relink): min/max are written out as comparisons (the same
        # values), attributes read once.
        track.hits += 1
        box = face.box
        last = track.last_seen
        if t > last:
            # In the camera's own coordinates (see _ahead): u, v = offset from the image centre in face widths,
            # s = 1 / width. For somebody walking straight at a steady pace all three change linearly in time.
            p = self.params
            dt = t - last
            cx, cy = box.centre
            (x0, y0), growth = track.centre, track.growth
            s0 = 1.0 / (track.width if track.width >= 1e-6 else 1e-6)
            s1 = 1.0 / (box.width if box.width >= 1e-6 else 1e-6)
            u0, v0, u1, v1 = (x0 - 0.5) * s0, (y0 - 0.5) * s0, (cx - 0.5) * s1, (cy - 0.5) * s1
            du, dv, ds = (u1 - u0) / dt, (v1 - v0) / dt, (s1 - s0) / dt
            if track.hits > 2:  # the second face gives the first velocity; later ones smooth it
                vx, vy = track.velocity
                du = 0.5 * du + 0.5 * (vx * s0 - u0 * growth)
                dv = 0.5 * dv + 0.5 * (vy * s0 - v0 * growth)
                ds = 0.5 * ds - 0.5 * growth * s0
            # Stored as the image velocity and the relative growth rate at this face (what _ahead reads).
            top = p.max_growth
            g = -ds / s1
            g = top if g >= top else -top if g <= -top else g
            top = p.max_speed
            vx, vy = (du + u1 * g) / s1, (dv + v1 * g) / s1
            vx = top if vx >= top else -top if vx <= -top else vx
            vy = top if vy >= top else -top if vy <= -top else vy
            track.velocity = (vx, vy)
            track.growth = g
            track.centre = (cx, cy)
            track.width = box.width
            track.last_seen = t
        if t < track.first_seen:
            track.first_seen = t
        best = face.best_match
        known = best is not None and best.similarity >= MATCH_THRESHOLD
        if not (known or scored):
            return
        quality = quality_weight(face)
        if known and best is not None:
            track.matched += 1
            who, similarity = best.external_image_id, best.similarity
            track.votes[who] = track.votes.get(who, 0.0) + similarity / 100.0 * quality
            held = track.best_similarity.get(who, 0.0)
            track.best_similarity[who] = similarity if similarity > held else held
        if not scored:
            return
        score = best_frame_score(face, quality)
        current = track.best_frame
        if current is None or score > current.score or (score == current.score and t < current.frame_time):
            track.best_frame = BestFrame(score, fragment, offset, t, box)

    def advance(self, t: float, own_frame: bool = True) -> list[Track]:
        """Close and return tracks idle for too long at time t.

        Only this camera's own frames move its watermark (the reorder window and the hand-off
        position); the shard's heartbeat passes the shard's latest time just to close tracks.
        """
        if own_frame and t > self.watermark:
            self.watermark = t
        now = t if t > self.watermark else self.watermark
        idle = self.params.max_gap_s + self.params.stitch_wait_s
        closed = [tr for tr in self.open if now - tr.last_seen > idle]
        if closed:
            gone = {id(tr) for tr in closed}
            self.open = [tr for tr in self.open if id(tr) not in gone]
            for track in closed:
                track.closed = True
                self.seen -= set(track.detection_ids)  # beyond the reorder window: forget, to bound memory
        return closed

    def restore(
        self,
        tracks: list[Track],
        applied_until: float,
        previous_t: float = 0.0,
        paths: Iterable[Sequence[object]] = (),
    ) -> None:
        """Take over open tracks another worker persisted, before this camera's first frame here, in its
        order (ties between equal prices go by it); `previous_t` is its frame whose links to young tracks
        were still provisional; `paths` its remembered steps (see TrackerParams.path_memory_s), oldest first."""
        known = {t.track_id for t in self.open}
        for track in tracks:
            if track.track_id not in known and not track.closed:
                self.open.append(track)
                self.seen.update(track.detection_ids)
        self.applied_until = max(self.applied_until, applied_until)
        self.watermark = max(self.watermark, applied_until)
        self.previous_t = max(self.previous_t, previous_t)
        steps = [step for step in (PathStep.from_list(values) for values in paths) if step is not None]
        if steps:
            self.paths.restore(steps)


class Tracker:
    """All cameras of one shard. `observe` for each record, `heartbeat` on an empty batch."""

    def __init__(self, params: TrackerParams | None = None) -> None:
        self.params = params or TrackerParams()
        self.cameras: dict[str, CameraTracker] = {}

    def camera(self, stream_arn: str) -> CameraTracker:
        camera = self.cameras.get(stream_arn)
        if camera is None:
            camera = self.cameras[stream_arn] = CameraTracker(stream_arn, self.params)
        return camera

    def observe(self, frame: FrameRecord) -> FrameResult:
        return self.camera(frame.stream_arn).observe(frame)

    def heartbeat(self) -> list[Track]:
        """An idle shard: close what the latest record time on this shard says has ended."""
        latest = max((c.watermark for c in self.cameras.values()), default=0.0)
        closed: list[Track] = []
        for camera in self.cameras.values():
            closed += camera.advance(latest, own_frame=False)
        return closed

    def open_tracks(self) -> list[Track]:
        return [t for c in self.cameras.values() for t in c.open]
