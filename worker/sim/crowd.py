"""Crowd scenarios: pedestrians moved by the Extended Social Force model, seen by a camera at 1 frame/s.

The straight-line simulator (scenario.py) draws one person at a time. Real people at one analysed frame a
second walk in groups, tailgate, overtake and cross; this module makes such scenes with PySocialForce
(Helbing & Molnar 1995, Moussaid et al. 2010: goal, pedestrian, wall, group coherence / repulsion / gaze
forces) and turns them into the same Visits and SimFaces as the rest of the simulator.

The physical setup, in metres (x: away from the camera along the hall, y: to the camera's right):

- A hall 6 m wide (walls y = +-3 from x = 3 to x = 18). People come in at its far end (they appear at
  x = 14.5-16.5, beyond the ~12.5 m at which a face is 0.02 wide) and leave near the camera: straight on
  under it (x = 0, out of view from x ~ 2) or to either side along a cross corridor (y = +-3.8, x ~ 1.2).
  The tailgating preset adds a line of glass speed gates at x = 6.5 with two 1.5 m lanes: walls to the
  model (its wall force makes a narrower lane impassable), transparent to the camera.
- The camera is mounted 2.0-2.25 m high (a face-recognition height: shallow angles on faces) 0.7-1.3 m
  to one side of the hall's centre line, turned 3-7 degrees back towards it and pitched down 3-6 degrees,
  with a ~33 degree field of view (focal length f = 1.5-1.7 image widths, the same on both axes: the
  normalised coordinates of Rekognition's boxes). Each camera draws its own values.
- A face (head centre 1.45-1.8 m high, children 0.95-1.35 m) projects with a pinhole model; its width is
  f * 0.16 m / depth and its height 1.25 times that (scenario._face jitters both). It is seen when the
  person walks towards the camera (within 60 degrees: Rekognition finds no face in the back of a head),
  lies inside the image, is 0.02-0.12 wide (Rekognition Video's ~40 px minimum at 1080p; larger is a
  head about to leave under the camera) and is not covered (>= 45 % of its box) by a nearer head, facing
  or not. A person seen in fewer than 3 analysed frames is left out (never detected).

Why this geometry: at one frame a second a person walking at 1.3 m/s moves 1.3 m between frames. Across
the line of sight that is 1.3 / 0.16 = 8 face widths, whatever the distance and lens; along it the face
moves by its image distance from the vanishing point times v / (0.16 f) per second, so with people
walking towards a camera that looks along their way, most motion is 1-2.5 face widths per frame (more
near the image edges and close to the camera; a camera on the centre line and higher up makes it less
and more, respectively). Two people side by side are their spacing / 0.16 m apart in the image (0.6 m:
~3.5 widths), one behind the other ~1-2 widths (the follower's face higher and smaller); faces at
different depths on one line of sight cross in the image, the nearer hiding the farther, which is what
fast_crossing and overtaking are about. People walking away from the camera are simulated (they swerve,
block and occlude) but show no face, so "both directions" in the image are faces moving left and right
as the flows fan out towards the exits and cross.

The presets (arrivals_per_min counts arrivals: a person, a group, a pair):
  groups         groups of 2-5 (3 in 4 arrivals): abreast (the model's group forces) or, for 2-3, in single
                 file (each following the one in front); the rest alone
  tailgating     3 in 4 arrivals an employee through a gate lane with a visitor 0.6-1 m behind, steering
                 for the employee's back at the same speed; the rest alone
  family_split   families / tour groups of 3-5 that walk in as one group and, 8-10.5 m from the camera,
                 split into a left and a right part with different exits
  fast_crossing  two people on crossing diagonals whose paths cross 4.5-9 m out, near the camera's axis,
                 one hurrying (1.65-1.9 m/s), at the same moment +-0.3 s
  overtaking     a slow walker (0.75-1 m/s) and a fast one (1.6-1.95 m/s) in nearly the same lane, timed so
                 the fast one catches up 5.5-8.5 m from the camera
  dense_walkway  a busy flow: people alone, pairs (15 %) and a quarter walking away, ~85 arrivals a minute

The model: PySocialForce's Simulator stepping every 0.2 s (its step_width; 0.4 s in its default config),
positions interpolated at each camera's analysed frame times (scenario.frame_times). Arrivals are held
back while someone stands where they would appear; people are removed at their last waypoint, out of
view, so nobody stands at an image edge; each window's simulation starts 15 s early, so its first frame
sees a scene under way. Followers (tailgaters, single file) get the back of the one they follow as their
goal each step.

Cost: all cameras of a window are one simulation (each camera's hall 1 km from the next), so the model's
per-step overhead is paid once, not once per camera. Two of its forces are too slow at that size and are
swapped for the same formulas computed faster (tests compare them with the originals): ObstacleForce
(a Python loop over pedestrians: a k-d tree finds the wall points near each) and SocialForce (all n^2
pairs: only pairs in the same hall, since people 1 km apart push each other by exp(-1000 / B) ~ 1e-170).
Desired, group coherence, group repulsion and group gaze forces and the integration are the package's.
At cameras=8, duration_s=600 a preset takes ~2-5 s (dense_walkway ~16 s), after ~5 s of numba JIT
warm-up once per process.

Who each person is comes from scenario._person (visitor_share, watchlist, restricted zones; a tailgater
is a visitor, the one followed an employee) and what Rekognition matches per face from scenario._face,
as for the straight-line visits. Every random draw comes from the scenario's random.Random(seed) and the
model is deterministic numpy, so a spec gives the same frames every time.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import random
import statistics
import sys
import types
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from worker.sim.scenario import (
    Camera,
    Person,
    Scenario,
    ScenarioSpec,
    SimFrame,
    Visit,
    _person,
    _visitor,
    frame_times,
    windows_of,
)

STEP_S = 0.2  # the model's time step
FACE_M = 0.16  # a face's width in metres
FACE_ASPECT = 1.25  # its box's height / width
MIN_FACE, MAX_FACE = 0.02, 0.12  # widths (image units) Rekognition reports a face at
FACING_COS = math.cos(math.radians(60))  # walking at most this far from the camera's direction shows a face
OCCLUDED = 0.45  # share of a face's box a nearer head must cover to hide it
MIN_FRAMES = 3  # a person seen in fewer analysed frames is not detected at all
WARM_UP_S = 15.0  # each window's simulation starts this early
CAMERA_SPACING_M = 1000.0  # cameras' halls are this far apart in one simulation
SWITCH_M = 1.0  # a waypoint is reached this close (the model stops people 0.5 m from their goal)

# PySocialForce's defaults, but: the time step (its pedestrians read step_width & co at the top level, not
# in [scene], so they ran at 0.4 s), and the factors of the two group forces it uses, whose sections the
# default config names after the variants it does not use (so they ran at 1.0): coherence 10 keeps a pair
# abreast ~0.6 m apart (the package's 1.0 lets it drift to 1.1 m, 3 m for a group of 4), gaze as documented.
_CONFIG = """
step_width = 0.2
agent_radius = 0.35
max_speed_multiplier = 1.3
tau = 0.5
resolution = 10

[group_coherence_force_alt]
factor = 10.0

[group_gaze_force_alt]
factor = 4.0
"""

# The hall (see the module docstring).
HALL_Y = 3.0
HALL_X0, HALL_X1 = 3.0, 18.0
EXIT_AHEAD_X = 0.0  # straight on, under the camera (out of view from x ~ 1.8)
EXIT_SIDE_X = 1.2
EXIT_SIDE_Y = 3.8  # to the sides along the cross corridor
ENTRY_X = (14.5, 16.5)  # arrivals appear here, beyond the faces' 12.5 m
AWAY_X = 14.5  # where those walking away leave
GATE_X = 6.5
GATE_LANES = (-1.1, 1.1)  # lane centres
GATE_HALF = 0.75  # half a lane: the model's wall force closes lanes much narrower than 1.5 m


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera at (0, y, height), pitched down, yawed; image coordinates 0..1 on both axes."""

    f: float = 1.6
    height: float = 2.1
    pitch_deg: float = 4.5
    yaw_deg: float = 0.0
    y: float = 0.0

    def project(
        self, x: np.ndarray, y: np.ndarray, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Image centre (u, v), face width and depth of heads at (x, y, z)."""
        a, b = math.radians(self.yaw_deg), math.radians(self.pitch_deg)
        dx, dy, dz = x, y - self.y, z - self.height
        depth = dx * math.cos(b) * math.cos(a) + dy * math.cos(b) * math.sin(a) - dz * math.sin(b)
        right = -dx * math.sin(a) + dy * math.cos(a)
        down = -(dx * math.sin(b) * math.cos(a) + dy * math.sin(b) * math.sin(a) + dz * math.cos(b))
        safe = np.where(depth > 0.3, depth, np.inf)
        return 0.5 + self.f * right / safe, 0.5 + self.f * down / safe, self.f * FACE_M / safe, depth


@dataclass
class Walker:
    """One pedestrian of the model, from arrival to leaving the scene."""

    person: Person | None  # None: walks away from the camera (never shows a face)
    style: str
    group: str
    role: str
    x: float
    y: float
    speed: float  # desired speed, m/s
    height: float  # of the face centre
    waypoints: list[tuple[float, float]]
    flock: str = ""  # the model's group (coherence, repulsion, gaze forces); "" walks alone
    # family_split: when the flock's centre passes split_x, walk to split_waypoints in split_flock
    split_x: float | None = None
    split_waypoints: list[tuple[float, float]] = field(default_factory=list)
    split_flock: str = ""
    follows: Walker | None = None  # walks on the heels of this one while it is in the scene (a tailgater)
    # filled by the simulation: (frame time, x, y, vx, vy) at each analysed frame of its camera
    seen: list[tuple[float, float, float, float, float]] = field(default_factory=list)
    cam: int = 0


@dataclass
class Arrival:
    t: float
    walkers: list[Walker]


@dataclass
class _Context:
    rng: random.Random
    spec: ScenarioSpec
    camera: Camera
    employees: list[Person]
    watchlist: list[Person]
    visitors: list[int]
    model: CameraModel
    groups: list[int] = field(default_factory=lambda: [0])

    def person(self) -> Person:
        return _person(self.rng, self.spec, self.employees, self.visitors, self.watchlist, self.camera.camera_id)

    def employee(self) -> Person:
        """An employee, drawn as _person draws them (restricted zones and all)."""
        staff = dataclasses.replace(self.spec, visitor_share=0.0, watchlist_share=0.0)
        return _person(self.rng, staff, self.employees, self.visitors, self.watchlist, self.camera.camera_id)

    def visitor(self) -> Person:
        return _visitor(self.visitors)

    def group_id(self) -> str:
        self.groups[0] += 1
        return f"{self.camera.camera_id}-g{self.groups[0]:04d}"


# ---- the model ---------------------------------------------------------------------------------------------

_psf: Any = None


def _social_force() -> Any:
    """Import pysocialforce without its logging side effects.

    Its utils/logging.py sets the root logger to DEBUG, adds a stderr handler and opens ./file.log on import;
    a stand-in module with the same two names keeps all of that out of our process.
    """
    global _psf
    if _psf is None:
        name = "pysocialforce.utils.logging"
        if name not in sys.modules:
            stub = types.ModuleType(name)
            stub.logger = logging.getLogger("pysocialforce")  # type: ignore[attr-defined]
            stub.timeit = lambda f: f  # type: ignore[attr-defined]
            sys.modules[name] = stub
        import pysocialforce

        _psf = pysocialforce
    return _psf


_FORCES: dict[str, Any] = {}


def _fast_forces() -> dict[str, Any]:
    """Two of PySocialForce's forces, computed faster with the same formulas (tests compare them)."""
    if _FORCES:
        return _FORCES
    psf = _social_force()
    stateutils = psf.utils.stateutils
    obstacle_force: Any = psf.forces.ObstacleForce
    social_force: Any = psf.forces.SocialForce

    class WallForce(obstacle_force):
        """ObstacleForce's sum (over wall points within threshold of e * exp(-d / sigma)), vectorised: the
        wall points near each pedestrian come from a k-d tree instead of a Python loop over pedestrians."""

        tree: Any = None

        def init(self, scene: Any, config: Any) -> None:
            super().init(scene, config)
            self.config = config.sub_config("obstacle_force")  # the section of the force it stands for
            self.factor = self.config("factor", 1.0)

        def _get_force(self) -> np.ndarray:
            sigma = self.config("sigma", 0.2)
            radius = self.peds.agent_radius
            threshold = self.config("threshold", 0.2) + radius
            pos = self.peds.pos()
            n = self.peds.size()
            obstacles = self.scene.get_obstacles()
            if len(obstacles) == 0 or n == 0:
                return np.zeros((n, 2))
            if self.tree is None:
                self.tree = cKDTree(np.vstack(obstacles))
            near = cKDTree(pos).sparse_distance_matrix(self.tree, threshold + radius, output_type="ndarray")
            i, j, norm = near["i"], near["j"], near["v"]
            keep = (norm > 0) & (norm - radius < threshold)
            i, j, norm = i[keep], j[keep], norm[keep]
            diff = pos[i] - self.tree.data[j]
            weight = np.exp(-(norm - radius) / sigma) / norm
            fx = np.bincount(i, weights=diff[:, 0] * weight, minlength=n)
            fy = np.bincount(i, weights=diff[:, 1] * weight, minlength=n)
            return np.stack([fx, fy], axis=1) * self.factor

    class HallSocialForce(social_force):
        """SocialForce's formula over the pairs of pedestrians in the same hall only (pairs, set by the
        Simulation): people 1 km apart contribute exp(-1000 / B) ~ 1e-170 to each other, and skipping them
        makes a step of 8 cameras' halls cost 8 halls' pairs, not 8^2."""

        pairs: tuple[np.ndarray, np.ndarray] | None = None

        def init(self, scene: Any, config: Any) -> None:
            super().init(scene, config)
            self.config = config.sub_config("social_force")
            self.factor = self.config("factor", 1.0)

        def _get_force(self) -> np.ndarray:
            lambda_importance = self.config("lambda_importance", 2.0)
            gamma = self.config("gamma", 0.35)
            n = self.config("n", 2)
            n_prime = self.config("n_prime", 3)
            size = self.peds.size()
            if self.pairs is None or size < 2:
                return np.zeros((size, 2))
            a, b = self.pairs
            pos, vel = self.peds.pos(), self.peds.vel()
            pos_diff = pos[a] - pos[b]  # as stateutils.each_diff: row a, column b
            diff_direction, diff_length = stateutils.normalize(pos_diff)
            vel_diff = vel[b] - vel[a]
            interaction_vec = lambda_importance * vel_diff + diff_direction
            interaction_direction, interaction_length = stateutils.normalize(interaction_vec)
            theta = stateutils.vector_angles(interaction_direction) - stateutils.vector_angles(diff_direction)
            big_b = gamma * interaction_length
            force_velocity_amount = np.exp(-1.0 * diff_length / big_b - np.square(n_prime * big_b * theta))
            force_angle_amount = -np.sign(theta) * np.exp(-1.0 * diff_length / big_b - np.square(n * big_b * theta))
            force_velocity = force_velocity_amount.reshape(-1, 1) * interaction_direction
            force_angle = force_angle_amount.reshape(-1, 1) * stateutils.left_normal(interaction_direction)
            force = force_velocity + force_angle
            fx = np.bincount(a, weights=force[:, 0], minlength=size)
            fy = np.bincount(a, weights=force[:, 1], minlength=size)
            return np.stack([fx, fy], axis=1) * self.factor

    _FORCES.update({"ObstacleForce": (obstacle_force, WallForce), "SocialForce": (social_force, HallSocialForce)})
    return _FORCES


def _simulator(state: np.ndarray, groups: list[list[int]], obstacles: list[tuple[float, float, float, float]]) -> Any:
    """PySocialForce's Simulator with our config, its ObstacleForce and SocialForce swapped for _fast_forces."""
    psf = _social_force()
    sim = psf.Simulator(state, groups=groups, obstacles=obstacles, config_file=io.StringIO(_CONFIG))
    for original, fast in _fast_forces().values():
        for i, force in enumerate(sim.forces):
            if type(force) is original:
                sim.forces[i] = fast()
                sim.forces[i].init(sim, sim.config)
    return sim


def _hall_pairs(halls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair (a, b), a != b, of pedestrians in the same hall, in each_diff's order."""
    same = halls[:, None] == halls[None, :]
    np.fill_diagonal(same, False)
    a, b = np.nonzero(same)
    return a, b


class Simulation:
    """One PySocialForce simulation whose population changes: arrivals join, people at their goal leave."""

    def __init__(self, obstacles: list[tuple[float, float, float, float]]) -> None:
        self.obstacles = obstacles
        self.sim: Any = None
        self.walkers: list[Walker] = []
        self.state = np.zeros((0, 7))
        self.wp = np.zeros((0, 2))  # each one's current waypoint
        self.next_wp: list[int] = []
        self.born: list[float] = []
        self.splitting = False  # someone may split from their flock
        self.following = False  # someone follows someone

    def _rebuild(self) -> None:
        """Hand the model the new population: state, groups, desired speeds, who may push whom."""
        if not self.walkers:
            return
        flocks: dict[str, list[int]] = defaultdict(list)
        for i, w in enumerate(self.walkers):
            if w.flock:
                flocks[w.flock].append(i)
        groups = [members for members in flocks.values() if len(members) > 1]
        if self.sim is None:
            self.sim = _simulator(self.state[:, :6].copy(), groups, self.obstacles)
        peds = self.sim.peds
        speeds = np.array([w.speed for w in self.walkers])
        peds.initial_speeds = speeds / peds.max_speed_multiplier  # the model's desired speed is max_speeds
        peds.update(self.state, groups)
        self.state = peds.state
        peds.ped_states.clear()  # the model keeps every state it had; we read positions as we go
        peds.group_states.clear()
        pairs = _hall_pairs(np.array([w.cam for w in self.walkers]))
        for force in self.sim.forces:
            if hasattr(force, "pairs"):
                force.pairs = pairs

    def free(self, walkers: Sequence[Walker], clearance: float = 0.9) -> bool:
        """Nobody within clearance of where these would appear."""
        if not len(self.state):
            return True
        pos = self.state[:, :2]
        return all(bool(np.min(np.hypot(pos[:, 0] - w.x, pos[:, 1] - w.y)) >= clearance) for w in walkers)

    def add(self, walkers: Sequence[Walker], t: float) -> None:
        rows = []
        for w in walkers:
            gx, gy = w.waypoints[0]
            d = math.hypot(gx - w.x, gy - w.y) or 1.0
            vx, vy = (gx - w.x) / d * w.speed, (gy - w.y) / d * w.speed
            rows.append([w.x, w.y, vx, vy, gx, gy, 0.5])
            self.walkers.append(w)
            self.next_wp.append(0)
            self.born.append(t)
            self.splitting |= w.split_x is not None
            self.following |= w.follows is not None
        new = np.array(rows)
        self.state = np.vstack([self.state, new]) if len(self.state) else new
        self.wp = np.vstack([self.wp, new[:, 4:6]]) if len(self.wp) else new[:, 4:6].copy()
        self._rebuild()

    def remove(self, gone: Sequence[int]) -> None:
        drop = set(gone)
        keep = [i for i in range(len(self.walkers)) if i not in drop]
        self.walkers = [self.walkers[i] for i in keep]
        self.next_wp = [self.next_wp[i] for i in keep]
        self.born = [self.born[i] for i in keep]
        self.state = self.state[keep].copy()
        self.wp = self.wp[keep].copy()
        self._rebuild()

    def step(self) -> None:
        if not self.walkers:
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            self.sim.step_once()
        peds = self.sim.peds
        peds.ped_states.clear()
        peds.group_states.clear()
        self.state = peds.state
        self._advance()

    def _split(self) -> bool:
        """Families split when their flock's centre passes its split line."""
        state = self.state
        centres: dict[str, list[float]] = defaultdict(list)
        for i, w in enumerate(self.walkers):
            if w.split_x is not None and w.split_waypoints:
                centres[w.flock].append(float(state[i, 0]))
        changed = False
        for flock, xs in centres.items():
            members = [i for i, w in enumerate(self.walkers) if w.flock == flock and w.split_waypoints]
            split_x = self.walkers[members[0]].split_x
            if split_x is not None and sum(xs) / len(xs) < split_x:
                for i in members:
                    w = self.walkers[i]
                    w.waypoints, w.split_waypoints = list(w.split_waypoints), []
                    w.flock = w.split_flock
                    self.next_wp[i] = 0
                    self.wp[i] = state[i, 4:6] = w.waypoints[0]
                changed = True
        return changed

    def _advance(self) -> None:
        """Next waypoints for those at theirs; splits; people past their last waypoint leave."""
        state = self.state
        changed = self._split() if self.splitting else False
        gone: list[int] = []
        near = np.hypot(self.wp[:, 0] - state[:, 0], self.wp[:, 1] - state[:, 1]) < SWITCH_M
        for at in np.flatnonzero(near).tolist():
            w = self.walkers[at]
            self.next_wp[at] += 1
            if self.next_wp[at] >= len(w.waypoints):
                gone.append(at)
            else:
                self.wp[at] = state[at, 4:6] = w.waypoints[self.next_wp[at]]
        if self.following:
            # followers head for the back of the one they follow (the model stops them 0.5 m short of a goal)
            where = {id(w): i for i, w in enumerate(self.walkers)}
            for i, w in enumerate(self.walkers):
                if w.follows is not None:
                    j = where.get(id(w.follows))
                    state[i, 4:6] = state[j, 0:2] if j is not None else self.wp[i]
        if gone:
            self.remove(gone)
        elif changed:
            self._rebuild()


def _run(
    arrivals: list[Arrival],
    obstacles: list[tuple[float, float, float, float]],
    t0: float,
    t1: float,
    frames: list[tuple[float, set[int]]],
    max_age_s: float = 90.0,
) -> None:
    """Step the model from t0 to t1; at each (frame time, cameras) record the place of those cameras' walkers
    in walker.seen."""
    sim = Simulation(obstacles)
    pending = sorted(arrivals, key=lambda a: a.t)
    waiting: list[Arrival] = []
    k = 0
    fi = 0
    steps = 0
    t = t0
    while t < t1:
        while k < len(pending) and pending[k].t <= t:
            waiting.append(pending[k])
            k += 1
        if waiting:
            ready: list[Walker] = []
            still = []
            for a in waiting:
                if sim.free(a.walkers) and all(
                    math.hypot(w.x - r.x, w.y - r.y) >= 0.9 for w in a.walkers for r in ready
                ):
                    ready += a.walkers
                else:
                    still.append(a)
            waiting = still
            if ready:
                sim.add(ready, t)
        before = sim.state[:, :2].copy()
        moving = list(sim.walkers)
        sim.step()
        t_next = t + STEP_S
        if fi < len(frames) and frames[fi][0] <= t_next:
            index = {id(w): i for i, w in enumerate(moving)}
            while fi < len(frames) and frames[fi][0] <= t_next:
                ft, cams = frames[fi]
                if ft > t:
                    alpha = (ft - t) / STEP_S
                    for i, w in enumerate(sim.walkers):
                        if w.cam in cams:
                            x, y, vx, vy = (float(c) for c in sim.state[i, :4])
                            j = index.get(id(w))
                            px, py = (float(before[j, 0]), float(before[j, 1])) if j is not None else (x, y)
                            w.seen.append((ft, px + alpha * (x - px), py + alpha * (y - py), vx, vy))
                fi += 1
        steps += 1
        if steps % 25 == 0:  # nobody stays for ever: people stuck (a jam at a gate) leave after max_age_s
            old = [i for i, born in enumerate(sim.born) if t_next - born > max_age_s]
            if old:
                sim.remove(old)
        t = t_next


# ---- the scenes -----------------------------------------------------------------------------------------------


def _walls(gates: bool) -> list[tuple[float, float, float, float]]:
    walls = [(HALL_X0, HALL_X1, -HALL_Y, -HALL_Y), (HALL_X0, HALL_X1, HALL_Y, HALL_Y)]
    if gates:
        edges = [-HALL_Y] + [e for c in GATE_LANES for e in (c - GATE_HALF, c + GATE_HALF)] + [HALL_Y]
        for lo, hi in zip(edges[::2], edges[1::2], strict=True):
            walls.append((GATE_X, GATE_X, lo, hi))
    return walls


def _speed(rng: random.Random, mean: float = 1.34, sd: float = 0.2) -> float:
    return max(0.8, min(1.75, rng.gauss(mean, sd)))


def _height(rng: random.Random, child: bool = False) -> float:
    if child:
        return rng.uniform(0.95, 1.35)
    return max(1.45, min(1.8, rng.gauss(1.62, 0.07)))


def _exit(rng: random.Random, lane: float | None = None) -> list[tuple[float, float]]:
    """Waypoints out of the hall: ahead under the camera, or to a side of the cross corridor."""
    r = rng.random()
    if r < 0.5:
        y = max(-2.0, min(2.0, lane if lane is not None else rng.uniform(-1.8, 1.8))) + rng.uniform(-0.3, 0.3)
        return [(EXIT_AHEAD_X, y)]
    side = -1.0 if r < 0.75 else 1.0
    return [(2.0, side * 1.2), (EXIT_SIDE_X, side * EXIT_SIDE_Y)]


def _entry(rng: random.Random) -> tuple[float, float]:
    return rng.uniform(*ENTRY_X), rng.uniform(-2.3, 2.3)


def _single(ctx: _Context, t: float, style: str = "walk") -> Arrival:
    rng = ctx.rng
    x, y = _entry(rng)
    w = Walker(ctx.person(), style, "", "", x, y, _speed(rng), _height(rng), _exit(rng, y))
    return Arrival(t, [w])


def _away(ctx: _Context, t: float) -> Arrival:
    """Someone walking away from the camera, into the hall: simulated, never a face."""
    rng = ctx.rng
    y = rng.uniform(-2.0, 2.0)
    w = Walker(None, "away", "", "", rng.uniform(0.3, 1.3), y, _speed(rng), 1.6, [(AWAY_X, y)])
    return Arrival(t, [w])


def _group(ctx: _Context, t: float, size: int, style: str = "group", children: int = 0) -> Arrival:
    """A group of size entering together, side by side (abreast, the model's group forces on) or in a column."""
    rng = ctx.rng
    gid = ctx.group_id()
    x, y = _entry(rng)
    y = max(-1.6, min(1.6, y))
    speed = _speed(rng, 1.25, 0.12)  # groups walk slower than people alone
    exit_ = _exit(rng, y)
    column = size <= 3 and rng.random() < 0.4
    spacing = rng.uniform(0.45, 0.6)  # abreast: shoulder to shoulder
    gap = rng.uniform(0.8, 1.1)  # in a column: one step behind
    walkers = []
    for i in range(size):
        if column:
            px, py = x + i * gap, y + rng.uniform(-0.12, 0.12)
            role = "column"
        else:
            row, col = divmod(i, 3 if size > 3 else size)
            across = min(size - 3 * row, 3) if size > 3 else size
            px, py = x + row * gap, y + (col - (across - 1) / 2) * spacing
            role = "abreast"
        child = i >= size - children
        person = ctx.visitor() if child else ctx.person()
        walkers.append(
            Walker(
                person,
                style,
                gid,
                role,
                px,
                py,
                speed,
                _height(rng, child=child),
                [(wx, wy + (py - y)) for wx, wy in exit_],
                flock="" if column else gid,
            )
        )
        if column and i:  # single file: each one on the heels of the one in front
            walkers[-1].follows = walkers[-2]
            walkers[-1].speed = speed * 1.04
    return Arrival(t, walkers)


def plan_groups(ctx: _Context, t: float) -> list[Arrival]:
    rng = ctx.rng
    if rng.random() < 0.25:
        return [_single(ctx, t)]
    return [_group(ctx, t, rng.choice((2, 2, 2, 3, 3, 4, 5)))]


def plan_tailgating(ctx: _Context, t: float) -> list[Arrival]:
    """Mostly an employee through a speed gate with a visitor 0.6-1 m behind; some people alone."""
    rng = ctx.rng
    lane = rng.choice(GATE_LANES)
    x = rng.uniform(*ENTRY_X)
    y = lane + rng.uniform(-1.0, 1.0)
    speed = _speed(rng)
    exit_ = [(GATE_X + 1.0, lane), (GATE_X - 1.2, lane)] + _exit(rng, lane)
    if rng.random() < 0.25:
        return [Arrival(t, [Walker(ctx.person(), "walk", "", "", x, y, speed, _height(rng), exit_)])]
    gid = ctx.group_id()
    gap = rng.uniform(0.6, 1.0)
    side = rng.uniform(-0.25, 0.25)
    leader = Walker(ctx.employee(), "tailgate", gid, "leader", x, y, speed, _height(rng), exit_)
    # a tailgater keeps up: steering for the leader's back and wanting 6 % more than the leader's speed, the
    # model's repulsion from that back makes it the same speed on the same path
    follower = Walker(
        ctx.visitor(), "tailgate", gid, "follower", x + gap, y + side, speed * 1.06, _height(rng), list(exit_)
    )
    follower.follows = leader
    return [Arrival(t, [leader, follower])]


def plan_family_split(ctx: _Context, t: float) -> list[Arrival]:
    """A family or tour group walks in together, then splits up towards different exits."""
    rng = ctx.rng
    if rng.random() < 0.2:
        return [_single(ctx, t)]
    size = rng.choice((3, 3, 4, 4, 5))
    arrival = _group(ctx, t, size, style="split", children=rng.choice((0, 1, 2)) if size >= 3 else 0)
    walkers = arrival.walkers
    for w in walkers:
        w.flock = w.group  # a family keeps together (the model's group forces) until it splits
        w.follows = None
        w.speed = walkers[0].speed
    split_x = rng.uniform(8.0, 10.5)
    order = sorted(range(len(walkers)), key=lambda i: walkers[i].y)  # the left part goes left, the right right
    cut = rng.randint(1, len(walkers) - 1)
    left = [(2.0, -1.2), (EXIT_SIDE_X, -EXIT_SIDE_Y)] if rng.random() < 0.7 else [(EXIT_AHEAD_X, -1.6)]
    right = [(2.0, 1.2), (EXIT_SIDE_X, EXIT_SIDE_Y)] if rng.random() < 0.7 else [(EXIT_AHEAD_X, 1.6)]
    if left[-1][0] == right[-1][0] == EXIT_AHEAD_X:
        right = [(2.0, 1.2), (EXIT_SIDE_X, EXIT_SIDE_Y)]
    for n, i in enumerate(order):
        w = walkers[i]
        w.split_x = split_x
        first = n < cut
        w.split_waypoints = list(left if first else right)
        w.split_flock = f"{w.group}-{'a' if first else 'b'}"
        w.role = "split-a" if first else "split-b"
        w.waypoints = [(EXIT_AHEAD_X, w.y)]  # until the split: straight on
    return [arrival]


def plan_fast_crossing(ctx: _Context, t: float) -> list[Arrival]:
    """Two people on crossing diagonals towards opposite corners, one of them in a hurry; their paths cross
    4.5-9 m from the camera, about on its axis, where one passes just in front of the other."""
    rng = ctx.rng
    if rng.random() < 0.15:
        return [_single(ctx, t)]
    gid = ctx.group_id()
    fast = rng.choice((0, 1))
    axis = ctx.model.y + 7.0 * math.tan(math.radians(ctx.model.yaw_deg))  # where the camera looks, 7 m out
    cross_x = 7.0
    for _ in range(20):
        paths = []
        for side in (-1.0, 1.0):
            x0 = rng.uniform(*ENTRY_X)
            y0 = max(-2.5, min(2.5, axis + side * rng.uniform(1.0, 1.6)))
            y1 = max(-2.5, min(2.5, axis - side * rng.uniform(0.6, 1.2)))
            paths.append((x0, y0, y1))
        # where the straight lines (x0, y0) -> (EXIT_AHEAD_X, y1), y = y0 + k (x - x0), cross
        (xa, ya0, ya1), (xb, yb0, yb1) = paths
        ka, kb = (ya1 - ya0) / (EXIT_AHEAD_X - xa), (yb1 - yb0) / (EXIT_AHEAD_X - xb)
        if abs(ka - kb) > 1e-6:
            cross_x = (yb0 - kb * xb - ya0 + ka * xa) / (ka - kb)
            if 4.5 <= cross_x <= 9.0:
                break
    offset = rng.uniform(-0.3, 0.3)  # seconds between them at the crossing
    timed = []
    for i, (x0, y0, y1) in enumerate(paths):
        speed = rng.uniform(1.65, 1.9) if i == fast else _speed(rng, 1.2, 0.12)
        k = (y1 - y0) / (EXIT_AHEAD_X - x0)
        to_cross = math.hypot(x0 - cross_x, k * (x0 - cross_x)) / speed
        timed.append((to_cross + (offset if i == fast else 0.0), i, speed, x0, y0, y1))
    latest = max(o[0] for o in timed)
    arrivals = []
    for to_cross, i, speed, x0, y0, y1 in timed:
        role = "fast" if i == fast else "slow"
        w = Walker(ctx.person(), "cross", gid, role, x0, y0, speed, _height(rng), [(EXIT_AHEAD_X, y1)])
        arrivals.append(Arrival(t + latest - to_cross, [w]))
    return arrivals


def plan_overtaking(ctx: _Context, t: float) -> list[Arrival]:
    """A slow walker, and a fast one in nearly the same lane who catches up in view and passes."""
    rng = ctx.rng
    if rng.random() < 0.15:
        return [_single(ctx, t)]
    gid = ctx.group_id()
    slow_v, fast_v = rng.uniform(0.75, 1.0), rng.uniform(1.6, 1.95)
    x0, y0 = rng.uniform(*ENTRY_X), rng.uniform(-1.5, 1.5)
    catch_x = rng.uniform(5.5, 8.5)
    d = x0 - catch_x
    delay = d / slow_v - d / fast_v  # the fast one starts this much later and meets the slow one at catch_x
    exit_ = [(EXIT_AHEAD_X, y0 * 0.6)]
    slow = Walker(ctx.person(), "overtake", gid, "slow", x0, y0, slow_v, _height(rng), exit_)
    lane = y0 + rng.uniform(-0.3, 0.3)
    fast = Walker(ctx.person(), "overtake", gid, "fast", x0, lane, fast_v, _height(rng), [(EXIT_AHEAD_X, lane * 0.6)])
    return [Arrival(t, [slow]), Arrival(t + delay, [fast])]


def plan_dense_walkway(ctx: _Context, t: float) -> list[Arrival]:
    """A busy walkway: mostly people alone, some pairs, a quarter walking away."""
    rng = ctx.rng
    r = rng.random()
    if r < 0.25:
        return [_away(ctx, t)]
    if r < 0.4:
        return [_group(ctx, t, 2)]
    return [_single(ctx, t)]


PLANS: dict[str, Callable[[_Context, float], list[Arrival]]] = {
    "groups": plan_groups,
    "tailgating": plan_tailgating,
    "family_split": plan_family_split,
    "fast_crossing": plan_fast_crossing,
    "overtaking": plan_overtaking,
    "dense_walkway": plan_dense_walkway,
}


def _camera_model(rng: random.Random) -> CameraModel:
    """Each camera a little different: off the hall's centre line to one side, turned back towards it."""
    side = rng.choice((-1.0, 1.0))
    return CameraModel(
        f=rng.uniform(1.5, 1.7),
        height=rng.uniform(2.0, 2.25),
        pitch_deg=rng.uniform(3.0, 6.0),
        yaw_deg=-side * rng.uniform(3.0, 7.0),
        y=side * rng.uniform(0.7, 1.3),
    )


# ---- from the model to visits ------------------------------------------------------------------------------


def populate(
    rng: random.Random,
    spec: ScenarioSpec,
    scenario: Scenario,
    employees: list[Person],
    watchlist: list[Person],
    visitors: list[int],
) -> None:
    """Every visit of every camera of a crowd scenario, into scenario.visits."""
    plan = PLANS[spec.crowd]
    models = [_camera_model(rng) for _ in scenario.cameras]
    contexts = [
        _Context(rng, spec, camera, employees, watchlist, visitors, model)
        for camera, model in zip(scenario.cameras, models, strict=True)
    ]
    for window_start, window_s, arrivals_per_min in windows_of(spec):
        start = spec.start + window_start
        t0 = start - WARM_UP_S
        everyone: list[Walker] = []
        arrivals: list[Arrival] = []
        frames: list[list[float]] = []
        for index, ctx in enumerate(contexts, start=1):
            offset = (index - 1) * CAMERA_SPACING_M
            t = t0 + rng.uniform(0, 3)
            while t < start + window_s:
                for a in plan(ctx, t):
                    for w in a.walkers:
                        w.cam = index - 1
                        w.y += offset
                        w.waypoints = [(x, y + offset) for x, y in w.waypoints]
                        w.split_waypoints = [(x, y + offset) for x, y in w.split_waypoints]
                        everyone.append(w)
                    arrivals.append(a)
                t += rng.expovariate(arrivals_per_min / 60.0)
            frames.append(frame_times(spec, index, start, window_s))
        obstacles = [
            (x0, x1, y0 + i * CAMERA_SPACING_M, y1 + i * CAMERA_SPACING_M)
            for i in range(len(scenario.cameras))
            for x0, x1, y0, y1 in _walls(spec.crowd == "tailgating")
        ]
        # one simulation, one frame clock: every camera's frame times
        clock: dict[float, set[int]] = defaultdict(set)
        for cam, times in enumerate(frames):
            for ft in times:
                clock[ft].add(cam)
        _run(arrivals, obstacles, t0, start + window_s, sorted(clock.items()))
        for index, camera in enumerate(scenario.cameras, start=1):
            walkers = [w for w in everyone if w.cam == index - 1]
            _visits(rng, spec, scenario, camera, models[index - 1], walkers, frames[index - 1], index - 1)


def _visits(
    rng: random.Random,
    spec: ScenarioSpec,
    scenario: Scenario,
    camera: Camera,
    model: CameraModel,
    walkers: list[Walker],
    times: list[float],
    cam: int,
) -> None:
    """Project one camera's walkers at its frame times, occlude, and turn each person seen into a Visit."""
    offset = cam * CAMERA_SPACING_M
    own = {ft: n for n, ft in enumerate(times)}
    rows: list[tuple[int, int, float, float, float, float, float]] = []  # frame, walker, x, y, vx, vy, z
    for n, walker in enumerate(walkers):
        for ft, px, py, pvx, pvy in walker.seen:
            rows.append((own[ft], n, px, py - offset, pvx, pvy, walker.height))
    if not rows:
        return
    arr = np.array(rows)
    frame_of, who = arr[:, 0].astype(int), arr[:, 1].astype(int)
    x, y, vx, vy, z = arr[:, 2], arr[:, 3], arr[:, 4], arr[:, 5], arr[:, 6]
    u, v, w, depth = model.project(x, y, z)
    h = w * FACE_ASPECT
    in_view = (
        (depth > 0.5)
        & (w >= MIN_FACE)
        & (w <= MAX_FACE)
        & (u >= w / 2)
        & (u <= 1 - w / 2)
        & (v >= h / 2)
        & (v <= 1 - h / 2)
    )
    # facing the camera: walking within 60 degrees of the direction to it
    speed = np.hypot(vx, vy)
    to_cam_x, to_cam_y = -x, model.y - y
    to_cam = np.hypot(to_cam_x, to_cam_y)
    cos = (vx * to_cam_x + vy * to_cam_y) / np.maximum(speed * to_cam, 1e-9)
    faces_cam = np.array([walkers[i].person is not None for i in who]) & ((cos >= FACING_COS) | (speed < 0.1))
    seen = in_view & faces_cam
    # occlusion: a nearer head (facing or not) covering enough of the face's box
    order = np.argsort(frame_of, kind="stable")
    bounds = np.flatnonzero(np.diff(frame_of[order])) + 1
    for idx in np.split(order, bounds):
        idx = idx[in_view[idx]]
        if len(idx) < 2 or not seen[idx].any():
            continue
        ui, vi, wi, hi = u[idx], v[idx], w[idx] / 2, h[idx] / 2
        # overlap[a, b]: of face a's box with head b's box
        ox = np.minimum(ui[:, None] + wi[:, None], ui + wi) - np.maximum(ui[:, None] - wi[:, None], ui - wi)
        oy = np.minimum(vi[:, None] + hi[:, None], vi + hi) - np.maximum(vi[:, None] - hi[:, None], vi - hi)
        overlap = np.clip(ox, 0, None) * np.clip(oy, 0, None)
        nearer = depth[idx][None, :] < depth[idx][:, None]
        covered = (overlap * nearer).max(axis=1) >= OCCLUDED * 4 * wi * hi
        seen[idx[covered]] = False
    samples: dict[int, list[tuple[float, float, float, float]]] = defaultdict(list)
    for r in np.flatnonzero(seen):
        samples[int(who[r])].append(
            (times[int(frame_of[r])], round(float(u[r]), 6), round(float(v[r]), 6), round(float(w[r]), 6))
        )
    made: list[tuple[float, int, Walker, tuple[tuple[float, float, float, float], ...]]] = []
    for n, points in samples.items():
        if len(points) >= MIN_FRAMES:
            made.append((min(points)[0], n, walkers[n], tuple(sorted(points))))
    made.sort(key=lambda m: (m[0], m[1]))
    for first, _, walker, trajectory in made:
        assert walker.person is not None  # only those facing the camera have samples
        visit = Visit(
            f"{camera.camera_id}-v{len(scenario.visits) + 1:05d}",
            walker.person,
            camera,
            walker.style,
            first,
            trajectory[-1][0],
            None,
            statistics.median(p[3] for p in trajectory),
            (trajectory[0][1], trajectory[0][2], trajectory[-1][1], trajectory[-1][2]),
            trajectory=trajectory,
            group=walker.group,
            role=walker.role,
        )
        if spec.glance_share:
            visit.glancing = rng.random() < spec.glance_share
        scenario.visits.append(visit)


# ---- what the scenarios look like ----------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return float(np.percentile(np.array(values), q))


def motion_stats(scenario: Scenario, frames: Sequence[SimFrame]) -> dict[str, Any]:
    """How the faces of a scenario move and crowd, in face widths per analysed frame.

    speed_p50 / speed_p90: a face's centre displacement between consecutive analysed frames of its camera,
    over the mean of its two widths. near_share: faces whose centre is within 2 face widths (the mean of
    the two) of another face of the same frame. faces_per_frame_p50 / _max over every frame.
    companion_gap_p50: for faces of a group / pair (Visit.group), the distance to the nearest other face of
    the same group in the frame, in widths. visits_by_style / visits_by_role: visits per style, and per role
    of those in a group (abreast / column, leader / follower, fast / slow, split-a / split-b).
    """
    period = scenario.spec.frame_period_s
    last: dict[str, tuple[float, float, float, float]] = {}  # visit -> frame time, cx, cy, w
    speeds: list[float] = []
    near = total = 0
    per_frame: list[int] = []
    gaps: list[float] = []
    group_of = {v.visit_id: v.group for v in scenario.visits}
    for frame in frames:
        t = frame.frame_time
        per_frame.append(len(frame.faces))
        centres = []
        for face in frame.faces:
            fw, _, left, top = face.box
            cx, cy = left + fw / 2, top + face.box[1] / 2
            centres.append((cx, cy, fw, face.visit_id))
            key = f"{frame.camera.camera_id}/{face.visit_id}"
            prev = last.get(key)
            if prev is not None and abs(t - prev[0] - period) < 1e-3:
                speeds.append(math.hypot(cx - prev[1], cy - prev[2]) / ((fw + prev[3]) / 2))
            last[key] = (t, cx, cy, fw)
        total += len(centres)
        for i, (cx, cy, fw, vid) in enumerate(centres):
            dists = [
                (math.hypot(cx - ox, cy - oy) / ((fw + ow) / 2), ovid)
                for j, (ox, oy, ow, ovid) in enumerate(centres)
                if j != i
            ]
            if any(d < 2.0 for d, _ in dists):
                near += 1
            group = group_of.get(vid, "")
            mates = [d for d, ovid in dists if group and group_of.get(ovid, "") == group]
            if mates:
                gaps.append(min(mates))
    styles = Counter(v.style for v in scenario.visits)
    roles = Counter(v.role for v in scenario.visits if v.role)
    return {
        "faces": total,
        "frames": len(per_frame),
        "speed_p50": round(_percentile(speeds, 50), 3),
        "speed_p90": round(_percentile(speeds, 90), 3),
        "near_share": round(near / max(total, 1), 4),
        "faces_per_frame_p50": float(statistics.median(per_frame)) if per_frame else 0.0,
        "faces_per_frame_max": max(per_frame, default=0),
        "companion_gap_p50": round(_percentile(gaps, 50), 3),
        "visits_by_style": dict(sorted(styles.items())),
        "visits_by_role": dict(sorted(roles.items())),
    }
