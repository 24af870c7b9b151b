"""The fault suite: real workers under simulated load, one injected fault per case, then an exact count.

Every case runs on the local stack (kinesalite + h2c front, DynamoDB Local, OpenSearch, moto's Firehose
and S3) with real KCL daemons, and stops by itself. While it runs, an auditor samples the lease table
every few seconds and checks that every record at or below each checkpoint was already in every sink
(OpenSearch documents, the S3 archive, or the S3 dead letters): a checkpoint past unacknowledged data is
counted as a violation. After the fault is cleared and the shards have drained, OpenSearch and S3 are
compared with what was produced: lost, doubled, quarantined; and the track documents with those one
tracker writes over the same records with no fault and no hand-off (`tracks_differing`: a kill, a lease
moving or a split must change no track). Writes bench/results/faults.json.

Usage: python bench/faults.py [--cases kill9,poison,...] [--rate 150] [--produce-s 45]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker import aws
from worker.config import load_config
from worker.core.cameras import CameraRegistry
from worker.core.detections import detections_of, frame_id
from worker.core.record import parse_frame_record
from worker.core.track_docs import track_document
from worker.core.tracker import Tracker
from worker.localstack import stack
from worker.localstack.faultproxy import FaultProxy
from worker.ops.fleet import Fleet, wait_for
from worker.ops.leases import read_leases
from worker.ops.resources import ARCHIVE_BUCKET, delete_local_delivery_streams, ensure_local_resources
from worker.ops.streams import create_stream, delete_stream, split_shard_in_half
from worker.sim.encode import encode_frame
from worker.sim.producer import KinesisProducer
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of
from worker.sinks.opensearch import make_client

RESULTS = Path(__file__).resolve().parent / "results" / "faults.json"
LOGS = Path(".run/logs/faults")
# Each poison record is made unique by its number (%d): not JSON, wrong types, missing fields, truncated.
POISON_KINDS = [
    b"this is not json %d",
    b'{"InputInformation": 5, "n": %d}',
    b'{"InputInformation": {"KinesisVideo": {"StreamArn": "arn:x", "FragmentNumber": %d}}}',
    b'{"FaceSearchResponse": [{"DetectedFace": {"BoundingBox": "wide"}}], "n": %d',
    b"\xff\xfe\x00garbage %d",
]


@dataclass
class Produced:
    key: str
    data: bytes
    poison: bool
    shard: str = ""
    seq: str = ""
    faces: int = 0
    frame: str = ""
    detection_ids: tuple[str, ...] = ()


@dataclass
class Case:
    name: str
    description: str
    workers: int = 2
    opensearch_proxy: bool = False
    firehose_proxy: bool = False
    poison_share: float = 0.0
    producer_bug_share: float = 0.0  # this share of frames in milliseconds, and as many frames of 2,000+ faces
    events: list[tuple[float, str]] = field(default_factory=list)  # (seconds after production starts, action)


CASES: dict[str, Case] = {
    c.name: c
    for c in [
        Case(
            "kill9",
            "kill -9 of a whole worker task (daemon and every child at once), three times, each restarted",
            events=[(10, "kill9"), (22, "kill9"), (34, "kill9")],
        ),
        Case(
            "opensearch_down",
            "OpenSearch unreachable for 60 s (connections dropped), then back",
            opensearch_proxy=True,
            events=[(8, "opensearch_down"), (68, "opensearch_up")],
        ),
        Case(
            "bulk_429",
            "OpenSearch answers 429 for 20% of bulk items (fault proxy)",
            opensearch_proxy=True,
            events=[(0, "bulk_429")],
        ),
        Case(
            "firehose_partial",
            "Firehose fails 20% of entries inside successful PutRecordBatch calls",
            firehose_proxy=True,
            events=[(0, "firehose_partial")],
        ),
        Case("poison", "1% poison records mixed into the stream", poison_share=0.01),
        Case(
            "producer_bugs",
            "a custom producer's mistakes: 1% of frames with millisecond timestamps, 1% with 2,000-3,000 faces",
            producer_bug_share=0.01,
        ),
        Case("shard_split", "shard 0 split into two while records flow", events=[(15, "split")]),
        Case(
            "scale_1_3_1",
            "one worker, then three, then back to one (SIGTERM, graceful)",
            workers=1,
            events=[(12, "scale_up"), (30, "scale_down")],
        ),
    ]
}


class Sinks:
    """What the sinks hold right now, read incrementally: archive lines, dead letters, detection ids."""

    def __init__(self, cfg: Any, client: Any) -> None:
        self.cfg, self.client, self.s3 = cfg, client, aws.s3(cfg)
        self.prefix = cfg.opensearch.index_prefix
        self.archive_keys: set[str] = set()
        self.archive: Counter[tuple[str, str]] = Counter()  # (shard, seq) -> lines
        self.archive_frames: Counter[str] = Counter()
        self.dead_keys: set[str] = set()
        self.dead: dict[str, tuple[str, str]] = {}  # quarantine id -> (shard, seq)
        self.dead_reasons: Counter[str] = Counter()
        self.lock = threading.Lock()

    def _objects(self, bucket: str, prefix: str) -> list[str]:
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def refresh_s3(self) -> None:
        with self.lock:
            for key in self._objects(ARCHIVE_BUCKET, f"{self.cfg.firehose.raw_stream}/"):
                if key in self.archive_keys:
                    continue
                self.archive_keys.add(key)
                body = self.s3.get_object(Bucket=ARCHIVE_BUCKET, Key=key)["Body"].read()
                for line in body.splitlines():
                    doc = orjson.loads(line)
                    self.archive[(doc["shard_id"], doc["sequence_number"])] += 1
                    self.archive_frames[doc["frame_id"]] += 1
            for key in self._objects(self.cfg.quarantine.bucket, self.cfg.quarantine.prefix):
                if key in self.dead_keys:
                    continue
                self.dead_keys.add(key)
                entry = orjson.loads(self.s3.get_object(Bucket=self.cfg.quarantine.bucket, Key=key)["Body"].read())
                self.dead[entry["quarantine_id"]] = (entry["shard_id"], entry["sequence_number"])
                self.dead_reasons[entry["reason"]] += 1

    def detection_count(self, shard: str, seqs: list[str]) -> int:
        total = 0
        for i in range(0, len(seqs), 5000):
            body = {
                "query": {
                    "bool": {
                        "filter": [{"term": {"shard_id": shard}}, {"terms": {"sequence_number": seqs[i : i + 5000]}}]
                    }
                }
            }
            total += int(self.client.count(index=f"{self.prefix}-detections", body=body)["count"])
        return total

    def detection_ids(self) -> Counter[str]:
        ids: Counter[str] = Counter()
        self.client.indices.refresh(index=f"{self.prefix}-detections*")
        resp = self.client.search(
            index=f"{self.prefix}-detections",
            scroll="2m",
            body={"size": 5000, "_source": False, "query": {"match_all": {}}},
        )
        while resp["hits"]["hits"]:
            ids.update(h["_id"] for h in resp["hits"]["hits"])
            resp = self.client.scroll(scroll_id=resp["_scroll_id"], scroll="2m")
        self.client.clear_scroll(scroll_id=resp["_scroll_id"])
        return ids


class Auditor(threading.Thread):
    """Samples checkpoints; every record at or below one must already be in every sink."""

    def __init__(self, cfg: Any, sinks: Sinks, produced: list[Produced], every_s: float = 3.0) -> None:
        super().__init__(daemon=True)
        self.cfg, self.sinks, self.produced, self.every_s = cfg, sinks, produced, every_s
        self.dynamodb = aws.dynamodb(cfg)
        self.samples = 0
        self.violations: list[dict] = []
        self.children_before_parent_end = 0
        self.verified: set[tuple[str, str]] = set()
        self.split_parents: dict[str, list[str]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.every_s):
            try:
                self.sample()
            except Exception as exc:  # noqa: BLE001 - the auditor must outlive a flaky read
                print(f"  audit: sample failed: {exc!r}", file=sys.stderr)

    def sample(self) -> None:
        try:
            leases = read_leases(self.dynamodb, self.cfg.application_name)
        except Exception:  # noqa: BLE001 - the lease table does not exist before the first worker
            return
        cps = {lease.shard_id: lease.checkpoint for lease in leases}
        parents = {lease.shard_id for lease in leases} & self._parents()
        for parent in parents:
            if cps.get(parent) != "SHARD_END":
                for child in self._children(parent):
                    if cps.get(child) not in (None, "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
                        self.children_before_parent_end += 1
        self.sinks.client.indices.refresh(index=f"{self.sinks.prefix}-detections*")
        self.sinks.refresh_s3()
        self.samples += 1
        for shard, cp in cps.items():
            if cp in (None, "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
                continue
            covered = [
                p
                for p in list(self.produced)
                if p.shard == shard
                and (p.shard, p.seq) not in self.verified
                and (cp == "SHARD_END" or int(p.seq) <= int(cp))
            ]
            if not covered:
                continue
            missing_archive = [p for p in covered if not p.poison and self.sinks.archive[(p.shard, p.seq)] == 0]
            dead = set(self.sinks.dead.values())
            missing_dead = [p for p in covered if p.poison and (p.shard, p.seq) not in dead]
            with_faces = [p for p in covered if p.faces]
            want = sum(p.faces for p in with_faces)
            got = self.sinks.detection_count(shard, [p.seq for p in with_faces]) if with_faces else 0
            if missing_archive or missing_dead or got < want:
                self.violations.append(
                    {
                        "shard": shard,
                        "checkpoint": cp,
                        "missing_archive": len(missing_archive),
                        "missing_dead_letters": len(missing_dead),
                        "missing_detections": want - got,
                    }
                )
            else:
                self.verified.update((p.shard, p.seq) for p in covered)

    def _parents(self) -> set[str]:
        return set(self.split_parents)

    def _children(self, parent: str) -> list[str]:
        return self.split_parents.get(parent, [])


def in_milliseconds(data: bytes) -> bytes:
    """The frame as a producer that writes epoch milliseconds sends it."""
    doc = orjson.loads(data)
    video = doc["InputInformation"]["KinesisVideo"]
    video["ProducerTimestamp"] = round(video["ProducerTimestamp"] * 1000)
    video["ServerTimestamp"] = round(video["ServerTimestamp"] * 1000)
    return orjson.dumps(doc)


def crowded(data: bytes, faces: int) -> bytes:
    """The frame with thousands of faces (a model that reports every blob): ~150 bytes a face."""
    doc = orjson.loads(data)
    doc["FaceSearchResponse"] = [
        {
            "DetectedFace": {
                "BoundingBox": {"Width": 0.01, "Height": 0.01, "Left": (i % 97) / 100, "Top": (i // 97) / 40},
                "Confidence": 91.0,
            },
            "MatchedFaces": [],
        }
        for i in range(faces)
    ]
    return orjson.dumps(doc)


def build_load(
    rate: float, produce_s: float, poison_share: float, seed: int, producer_bug_share: float = 0.0
) -> list[Produced]:
    n = int(rate * produce_s)
    cameras = 24
    frames = frames_of(build_scenario(ScenarioSpec(cameras=cameras, duration_s=n / cameras + 30, seed=seed)))[:n]
    rng = random.Random(seed)
    load: list[Produced] = []
    for f in frames:
        data = encode_frame(f)
        if rng.random() < producer_bug_share:  # instead of the good frame: quarantined, its faces never indexed
            load.append(Produced(f.camera.stream_arn, in_milliseconds(data), True))
            continue
        if rng.random() < producer_bug_share:
            load.append(Produced(f.camera.stream_arn, crowded(data, rng.randint(2000, 3000)), True))
        frame = parse_frame_record(data)
        dets = detections_of(frame)
        load.append(
            Produced(
                f.camera.stream_arn,
                data,
                False,
                faces=len(dets),
                frame=frame_id(frame.stream_arn, frame.fragment_number, frame.frame_offset_s),
                detection_ids=tuple(d.doc_id for d in dets),
            )
        )
        if rng.random() < poison_share:
            load.append(Produced(f.camera.stream_arn, rng.choice(POISON_KINDS) % len(load), True))
    return load


def run_case(case: Case, args: argparse.Namespace, base_env: dict[str, str]) -> dict:
    tag = f"fc-{case.name.replace('_', '')}-{uuid.uuid4().hex[:6]}"
    env = {
        **base_env,
        "FACEWATCH__OPENSEARCH__INDEX_PREFIX": tag,
        "FACEWATCH__FIREHOSE__RAW_STREAM": f"{tag}-raw",
        "FACEWATCH__FIREHOSE__TRACKS_STREAM": f"{tag}-tracks",
        "FACEWATCH__QUARANTINE__PREFIX": f"{tag}/",
        "FACEWATCH_STREAM": tag,
    }
    cfg = load_config(env=env, stack_env_file=None)
    ensure_local_resources(cfg)
    kinesis = aws.kinesis(cfg)
    create_stream(kinesis, tag, 2)
    client = make_client(cfg.opensearch)
    proxies: list[FaultProxy] = []
    if case.opensearch_proxy:
        proxies.append(FaultProxy(stack.port("opensearch"), seed=args.seed).start())
        env["OPENSEARCH_URL"] = proxies[-1].url
    if case.firehose_proxy:
        proxies.append(FaultProxy(stack.port("moto"), seed=args.seed).start())
        env["FACEWATCH__FIREHOSE__ENDPOINT"] = proxies[-1].url
    load = build_load(args.rate, args.produce_s, case.poison_share, args.seed, case.producer_bug_share)
    produced: list[Produced] = []
    by_content = {(p.key, p.data): p for p in load}

    def accepted(key: str, data: bytes, shard: str, seq: str) -> None:
        p = by_content[(key, data)]
        p.shard, p.seq = shard, seq
        produced.append(p)

    producer = KinesisProducer(kinesis, tag, on_accepted=accepted)
    sinks = Sinks(cfg, client)
    auditor = Auditor(cfg, sinks, produced)
    fleet = Fleet(tag, env, LOGS / tag)
    t_case = time.monotonic()
    print(f"case {case.name}: {case.description}", file=sys.stderr)
    try:
        for _ in range(case.workers):
            fleet.start()
        ddb = aws.dynamodb(cfg)
        wait_for(
            lambda: len([lease for lease in read_leases_safe(ddb, cfg.application_name) if lease.owner]) >= 2,
            180,
            "the shards to be leased",
        )
        auditor.start()
        actions = actions_for(case, fleet, proxies, kinesis, tag, auditor)
        pending_events = sorted(case.events)
        t0 = time.monotonic()
        tick = 0.25
        per_tick = max(1, int(args.rate * tick))
        cursor = 0
        end_of_events = max([t for t, _ in pending_events], default=0)
        while cursor < len(load) or pending_events:
            elapsed = time.monotonic() - t0
            while pending_events and pending_events[0][0] <= elapsed:
                _, action = pending_events.pop(0)
                print(f"  t={elapsed:5.1f}s {action}", file=sys.stderr)
                actions[action]()
            if cursor < len(load):
                chunk = load[cursor : cursor + per_tick]
                producer.put((p.key, p.data) for p in chunk)
                cursor += len(chunk)
            if elapsed > end_of_events + args.produce_s + 120:
                break
            time.sleep(max(0.0, t0 + (int(elapsed / tick) + 1) * tick - time.monotonic()))
        for proxy in proxies:  # faults cleared before the drain
            proxy.set(down=False)
        t_drain = time.monotonic()
        good = [p for p in produced if not p.poison]
        want_faces = sum(p.faces for p in good)
        poison = sum(1 for p in produced if p.poison)

        def drained() -> bool:
            sinks.refresh_s3()
            archived = sum(1 for p in good if sinks.archive[(p.shard, p.seq)])
            client.indices.refresh(index=f"{tag}-detections*")
            indexed = count_docs(client, f"{tag}-detections")
            return archived >= len(good) and indexed >= want_faces and len(sinks.dead) >= poison

        wait_for(drained, args.drain_timeout_s, "the shards to drain", fail=False)
        drain_s = time.monotonic() - t_drain
        time.sleep(args.settle_s)  # anything still in flight (a late duplicate) lands before counting
        auditor.stop.set()
        auditor.join()
        auditor.sample()
        fleet.stop_all()
        want, got = expected_tracks(cfg, produced), stored_tracks(client, tag)
        differing = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        tracks = {
            "tracks_expected": len(want),
            "tracks_differing": len(differing),
            "tracks_differing_ids": differing[:5],
        }
        return summarize(case, produced, sinks, auditor, fleet, proxies, time.monotonic() - t_case, drain_s, tracks)
    finally:
        auditor.stop.set()
        fleet.stop_all()
        for proxy in proxies:
            proxy.close()
        delete_stream(kinesis, tag)
        delete_local_delivery_streams(cfg)
        try:
            client.indices.delete(index=f"{tag}-*")
        except Exception:  # noqa: BLE001 - best-effort cleanup: the indices may not exist
            pass


def expected_tracks(cfg: Any, produced: list[Produced]) -> dict[str, dict]:
    """The track documents one tracker writes over every good record in stream order, no fault, no
    hand-off: what the fleet must have written whatever was killed, moved or split (`state` aside: which
    tracks the shards' clocks have closed by the end depends on when the workers stopped)."""
    registry, tracker, docs = CameraRegistry(cfg.cameras), Tracker(cfg.tracker_params()), {}
    for p in sorted((p for p in produced if not p.poison), key=lambda p: (p.shard, int(p.seq))):
        result = tracker.observe(parse_frame_record(p.data))
        for track in result.touched + result.closed:
            source = track_document(track, registry.lookup(track.stream_arn), cfg.identities.watchlist_prefix).source
            docs[track.track_id] = {k: v for k, v in source.items() if k != "state"}
        for track in result.absorbed:
            docs.pop(track.track_id, None)
    return docs


def stored_tracks(client: Any, tag: str) -> dict[str, dict]:
    client.indices.refresh(index=f"{tag}-tracks*", params={"ignore_unavailable": "true", "allow_no_indices": "true"})
    hits = client.search(index=f"{tag}-tracks*", body={"size": 10000, "query": {"match_all": {}}})["hits"]["hits"]
    return {h["_id"]: {k: v for k, v in h["_source"].items() if k not in ("state", "resume")} for h in hits}


def actions_for(
    case: Case, fleet: Fleet, proxies: list[FaultProxy], kinesis: Any, stream: str, auditor: Auditor
) -> dict[str, Callable[[], None]]:
    def split() -> None:
        parent = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
        auditor.split_parents = {parent: split_shard_in_half(kinesis, stream, parent)}

    def scale_down() -> None:
        for worker_id in sorted(fleet.procs)[1:]:
            threading.Thread(target=fleet.stop, args=(worker_id,)).start()

    return {
        "kill9": fleet.kill9,
        "opensearch_down": lambda: proxies[0].set(down=True),
        "opensearch_up": lambda: proxies[0].set(down=False),
        "bulk_429": lambda: proxies[0].set(bulk_429_share=0.2),
        "firehose_partial": lambda: proxies[0].set(firehose_fail_share=0.2),
        "split": split,
        "scale_up": lambda: [fleet.start() for _ in range(2)],
        "scale_down": scale_down,
    }


def read_leases_safe(ddb: Any, app: str) -> list:
    try:
        return read_leases(ddb, app)
    except Exception:  # noqa: BLE001 - not created yet
        return []


def count_docs(client: Any, index: str) -> int:
    try:
        return int(client.count(index=index)["count"])
    except Exception:  # noqa: BLE001 - no index before the first document
        return 0


def summarize(
    case: Case,
    produced: list[Produced],
    sinks: Sinks,
    auditor: Auditor,
    fleet: Fleet,
    proxies: list[FaultProxy],
    seconds: float,
    drain_s: float,
    tracks: dict[str, Any],
) -> dict:
    sinks.refresh_s3()
    good = [p for p in produced if not p.poison]
    expected_ids = Counter(d for p in good for d in p.detection_ids)
    found = sinks.detection_ids()
    lost_detections = sum(1 for d in expected_ids if d not in found)
    duplicates = sum(n - 1 for n in found.values() if n > 1) + sum(1 for d in found if d not in expected_ids)
    frames = {p.frame for p in good}
    lost_archive = sum(1 for f in frames if sinks.archive_frames[f] == 0)
    redelivered = sum(n - 1 for n in sinks.archive_frames.values() if n > 1)
    poison = sum(1 for p in produced if p.poison)
    quarantined = len(sinks.dead)
    row = {
        "case": case.name,
        "description": case.description,
        "produced": len(produced),
        "produced_detections": sum(expected_ids.values()),
        "indexed": sum(1 for d in expected_ids if d in found),
        "archived_frames": len(frames) - lost_archive,
        "lost": lost_detections + lost_archive + max(0, poison - quarantined),
        "lost_detections": lost_detections,
        "lost_archive": lost_archive,
        "duplicates": duplicates,
        "archive_redelivered": redelivered,
        "quarantined": quarantined,
        "quarantine_reasons": dict(sinks.dead_reasons),
        "poison_injected": poison,
        "checkpoint_samples": auditor.samples,
        "checkpoint_violations": len(auditor.violations),
        "records_verified_below_checkpoints": len(auditor.verified),
        "violations": auditor.violations[:5],
        "seconds": round(seconds, 1),
        "drain_s": round(drain_s, 1),
        "worker_stops": fleet.stops,
        "kills": fleet.kills,
        "faults_injected": [p.snapshot() for p in proxies],
        **tracks,
    }
    if case.name == "shard_split":
        row["children_started_before_parent_ended"] = auditor.children_before_parent_end
        row["split"] = auditor.split_parents
    row["passed"] = (
        row["lost"] == 0
        and row["duplicates"] == 0
        and quarantined == poison
        and row["checkpoint_violations"] == 0
        and row.get("children_started_before_parent_ended", 0) == 0
        and row["tracks_differing"] == 0
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--rate", type=float, default=150.0, help="records per second produced")
    parser.add_argument("--produce-s", type=float, default=45.0)
    parser.add_argument("--drain-timeout-s", type=float, default=180.0)
    parser.add_argument("--settle-s", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {', '.join(CASES)}")
    os.environ.update(stack.up())  # this process's own boto3 clients read credentials from it
    os.environ.pop("FACEWATCH_CONFIG", None)
    env = dict(os.environ)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rows = {r["case"]: r for r in results.get("cases", [])}
    for name in names:
        row = run_case(CASES[name], args, env)
        rows[name] = row
        shown = ("produced", "indexed", "lost", "duplicates", "archive_redelivered", "quarantined", "poison_injected")
        shown += ("checkpoint_violations", "tracks_differing", "passed")
        print(f"  -> {json.dumps({k: row[k] for k in shown})}", file=sys.stderr)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(
            json.dumps(
                {
                    "environment": {
                        "machine": f"{os.cpu_count()} cores, {platform.system()} {platform.release()}",
                        "python": platform.python_version(),
                        "rate_rec_s": args.rate,
                        "produce_s": args.produce_s,
                        "shards": 2,
                        "kcl": "amazon-kclpy 3.1.3 (KCL 3.1.3)",
                        "stack": "kinesalite+nghttpx, DynamoDB Local, OpenSearch 2.19.1, moto (Firehose, S3)",
                    },
                    "cases": [rows[n] for n in CASES if n in rows],
                },
                indent=1,
            )
            + "\n"
        )
    failed = [n for n in names if not rows[n]["passed"]]
    print(
        f"faults: {len(names) - len(failed)}/{len(names)} cases passed"
        f"{'; failed: ' + ', '.join(failed) if failed else ''}",
        file=sys.stderr,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
