"""What a replay of [from, until) must hold, read back from a set of indices, and how two such sets
differ: the replay tests and `bench/replay.py` compare a generation with the live indices this way.

Compared: the detections and alerts of the window and every track overlapping it. An alert's delivery
record (who took it, when the worker got the record) and the replay's `replayed` mark are left out: they
say what happened to the alert, not what it is.
"""

from __future__ import annotations

from typing import Any

DELIVERY = ("delivered_to", "sent_at", "delivered_at", "received_time", "rejected_by", "replayed")


def alert_core(docs: dict[str, dict]) -> dict[str, dict]:
    """An alert as raised, without the delivery record the lanes fill in."""
    return {k: {f: v for f, v in d.items() if f not in DELIVERY} for k, d in docs.items()}


def window_docs(client: Any, prefix: str, from_ms: int, until_ms: int) -> dict[str, dict[str, dict]]:
    """Detections and alerts of the window, tracks overlapping it, from `<prefix>-<family>-*`."""
    client.indices.refresh(index=f"{prefix}-*")

    def search(family: str, query: dict) -> dict[str, dict]:
        docs: dict[str, dict] = {}
        key = {"detections": "detection_id", "tracks": "track_id", "alerts": "alert_id"}[family]
        body: dict[str, Any] = {"size": 10000, "query": query, "sort": [{key: "asc"}]}
        while True:
            hits = client.search(index=f"{prefix}-{family}-*", body=body, params={"ignore_unavailable": "true"})
            page = hits["hits"]["hits"]
            docs.update((h["_id"], h["_source"]) for h in page)
            if len(page) < 10000:
                return docs
            body["search_after"] = page[-1]["sort"]

    overlap = {
        "bool": {"filter": [{"range": {"first_seen": {"lt": until_ms}}}, {"range": {"last_seen": {"gte": from_ms}}}]}
    }
    return {
        "detections": search("detections", {"range": {"frame_time": {"gte": from_ms, "lt": until_ms}}}),
        "tracks": search("tracks", overlap),
        "alerts": alert_core(search("alerts", {"range": {"time": {"gte": from_ms, "lt": until_ms}}})),
    }


def differences(want: dict[str, dict[str, dict]], got: dict[str, dict[str, dict]]) -> list[str]:
    """Per document that differs: its family, id and the fields that differ (empty: all equal)."""
    out = []
    for family in sorted(set(want) | set(got)):
        a, b = want.get(family, {}), got.get(family, {})
        for doc_id in sorted(set(a) | set(b)):
            if a.get(doc_id) != b.get(doc_id):
                x, y = a.get(doc_id) or {}, b.get(doc_id) or {}
                fields = sorted(f for f in set(x) | set(y) if x.get(f) != y.get(f))
                out.append(f"{family} {doc_id}: {', '.join(fields) if x and y else 'missing' if x else 'extra'}")
    return out
