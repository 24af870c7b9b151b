"""Probe of the tracker against simulator ground truth (first step of issue 3's quality benchmark).

Prints visits, tracks, tracks per visit, share of tracks that merge two people, identity accuracy on
employee visits and tracker faces/s, for a few seeded scenarios; then what kind of visits the merges join.
Usage: .venv/bin/python bench/tracker_quality_probe.py
"""
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from worker.core.tracker import Tracker, TrackerParams
from worker.core.record import parse_frame_record
from worker.core.detections import detection_id
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of
from worker.sim.encode import encode_frame
def records_and_truth(spec):
    """Parsed records of a scenario, and the true visit of every detection id."""
    sc = build_scenario(spec)
    truth, recs = {}, []
    for f in frames_of(sc):
        r = parse_frame_record(encode_frame(f))
        recs.append(r)
        for i, sf in enumerate(f.faces):
            truth[detection_id(r.stream_arn, r.fragment_number, r.frame_offset_s, i)] = sf.visit_id
    return sc, recs, truth


def run(spec, params=None):
    sc, recs, truth = records_and_truth(spec)
    tr = Tracker(params); tracks = {}
    t0=time.perf_counter()
    for r in recs:
        res = tr.observe(r)
        for t in res.touched: tracks[t.track_id] = t
        for t in res.absorbed: tracks.pop(t.track_id, None)
    dt=time.perf_counter()-t0
    visits = {v.visit_id: v for v in sc.visits}
    v2t = collections.defaultdict(collections.Counter)
    merged = 0
    all_tracks = len(tracks)
    tracks = {k: t for k, t in tracks.items() if t.confirmed}
    for t in tracks.values():
        vs = collections.Counter(truth[d] for d in t.detection_ids)
        people = {visits[v].person.person_id for v in vs}
        if len(people) > 1: merged += 1
        for v, n in vs.items(): v2t[v][t.track_id] += n
    seen_visits = [v for v in v2t]
    tpv = sum(len(c) for c in v2t.values())/len(seen_visits)
    emp = [v for v in seen_visits if visits[v].person.kind=='employee']
    ok = 0
    for v in emp:
        tid = v2t[v].most_common(1)[0][0]
        ok += tracks[tid].identity()[0] == visits[v].person.person_id
    print(f"all={all_tracks} visits={len(seen_visits)} tracks={len(tracks)} tpv={tpv:.3f} merge={merged/len(tracks):.3%} idacc={ok/len(emp):.3%} faces/s={len(truth)/dt:.0f}")
from worker.sim.scenario import PRESETS, preset
if __name__ == "__main__":
  for name in PRESETS:
    print(name, end=" ")
    run(preset(name, cameras=8, duration_s=600, seed=3))

