"""Where the tracker's errors are: `python bench/tracker_errors.py --scenarios dense_walkway tailgating`.

A diagnosis beside `make bench-quality` (issue 20), on the same simulated records and ground truth:

  merged faces  each face in a confirmed track that is not the track's main person, by where it sits
                (first, middle, last face of the track) and whether the main person was in that frame
                (`present`: a swap between two people in view), out of it but seen later (`absent`: a
                stand-in while the person was covered or not yet in view), or gone for good (`gone`: the
                track went on with somebody who stepped into the place).
  breaks        two consecutive faces of one visit that ended in different tracks: a gap over
                direct_gap_s, a size jump over max_size_ratio, or, within both, whether the first face's
                track took somebody else's face at the second one's frame (`took_other`) or none
                (`took_none`); and whether the second face ended in a confirmed track.
  confusable    with each visit's true previous two faces known (an oracle's history), the share of faces
                for which a constant-velocity-and-growth prediction finds another face of that frame
                nearer than the true one: how much motion alone can tell apart in these scenes.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import records_and_truth, track_all

from worker.core.detections import detection_ids
from worker.core.tracker import TrackerParams
from worker.sim.scenario import preset

Face = tuple[float, float, float, float, str, str]  # time, centre x, centre y, width, visit, camera


def faces_of(records, truth) -> dict[str, Face]:
    return {
        d: (r.frame_time, f.box.centre[0], f.box.centre[1], f.box.width, truth[d], r.stream_arn)
        for r in records
        for d, f in zip(detection_ids(r), r.faces, strict=True)
    }


def merged_faces(tracks, faces: dict[str, Face], in_frame) -> collections.Counter:
    out: collections.Counter = collections.Counter()
    for track in tracks.values():
        if not track.confirmed:
            continue
        ds = sorted(track.detection_ids, key=lambda d: faces[d][0])
        main = collections.Counter(faces[d][4] for d in ds).most_common(1)[0][0]
        for i, d in enumerate(ds):
            if faces[d][4] == main:
                continue
            where = "first" if i == 0 else "last" if i == len(ds) - 1 else "middle"
            if any(faces[x][4] == main for x in in_frame[(faces[d][5], faces[d][0])]):
                state = "present"
            else:
                state = "absent" if any(faces[x][4] == main for x in ds[i + 1 :]) else "gone"
            out[f"{where}/{state}"] += 1
    return out


def breaks(tracks, faces: dict[str, Face], ends_in, in_frame, params: TrackerParams) -> collections.Counter:
    by_visit: dict[str, list[str]] = collections.defaultdict(list)
    for d, f in faces.items():
        by_visit[f[4]].append(d)
    out: collections.Counter = collections.Counter()
    for ds in by_visit.values():
        ds.sort(key=lambda d: faces[d][0])
        for a, b in itertools.pairwise(ds):
            ta, tb = ends_in.get(a), ends_in.get(b)
            if ta == tb:
                continue
            fa, fb = faces[a], faces[b]
            if fb[0] - fa[0] > params.direct_gap_s:
                kind = "gap"
            elif max(fa[3], fb[3]) / min(fa[3], fb[3]) > params.max_size_ratio:
                kind = "size"
            elif any(ends_in.get(x) == ta for x in in_frame[(fb[5], fb[0])]):
                kind = "took_other"
            else:
                kind = "took_none"
            confirmed = tb in tracks and tracks[tb].confirmed
            out[f"{kind}/{'confirmed' if confirmed else 'tentative'}"] += 1
    return out


def confusable(faces: dict[str, Face], in_frame) -> tuple[float, int]:
    by_visit: dict[str, list[str]] = collections.defaultdict(list)
    for d, f in faces.items():
        by_visit[f[4]].append(d)
    n = hits = 0
    for ds in by_visit.values():
        ds.sort(key=lambda d: faces[d][0])
        for a, b, c in zip(ds, ds[1:], ds[2:], strict=False):
            fa, fb, fc = faces[a], faces[b], faces[c]
            dt1, dt2 = fb[0] - fa[0], fc[0] - fb[0]
            if dt1 > 1.5 or dt2 > 1.5:
                continue
            growth = math.log(fb[3] / fa[3]) / dt1
            k1, k = math.exp(growth * dt1), math.exp(growth * dt2)
            vx, vy = (fb[1] - fa[1]) / dt1 * 2 / (1 + k1), (fb[2] - fa[2]) / dt1 * 2 / (1 + k1)
            step = dt2 * (1 + k) / 2
            px, py, pw = fb[1] + vx * step, fb[2] + vy * step, fb[3] * k

            def cost(f: Face, px: float = px, py: float = py, pw: float = pw) -> float:
                return math.hypot(f[1] - px, f[2] - py) / ((f[3] + pw) / 2) + 3 * (max(f[3], pw) / min(f[3], pw) - 1)

            true = cost(fc)
            n += 1
            hits += any(cost(faces[x]) < true for x in in_frame[(fc[5], fc[0])] if x != c)
    return hits / max(n, 1), n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", default=["groups", "tailgating", "dense_walkway"])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--duration", type=float, default=600.0)
    args = parser.parse_args()
    params = TrackerParams()
    for name in args.scenarios:
        scenario, _, records, truth = records_and_truth(
            preset(name, cameras=args.cameras, duration_s=args.duration, seed=args.seed)
        )
        tracks, _, ends_in = track_all(records, params)
        faces = faces_of(records, truth)
        in_frame: dict[tuple[str, float], list[str]] = collections.defaultdict(list)
        for d, f in faces.items():
            in_frame[(f[5], f[0])].append(d)
        confirmed = sum(t.confirmed for t in tracks.values())
        share, n = confusable(faces, in_frame)
        print(f"{name} (seed {args.seed}): {len(scenario.visits)} visits, {confirmed} confirmed tracks")
        print("  merged faces:", dict(merged_faces(tracks, faces, in_frame).most_common()))
        print("  breaks:", dict(breaks(tracks, faces, ends_in, in_frame, params).most_common()))
        print(f"  confusable with an oracle's history: {share:.3f} of {n} faces")
    return 0


if __name__ == "__main__":
    sys.exit(main())
