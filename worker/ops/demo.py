"""`make demo`: the walking skeleton end to end on the local stack, with progress and a summary.

Starts the stack (if needed), creates a 2-shard stream, starts 2 workers (each a real KCL
MultiLangDaemon with its Python children), plays 8 simulated cameras in real time for a minute,
waits until every face is indexed, then prints what happened and two example queries.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from worker import aws
from worker.config import load_config
from worker.localstack.webhook import WebhookReceiver
from worker.ops.fleet import start_worker, stop_worker
from worker.ops.leases import checkpoint_lag, read_leases
from worker.ops.producer import KinesisProducer
from worker.ops.resources import ARCHIVE_BUCKET, drain_queue, ensure_alert_topic, ensure_local_resources
from worker.ops.streams import create_stream
from worker.sim.run import expected_faces, produce, write_truth
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of
from worker.sinks.opensearch import make_client
from worker.webhooks import new_secret


def say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def count_faces(client: Any, alias: str, start_ms: int, end_ms: int, **term: str) -> int:
    query: dict[str, Any] = {"bool": {"filter": [{"range": {"frame_time": {"gte": start_ms, "lte": end_ms}}}]}}
    for field, value in term.items():
        query["bool"]["filter"].append({"term": {field: value}})
    try:
        return int(client.count(index=alias, body={"query": query})["count"])
    except Exception:  # noqa: BLE001 - the index appears with the first document
        return 0


def main(args: argparse.Namespace) -> int:
    from worker.localstack import stack

    t0 = time.monotonic()
    say("demo: starting the local stack (first start downloads nothing more; ~20 s)")
    env_values = stack.up(log=lambda m: say(f"  {m}"))
    os.environ.update({k: v for k, v in env_values.items() if k not in os.environ})
    cfg = load_config()
    stream = f"facewatch-demo-{int(time.time())}"
    kinesis = aws.kinesis(cfg)
    create_stream(kinesis, stream, args.shards)
    ensure_local_resources(cfg)
    say(f"demo: stream {stream} with {args.shards} shards is active; Firehose archive and dead-letter bucket ready")

    topic, queue = ensure_alert_topic(cfg, stream)
    webhook_secret = new_secret()  # whsec_<base64 of 32 random bytes>, this run only
    receiver = WebhookReceiver(webhook_secret)
    say(
        f"demo: alerts go to SNS topic {topic.rsplit(':', 1)[1]} (an SQS queue subscribed) and to a signed webhook"
        f" at {receiver.url}"
    )
    env = {
        **os.environ,
        "FACEWATCH_STREAM": stream,
        "FACEWATCH__ALERTS__SNS_TOPIC_ARN": topic,
        "FACEWATCH__ALERTS__WEBHOOK_URL": receiver.url,
        "FACEWATCH__ALERTS__WEBHOOK_SECRET": webhook_secret,
    }
    workers = {f"demo-worker-{i + 1}": start_worker(stream, f"demo-worker-{i + 1}", env) for i in range(args.workers)}
    say(f"demo: started {len(workers)} workers (KCL MultiLangDaemon + Python processors); logs in .run/logs/")

    spec = ScenarioSpec(
        cameras=args.cameras,
        duration_s=args.duration,
        start=round(time.time(), 3),
        seed=11,
        watchlist=2,
        watchlist_share=0.03,
    )
    scenario = build_scenario(spec)
    frames = frames_of(scenario)
    write_truth(scenario, Path(".run/demo-truth.jsonl"))
    want = expected_faces(frames)
    producer = KinesisProducer(kinesis, stream)
    say(
        f"demo: simulating {args.cameras} cameras for {args.duration:.0f} s in real time:"
        f" {len(frames)} records, {want} faces, {len(scenario.visits)} visits"
    )
    producing = threading.Thread(target=produce, args=(frames, producer, True), daemon=True)
    producing.start()
    poison = [b"not json at all", b'{"InputInformation": 42}']  # bad records: quarantined, nothing stops
    producer.put(("poison", p + f" {stream}".encode()) for p in poison)

    os_client = make_client(cfg.opensearch)
    alias = f"{cfg.opensearch.index_prefix}-detections"
    start_ms, end_ms = int(spec.start * 1000) - 1000, int((spec.start + spec.duration_s) * 1000) + 1000
    deadline = time.monotonic() + args.duration + 150
    indexed = 0
    first_indexed_at = None
    while time.monotonic() < deadline:
        time.sleep(5)
        indexed = count_faces(os_client, alias, start_ms, end_ms)
        if indexed and first_indexed_at is None:
            first_indexed_at = time.monotonic()
        owners = {lease.shard_id[-4:]: lease.owner or "-" for lease in _leases(cfg, stream)}
        dead = [w for w, p in workers.items() if p.poll() is not None]
        say(
            f"  t+{time.monotonic() - t0:5.0f}s  records put {producer.result.records:5d}/{len(frames)}"
            f"  faces indexed {indexed:5d}/{want}  leases {owners}" + (f"  EXITED: {dead}" if dead else "")
        )
        if dead:
            say(f"demo: worker(s) {dead} exited; see .run/logs/{dead[0]}.log")
            break
        if not producing.is_alive() and indexed >= want:
            break

    # Checkpoints follow the flushes every checkpoint.every_s: give them that long to reach the last record.
    deadline = time.monotonic() + cfg.checkpoint.every_s + 5
    while True:
        leases = _leases(cfg, stream)
        caught_up = all(
            checkpoint_lag(lease, producer.result.last_sequence.get(lease.shard_id)).startswith("0 ")
            for lease in leases
        )
        if caught_up or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    _summary(cfg, os_client, alias, leases, producer, want, indexed, start_ms, end_ms, scenario)
    _alert_summary(cfg, os_client, queue, receiver, start_ms, end_ms)
    _s3_summary(cfg, start_ms, end_ms)
    say("demo: stopping the workers (SIGTERM: they checkpoint and exit)")
    codes = {w: stop_worker(p) for w, p in workers.items()}
    receiver.close()
    say(
        f"demo: worker exit codes {codes}; the stack is still up for your own queries"
        f" (source .run/stack.env; `make stack-down` stops it). Took {time.monotonic() - t0:.0f} s."
    )
    return 0 if indexed == want else 1


def _alert_summary(cfg: Any, client: Any, queue: str, receiver: WebhookReceiver, start_ms: int, end_ms: int) -> None:
    """Alerts as a guard gets them: the alerts index, the SNS topic (through its SQS queue), the webhook."""
    import orjson

    alias = f"{cfg.opensearch.index_prefix}-alerts"
    deadline = time.monotonic() + 10  # the lanes hand alerts over within a second; allow for a slow start
    sns: dict[str, int] = {}
    while True:
        for envelope in drain_queue(aws.sqs(cfg), queue):
            alert_id = orjson.loads(envelope["Message"])["alert_id"]
            sns[alert_id] = sns.get(alert_id, 0) + 1
        try:
            client.indices.refresh(index=alias)
            query = {"range": {"time": {"gte": start_ms, "lte": end_ms}}}  # this run's alerts only
            hits = client.search(index=alias, body={"size": 1000, "query": query})["hits"]["hits"]
        except Exception:  # noqa: BLE001 - no alerts index when nothing was raised
            hits = []
        ours = [h["_source"] for h in hits]
        if (
            all(d["alert_id"] in sns and d["alert_id"] in receiver.received for d in ours)
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.5)
    by_rule: dict[str, int] = {}
    latencies = []
    for d in ours:
        by_rule[d["rule"]] = by_rule.get(d["rule"], 0) + 1
        if (d.get("delivered_at") or {}).get("sns") and d.get("arrival_time"):
            latencies.append(d["delivered_at"]["sns"] - d["arrival_time"])
    latencies.sort()
    median = f"{latencies[len(latencies) // 2] / 1000:.2f} s" if latencies else "-"
    say(
        f"alerts           : {len(ours)} raised {by_rule or ''}; SNS delivered {sum(sns.values())} messages for"
        f" {len(sns)} alerts, webhook {sum(receiver.received.values())} (signatures checked, {receiver.bad_signatures}"
        f" bad); record arrival -> SNS median {median} (the workers started with the cameras; `make bench-alerts`"
        " measures a running fleet)"
    )
    say(f"  POST {alias}/_search  (identities are in the index, never in the logs)")


def _s3_summary(cfg: Any, start_ms: int, end_ms: int) -> None:
    """What reached S3: the Firehose archive (raw records, closed tracks) and the dead letters."""
    s3 = aws.s3(cfg)

    def lines(prefix: str) -> list[bytes]:
        out: list[bytes] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ARCHIVE_BUCKET, Prefix=prefix):
            for obj in page.get("Contents", []):
                out += s3.get_object(Bucket=ARCHIVE_BUCKET, Key=obj["Key"])["Body"].read().splitlines()
        return out

    import orjson

    raw = [d for d in map(orjson.loads, lines(f"{cfg.firehose.raw_stream}/")) if start_ms <= d["frame_time"] <= end_ms]
    tracks = [
        d for d in map(orjson.loads, lines(f"{cfg.firehose.tracks_stream}/")) if start_ms <= d["first_seen"] <= end_ms
    ]
    say(
        f"archive (S3)     : {len(raw)} raw records, {len(tracks)} closed tracks in s3://{ARCHIVE_BUCKET}/"
        f" ({cfg.firehose.raw_stream}/, {cfg.firehose.tracks_stream}/), via Firehose PutRecordBatch"
    )
    reasons: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=cfg.quarantine.bucket, Prefix=cfg.quarantine.prefix
    ):
        for obj in page.get("Contents", []):
            reason = obj["Key"].split("/")[-2]
            reasons[reason] = reasons.get(reason, 0) + 1
    say(
        f"dead letters (S3): {sum(reasons.values())} in s3://{cfg.quarantine.bucket}/{cfg.quarantine.prefix} {reasons}"
        "  (`python -m worker quarantine list`)"
    )


def _leases(cfg: Any, stream: str) -> list:
    try:
        return read_leases(aws.dynamodb(cfg), f"facewatch-{stream}")
    except Exception:  # noqa: BLE001 - the lease table appears once a worker starts
        return []


def _summary(cfg, client, alias, leases, producer, want, indexed, start_ms, end_ms, scenario) -> None:
    say("\n=== summary ===")
    say(
        f"records produced : {producer.result.records} ({producer.result.bytes / 1024:.0f} KiB) over"
        f" {len(producer.result.per_shard)} shards {dict(sorted(producer.result.per_shard.items()))}"
    )
    say(f"faces expected   : {want}")
    say(f"faces indexed    : {indexed}  ({'none lost, none doubled' if indexed == want else 'MISMATCH'})")
    tracks_alias = alias.removesuffix("-detections") + "-tracks"
    try:
        client.indices.refresh(index=tracks_alias)
        tracks = client.search(
            index=tracks_alias,
            body={
                "size": 0,
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"confirmed": True}},
                            {"range": {"first_seen": {"gte": start_ms, "lte": end_ms}}},
                        ]
                    }
                },
                "aggs": {"category": {"terms": {"field": "category"}}, "state": {"terms": {"field": "state"}}},
            },
        )
        n_tracks = tracks["hits"]["total"]["value"]
        by = {b["key"]: b["doc_count"] for b in tracks["aggregations"]["category"]["buckets"]}
        states = {b["key"]: b["doc_count"] for b in tracks["aggregations"]["state"]["buckets"]}
    except Exception:  # noqa: BLE001 - no track index when nobody was seen
        n_tracks, by, states = 0, {}, {}
    say(
        f"tracks           : {n_tracks} sightings for {len(scenario.visits)} true visits"
        f" ({', '.join(f'{k} {v}' for k, v in sorted(by.items()))};"
        f" {', '.join(f'{k} {v}' for k, v in sorted(states.items()))})"
    )
    for lease in leases:
        lag = checkpoint_lag(lease, producer.result.last_sequence.get(lease.shard_id))
        say(f"shard {lease.shard_id}: held by {lease.owner}, checkpoint lag: {lag}")
    rng = {"range": {"frame_time": {"gte": start_ms, "lte": end_ms}}}
    body = {
        "size": 0,
        "query": {"bool": {"filter": [rng, {"term": {"status": "unknown"}}]}},
        "aggs": {"cams": {"terms": {"field": "camera_id", "size": 50, "order": {"_key": "asc"}}}},
    }
    result = client.search(index=alias, body=body)
    say("\nquery 1: unknown-face detections per camera")
    say(f"  POST {alias}/_search  {{query: status=unknown, aggs: terms camera_id}}")
    for bucket in result["aggregations"]["cams"]["buckets"]:
        say(f"  {bucket['key']}: {bucket['doc_count']}")
    top = client.search(
        index=alias,
        body={
            "size": 0,
            "query": {"bool": {"filter": [rng]}},
            "aggs": {"who": {"terms": {"field": "identity", "size": 1}}},
        },
    )["aggregations"]["who"]["buckets"]
    if top:
        person = top[0]["key"]
        body = {
            "size": 0,
            "query": {"bool": {"filter": [rng, {"term": {"identity": person}}]}},
            "aggs": {
                "cams": {
                    "terms": {"field": "camera_id", "size": 50, "order": {"_key": "asc"}},
                    "aggs": {"first": {"min": {"field": "frame_time"}}, "last": {"max": {"field": "frame_time"}}},
                }
            },
        }
        result = client.search(index=alias, body=body)
        say(f"\nquery 2: sightings of employee {person} (simulated), per camera")
        for bucket in result["aggregations"]["cams"]["buckets"]:
            first = time.strftime("%H:%M:%S", time.gmtime(bucket["first"]["value"] / 1000))
            last = time.strftime("%H:%M:%S", time.gmtime(bucket["last"]["value"] / 1000))
            say(f"  {bucket['key']}: {bucket['doc_count']} detections, {first} - {last} UTC")
    say("")
