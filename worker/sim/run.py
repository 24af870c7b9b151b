"""`python -m worker simulate`: frames of a simulated world -> a stream (or a file), plus ground truth."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from worker.sim.encode import encode_frame
from worker.sim.producer import KinesisProducer, PutResult
from worker.sim.scenario import Scenario, ScenarioSpec, SimFrame, build_scenario, frames_of


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stream", help="Kinesis stream to put records into (default: config's stream)")
    parser.add_argument("--out", type=Path, help="write records as JSON lines to this file instead")
    parser.add_argument("--truth", type=Path, default=Path(".run/truth.jsonl"), help="ground truth of every visit")
    parser.add_argument("--cameras", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start", type=float, help="epoch seconds of the first frame (default: now)")
    parser.add_argument("--realtime", action="store_true", help="pace frames at their frame time (1 fps per camera)")
    parser.add_argument("--employees", type=int, default=40)
    parser.add_argument("--arrivals-per-min", type=float, default=4.0, help="visits per camera per minute")


def spec_from_args(args: argparse.Namespace) -> ScenarioSpec:
    return ScenarioSpec(
        cameras=args.cameras,
        duration_s=args.duration,
        start=args.start if args.start is not None else round(time.time(), 3),
        seed=args.seed,
        employees=args.employees,
        arrivals_per_min=args.arrivals_per_min,
    )


def write_truth(scenario: Scenario, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for visit in scenario.visits:
            out.write(orjson.dumps(visit.truth()) + b"\n")


def expected_faces(frames: list[SimFrame]) -> int:
    return sum(len(f.faces) for f in frames)


def produce(
    frames: list[SimFrame],
    producer: KinesisProducer,
    realtime: bool,
    progress: Callable[[int, PutResult], None] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> PutResult:
    """Put frames in frame-time order; with realtime, each frame is put once its time has come."""
    if not realtime:
        producer.put((f.camera.stream_arn, encode_frame(f)) for f in frames)
        if progress:
            progress(len(frames), producer.result)
        return producer.result
    offset = clock() - frames[0].frame_time if frames else 0.0
    i = 0
    while i < len(frames):
        now = clock() - offset
        due: list[SimFrame] = []
        while i < len(frames) and frames[i].frame_time <= now:
            due.append(frames[i])
            i += 1
        if due:
            producer.put((f.camera.stream_arn, encode_frame(f)) for f in due)
            if progress:
                progress(i, producer.result)
        else:
            sleep(min(0.2, max(0.0, frames[i].frame_time - now)))
    return producer.result


def main(args: argparse.Namespace, kinesis_client_factory: Callable[[], Any], stream_name: str) -> int:
    scenario = build_scenario(spec_from_args(args))
    frames = frames_of(scenario)
    write_truth(scenario, args.truth)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("wb") as out:
            for frame in frames:
                out.write(encode_frame(frame) + b"\n")
        sys.stderr.write(
            f"wrote {len(frames)} records ({expected_faces(frames)} faces, {len(scenario.visits)} visits)"
            f" to {args.out}; truth in {args.truth}\n"
        )
        return 0
    producer = KinesisProducer(kinesis_client_factory(), stream_name)

    def progress(done: int, result: PutResult) -> None:
        sys.stderr.write(f"\rsimulate: {done}/{len(frames)} records put")
        sys.stderr.flush()

    result = produce(frames, producer, args.realtime, progress)
    sys.stderr.write(
        f"\nsimulate: {result.records} records, {expected_faces(frames)} faces, {len(scenario.visits)} visits"
        f" into {stream_name}; truth in {args.truth}\n"
    )
    return 0
