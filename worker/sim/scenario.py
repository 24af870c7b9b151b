"""A deterministic world of cameras and people, and the frames Rekognition would analyse in it.

Given a seed, the same cameras, visits, boxes and matches come out every time, so a test or a quality
benchmark can compare what the worker built against this ground truth.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass(frozen=True)
class Camera:
    camera_id: str
    stream_arn: str


def make_cameras(count: int) -> list[Camera]:
    return [
        Camera(f"cam-{i:02d}", f"arn:aws:kinesisvideo:{REGION}:{ACCOUNT}:stream/cam-{i:02d}/1600000000{i:03d}")
        for i in range(1, count + 1)
    ]


@dataclass(frozen=True)
class Person:
    person_id: str  # the ExternalImageId of an employee; a made-up label for a visitor
    kind: str  # "employee" | "visitor" | "watchlist"
    face_ids: tuple[str, ...]  # enrolled images (employees and watchlist faces)


@dataclass
class Visit:
    visit_id: str
    person: Person
    camera: Camera
    style: str  # "walk" | "linger"
    start: float
    end: float
    hidden: tuple[float, float] | None  # a stretch with no detection (occluded, looked away)
    box_size: float
    path: tuple[float, float, float, float]  # x0, y0, x1, y1 of the face centre
    glancing: bool = False  # never shows a usable face (profile, motion blur): Rekognition cannot match it
    # A crowd visit (worker/sim/crowd.py): where its face is at each analysed frame it is seen, as
    # (frame time, centre x, centre y, width); frames it is not in (out of view, turned away, occluded) are
    # absent. Empty: the face moves on `path` and is seen from start to end but for `hidden`.
    trajectory: tuple[tuple[float, float, float, float], ...] = ()
    group: str = ""  # crowd visits: the group, pair or crossing this person walks in ("" alone)
    role: str = ""  # crowd visits: its part ("abreast", "column", "leader", "follower", "fast", "split-a", ...)
    _at: dict[int, tuple[float, float, float]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._at = {_time_key(t): (x, y, w) for t, x, y, w in self.trajectory}

    def visible_at(self, t: float) -> bool:
        if self.trajectory:
            return _time_key(t) in self._at
        if not self.start <= t <= self.end:
            return False
        return not (self.hidden and self.hidden[0] <= t < self.hidden[1])

    def size_at(self, t: float) -> float:
        """The face's width at t: from the trajectory, else box_size."""
        return self._at[_time_key(t)][2] if self.trajectory else self.box_size

    def truth(self) -> dict:
        return {
            "visit_id": self.visit_id,
            "person_id": self.person.person_id,
            "kind": self.person.kind,
            "camera_id": self.camera.camera_id,
            "stream_arn": self.camera.stream_arn,
            "style": self.style,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "hidden": list(self.hidden) if self.hidden else None,
            "glancing": self.glancing,
        } | ({"group": self.group, "role": self.role, "frames": len(self.trajectory)} if self.trajectory else {})


def _time_key(t: float) -> int:
    """A frame time in whole milliseconds: the same analysed frame whatever the float rounding."""
    return round(t * 1000)


@dataclass(frozen=True)
class SimMatch:
    external_image_id: str
    face_id: str
    image_id: str
    similarity: float


@dataclass(frozen=True)
class SimFace:
    visit_id: str
    box: tuple[float, float, float, float]  # width, height, left, top
    confidence: float
    pose: tuple[float, float, float]  # pitch, roll, yaw
    brightness: float
    sharpness: float
    matches: tuple[SimMatch, ...]
    poor: bool = False  # a profile or a blur: says nothing about who it is


@dataclass(frozen=True)
class SimFrame:
    camera: Camera
    fragment_number: str
    producer_timestamp: float
    server_timestamp: float
    frame_offset_s: float
    faces: tuple[SimFace, ...]

    @property
    def frame_time(self) -> float:
        return self.producer_timestamp + self.frame_offset_s


@dataclass
class ScenarioSpec:
    cameras: int = 8
    duration_s: float = 60.0
    start: float = 1_767_225_600.0  # 2026-01-01T00:00:00Z
    seed: int = 7
    employees: int = 40
    visitor_share: float = 0.3
    arrivals_per_min: float = 4.0  # per camera
    linger_share: float = 0.3
    hidden_share: float = 0.2
    crossing_share: float = 0.0  # walks that come with someone walking the other way in a nearby lane
    match_rate: float = 0.92  # employee frames that Rekognition matches
    fragment_s: float = 2.0
    frame_period_s: float = 1.0
    max_faces: int = 6
    # A day in windows of activity (offset from start s, length s, arrivals per camera per minute); empty:
    # one window of duration_s at arrivals_per_min. Frames exist only inside windows.
    windows: tuple[tuple[float, float, float], ...] = ()
    watchlist: int = 0  # people on the watchlist (ExternalImageIds wl_0001 ...)
    watchlist_share: float = 0.0  # visits by one of them
    # camera id -> employees allowed in its zone; those cameras pick an employee outside it this often
    restricted: dict[str, tuple[str, ...]] = field(default_factory=dict)
    intruder_share: float = 0.2
    # Face quality. With both at 0 (the tracker presets) every frame is drawn as before. Otherwise a frame
    # is "poor" (a profile or a blur) with poor_frame_share, and a glancing visit has only poor frames;
    # Rekognition matches a poor frame of an enrolled person only rarely.
    poor_frame_share: float = 0.0
    glance_share: float = 0.0
    # A crowd preset of worker/sim/crowd.py (people moved by a social force model, seen through a pinhole
    # camera), which then draws every visit; arrivals_per_min counts arrivals (a person, a group, a pair).
    # Empty: the straight-line model above.
    crowd: str = ""


# The scenarios the quality benchmark measures, each one stressing one rule of the tracker.
PRESETS: dict[str, dict] = {
    "quiet_corridor": dict(arrivals_per_min=2.0, linger_share=0.0, hidden_share=0.0, max_faces=2),
    "crowded_lobby": dict(arrivals_per_min=12.0, linger_share=0.3, hidden_share=0.2, max_faces=6),
    "lingering": dict(arrivals_per_min=3.0, linger_share=1.0, hidden_share=0.0, max_faces=4),
    "hidden": dict(arrivals_per_min=4.0, linger_share=0.3, hidden_share=1.0, max_faces=4),
    "crossing": dict(arrivals_per_min=4.0, linger_share=0.0, hidden_share=0.0, crossing_share=1.0, max_faces=4),
    "unmatched_employee": dict(arrivals_per_min=4.0, visitor_share=0.0, match_rate=0.6, max_faces=4),
    # Crowds (worker/sim/crowd.py): pedestrians of the Extended Social Force model through a camera.
    "groups": dict(crowd="groups", arrivals_per_min=6.0),
    "tailgating": dict(crowd="tailgating", arrivals_per_min=6.0),
    "family_split": dict(crowd="family_split", arrivals_per_min=4.0),
    "fast_crossing": dict(crowd="fast_crossing", arrivals_per_min=6.0),
    "overtaking": dict(crowd="overtaking", arrivals_per_min=6.0),
    "dense_walkway": dict(crowd="dense_walkway", arrivals_per_min=85.0),
}


def preset(name: str, **overrides) -> ScenarioSpec:
    return ScenarioSpec(**{**PRESETS[name], **overrides})


@dataclass
class Scenario:
    spec: ScenarioSpec
    cameras: list[Camera]
    people: list[Person]
    visits: list[Visit] = field(default_factory=list)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def centre_at(visit: Visit, t: float) -> tuple[float, float]:
    if visit.trajectory:
        x, y, _ = visit._at[_time_key(t)]
        return x, y
    progress = (t - visit.start) / max(visit.end - visit.start, 1e-6)
    x0, y0, x1, y1 = visit.path
    return x0 + (x1 - x0) * progress, y0 + (y1 - y0) * progress


def _collides(visit: Visit, others: list[Visit]) -> bool:
    """Two people never stand in the same place: their faces would overlap for seconds on end."""
    for other in others:
        lo, hi = max(visit.start, other.start), min(visit.end, other.end)
        t = lo
        while t <= hi:
            (ax, ay), (bx, by) = centre_at(visit, t), centre_at(other, t)
            if abs(ax - bx) < (visit.box_size + other.box_size) and abs(ay - by) < 0.9 * (
                visit.box_size + other.box_size
            ):
                return True
            t += 1.0
    return False


def _person(
    rng: random.Random,
    spec: ScenarioSpec,
    employees: list[Person],
    counter: list[int],
    watchlist: Sequence[Person] = (),
    camera_id: str = "",
) -> Person:
    if watchlist and rng.random() < spec.watchlist_share:
        return rng.choice(watchlist)
    if rng.random() < spec.visitor_share:
        return _visitor(counter)
    allowed = spec.restricted.get(camera_id)
    if allowed:
        inside = [e for e in employees if e.person_id in allowed]
        outside = [e for e in employees if e.person_id not in allowed]
        return rng.choice(outside if rng.random() < spec.intruder_share or not inside else inside)
    return rng.choice(employees)


def _visitor(counter: list[int]) -> Person:
    counter[0] += 1
    return Person(f"visitor-{counter[0]:05d}", "visitor", ())


def _hidden(rng: random.Random, spec: ScenarioSpec, t: float, end: float) -> tuple[float, float] | None:
    if rng.random() < spec.hidden_share and end - t > 8:
        h0 = rng.uniform(t + 2, end - 6)
        return (h0, h0 + rng.uniform(2, 4))
    return None


def build_scenario(spec: ScenarioSpec) -> Scenario:
    rng = random.Random(spec.seed)
    cameras = make_cameras(spec.cameras)
    employees = [
        Person(f"emp-{i:04d}", "employee", tuple(_uuid(rng) for _ in range(rng.randint(1, 3))))
        for i in range(1, spec.employees + 1)
    ]
    watchlist = [
        Person(f"wl_{i:04d}", "watchlist", tuple(_uuid(rng) for _ in range(rng.randint(1, 2))))
        for i in range(1, spec.watchlist + 1)
    ]
    scenario = Scenario(spec, cameras, employees + watchlist)
    visitors = [0]
    if spec.crowd:
        from worker.sim import crowd  # numpy and the social force model: only for the crowd presets

        crowd.populate(rng, spec, scenario, employees, watchlist, visitors)
        return scenario
    for camera in cameras:
        for window_start, window_s, arrivals in windows_of(spec):
            _populate(
                rng,
                spec,
                scenario,
                camera,
                employees,
                watchlist,
                visitors,
                spec.start + window_start,
                spec.start + window_start + window_s,
                arrivals,
            )
    return scenario


def windows_of(spec: ScenarioSpec) -> tuple[tuple[float, float, float], ...]:
    return spec.windows or ((0.0, spec.duration_s, spec.arrivals_per_min),)


def _populate(
    rng: random.Random,
    spec: ScenarioSpec,
    scenario: Scenario,
    camera: Camera,
    employees: list[Person],
    watchlist: list[Person],
    visitors: list[int],
    start: float,
    stop: float,
    arrivals_per_min: float,
) -> None:
    t = start + rng.uniform(0, 5)
    active: list[Visit] = []

    def new_visit(
        style: str, t: float, path_of, size: float | None = None, crosses: Visit | None = None
    ) -> Visit | None:
        length = rng.uniform(20, 60) if style == "linger" else rng.uniform(4, 10)
        end = min(t + length, stop)
        for _ in range(20):  # a free place, or nobody comes
            box = size if size is not None else rng.uniform(0.06, 0.14)
            visit = Visit(
                f"{camera.camera_id}-v{len(scenario.visits) + 1:05d}",
                _person(rng, spec, employees, visitors, watchlist, camera.camera_id),
                camera,
                style,
                t,
                end,
                _hidden(rng, spec, t, end),
                box,
                path_of(box),
            )
            if spec.glance_share:
                visit.glancing = rng.random() < spec.glance_share
            if not _collides(visit, [v for v in active if v is not crosses]):
                scenario.visits.append(visit)
                active.append(visit)
                return visit
        return None

    def walk_path(box: float, y: float | None = None, leftwards: bool | None = None):
        y = rng.uniform(0.2, 0.6) if y is None else y
        leftwards = rng.random() < 0.5 if leftwards is None else leftwards
        x0, x1 = (0.9, 0.05) if leftwards else (0.05, 0.9)
        return (x0, y, x1, y + rng.uniform(-0.05, 0.05))

    def linger_path(box: float):
        x, y = rng.uniform(0.15, 0.85), rng.uniform(0.2, 0.7)
        return (x, y, x + rng.uniform(-0.05, 0.05), y + rng.uniform(-0.03, 0.03))

    while t < stop:
        active = [v for v in active if v.end >= t]
        if len(active) < spec.max_faces:
            if rng.random() < spec.linger_share:
                new_visit("linger", t, linger_path)
            else:
                first = new_visit("walk", t, walk_path)
                if first is not None and len(active) < spec.max_faces and rng.random() < spec.crossing_share:
                    # Someone coming the other way in a lane less than a face height away.
                    lane = first.path[1] + rng.choice((-1, 1)) * rng.uniform(0.3, 1.0) * first.box_size
                    other_way = first.path[0] < first.path[2]
                    size = first.box_size * rng.uniform(0.85, 1.15)
                    new_visit(
                        "walk",
                        t,
                        partial(walk_path, y=lane, leftwards=other_way),
                        size,
                        crosses=first,
                    )
        t += rng.expovariate(arrivals_per_min / 60.0)


def _fragment_number(camera_index: int, seq: int) -> str:
    # 47 decimal digits, increasing per camera, like KVS fragment numbers.
    return f"91343852333{camera_index:04d}{seq:032d}"[:47]


def _face(rng: random.Random, visit: Visit, t: float, spec: ScenarioSpec, people: list[Person]) -> SimFace:
    """The face of a visit in the frame at t, and what Rekognition makes of it: the one model of detection
    noise, matching and face quality, for straight-line and crowd visits alike."""
    cx, cy = centre_at(visit, t)
    cx, cy = cx + rng.gauss(0, 0.004), cy + rng.gauss(0, 0.004)
    w = visit.size_at(t) * rng.uniform(0.95, 1.05)
    h = w * rng.uniform(1.15, 1.35)
    matches: tuple[SimMatch, ...] = ()
    person = visit.person
    quality_model = bool(spec.poor_frame_share or spec.glance_share)
    poor = quality_model and (visit.glancing or rng.random() < spec.poor_frame_share)
    match_rate = 0.05 if poor else spec.match_rate  # a profile or a blur rarely matches anyone
    if person.kind in ("employee", "watchlist") and rng.random() < match_rate:
        best = rng.uniform(88, 99.9)
        own = [
            SimMatch(person.person_id, fid, f"img-{fid[:8]}", round(best - rng.uniform(0, 3) * i, 6))
            for i, fid in enumerate(person.face_ids)
        ]
        if rng.random() < 0.1:  # a look-alike employee, always below the true person
            other = rng.choice([p for p in people if p.person_id != person.person_id and p.kind == "employee"])
            own.append(SimMatch(other.person_id, other.face_ids[0], "img-x", round(rng.uniform(80, best - 4), 6)))
        rng.shuffle(own)
        matches = tuple(own)
    confidence = round(rng.uniform(97, 99.999), 5)  # drawn first: the presets keep their exact frames
    if not quality_model:
        pose = (round(rng.gauss(0, 8), 4), round(rng.gauss(0, 5), 4), round(rng.gauss(0, 20), 4))
        brightness, sharpness = round(rng.uniform(40, 90), 4), round(rng.uniform(20, 95), 4)
    else:
        yaw = max(-35.0, min(35.0, rng.gauss(0, 12)))
        sharpness = rng.uniform(30, 95)
        if poor and rng.random() < 0.5:
            yaw = rng.choice((-1, 1)) * rng.uniform(50, 85)  # a profile
        elif poor:
            sharpness = rng.uniform(3, 15)  # motion blur
        pose = (round(rng.gauss(0, 6), 4), round(rng.gauss(0, 5), 4), round(yaw, 4))
        brightness, sharpness = round(rng.uniform(40, 90), 4), round(sharpness, 4)
    return SimFace(
        visit_id=visit.visit_id,
        box=(round(w, 6), round(h, 6), round(cx - w / 2, 6), round(cy - h / 2, 6)),
        confidence=confidence,
        pose=pose,
        brightness=brightness,
        sharpness=sharpness,
        matches=matches,
        poor=poor,
    )


def _unoccluded(visits: list[Visit], t: float) -> list[Visit]:
    """Visible visits at t, less those hidden behind a larger (nearer) face that overlaps them.

    A crowd visit's trajectory holds only the frames it is seen in: the crowd model has occluded it already.
    """
    seen = [v for v in visits if v.visible_at(t)]
    out = []
    for v in seen:
        if v.trajectory:
            out.append(v)
            continue
        vx, vy = centre_at(v, t)
        hidden = any(
            o is not v
            and o.box_size > v.box_size
            and abs(centre_at(o, t)[0] - vx) < 0.6 * (o.box_size + v.box_size)
            and abs(centre_at(o, t)[1] - vy) < 0.6 * (o.box_size + v.box_size)
            for o in seen
        )
        if not hidden:
            out.append(v)
    return out


def frames_of(scenario: Scenario) -> list[SimFrame]:
    """Every analysed frame of every camera, in frame-time order."""
    spec = scenario.spec
    rng = random.Random(spec.seed + 1)
    frames: list[SimFrame] = []
    by_camera: dict[str, list[Visit]] = {}
    for v in scenario.visits:
        by_camera.setdefault(v.camera.camera_id, []).append(v)
    for index, camera in enumerate(scenario.cameras, start=1):
        visits = by_camera.get(camera.camera_id, [])
        for window_start, window_s, _ in windows_of(spec):
            _camera_frames(rng, spec, scenario, index, camera, visits, spec.start + window_start, window_s, frames)
    frames.sort(key=lambda f: (f.frame_time, f.camera.camera_id))
    return frames


def _camera_frames(
    rng: random.Random,
    spec: ScenarioSpec,
    scenario: Scenario,
    index: int,
    camera: Camera,
    visits: list[Visit],
    start: float,
    length_s: float,
    frames: list[SimFrame],
) -> None:
    order = sorted(range(len(visits)), key=lambda i: visits[i].start)
    begun = 0
    current: list[int] = []  # visits under way at t (start <= t <= end), by their index in visits
    for t in frame_times(spec, index, start, length_s):
        while begun < len(order) and visits[order[begun]].start <= t:
            current.append(order[begun])
            begun += 1
        current = sorted(i for i in current if visits[i].end >= t)
        # Fragments are cut on absolute time, so runs that start at different times never share one.
        fragment_seq = int(t // spec.fragment_s)
        producer_ts = round(fragment_seq * spec.fragment_s, 3)
        faces = [_face(rng, v, t, spec, scenario.people) for v in _unoccluded([visits[i] for i in current], t)]
        rng.shuffle(faces)
        frames.append(
            SimFrame(
                camera=camera,
                fragment_number=_fragment_number(index, fragment_seq),
                producer_timestamp=producer_ts,
                server_timestamp=round(producer_ts + rng.uniform(0.3, 1.5), 3),
                frame_offset_s=round(t - producer_ts, 3),
                faces=tuple(faces),
            )
        )


def frame_times(spec: ScenarioSpec, index: int, start: float, length_s: float) -> list[float]:
    """The analysed frames of camera number index (from 1) in a window: one per frame_period_s, phased."""
    times = []
    t = start + (index % 10) * 0.1
    while t < start + length_s:
        times.append(t)
        t += spec.frame_period_s
    return times
