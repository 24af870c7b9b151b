"""One-to-one assignment of a frame's faces to tracks: candidates by a spatial grid, the optimum by scipy.

Why not cheapest pairs first: in a group that walks in a column, the cheapest pair is often the face of
the person behind, who has stepped into the place of the one in front; taking it forces everyone behind
into a wrong pair or a new track. The joint optimum (the minimum total cost, with a price for leaving a
track or a face unpaired) weighs every pair of a neighbourhood together.

Cost and bounds. Pairs come only from the tracker's gates, found through a grid of the faces' centres, so
a frame costs about O(faces + tracks) to gate rather than O(faces x tracks). The pairs split into
connected groups (faces and tracks that compete for one another); each group is solved on its own,
exactly by `scipy.optimize.linear_sum_assignment` (Jonker-Volgenant) while it has at most
`MAX_EXACT` members, and cheapest pairs first beyond that, so no frame's work is unbounded. Most groups
are tiny (one track and two faces, two and two): those are solved directly, to the same optimum, and
handed to scipy whenever their best two choices are a near tie, so scipy's tie-breaking still decides.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

# Members (tracks + faces) of one competing group solved exactly; larger groups (a crowd packed tighter
# than its gates) are solved cheapest pairs first, which bounds the work of any frame.
MAX_EXACT = 64
# No pair may cost this much: the solver's stand-in for "not allowed".
_FORBIDDEN = 1e9
# Groups of at most this many pairs (most of those with two tracks and two faces) are solved by trying
# every matching, cheaper than building scipy's padded matrix. When the best two matchings' totals are
# this close, the group goes to scipy after all, so its choice between near-equal optima (its
# tie-breaking, its rounding) stays the rule.
MAX_ENUMERATED = 4
_NEAR_TIE = 1e-9


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
    `unpaired_cost` each, so a pair is taken only where it beats leaving both alone. The result lists the
    groups in the order of their first pair in `pairs`, each group's pairs in track order.
    """
    # A pair dearer than leaving both alone is never taken, competed for or not.
    both_alone = 2 * unpaired_cost
    pairs = {key: cost for key, cost in pairs.items() if cost < both_alone}
    if not pairs:
        return []
    per_track: dict[int, int] = {}
    per_face: dict[int, int] = {}
    for ti, fi in pairs:
        per_track[ti] = per_track.get(ti, 0) + 1
        per_face[fi] = per_face.get(fi, 0) + 1
    if len(per_track) == len(pairs) and len(per_face) == len(pairs):
        return list(pairs)  # no track or face has two candidates: nothing competes
    # A pair whose track and face have no other candidate is a group of its own: taken as it is.
    group_of = _groups([key for key in pairs if per_track[key[0]] > 1 or per_face[key[1]] > 1])
    solved: set[int] = set()
    out: list[tuple[int, int]] = []
    for key in pairs:
        group = group_of.get(key[0])
        if group is None:
            out.append(key)
        elif id(group) not in solved:  # at the group's first pair
            solved.add(id(group))
            out += _solve(group, pairs, unpaired_cost)
    return out


def _solve(
    group: list[tuple[int, int]], pairs: dict[tuple[int, int], float], unpaired_cost: float
) -> list[tuple[int, int]]:
    """The pairs one group of competing tracks and faces (at least two pairs) takes, in track order."""
    group = sorted(group)
    tracks = sorted({ti for ti, _ in group})
    faces = sorted({fi for _, fi in group})
    if len(tracks) + len(faces) > MAX_EXACT:
        return _cheapest_first(group, pairs)
    if len(tracks) == 1 or len(faces) == 1:
        found = _star(group, pairs, 2 * unpaired_cost)
    elif len(group) <= MAX_ENUMERATED:
        found = _enumerated(group, pairs, 2 * unpaired_cost)
    else:
        found = None
    return _optimal(group, pairs, tracks, faces, unpaired_cost) if found is None else found


def _star(
    group: list[tuple[int, int]], pairs: dict[tuple[int, int], float], both_alone: float
) -> list[tuple[int, int]] | None:
    """One track and several faces, or the reverse: the cheapest pair (every pair beats leaving both
    alone); None when that is a near tie with the next cheapest or with leaving both alone (then
    _optimal decides)."""
    ranked = sorted(pairs[key] for key in group)
    if ranked[1] - ranked[0] <= _NEAR_TIE or both_alone - ranked[0] <= _NEAR_TIE:
        return None
    return [next(key for key in group if pairs[key] == ranked[0])]


def _enumerated(
    group: list[tuple[int, int]], pairs: dict[tuple[int, int], float], both_alone: float
) -> list[tuple[int, int]] | None:
    """The optimum of a small group by trying every matching, in track order as _optimal gives it; None
    when the best two are a near tie (then _optimal decides). A pair's price is relative to leaving both
    alone, so the totals compare as _optimal's padded totals do."""
    options: dict[int, list[tuple[int, float]]] = {}
    for ti, fi in group:  # sorted: tracks in order
        options.setdefault(ti, []).append((fi, pairs[(ti, fi)] - both_alone))
    rows = list(options.items())
    best, second = math.inf, math.inf
    best_pairs: list[tuple[int, int]] = []
    chosen: list[tuple[int, int]] = []
    used: set[int] = set()

    def walk(i: int, total: float) -> None:
        nonlocal best, second, best_pairs
        if i == len(rows):
            if total < best:
                best, second, best_pairs = total, best, list(chosen)
            elif total < second:
                second = total
            return
        walk(i + 1, total)  # this track left alone
        ti, faces = rows[i]
        for fi, price in faces:
            if fi not in used:
                used.add(fi)
                chosen.append((ti, fi))
                walk(i + 1, total + price)
                chosen.pop()
                used.discard(fi)

    walk(0, 0.0)
    return None if second - best <= _NEAR_TIE else best_pairs


def _groups(pairs: list[tuple[int, int]]) -> dict[int, list[tuple[int, int]]]:
    """Pairs split into connected groups (tracks and faces linked through shared candidates): each track's
    group, one list shared by every track of the group."""
    of_track: dict[int, list[tuple[int, int]]] = {}
    of_face: dict[int, list[tuple[int, int]]] = {}
    for key in pairs:
        ti, fi = key
        a, b = of_track.get(ti), of_face.get(fi)
        if a is None:
            if b is None:
                of_track[ti] = of_face[fi] = [key]
            else:
                b.append(key)
                of_track[ti] = b
        elif b is None or a is b:
            a.append(key)
            of_face[fi] = a
        else:  # the pair joins two groups: the smaller moves into the larger
            big, small = (a, b) if len(a) >= len(b) else (b, a)
            big += small
            big.append(key)
            for t, f in small:
                of_track[t] = of_face[f] = big
            of_track[ti] = of_face[fi] = big
    return of_track


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
    prices: Callable[[int, Sequence[int]], Iterable[tuple[int, float]]],
) -> dict[tuple[int, int], float]:
    """Every allowed (track, face) pair with its cost.

    `reaches[ti]` is (x, y, radius) of the frame region where track ti's face could be (None: it cannot
    take any face now); `prices(ti, candidates)` gives, in candidate order, the candidate faces within
    that reach that pass the tracker's gates, each with its price (one call per track, not per pair: the
    pair loop is the hottest code of a frame). Small frames offer every face as a candidate; larger ones
    those a FaceGrid whose cell is the median reach finds near the reach.
    """
    out: dict[tuple[int, int], float] = {}
    if len(reaches) * len(centres) > 256:
        radii = sorted(r[2] for r in reaches if r is not None)
        grid = FaceGrid(centres, radii[len(radii) // 2] if radii else 0.1)
        for ti, where in enumerate(reaches):
            if where is not None:
                for fi, c in prices(ti, grid.near(*where)):
                    out[(ti, fi)] = c
        return out
    everyone = range(len(centres))
    for ti, where in enumerate(reaches):
        if where is not None:
            for fi, c in prices(ti, everyone):
                out[(ti, fi)] = c
    return out
