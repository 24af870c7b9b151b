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
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

_CELL = 0.125  # grid cell, share of the frame: a step is filed under every cell its box (plus margin) touches


class PathStep(NamedTuple):
    """One step a track took: from (x0, y0, w0) to (x1, y1, w1), ending at `end` after `dt` seconds, the
    track's velocity as it began (face widths per second), and the track's id (to find its next step)."""

    end: float
    dt: float
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
    def from_list(cls, values: Sequence[object]) -> PathStep | None:
        """A step as the camera's state document carries it (a list), or None when it is not one."""
        if len(values) != len(cls._fields):
            return None
        try:
            numbers = [float(v) for v in values[:-1]]  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        end, dt, x0, y0, w0, x1, y1, w1, vx, vy = numbers
        return cls(end, dt, x0, y0, w0, x1, y1, w1, vx, vy, str(values[-1]))


def _ms(t: float) -> int:
    return round(t * 1000.0)


class PathMemory:
    """The latest `capacity` steps of one camera's tracks, none older than `horizon_s` before the newest
    time it was asked about."""

    def __init__(self, horizon_s: float, capacity: int, margin: float) -> None:
        self.horizon_s = horizon_s
        self.capacity = max(1, capacity)
        self.margin = margin  # face widths around a step within which it is found (its cells)
        self._steps: collections.deque[PathStep] = collections.deque()
        self._cells: dict[tuple[int, int], list[PathStep]] = {}
        self._by_start: dict[tuple[str, int], PathStep] = {}  # (track id, start time in ms) -> step

    def __len__(self) -> int:
        return len(self._steps)

    def __iter__(self) -> Iterator[PathStep]:
        return iter(self._steps)

    def _cells_of(self, step: PathStep) -> list[tuple[int, int]]:
        m = self.margin * (step.w0 if step.w0 > step.w1 else step.w1)
        x0, x1 = (step.x0, step.x1) if step.x0 < step.x1 else (step.x1, step.x0)
        y0, y1 = (step.y0, step.y1) if step.y0 < step.y1 else (step.y1, step.y0)
        ys = range(int((y0 - m) // _CELL), int((y1 + m) // _CELL) + 1)
        return [(i, j) for i in range(int((x0 - m) // _CELL), int((x1 + m) // _CELL) + 1) for j in ys]

    def add(self, step: PathStep) -> None:
        steps = self._steps
        horizon = step.end - self.horizon_s
        while steps and (steps[0][0] < horizon or len(steps) >= self.capacity):
            self._drop()
        steps.append(step)
        cells = self._cells
        for cell in self._cells_of(step):
            filed = cells.get(cell)
            if filed is None:
                cells[cell] = [step]
            else:
                filed.append(step)
        self._by_start[(step.track_id, _ms(step.end - step.dt))] = step

    def expire(self, now: float) -> None:
        """Forget the steps that ended more than horizon_s before `now`."""
        horizon = now - self.horizon_s
        while self._steps and self._steps[0].end < horizon:
            self._drop()

    def _drop(self) -> None:
        step = self._steps.popleft()
        cells = self._cells
        for cell in self._cells_of(step):
            filed = cells[cell]
            if filed[0] is step:  # filed in time order: the oldest is first
                del filed[0]
            else:
                filed.remove(step)
            if not filed:
                del cells[cell]
        key = (step.track_id, _ms(step.end - step.dt))
        if self._by_start.get(key) is step:
            del self._by_start[key]

    def near(self, x: float, y: float) -> list[PathStep]:
        """The steps filed where (x, y) is (those passing within their margin of it, and some more)."""
        return self._cells.get((int(x // _CELL), int(y // _CELL)), [])

    def following(self, step: PathStep) -> PathStep | None:
        """The same track's next step, if it is remembered."""
        return self._by_start.get((step.track_id, _ms(step.end)))

    def clear(self) -> None:
        self._steps.clear()
        self._cells.clear()
        self._by_start.clear()

    def restore(self, steps: Iterable[PathStep]) -> None:
        """Add steps another worker kept (in any order), with those already here, in time order."""
        merged = sorted({*self._steps, *steps})
        self.clear()
        for step in merged:
            self.add(step)
