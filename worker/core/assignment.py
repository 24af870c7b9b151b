"""One-to-one assignment of a frame's faces to tracks: candidates by a spatial grid, the optimum by scipy.

Why not cheapest pairs first: in a group that walks in a column, the cheapest pair is often the face of
the person behind, who has stepped into the place of the one in front; taking it forces everyone behind
into a wrong pair or a new track. The joint optimum (the minimum total cost, with a price for leaving a
track or a face unpaired) weighs every pair of a neighbourhood together.

Cost and bounds. Pairs come only from the tracker's gates, found through a grid of the faces' centres, so
a frame costs about O(faces + tracks) to gate rather than O(faces x tracks). The pairs split into
connected groups (faces and tracks that compete for one another); each group is solved on its own,
exactly by `scipy.optimize.linear_sum_assignment` (Jonker-Volgenant) while it has at most
`MAX_EXACT` members, and cheapest pairs first beyond that, so no frame's work is unbounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

# Members (tracks + faces) of one competing group solved exactly; larger groups (a crowd packed tighter
# than its gates) are solved cheapest pairs first, which bounds the work of any frame.
MAX_EXACT = 64
# No pair may cost this much: the solver's stand-in for "not allowed".
_FORBIDDEN = 1e9


class FaceGrid:
    """The faces of one frame bucketed by position, to find those within a radius of a point."""

    def __init__(self, centres: Sequence[tuple[float, float]], cell: float) -> None:
        self.cell = max(cell, 1e-3)
        self.centres = centres
        self.cells: dict[tuple[int, int], list[int]] = {}
        for i, (x, y) in enumerate(centres):
            self.cells.setdefault((math.floor(x / self.cell), math.floor(y / self.cell)), []).append(i)

    def near(self, x: float, y: float, radius: float) -> list[int]:
        """Indices of faces whose centre may lie within `radius` of (x, y) (a superset: the gate decides)."""
        c = self.cell
        x0, x1 = math.floor((x - radius) / c), math.floor((x + radius) / c)
        y0, y1 = math.floor((y - radius) / c), math.floor((y + radius) / c)
        if (x1 - x0 + 1) * (y1 - y0 + 1) > 4 * len(self.cells) + 16:
            return list(range(len(self.centres)))  # a radius wider than the crowd: every face
        out: list[int] = []
        for gx in range(x0, x1 + 1):
            for gy in range(y0, y1 + 1):
                out += self.cells.get((gx, gy), ())
        return out


def assign(
    pairs: dict[tuple[int, int], float],
    unpaired_cost: float,
) -> list[tuple[int, int]]:
    """The (track, face) pairs of the least total cost, each track and face at most once.

    `pairs` holds the allowed pairs and their costs; leaving a track or a face unpaired costs
    `unpaired_cost` each, so a pair is taken only where it beats leaving both alone.
    """
    # A pair dearer than leaving both alone is never taken, competed for or not.
    pairs = {key: cost for key, cost in pairs.items() if cost < 2 * unpaired_cost}
    if not pairs:
        return []
    tracks_seen = {ti for ti, _ in pairs}
    if len(tracks_seen) == len(pairs) and len({fi for _, fi in pairs}) == len(pairs):
        return list(pairs)  # no track or face has two candidates: nothing competes
    out: list[tuple[int, int]] = []
    for group in _groups(pairs):
        if len(group) == 1:
            out.append(group[0])
            continue
        tracks = sorted({ti for ti, _ in group})
        faces = sorted({fi for _, fi in group})
        if len(tracks) + len(faces) > MAX_EXACT:
            out += _cheapest_first(group, pairs)
            continue
        out += _optimal(group, pairs, tracks, faces, unpaired_cost)
    return out


def _groups(pairs: dict[tuple[int, int], float]) -> list[list[tuple[int, int]]]:
    """Pairs split into connected groups: tracks and faces linked through shared candidates."""
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(node: tuple[str, int]) -> tuple[str, int]:
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:
            parent[node], node = root, parent[node]
        return root

    for ti, fi in pairs:
        a, b = find(("t", ti)), find(("f", fi))
        if a != b:
            parent[a] = b
    groups: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for key in pairs:
        groups.setdefault(find(("t", key[0])), []).append(key)
    return [sorted(g) for g in groups.values()]


def _cheapest_first(group: list[tuple[int, int]], pairs: dict[tuple[int, int], float]) -> list[tuple[int, int]]:
    used_t: set[int] = set()
    used_f: set[int] = set()
    out = []
    for ti, fi in sorted(group, key=lambda k: (pairs[k], k)):
        if ti not in used_t and fi not in used_f:
            used_t.add(ti)
            used_f.add(fi)
            out.append((ti, fi))
    return out


def _optimal(
    group: list[tuple[int, int]],
    pairs: dict[tuple[int, int], float],
    tracks: list[int],
    faces: list[int],
    unpaired_cost: float,
) -> list[tuple[int, int]]:
    # The classic padding: a track may pair with its own "no face" column, a face with its own "no track"
    # row, at unpaired_cost each; dummies pair with dummies for free. Always feasible.
    nt, nf = len(tracks), len(faces)
    row = {ti: i for i, ti in enumerate(tracks)}
    col = {fi: j for j, fi in enumerate(faces)}
    size = nt + nf
    cost = np.full((size, size), _FORBIDDEN)
    for ti, fi in group:
        cost[row[ti], col[fi]] = pairs[(ti, fi)]
    for i in range(nt):
        cost[i, nf + i] = unpaired_cost
    for j in range(nf):
        cost[nt + j, j] = unpaired_cost
    cost[nt:, nf:] = 0.0
    rows, cols = linear_sum_assignment(cost)
    out = []
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if r < nt and c < nf and cost[r, c] < _FORBIDDEN:
            out.append((tracks[r], faces[c]))
    return out


def gated_pairs(
    reaches: Sequence[tuple[float, float, float] | None],
    centres: Sequence[tuple[float, float]],
    cost: Callable[[int, int], float | None],
) -> dict[tuple[int, int], float]:
    """Every allowed (track, face) pair with its cost.

    `reaches[ti]` is (x, y, radius) of the frame region where track ti's face could be (None: it cannot
    take any face now); `cost(ti, fi)` applies the tracker's gates and prices the pair. Small frames are
    checked exhaustively; larger ones through a FaceGrid whose cell is the median reach.
    """
    out: dict[tuple[int, int], float] = {}
    grid = None
    if len(reaches) * len(centres) > 256:
        radii = sorted(r[2] for r in reaches if r is not None)
        grid = FaceGrid(centres, radii[len(radii) // 2] if radii else 0.1)
    everyone = range(len(centres))
    for ti, where in enumerate(reaches):
        if where is None:
            continue
        x, y, radius = where
        for fi in everyone if grid is None else grid.near(x, y, radius):
            fx, fy = centres[fi]
            if (fx - x) ** 2 + (fy - y) ** 2 > radius * radius:
                continue  # beyond any gate: not worth pricing
            c = cost(ti, fi)
            if c is not None:
                out[(ti, fi)] = c
    return out
