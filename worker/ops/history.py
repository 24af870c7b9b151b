"""What the indices remember of a camera's past, for a replay to start where the live tracker stood.

A tracker that starts empty at a camera's *quiet point* (a face after more than a track's open time,
max_gap_s + stitch_wait_s, without any face on that camera) is in the very state the live tracker was
in there: every track from that point on comes out the same, with the same id. The quiet points come
from the detections index (one document per face, with its frame and arrival time); the alert cooldown
clocks as they stood at a point in time come from the alerts index (it holds every alert raised).
"""

from __future__ import annotations

from typing import Any

from worker.sinks.templates import alias_name, camera_state_index

HOUR_MS = 3_600_000


def quiet_point(face_times_ms: list[int], before_ms: int, quiet_ms: int) -> int | None:
    """The same rule over a camera's face frame times (sorted), for a source without an index (the
    archive): the latest face time <= before_ms preceded by more than quiet_ms without a face; the
    first face when none is; None when no face is at or before before_ms."""
    earlier = [t for t in face_times_ms if t <= before_ms]
    if not earlier:
        return None
    for i in range(len(earlier) - 1, 0, -1):
        if earlier[i] - earlier[i - 1] > quiet_ms:
            return earlier[i]
    return earlier[0]


class CameraHistory:
    def __init__(self, client: Any, prefix: str, quiet_ms: int, max_lookback_ms: int) -> None:
        self.client = client
        self.prefix = prefix
        self.quiet_ms = quiet_ms
        self.max_lookback_ms = max_lookback_ms

    def camera_states(self) -> list[dict[str, Any]]:
        index = camera_state_index(self.prefix)
        if not self.client.indices.exists(index=index):
            return []
        self.client.indices.refresh(index=index)
        body = {"size": 10000, "query": {"term": {"kind": "camera_state"}}}
        return [h["_source"] for h in self.client.search(index=index, body=body)["hits"]["hits"]]

    def detections_alias(self) -> str | None:
        alias = alias_name(self.prefix, "detections")
        if not self.client.indices.exists_alias(name=alias):
            return None
        self.client.indices.refresh(index=alias)
        return alias

    def first_replayed_face(self, alias: str, arn: str, starts: dict[str, int]) -> int | None:
        """The frame time of the camera's first face in the records the rewound shards deliver again."""
        should = [
            {"bool": {"filter": [{"term": {"shard_id": s}}, {"range": {"arrival_time": {"gte": a}}}]}}
            for s, a in starts.items()
        ]
        body = {
            "size": 0,
            "query": {"bool": {"filter": [{"term": {"stream_arn": arn}}], "should": should, "minimum_should_match": 1}},
            "aggs": {"first": {"min": {"field": "frame_time"}}},
        }
        value = self.client.search(index=alias, body=body)["aggregations"]["first"]["value"]
        return None if value is None else round(value)

    def quiet_point(self, alias: str, arn: str, before_ms: int) -> tuple[int, bool]:
        """The latest frame time <= before_ms (a face's) preceded by more than quiet_ms without a face on
        the camera; (start of the lookback, False) when faces never paused that long in it."""
        upper = before_ms - before_ms % 1000 + 1000  # the face's own second
        later: int | None = None
        floor = before_ms - self.max_lookback_ms
        while upper > floor:
            lower = max(upper - HOUR_MS, floor)
            body = {
                "size": 0,
                "query": {
                    "bool": {
                        "filter": [
                            {"term": {"stream_arn": arn}},
                            {"range": {"frame_time": {"gte": lower, "lt": upper}}},
                        ]
                    }
                },
                "aggs": {
                    "seconds": {
                        "date_histogram": {"field": "frame_time", "fixed_interval": "1s", "min_doc_count": 1},
                        "aggs": {"first": {"min": {"field": "frame_time"}}},
                    }
                },
            }
            buckets = self.client.search(index=alias, body=body)["aggregations"]["seconds"]["buckets"]
            for bucket in reversed(buckets):
                start = round(bucket["first"]["value"])
                if later is not None and later - (int(bucket["key"]) + 1000) > self.quiet_ms:
                    return later, True
                later = start
            if not buckets and later is not None and upper - lower > self.quiet_ms:
                # A whole chunk (longer than a track stays open) without a face before the earliest found.
                return later, True
            upper = lower
        if later is None:
            return before_ms, True
        # Nothing at all before the earliest face found, within the lookback, means quiet only if the
        # index holds nothing older.
        older = {
            "size": 0,
            "query": {"bool": {"filter": [{"term": {"stream_arn": arn}}, {"range": {"frame_time": {"lt": later}}}]}},
        }
        hits = self.client.search(index=alias, body=older)["hits"]["total"]
        total = hits["value"] if isinstance(hits, dict) else int(hits)
        return later, total == 0

    def arrivals_from(self, alias: str, arn: str, from_ms: int) -> dict[str, int]:
        """Per shard, the earliest arrival of the camera's faces from a frame time on."""
        body = {
            "size": 0,
            "query": {"bool": {"filter": [{"term": {"stream_arn": arn}}, {"range": {"frame_time": {"gte": from_ms}}}]}},
            "aggs": {
                "shards": {
                    "terms": {"field": "shard_id", "size": 1000},
                    "aggs": {"first": {"min": {"field": "arrival_time"}}},
                }
            },
        }
        buckets = self.client.search(index=alias, body=body)["aggregations"]["shards"]["buckets"]
        return {b["key"]: round(b["first"]["value"]) for b in buckets if b["first"]["value"] is not None}

    def alert_clocks(self, arn: str, before_ms: int) -> dict[str, float]:
        """The camera's cooldown clocks as they stood just before `before_ms`: per cooldown key, the
        record time of the latest alert raised before it (the alerts index holds every raised alert)."""
        alias = alias_name(self.prefix, "alerts")
        if not self.client.indices.exists_alias(name=alias):
            return {}
        self.client.indices.refresh(index=alias)
        body = {
            "size": 0,
            "query": {"bool": {"filter": [{"term": {"stream_arn": arn}}, {"range": {"time": {"lt": before_ms}}}]}},
            "aggs": {
                "keys": {
                    "multi_terms": {"terms": [{"field": "rule"}, {"field": "identity"}], "size": 10000},
                    "aggs": {"last": {"max": {"field": "time"}}},
                }
            },
        }
        clocks: dict[str, float] = {}
        for bucket in self.client.search(index=alias, body=body)["aggregations"]["keys"]["buckets"]:
            rule, identity = bucket["key"]
            key = f"{rule}|{identity}" if rule == "watchlist" else rule
            at = float(bucket["last"]["value"]) / 1000.0
            clocks[key] = max(clocks.get(key, at), at)
        return dict(sorted(clocks.items()))
