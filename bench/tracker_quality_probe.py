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
        touched, closed = tr.observe(r)
        for t in touched: tracks[t.track_id] = t
    dt=time.perf_counter()-t0
    visits = {v.visit_id: v for v in sc.visits}
    v2t = collections.defaultdict(collections.Counter)
    merged = 0
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
    print(f"visits={len(seen_visits)} tracks={len(tracks)} tpv={tpv:.3f} merge={merged/len(tracks):.3%} idacc={ok/len(emp):.3%} faces/s={len(truth)/dt:.0f}")
for seed in (1,2,3):
    run(ScenarioSpec(cameras=8, duration_s=600, seed=seed))
run(ScenarioSpec(cameras=4, duration_s=600, seed=4, arrivals_per_min=12, max_faces=6))

def diag(spec):
    sc, recs, truth = records_and_truth(spec)
    tr = Tracker(); tracks = {}
    for r in recs:
        touched, closed = tr.observe(r)
        for t in touched: tracks[t.track_id] = t
    visits = {v.visit_id: v for v in sc.visits}
    kinds = collections.Counter()
    for t in tracks.values():
        vs = collections.Counter(truth[d] for d in t.detection_ids)
        if len({visits[v].person.person_id for v in vs})>1:
            a,b = [visits[v] for v,_ in vs.most_common(2)]
            overlap = min(a.end,b.end) - max(a.start,b.start)
            kinds['overlap' if overlap>0 else 'sequential'] += 1
            kinds[(a.style,b.style)] += 1
    print(kinds)
diag(ScenarioSpec(cameras=4, duration_s=600, seed=4, arrivals_per_min=12, max_faces=6))
diag(ScenarioSpec(cameras=8, duration_s=600, seed=2))
