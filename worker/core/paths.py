"""Where people walked lately at one camera: the recent steps of its tracks, for the tracker's second chance.

At a door or a corridor's turn everybody turns the same way, and at one analysed frame a second the turn is
a jump of several face widths that no constant velocity foresees: the one behind walks the leader's path a
second later. A step is kept for a while (record time, never the wall clock, so a replay decides alike) and
found again by where it passed: a coarse grid over the image, so a lookup costs the steps near a place,
not all of them. The steps travel in the camera's state document, so a new owner of the camera remembers
what the old one did.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

_CELL = 0.0625  # grid cell, share of the frame: a step is filed under the cell of its start (and of its end)


class PathStep(NamedTuple):
    """One step a track took: from (x0, y0, w0) at time `start` to (x1, y1, w1) at `end`, the track's
    velocity as it began (face widths per second), and the track's id (its next step starts at `end`)."""

    start: float
    end: float
    x0: float
    y0: float
    w0: float
    x1: float
    y1: float
    w1: float
    vx: float
    vy: float
    track_id: str

    @classmethod
    def remembered(
        cls,
        start: float,
        end: float,
        x0: float,
        y0: float,
        w0: float,
        x1: float,
        y1: float,
        w1: float,
        vx: float,
        vy: float,
        track_id: str,
    ) -> PathStep | None:
        """A step as the tracker keeps it: times to the millisecond, places to 1e-5 of the frame (0.02 pixel
        at 1920), velocities to 1e-4 width/s. Rounded when remembered, not when written, so the live tracker
        and one restored from the camera's state hold the same numbers (a hand-off stays exact); the state
        document is then ~40 % smaller (a full memory was ~42 KB of ~65). None for a step that rounding
        leaves without duration or width (two frames under a millisecond apart, in different fragments,
        rounded to the same millisecond): `from_list` would refuse it, and a step of no time cannot be walked."""
        step = cls(
            round(start, 3), round(end, 3), round(x0, 5), round(y0, 5), round(w0, 5),
            round(x1, 5), round(y1, 5), round(w1, 5), round(vx, 4), round(vy, 4), track_id,
        )  # fmt: skip
        return step if step.end > step.start and step.w0 > 0.0 and step.w1 > 0.0 else None

    @classmethod
    def from_list(cls, values: Sequence[object]) -> PathStep | None:
        """A step as the camera's state document carries it (a list), or None when it is not one."""
        if not isinstance(values, (list, tuple)) or len(values) != len(cls._fields):
            return None
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values[:-1]):
            return None
        numbers = [float(v) for v in values[:-1]]
        if not all(math.isfinite(v) and abs(v) < 1e12 for v in numbers):
            return None
        start, end, x0, y0, w0, x1, y1, w1, vx, vy = numbers
        if not (end > start and w0 > 0.0 and w1 > 0.0):
            return None
        return cls(start, end, x0, y0, w0, x1, y1, w1, vx, vy, str(values[-1]))


# A step as filed in a cell: the box it is found in (x low, x high, y low, y high, with the margin) and it.
Filed = tuple[float, float, float, float, PathStep]


class PathMemory:
    """The latest `capacity` steps of one camera's tracks, none older than `horizon_s` before the latest."""

    def __init__(self, horizon_s: float, capacity: int, margin: float) -> None:
        self.horizon_s = horizon_s
        self.capacity = max(1, capacity)
        self.margin = margin  # face widths around a step within which it is found
        self._steps: collections.deque[tuple[Filed, list[tuple[int, int]]]] = collections.deque()
        self._cells: dict[tuple[int, int], list[Filed]] = {}
        self._by_start: dict[tuple[str, float], PathStep] = {}  # (track id, start time) -> step

    def __len__(self) -> int:
        return len(self._steps)

    def __iter__(self) -> Iterator[PathStep]:
        return (filed[4] for filed, _ in self._steps)

    def add(self, step: PathStep) -> None:
        steps = self._steps
        horizon = step.end - self.horizon_s
        while steps and (steps[0][0][4].end < horizon or len(steps) >= self.capacity):
            self._drop()
        self._file(step)

    def _file(self, step: PathStep) -> None:
        m = self.margin * (step.w0 if step.w0 > step.w1 else step.w1)
        x_lo, x_hi = (step.x0, step.x1) if step.x0 < step.x1 else (step.x1, step.x0)
        y_lo, y_hi = (step.y0, step.y1) if step.y0 < step.y1 else (step.y1, step.y0)
        filed: Filed = (x_lo - m, x_hi + m, y_lo - m, y_hi + m, step)
        first = (int(step.x0 // _CELL), int(step.y0 // _CELL))
        last = (int(step.x1 // _CELL), int(step.y1 // _CELL))
        # found from the 3 x 3 cells around a place: under its end too only when that is further than that
        far = abs(first[0] - last[0]) > 1 or abs(first[1] - last[1]) > 1
        cells = [first, last] if far else [first]
        grid = self._cells
        for cell in cells:
            held = grid.get(cell)
            if held is None:
                grid[cell] = [filed]
            else:
                held.append(filed)
        self._steps.append((filed, cells))
        self._by_start[(step.track_id, step.start)] = step

    def _drop(self) -> None:
        filed, cells = self._steps.popleft()
        grid = self._cells
        for cell in cells:
            held = grid[cell]
            if held[0] is filed:  # filed in the order added: the oldest is first
                del held[0]
            else:
                held.remove(filed)
            if not held:
                del grid[cell]
        step = filed[4]
        key = (step.track_id, step.start)
        if self._by_start.get(key) is step:
            del self._by_start[key]

    def near(self, x: float, y: float) -> Iterator[Filed]:
        """The steps that begin (or, if long, end) in the cells around (x, y), with their boxes (the caller
        tests the box), a long one perhaps twice. Not every step passing near: the middle of a step longer
        than a cell, or a point beside a step's start by more than a cell, is missed (the price of filing a
        step in one or two cells rather than in every cell it crosses, which cost more per face)."""
        grid = self._cells
        i, j = int(x // _CELL), int(y // _CELL)
        for cell in (
            (i - 1, j - 1),
            (i - 1, j),
            (i - 1, j + 1),
            (i, j - 1),
            (i, j),
            (i, j + 1),
            (i + 1, j - 1),
            (i + 1, j),
            (i + 1, j + 1),
        ):
            held = grid.get(cell)
            if held is not None:
                yield from held

    def following(self, step: PathStep) -> PathStep | None:
        """The same track's next step, if it is remembered."""
        return self._by_start.get((step.track_id, step.end))

    def clear(self) -> None:
        self._steps.clear()
        self._cells.clear()
        self._by_start.clear()

    def restore(self, steps: Iterable[PathStep]) -> None:
        """Take over the steps another worker kept, in its order (iteration order: the order they were
        added, which decides which goes first), exactly: nothing is evicted, as nothing was there. Only the
        latest `capacity` are kept, should this worker's capacity be smaller."""
        self.clear()
        for step in list(steps)[-self.capacity :]:
            self._file(step)


def paths_document(steps: Iterable[PathStep]) -> dict[str, Any]:
    """The steps as the camera's state carries them, oldest first: each track's id once, in `tracks`, and
    each step's last element its index there (the id was a fifth of a step's bytes)."""
    index: dict[str, int] = {}
    rows: list[list[Any]] = []
    for step in steps:
        rows.append([*step[:-1], index.setdefault(step.track_id, len(index))])
    return {"tracks": list(index), "steps": rows}


def steps_of_document(paths: object) -> list[list[object]]:
    """The steps of a state's `paths`, each with its track id again: the form above, or the first one (the id in
    every step). Anything malformed is left out, step by step, rather than stopping the shard."""
    if not isinstance(paths, dict):
        return []
    steps, tracks = paths.get("steps"), paths.get("tracks")
    if not isinstance(steps, list):
        return []
    if tracks is None:
        return [row for row in steps if isinstance(row, list)]  # the first form: ids in place
    if not isinstance(tracks, list):
        return []
    out = []
    for row in steps:
        if not isinstance(row, list) or not row:
            continue
        k = row[-1]
        if isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(tracks) and isinstance(tracks[k], str):
            out.append([*row[:-1], tracks[k]])
    return out
