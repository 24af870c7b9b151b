"""Track documents written by the real record processor into the real OpenSearch node: the same
whatever the batch split, the same across a change of owner, and labelled by the camera registry."""

from __future__ import annotations

import json
import uuid

from worker.config import parse_cameras
from worker.core.cameras import CameraRegistry

from .helpers import (
    expected_alerts,
    expected_tracks,
    final_heartbeat,
    initialize,
    scenario_records,
    send_batches,
    stored_alerts,
    stored_tracks,
)


def test_track_documents_are_the_same_whatever_the_batch_split(child, isolated_env, opensearch):
    records, frames = scenario_records()
    lobby = frames[0].camera
    cameras = [{"id": "hq-lobby", "stream_arn": lobby.stream_arn, "site": "hq", "floor": "0", "zone": "lobby"}]
    prefixes = [f"it-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    for prefix, size, heartbeat in ((prefixes[0], len(records), False), (prefixes[1], 7, True)):
        c = child({"FACEWATCH__OPENSEARCH__INDEX_PREFIX": prefix, "FACEWATCH_CAMERAS": json.dumps(cameras)})
        initialize(c)
        send_batches(c, records, size, heartbeat)
        final_heartbeat(c)
        c.send({"action": "shutdownRequested"})  # everything is checkpointed already: nothing to ask
        assert c.expect() == {"action": "status", "responseFor": "shutdownRequested"}
        c.close()
        log = b"".join(c.stderr)
        assert b'"camera_unregistered"' in log  # two of the three cameras are not in the registry
    one, other = (stored_tracks(opensearch, p) for p in prefixes)
    assert len(one) > 20
    assert one == other
    registry = CameraRegistry(list(parse_cameras(cameras, "test")))
    assert one == expected_tracks(frames, registry)
    # Labels from the registry; unregistered cameras are still tracked, and labelled as such.
    by_registered = {d["registered"] for d in one.values()}
    assert by_registered == {True, False}
    lobby_doc = next(d for d in one.values() if d["registered"])
    assert (lobby_doc["camera_id"], lobby_doc["site"], lobby_doc["zone"]) == ("hq-lobby", "hq", "lobby")
    assert {d["category"] for d in one.values()} >= {"employee", "unknown"}


def test_a_new_owner_continues_the_open_tracks_instead_of_starting_new_ones(child, isolated_env, opensearch):
    records, frames = scenario_records()
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    cut = len(records) // 2
    cut_time = frames[cut].frame_time
    first = child()
    initialize(first)
    send_batches(first, records[:cut], 25, heartbeat=False)
    first.close()  # the lease moves: this worker is gone
    # The new owner starts from an older checkpoint: 30 records are delivered a second time.
    second = child()
    initialize(second)
    send_batches(second, records[cut - 30 :], 25, heartbeat=False)
    final_heartbeat(second)
    assert b'"tracks_restored"' in b"".join(second.stderr)
    got = stored_tracks(opensearch, prefix)
    want = expected_tracks(frames, CameraRegistry())
    spanning = [d for d in want.values() if d["confirmed"] and d["first_seen"] < cut_time * 1000 < d["last_seen"]]
    assert len(spanning) >= 3  # visits in progress at the hand-off
    assert got == want  # one track per visit, as if nobody had left


def test_alerts_are_indexed_once_each_also_across_a_change_of_owner(child, isolated_env, opensearch):
    """Visitors in the lobby raise unknown-face alerts; a new owner re-reading 30 records and taking over
    the open tracks raises none of them a second time (ids from track and rule)."""
    records, frames = scenario_records()
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    cut = len(records) // 2
    first = child()
    initialize(first)
    send_batches(first, records[:cut], 25, heartbeat=False)
    first.close()
    second = child()
    initialize(second)
    send_batches(second, records[cut - 30 :], 25, heartbeat=False)
    final_heartbeat(second)
    got = stored_alerts(opensearch, prefix)
    want = expected_alerts(frames, CameraRegistry())
    assert len(want) >= 5 and {a["rule"] for a in want.values()} == {"unknown_face"}
    assert {
        k: {f: v for f, v in d.items() if f not in ("shard_id", "arrival_time", "received_time", "delivered_to")}
        for k, d in got.items()
    } == want
    assert all(d["arrival_time"] for d in got.values())
