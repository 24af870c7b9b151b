"""The worker image, built and run for real: on the local stack with --network=host, the containerised
worker takes leases and indexes records, runs as non-root, reports healthy, and on `docker stop` drains,
checkpoints and exits 0 within the stop timeout. The image carries the runtime only: no simulator, local
stack or demo, whose commands say so.

Runs when a Docker engine answers (DOCKER_HOST, or the one `tools/docker.sh up` starts, which
`make test-container` does); skipped otherwise, with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from worker import aws
from worker.config import load_config
from worker.ops.leases import read_leases
from worker.ops.streams import create_stream, delete_stream
from worker.sim.encode import encode_frame
from worker.sim.producer import KinesisProducer
from worker.sim.scenario import ScenarioSpec, build_scenario, frames_of

from .helpers import count, wait_for

ROOT = Path(__file__).resolve().parents[2]
OUR_SOCKET = ROOT / ".cache" / "docker" / "run" / "docker.sock"
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else (shutil.which("docker") or "docker")
BASE = os.environ.get("FACEWATCH_BASE_IMAGE", "facewatch-base:bookworm")
IMAGE = "facewatch-worker:test"
STOP_TIMEOUT_S = 60


def _docker_env() -> dict[str, str]:
    env = dict(os.environ)
    if "DOCKER_HOST" not in env and OUR_SOCKET.exists():
        env["DOCKER_HOST"] = f"unix://{OUR_SOCKET}"
    env["DOCKER_BUILDKIT"] = "1"
    return env


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, env=_docker_env(), timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])}: exit {result.returncode}\n{result.stderr[-3000:]}")
    return result


def _engine_answers() -> bool:
    try:
        return docker("version", "--format", "{{.Server.Version}}", check=False, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("FACEWATCH_CONTAINER_TEST") == "1":  # `make test-container` asked for it: no silent skip
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def image():
    if not _engine_answers():
        _skip_or_fail("no Docker engine answers (DOCKER_HOST or .cache/docker); `make test-container` starts one")
    if docker("image", "inspect", BASE, check=False).returncode != 0:
        _skip_or_fail(f"no base image {BASE}; `make test-container` (tools/docker.sh up) makes it with debootstrap")
    started = time.monotonic()
    docker(
        "build",
        "--network=host",
        "-f",
        "docker/Dockerfile",
        "--build-arg",
        f"BASE_IMAGE={BASE}",
        "-t",
        IMAGE,
        str(ROOT),
        timeout=1200,
    )
    print(f"image built in {time.monotonic() - started:.0f} s")
    return IMAGE


@pytest.mark.timeout(900)
def test_the_container_takes_leases_indexes_runs_as_non_root_and_stops_cleanly(image, isolated_env, opensearch):
    prefix = isolated_env["FACEWATCH__OPENSEARCH__INDEX_PREFIX"]
    stream = f"it-{uuid.uuid4().hex[:8]}"
    env = {**isolated_env, "FACEWATCH_STREAM": stream}
    for key in ("FACEWATCH__PROCESSOR__FLUSH_INTERVAL_S", "FACEWATCH__CHECKPOINT__EVERY_S"):
        env.pop(key)  # the shipped cadence: the stop has buffered work and a checkpoint to catch up on
    cfg = load_config(env=env, stack_env_file=None)
    kinesis = aws.kinesis(cfg)
    create_stream(kinesis, stream, 2)
    producer = KinesisProducer(kinesis, stream)
    frames = frames_of(build_scenario(ScenarioSpec(cameras=6, duration_s=40, seed=5, start=1_767_398_400.0)))
    producer.put((f.camera.stream_arn, encode_frame(f)) for f in frames)
    faces = sum(len(f.faces) for f in frames)

    name = f"facewatch-test-{uuid.uuid4().hex[:6]}"
    passed = {
        k: v for k, v in env.items() if k.startswith(("FACEWATCH", "AWS_", "KINESIS_", "DYNAMODB_", "OPENSEARCH_"))
    }
    passed["FACEWATCH_WORKER_ID"] = "container-1"
    passed["FACEWATCH__KINESIS__SHUTDOWN_GRACE_MS"] = str((STOP_TIMEOUT_S - 15) * 1000)
    args = [
        "run",
        "-d",
        "--name",
        name,
        "--network=host",
        "--read-only",
        "--tmpfs",
        "/tmp:rw,exec,size=256m",
        "--stop-timeout",
        str(STOP_TIMEOUT_S),
    ]
    for key, value in sorted(passed.items()):
        args += ["-e", f"{key}={value}"]
    docker(*args, image)
    try:
        detections = f"{prefix}-detections"
        dynamodb = aws.dynamodb(cfg)
        wait_for(
            lambda: count(opensearch, detections) >= faces,
            timeout_s=240,
            interval_s=2,
            what="the container indexes every face",
        )
        assert count(opensearch, detections) == faces
        leases = read_leases(dynamodb, cfg.application_name)
        assert {lease.owner for lease in leases} == {"container-1"} and len(leases) == 2

        # Non-root: every process in the container (tini, the JVM, the Python processors).
        top = docker("top", name, "-eo", "pid,uid,args").stdout.splitlines()[1:]
        assert len(top) >= 4, top  # tini, java, one processor per shard
        assert {line.split()[1] for line in top} == {"10001"}, top
        assert any("MultiLangDaemon" in line for line in top) and any("worker processor" in line for line in top)

        health = docker("exec", name, "facewatch", "health", check=False)
        assert health.returncode == 0, health.stdout + health.stderr
        assert "2 shard(s) beating" in health.stdout

        # More records, then the stop ECS would send, while they are being processed.
        more = frames_of(build_scenario(ScenarioSpec(cameras=6, duration_s=20, seed=6, start=1_767_398_500.0)))
        producer.put((f.camera.stream_arn, encode_frame(f)) for f in more)
        last = {shard: seq for shard, seq in producer.result.last_sequence.items()}
        wait_for(
            lambda: count(opensearch, detections) >= faces + sum(len(f.faces) for f in more),
            timeout_s=120,
            interval_s=1,
            what="the second batch indexed",
        )
        started = time.monotonic()
        docker("stop", "-t", str(STOP_TIMEOUT_S), name, timeout=STOP_TIMEOUT_S + 30)
        stopped_in = time.monotonic() - started
        state = docker("inspect", name, "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}").stdout.split()
        logs = docker("logs", name, check=False).stderr[-4000:]
        assert state == ["0", "false"], logs
        assert stopped_in < STOP_TIMEOUT_S, f"stop took {stopped_in:.1f} s: SIGKILLed, not drained\n{logs}"
        # Drained and checkpointed: each shard's checkpoint is its last record.
        checkpoints = {lease.shard_id: lease.checkpoint for lease in read_leases(dynamodb, cfg.application_name)}
        assert checkpoints == last, logs
        assert count(opensearch, detections) == faces + sum(len(f.faces) for f in more)
        print(f"docker stop: drained and exited 0 in {stopped_in:.1f} s")
    finally:
        docker("rm", "-f", name, check=False)
        delete_stream(kinesis, stream)


def test_the_image_carries_the_runtime_only(image):
    listing = docker(
        "run",
        "--rm",
        "--user",
        "0",
        "--entrypoint",
        "sh",
        image,
        "-c",  # root: every folder readable
        'find / -path /proc -prune -o -path /sys -prune -o -name "*.py" -path "*worker*" -print',
    ).stdout
    files = listing.split()
    package = {f.split("/site-packages/", 1)[1] for f in files if "/site-packages/worker/" in f}
    assert len(package) == len(files), [f for f in files if "/site-packages/worker/" not in f]  # no source copy
    assert {
        "worker/__main__.py",
        "worker/source/processor.py",
        "worker/ops/quarantine.py",
        "worker/ops/producer.py",
        "worker/sinks/opensearch.py",
    } <= package
    left_in = sorted(f for f in package if f.startswith(("worker/sim/", "worker/localstack/", "worker/ops/demo.py")))
    assert left_in == []
    imported = docker("run", "--rm", "--entrypoint", "python", image, "-c", "import worker.sim", check=False)
    assert imported.returncode == 1 and "No module named 'worker.sim'" in imported.stderr

    version = docker("run", "--rm", "--entrypoint", "facewatch", image, "--version")
    assert version.stdout.startswith("facewatch ")
    for command in ("simulate", "stack", "demo"):
        args = [command, "status"] if command == "stack" else [command]
        done = docker("run", "--rm", "--entrypoint", "facewatch", image, *args, check=False)
        assert done.returncode == 69, done.stderr
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"facewatch {command}: a development command, not part of this installation")
    print(f"image: {len(package)} worker modules, none of worker/sim, worker/localstack, worker/ops/demo.py")
