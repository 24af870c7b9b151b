"""Small tools for integration tests: waiting, counting, and a TCP proxy that can cut a server off."""

from __future__ import annotations

import base64
import json
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from worker.core.cameras import CameraRegistry
from worker.core.record import parse_frame_record
from worker.core.track_docs import track_document
from worker.core.tracker import Tracker
from worker.ops.resources import ARCHIVE_BUCKET
from worker.sim.encode import encode_frame
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of, preset


def wait_for(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.5, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what} (last value: {last!r})")


def count(client: Any, index: str, query: dict | None = None) -> int:
    # Before the first document the index does not exist: 0, without a 404 logged at every poll.
    missing_ok = {"ignore_unavailable": "true", "allow_no_indices": "true"}
    try:
        client.indices.refresh(index=index, params=missing_ok)
        return int(client.count(index=index, body={"query": query or {"match_all": {}}}, params=missing_ok)["count"])
    except Exception:  # noqa: BLE001 - whatever else: not there yet
        return 0


class CuttableProxy:
    """Forwards 127.0.0.1:<port> to a server; `cut()` refuses and drops every connection until `restore()`."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for conn in self.conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                    conn.close()
                except OSError:
                    pass
            self.conns.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()


FIXTURE = (Path(__file__).parent.parent / "fixtures" / "aws_doc_record.json").read_bytes()


class ProcessorChild:
    """One `python -m worker processor`, spoken to the way the MultiLangDaemon does."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "worker", "processor"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.lines: queue.Queue[dict] = queue.Queue()
        self.stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            if raw.strip():
                self.lines.put(json.loads(raw))

    def send(self, message: dict) -> None:
        self.proc.stdin.write(orjson.dumps(message) + b"\n")
        self.proc.stdin.flush()

    def expect(self, timeout_s: float = 30.0) -> dict:
        try:
            return self.lines.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no message from the processor; stderr: {b''.join(self.stderr)[-2000:]!r}") from None

    def nothing_for(self, seconds: float) -> bool:
        try:
            message = self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected message while the sink is down: {message}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def kinesis_record(data: bytes, seq: int, key: str = "cam") -> dict:
    return {
        "action": "record",
        "data": base64.b64encode(data).decode(),
        "partitionKey": key,
        "sequenceNumber": str(seq),
        "subSequenceNumber": 0,
        "approximateArrivalTimestamp": 1767225600000 + seq,
    }


def simulated_records(first_seq: int, duration_s: float = 20, seed: int = 3) -> tuple[list[dict], int]:
    frames = frames_of(build_scenario(ScenarioSpec(cameras=3, duration_s=duration_s, seed=seed)))
    records = [kinesis_record(encode_frame(f), first_seq + i, f.camera.stream_arn) for i, f in enumerate(frames)]
    return records, sum(len(f.faces) for f in frames)


def initialize(c: ProcessorChild) -> None:
    c.send(
        {
            "action": "initialize",
            "shardId": "shardId-000000000007",
            "sequenceNumber": "TRIM_HORIZON",
            "subSequenceNumber": 0,
        }
    )
    assert c.expect() == {"action": "status", "responseFor": "initialize"}


SPEC = preset("crowded_lobby", cameras=3, duration_s=90, seed=12)


def scenario_records() -> tuple[list[dict], list]:
    frames = frames_of(build_scenario(SPEC))
    records = [kinesis_record(encode_frame(f), 1000 + i, f.camera.stream_arn) for i, f in enumerate(frames)]
    return records, frames


def send_batches(c, records: list[dict], size: int, heartbeat: bool) -> None:
    for start in range(0, len(records), size):
        batch = records[start : start + size]
        c.send({"action": "processRecords", "records": batch, "millisBehindLatest": 0})
        request = c.expect()
        assert request["action"] == "checkpoint" and request["sequenceNumber"] == batch[-1]["sequenceNumber"]
        c.send(
            {
                "action": "checkpoint",
                "sequenceNumber": request["sequenceNumber"],
                "subSequenceNumber": None,
                "error": None,
            }
        )
        assert c.expect() == {"action": "status", "responseFor": "processRecords"}
        if heartbeat:
            c.send({"action": "processRecords", "records": [], "millisBehindLatest": 0})
            assert c.expect() == {"action": "status", "responseFor": "processRecords"}


def final_heartbeat(c) -> None:
    c.send({"action": "processRecords", "records": [], "millisBehindLatest": 0})
    assert c.expect() == {"action": "status", "responseFor": "processRecords"}


def _stored(client, prefix: str, family: str) -> dict[str, dict]:
    client.indices.refresh(index=f"{prefix}-{family}-*")
    hits = client.search(index=f"{prefix}-{family}", body={"size": 10000, "query": {"match_all": {}}})["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def stored_tracks(client, prefix: str) -> dict[str, dict]:
    return _stored(client, prefix, "tracks")


def stored_alerts(client, prefix: str) -> dict[str, dict]:
    return _stored(client, prefix, "alerts")


def _core_run(frames, registry: CameraRegistry):
    """The pure core over the simulator's frames, as the workers run it: (tracker, [(frame, result, alerts)])."""
    from worker.config import load_config
    from worker.core.alerts import AlertEngine

    tracker = Tracker()
    engine = AlertEngine(load_config(env={}, stack_env_file=None).alert_rules(), registry, "wl_")
    steps = []
    for f in frames:
        frame = parse_frame_record(encode_frame(f))
        result = tracker.observe(frame)
        steps.append((frame, result, engine.on_frame(frame, result)))  # the tracks carry what they raised
    return tracker, steps


def expected_tracks(frames, registry: CameraRegistry) -> dict[str, dict]:
    """The pure core run over the same frames: what the workers must have written."""
    tracker, steps = _core_run(frames, registry)
    docs: dict[str, dict] = {}
    for _, result, _ in steps:
        for t in result.touched + result.closed:
            docs[t.track_id] = track_document(t, registry.lookup(t.stream_arn), "wl_").source
        for t in result.absorbed:
            docs.pop(t.track_id)
    for t in tracker.heartbeat():
        docs[t.track_id] = track_document(t, registry.lookup(t.stream_arn), "wl_").source
    return json.loads(orjson.dumps(docs))


def expected_alerts(frames, registry: CameraRegistry) -> dict[str, dict]:
    """The pure core's alerts over the same frames: what the alerts index must hold."""
    _, steps = _core_run(frames, registry)
    return {a.alert_id: json.loads(orjson.dumps(a.document())) for _, _, alerts in steps for a in alerts}


def archive_lines(s3, stream: str) -> list[dict]:
    lines: list[dict] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=ARCHIVE_BUCKET, Prefix=f"{stream}/"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=ARCHIVE_BUCKET, Key=obj["Key"])["Body"].read()
            lines += [orjson.loads(line) for line in body.splitlines() if line.strip()]
    return lines


def dead_letters(s3, cfg) -> list[dict]:
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=cfg.quarantine.bucket, Prefix=cfg.quarantine.prefix
    ):
        for obj in page.get("Contents", []):
            out.append(orjson.loads(s3.get_object(Bucket=cfg.quarantine.bucket, Key=obj["Key"])["Body"].read()))
    return out
