"""The composition root: which clients and sinks a record processor gets, built from the configuration.

The only module that knows every adapter. The kclpy callbacks (worker/source/processor.py) stay a shell
of error handling and checkpointing around what `handler_factory` builds; tests and benchmarks build
the same pieces with fakes. Every sink gets its own retry policy whose waits beat the shard's
heartbeat: a processor waiting out a sink outage is alive, not stuck.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from worker import aws
from worker.config import Config
from worker.ops.health import Heartbeat
from worker.retry import RetryPolicy
from worker.sinks.alerts import SnsAlertSink, WebhookAlertSink
from worker.sinks.dispatch import AlertDispatcher, AlertSink
from worker.sinks.firehose import FirehoseSink
from worker.sinks.opensearch import OpenSearchSink, make_client
from worker.sinks.quarantine import QuarantineStore
from worker.sinks.templates import alias_name
from worker.sinks.writer import SinkWriter
from worker.source.batch import BatchHandler
from worker.source.progress import read_progress, read_replay_marker

# A record that arrived in the stream this long after the processor started was seen by no earlier owner
# (their leases had ended): its alerts go out without reading the index first. The margin covers clock
# skew between Kinesis and this host.
FRESH_MARGIN_S = 10.0

HandlerFactory = Callable[[str, Heartbeat], BatchHandler]


def handler_factory(cfg: Config) -> HandlerFactory:
    """What builds the shard's pipeline at `initialize` (one processor process serves one shard)."""

    def make(shard_id: str, heartbeat: Heartbeat) -> BatchHandler:
        def policy(base_s: float, cap_s: float) -> RetryPolicy:
            return RetryPolicy(base_s, cap_s, on_wait=heartbeat.beat)

        o, f, a = cfg.opensearch, cfg.firehose, cfg.alerts
        opensearch = OpenSearchSink(make_client(o, cfg.kinesis.region), o, policy(o.retry_base_s, o.retry_max_s))
        opensearch.ensure_templates()
        firehose = (
            FirehoseSink(
                aws.firehose(cfg), f.max_batch_records, f.max_batch_bytes, policy(f.retry_base_s, f.retry_max_s)
            )
            if f.enabled
            else None
        )
        quarantine = QuarantineStore(aws.s3(cfg), cfg.quarantine.bucket, cfg.quarantine.prefix, policy(0.2, 10.0))
        alert_sinks: list[AlertSink] = []
        if a.sns_topic_arn:
            alert_sinks.append(SnsAlertSink(aws.sns(cfg), a.sns_topic_arn))
        if a.webhook_url:
            alert_sinks.append(WebhookAlertSink(a.webhook_url, a.webhook_secret, a.webhook_timeout_s))
        dispatcher = None
        if alert_sinks:
            fresh_after_ms = int((time.time() + FRESH_MARGIN_S) * 1000)
            # Alert lanes retry on their own threads: their waits are not the record loop's heartbeat.
            dispatcher = AlertDispatcher(
                alert_sinks,
                opensearch,
                a.delivery_attempts,
                RetryPolicy(a.retry_base_s, a.retry_max_s),
                a.retry_every_s,
                fresh_after_ms,
            )
            dispatcher.restore(
                undelivered_alerts(opensearch, o.index_prefix, shard_id, [sink.name for sink in alert_sinks])
            )
        writer = SinkWriter(opensearch, firehose, quarantine, o.index_prefix, shard_id, cfg.worker_id, dispatcher)
        archived = read_progress(opensearch, o.index_prefix, cfg.application_name, shard_id)
        replay = read_replay_marker(opensearch, o.index_prefix, cfg.application_name, shard_id)
        return BatchHandler(
            cfg,
            writer,
            shard_id,
            cfg.worker_id,
            archived_through=archived,
            on_progress=heartbeat.beat,
            replay=replay,
        )

    return make


def undelivered_alerts(opensearch: Any, prefix: str, shard_id: str, sinks: list[str]) -> list[tuple[str, dict]]:
    """The outbox: alerts of this shard some sink has not taken (a previous owner stopped first)."""
    alias = alias_name(prefix, "alerts")
    client = opensearch.client
    if not client.indices.exists_alias(name=alias):
        return []
    client.indices.refresh(index=alias)
    query = {
        "bool": {
            "filter": [{"term": {"shard_id": shard_id}}],
            "must_not": [{"term": {"replayed": True}}],  # a replay's alerts are indexed, never sent
            "should": [{"bool": {"must_not": {"term": {"delivered_to": name}}}} for name in sinks],
            "minimum_should_match": 1,
        }
    }
    hits = client.search(index=alias, body={"size": 10000, "query": query})["hits"]["hits"]
    return [(hit["_index"], hit["_source"]) for hit in hits]
