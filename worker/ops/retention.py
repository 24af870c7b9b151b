"""Index retention: an ISM policy per index family where the cluster has ISM, and otherwise (a node
without the plugin, such as the local stack's) deletion of the daily indices whose day has expired.

ISM counts age from an index's creation; the fallback counts from the day in its name (the record day),
so a replay of old records is removed sooner by the fallback than by ISM. Run it daily (a scheduled
task on AWS does so only where ISM is missing).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from opensearchpy.exceptions import NotFoundError, TransportError

from worker.config import Config
from worker.sinks.opensearch import OpenSearchSink
from worker.sinks.templates import DAILY_FAMILIES, retention_policy

ISM_PLUGIN = "opensearch-index-management"


def retention_days(cfg: Config) -> dict[str, int]:
    return {family: getattr(cfg.retention, f"{family}_days") for family in DAILY_FAMILIES}


def expired(index_names: Iterable[str], prefix: str, days: dict[str, int], today: date) -> list[str]:
    """Daily indices (`<prefix>-<family>-YYYY.MM.DD`) older than their family's retention."""
    out = []
    for name in index_names:
        for family, keep in days.items():
            head = f"{prefix}-{family}-"
            if not name.startswith(head):
                continue
            try:
                day = datetime.strptime(name[len(head) :], "%Y.%m.%d").date()
            except ValueError:
                continue  # not a daily index of ours
            if day < today - timedelta(days=keep):
                out.append(name)
    return sorted(out)


def has_ism(client: Any) -> bool:
    try:
        plugins = client.cat.plugins(format="json")
    except TransportError:
        return False
    return any(p.get("component") == ISM_PLUGIN for p in plugins)


def apply_ism(client: Any, prefix: str, days: dict[str, int]) -> list[str]:
    applied = []
    for family, keep in days.items():
        policy_id = f"{prefix}-{family}-retention"
        body = retention_policy(prefix, family, keep)
        params: dict[str, Any] = {}
        try:
            current = client.transport.perform_request("GET", f"/_plugins/_ism/policies/{policy_id}")
            params = {"if_seq_no": current["_seq_no"], "if_primary_term": current["_primary_term"]}
        except NotFoundError:
            pass
        client.transport.perform_request("PUT", f"/_plugins/_ism/policies/{policy_id}", body=body, params=params)
        applied.append(policy_id)
    return applied


def say(message: str) -> None:
    sys.stderr.write(message + "\n")


def main(sink: OpenSearchSink, cfg: Config, dry_run: bool = False, today: date | None = None) -> int:
    client, prefix, days = sink.client, cfg.opensearch.index_prefix, retention_days(cfg)
    if has_ism(client):
        if dry_run:
            say(f"would put ISM policies for {', '.join(days)}: {days}")
        else:
            say(f"ISM policies applied: {', '.join(apply_ism(client, prefix, days))}")
        return 0
    today = today or datetime.now(UTC).date()
    names = list(client.indices.get(index=f"{prefix}-*", expand_wildcards="open", ignore_unavailable=True))
    old = expired(names, prefix, days, today)
    for name in old:
        say(f"{'would delete' if dry_run else 'deleting'} {name}")
        if not dry_run:
            client.indices.delete(index=name, ignore_unavailable=True)
    say(f"no ISM plugin on this cluster: {len(old)} expired daily indices {'found' if dry_run else 'deleted'}")
    return 0
