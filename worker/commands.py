"""The commands behind `facewatch <command>`: one function each, taking the parsed arguments and
returning an exit code (worker/__main__.py builds the parser and maps errors to exit codes).

The image carries the runtime only: the simulator (worker/sim), the local stack (worker/localstack) and
the demo (worker/ops/demo.py) are left out of it, so the runtime commands never import them and the
development commands import them inside `_dev_only`, which turns their absence into NotInstalled.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worker.config import STACK_ENV_FILE, Config, load_config, read_env_file

DISTRIBUTION = "facewatch-worker"
CONSOLE_PROG = "facewatch"  # [project.scripts] in pyproject.toml
MODULE_PROG = "python -m worker"

# Exit codes. argparse exits 2 on a usage error; the others follow sysexits.h where one fits.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STACK = 3
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: a development command this installation does not carry
EXIT_CONFIG = 78  # EX_CONFIG
EXIT_INTERRUPTED = 130  # 128 + SIGINT

EXIT_CODES = f"""exit codes:
  {EXIT_OK:<4} success
  {EXIT_FAILED:<4} the command ran and failed (health: a shard stopped beating; enrol: images refused; ...)
  {EXIT_USAGE:<4} usage error: unknown command or flag, bad flag value
  {EXIT_STACK:<4} local stack error (stack, demo)
  {EXIT_UNAVAILABLE:<4} a development command (simulate, stack, demo) this installation does not carry (the image)
  {EXIT_CONFIG:<4} configuration error: one line per problem, naming the field
  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C)"""

# Development only: left out of the image (.dockerignore), imported only by the commands that need them.
DEV_MODULES = ("worker.sim", "worker.localstack", "worker.ops.demo")


def package_version() -> str:
    """The installed distribution's version; in a checkout without its metadata, pyproject.toml's."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        pass
    import tomllib

    try:
        return tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]["version"]
    except (OSError, KeyError, TypeError, tomllib.TOMLDecodeError):
        return "unknown"


class NotInstalled(Exception):
    """A development command whose modules this installation (the runtime image) leaves out."""

    def __init__(self, command: str, module: str) -> None:
        super().__init__(command)
        self.command = command
        self.module = module


def _is_dev_module(name: str | None) -> bool:
    return name is not None and any(name == m or name.startswith(m + ".") for m in DEV_MODULES)


def dev_available() -> bool:
    """Whether the development modules are here (a checkout), without importing them."""
    try:
        return all(importlib.util.find_spec(m) is not None for m in DEV_MODULES)
    except (ImportError, ValueError):
        return False


@contextmanager
def _dev_only(command: str) -> Iterator[None]:
    """Around a development command's imports: a missing development module becomes NotInstalled.

    Import them as `import worker.ops.demo as demo`: `from worker.ops import demo` turns a missing
    module into a plain ImportError ("cannot import name"), which names no module.
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        if not _is_dev_module(exc.name):
            raise
        raise NotInstalled(command, exc.name or "") from None


def _apply_stack_env() -> dict[str, str]:
    """Default to the local stack when `make stack-up` wrote its endpoints (never overriding the env)."""
    values = read_env_file(STACK_ENV_FILE)
    for key, value in values.items():
        os.environ.setdefault(key, value)
    return values


def _cmd_run(args: argparse.Namespace) -> int:
    from worker.logs import configure
    from worker.source import daemon

    _apply_stack_env()
    if args.stream:
        os.environ["FACEWATCH_STREAM"] = args.stream
    if args.worker_id:
        os.environ["FACEWATCH_WORKER_ID"] = args.worker_id
    if args.config:
        os.environ["FACEWATCH_CONFIG"] = str(Path(args.config).resolve())
    cfg = load_config()
    # The processor children inherit this environment: pin the worker id so every child agrees.
    os.environ["FACEWATCH_WORKER_ID"] = cfg.worker_id
    log = configure(cfg.worker.log_level, worker_id=cfg.worker_id)
    props = Path(args.properties or f".run/{cfg.worker_id}.properties")
    log.info("daemon_starting", stream=cfg.kinesis.stream_name, application=cfg.application_name, properties=str(props))
    daemon.run(cfg, props, dict(os.environ))
    return 0  # not reached: run() replaces this process


def _cmd_processor(args: argparse.Namespace) -> int:
    from worker.logs import configure
    from worker.source import processor

    cfg = load_config()
    configure(cfg.worker.log_level, worker_id=cfg.worker_id, pid=os.getpid())
    processor.main(cfg)
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from worker import aws
    from worker.logs import configure

    with _dev_only("simulate"):
        import worker.sim.run as run

    _apply_stack_env()
    cfg = load_config()
    configure(cfg.worker.log_level)
    return run.main(args, lambda: aws.kinesis(cfg), args.stream or cfg.kinesis.stream_name)


def _cmd_stack(args: argparse.Namespace) -> int:
    with _dev_only("stack"):
        import worker.localstack.stack as stack

    if args.action == "up":
        stack.up()
    elif args.action == "down":
        stack.down()
    elif args.action == "reset":
        stack.reset()
    else:
        for name, healthy in stack.status().items():
            sys.stdout.write(f"{name:12s} {'up' if healthy else 'DOWN'}\n")
    return 0


def _cmd_create_stream(args: argparse.Namespace) -> int:
    from worker import aws
    from worker.ops.streams import create_stream

    _apply_stack_env()
    cfg = load_config()
    create_stream(aws.kinesis(cfg), args.stream or cfg.kinesis.stream_name, args.shards)
    print(f"stream {args.stream or cfg.kinesis.stream_name}: active with {args.shards} shards", file=sys.stderr)
    return 0


def _cmd_leases(args: argparse.Namespace) -> int:
    from worker import aws
    from worker.ops.leases import read_leases

    _apply_stack_env()
    if args.stream:
        os.environ["FACEWATCH_STREAM"] = args.stream
    cfg = load_config()
    dynamodb = aws.dynamodb(cfg)
    try:
        leases = read_leases(dynamodb, cfg.application_name)
    except dynamodb.exceptions.ResourceNotFoundException:
        sys.stderr.write(
            f"no lease table {cfg.application_name}: no worker has run on stream"
            f" {cfg.kinesis.stream_name} yet (or --stream / FACEWATCH_APPLICATION name another one)\n"
        )
        return 1
    for lease in leases:
        sys.stdout.write(f"{lease.shard_id:24s} owner={lease.owner or '-':28s} checkpoint={lease.checkpoint}\n")
    return 0


def _stream_config(stream: str | None) -> Config:
    _apply_stack_env()
    if stream:
        os.environ["FACEWATCH_STREAM"] = stream
    return load_config()


def _cmd_checkpoints(args: argparse.Namespace) -> int:
    from worker.ops import checkpoints

    if args.action == "show":
        try:
            sys.stdout.write(checkpoints.render(checkpoints.load(args.file)))
        except checkpoints.SnapshotError as exc:
            print(f"checkpoints show: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK
    return export_checkpoints(args.stream, args.out)


def export_checkpoints(stream: str | None, out: Path | None) -> int:
    from worker import aws
    from worker.ops import checkpoints

    cfg = _stream_config(stream)
    dynamodb = aws.dynamodb(cfg)
    try:
        snapshot = checkpoints.take(
            aws.kinesis(cfg), dynamodb, cfg.kinesis.stream_name, cfg.application_name, cfg.kinesis.region
        )
    except dynamodb.exceptions.ResourceNotFoundException:
        print(
            f"checkpoints export: no lease table {cfg.application_name}: no worker has run on stream"
            f" {cfg.kinesis.stream_name} yet (nothing to export)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    path = out or checkpoints.default_path(cfg.application_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(snapshot.to_json())
    print(f"checkpoints of {len(snapshot.shards)} shards of {cfg.application_name} written to {path}", file=sys.stderr)
    sys.stdout.write(f"{path}\n")
    return EXIT_OK


def _cmd_replay(args: argparse.Namespace) -> int:
    if args.action is not None:
        return _replay_generation(args)
    if not (args.to_checkpoints or args.to_datetime or args.to_earliest or args.to_latest):
        print(
            "replay: say what to do: `replay run|promote|drop ...`, or rewind in place with one of --to-checkpoints,"
            " --to-datetime, --to-earliest, --to-latest and --dry-run or --execute",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not (args.dry_run or args.execute):
        print("replay: add --dry-run (print the plan) or --execute (apply it)", file=sys.stderr)
        return EXIT_USAGE
    return _rewind(args)


def _replay_generation(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from opensearchpy.exceptions import OpenSearchException

    from worker import aws
    from worker.compose import handler_factory
    from worker.ops import archive_replay, generations, replay_run, times
    from worker.ops.history import CameraHistory
    from worker.sinks.opensearch import OpenSearchSink, make_client

    cfg = _stream_config(getattr(args, "stream", None))
    client = make_client(cfg.opensearch, cfg.kinesis.region)
    prefix = cfg.opensearch.index_prefix
    try:
        if args.action == "promote":
            name = args.generation if args.generation == generations.LIVE else generations.check_name(args.generation)
            swaps = generations.plan_promote(client, prefix, name)
            for swap in swaps:
                removed = ", ".join(swap.removed) or "-"
                sys.stdout.write(f"{swap.family:10s} {swap.day}: {removed} -> {swap.added or '-'}\n")
            if args.dry_run:
                sys.stdout.write(f"dry run: {len(swaps)} alias changes, nothing changed\n")
                return EXIT_OK
            generations.promote(client, prefix, swaps)
            sys.stdout.write(f"promoted {name}: {len(swaps)} days switched in one alias update\n")
            return EXIT_OK
        name = generations.check_name(args.generation)
        if args.action == "drop":
            gone = generations.drop(client, aws.dynamodb(cfg), prefix, cfg.application_name, name)
            sys.stdout.write(f"dropped generation {name}: {len(gone)} indices deleted\n")
            return EXIT_OK
        from_ms = times.parse_datetime(args.from_, "--from")
        until_ms = times.parse_datetime(args.until, "--until") if args.until else round(time.time() * 1000)
        if until_ms <= from_ms:
            print("replay run: --until must be after --from", file=sys.stderr)
            return EXIT_USAGE
        if until_ms > time.time() * 1000 + 1000:
            print(
                "replay run: --until is in the future; a replay covers the past (leave it out for now)", file=sys.stderr
            )
            return EXIT_USAGE
        gen_prefix = generations.generation_prefix(prefix, name)
        if client.indices.exists(index=f"{gen_prefix}-*", allow_no_indices=False):
            print(
                f"replay run: generation {name} exists ({gen_prefix}-*): drop it first or name another", file=sys.stderr
            )
            return EXIT_FAILED
        spec = replay_run.ReplaySpec(
            name,
            from_ms,
            until_ms,
            tuple(args.cameras or ()),
            args.deliver_alerts,
            args.workers,
            args.tail_s,
            args.report_every_s,
        )
        params = cfg.tracker_params()
        quiet_ms = round((params.max_gap_s + params.stitch_wait_s) * 1000)
        lookback_ms = round(args.max_lookback_hours * 3_600_000)
        history = CameraHistory(client, prefix, quiet_ms, lookback_ms)
        gen_env = replay_run.worker_env(cfg, spec, from_ms, dict(os.environ))
        gen_cfg = load_config(env=gen_env, stack_env_file=None)
        gen_sink = OpenSearchSink(make_client(gen_cfg.opensearch, cfg.kinesis.region), gen_cfg.opensearch)
        if args.from_archive:
            s3 = aws.s3(cfg)
            days = archive_replay.days_between(from_ms - lookback_ms, until_ms + round(args.tail_s * 1000))
            keys = archive_replay.archive_keys(
                s3, cfg.firehose.archive_bucket, cfg.firehose.raw_stream, days, spec.cameras
            )
            plan = archive_replay.plan_archive(
                archive_replay.read_archive(s3, cfg.firehose.archive_bucket, keys),
                spec,
                quiet_ms,
                lookback_ms,
                lambda arn, at: history.alert_clocks(arn, at),
            )
            for warning in plan.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            result = archive_replay.replay_archive(
                gen_cfg, plan, gen_sink, handler_factory(gen_cfg), lambda line: print(line, file=sys.stderr)
            )
        else:
            start = replay_run.plan_start(history, spec)
            logs = None if args.worker_logs == "-" else Path(args.worker_logs)
            replay = replay_run.SideBySideReplay(cfg, aws.kinesis(cfg), aws.dynamodb(cfg), gen_sink, log_dir=logs)
            result = replay.run(spec, start)
        rate = result["records"] / max(result["seconds"], 1e-9)
        sys.stdout.write(
            f"replayed {result['records']} records into generation {name} in {result['seconds']:.1f} s"
            f" ({rate:.0f} records/s); `replay promote --generation {name}` to read from it\n"
        )
        return EXIT_OK
    except (generations.GenerationError, replay_run.ReplayRefused, times.TimeError) as exc:
        print(f"replay {args.action}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ClientError, BotoCoreError, OpenSearchException) as exc:
        print(f"replay {args.action}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _rewind(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from opensearchpy.exceptions import OpenSearchException

    from worker import aws
    from worker.ops import checkpoints, rewind, times
    from worker.ops.ecs_fleet import FleetNotStopped, with_service_stopped
    from worker.sinks.opensearch import OpenSearchSink, make_client

    cfg = _stream_config(args.stream)
    try:
        if args.to_checkpoints:
            target = rewind.Target("checkpoints", snapshot=checkpoints.load(args.to_checkpoints))
        elif args.to_datetime:
            target = rewind.Target("datetime", at_ms=times.parse_datetime(args.to_datetime, "--to-datetime"))
        else:
            target = rewind.Target("earliest" if args.to_earliest else "latest")
    except (checkpoints.SnapshotError, times.TimeError) as exc:
        print(f"replay: {exc}", file=sys.stderr)
        return EXIT_USAGE
    params = cfg.tracker_params()
    sink = OpenSearchSink(make_client(cfg.opensearch, cfg.kinesis.region), cfg.opensearch)
    rewinder = rewind.Rewinder(
        aws.kinesis(cfg),
        aws.dynamodb(cfg),
        sink,
        cfg.kinesis.stream_name,
        cfg.application_name,
        cfg.opensearch.index_prefix,
        params.max_gap_s + params.stitch_wait_s,
        args.max_lookback_hours * 3600.0,
    )
    watch = (
        args.live_check_s if args.live_check_s is not None else (5.0 if cfg.kinesis.fast_lease_timers else 10.0) + 2.0
    )

    def plan_and_apply() -> rewind.RewindPlan:
        """The plan is made with the fleet stopped (a live worker moves the leases on), then applied."""
        plan = rewinder.plan(target, args.shards, args.allow_trimmed)
        sys.stdout.write(rewind.render(plan))
        if not args.dry_run:
            rewinder.execute(plan, watch, deliver_alerts=args.deliver_alerts)
        return plan

    if args.stop_fleet and not (args.execute and args.cluster and args.service):
        print(
            "replay: --stop-fleet goes with --execute, --cluster and --service (terraform output cluster_name,"
            " service_name)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        if args.stop_fleet:
            plan = with_service_stopped(
                aws.ecs(cfg),
                args.cluster,
                args.service,
                plan_and_apply,
                out=lambda line: print(f"replay: {line}", file=sys.stderr),
            )
        else:
            plan = plan_and_apply()
        if args.dry_run:
            sys.stdout.write("dry run: nothing changed\n")
            return EXIT_OK if not plan.refusals else EXIT_FAILED
    except (rewind.RewindRefused, rewind.LeaseChanged, FleetNotStopped) as exc:
        print(f"replay: refused: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ClientError, BotoCoreError, OpenSearchException) as exc:
        print(f"replay: {type(exc).__name__}: {exc}; nothing after this point was changed", file=sys.stderr)
        return EXIT_FAILED
    moved = sum(1 for m in plan.moves if m.changes)
    sys.stdout.write(
        f"done: {moved} checkpoints moved, {len(plan.cameras)} cameras rewound; start the fleet to replay\n"
    )
    return EXIT_OK


def _cmd_quarantine(args: argparse.Namespace) -> int:
    from worker import aws
    from worker.ops import quarantine
    from worker.sinks.quarantine import QuarantineStore

    _apply_stack_env()
    cfg = load_config()
    store = QuarantineStore(aws.s3(cfg), cfg.quarantine.bucket, cfg.quarantine.prefix)
    if args.action == "list":
        n = quarantine.list_entries(store, args.reason, args.day, args.limit)
        print(f"{n} entries in s3://{cfg.quarantine.bucket}/{cfg.quarantine.prefix}", file=sys.stderr)
        return 0
    stream = args.stream or cfg.kinesis.stream_name
    quarantine.redrive(store, aws.kinesis(cfg), stream, args.reason, args.day, args.limit, args.dry_run)
    return 0


def _cmd_local_resources(args: argparse.Namespace) -> int:
    from worker.ops.resources import ensure_local_resources

    _apply_stack_env()
    made = ensure_local_resources(load_config())
    print(f"local resources ready: {made}", file=sys.stderr)
    return 0


def _cmd_retention(args: argparse.Namespace) -> int:
    from worker.ops import retention
    from worker.sinks.opensearch import OpenSearchSink, make_client

    _apply_stack_env()
    cfg = load_config()
    sink = OpenSearchSink(make_client(cfg.opensearch, cfg.kinesis.region), cfg.opensearch)
    return retention.main(sink, cfg, dry_run=args.dry_run)


def _cmd_demo(args: argparse.Namespace) -> int:
    with _dev_only("demo"):
        import worker.ops.demo as demo

    return demo.main(args)


def _cmd_health(args: argparse.Namespace) -> int:
    from worker.ops.health import check

    cfg = load_config()
    health = check(cfg.worker.heartbeat_dir, cfg.worker.health_max_age_s)
    (sys.stdout if health.ok else sys.stderr).write(health.message + "\n")
    return 0 if health.ok else 1


def _cmd_processors(args: argparse.Namespace) -> int:
    from worker import aws
    from worker.ops import rekognition

    client = aws.rekognition(load_config())
    statuses = rekognition.processor_statuses(client, args.prefix)
    if not statuses:
        print(f"no stream processor named {args.prefix}*; check --prefix and the region (AWS_REGION)", file=sys.stderr)
        return 1
    if args.action == "status":
        for name, status in sorted(statuses.items()):
            sys.stdout.write(f"{name:48s} {status}\n")
        return 0
    act, skip = rekognition.transitions(statuses, args.action)
    for name, status in sorted(skip.items()):
        sys.stdout.write(f"{name:48s} {status}: left as is\n")
    for name in act:
        sys.stdout.write(f"{name:48s} {statuses[name]} -> {args.action}{' (dry run)' if args.dry_run else ''}\n")
    if not args.dry_run:
        rekognition.apply(client, args.action, act)
    return 0


def _cmd_enrol(args: argparse.Namespace) -> int:
    from worker import aws
    from worker.logs import configure
    from worker.ops import rekognition

    cfg = load_config()
    # Counts and positions only, on stdout, stderr and in the logs: file names, paths, external ids and
    # face ids name people (biometric personal data). They appear in debug lines only
    # (FACEWATCH_LOG_LEVEL=debug), e.g. to find which file "image 3" is.
    log = configure(cfg.worker.log_level)
    prefix = cfg.identities.watchlist_prefix if args.watchlist else ""
    source = Path(args.folder or args.csv)
    try:
        plan = (
            rekognition.plan_from_folder(source, prefix) if args.folder else rekognition.plan_from_csv(source, prefix)
        )
    except OSError as exc:
        log.debug("enrol_source_unreadable", path=str(source), error=str(exc))
        print(f"enrol: cannot read the --csv file ({exc.strerror or type(exc).__name__})", file=sys.stderr)
        return 1
    for problem in plan.rejected:
        print(f"skipped {problem.where}: {problem.reason}", file=sys.stderr)
        log.debug("enrol_skipped", where=problem.where, detail=problem.detail)
    sys.stdout.write(
        f"{len(plan.items)} image(s) to enrol into {args.collection}"
        f"{' as watchlist faces' if args.watchlist else ''}, {len(plan.rejected)} skipped\n"
    )
    if plan.rejected:
        sys.stderr.write(
            "(images are numbered in name order, CSV rows by line; FACEWATCH_LOG_LEVEL=debug names the files)\n"
        )
    if args.dry_run or not plan.items:
        return 0 if not plan.rejected else 1
    try:
        result = rekognition.enrol(aws.rekognition(cfg), args.collection, plan, log=log)
    except rekognition.EnrolStopped as exc:
        done = exc.result
        sys.stdout.write(
            f"indexed {done.indexed}; no face found in {len(done.no_face)};"
            f" refused by Rekognition {len(done.refused)}; stopped\n"
        )
        print(f"enrol: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(
        f"indexed {result.indexed}; no face found in {len(result.no_face)}; "
        f"several faces (largest kept) in {len(result.several_faces)}; "
        f"refused by Rekognition {len(result.refused)}\n"
    )
    for problem in result.no_face:
        print(f"no face: {problem.where}: {problem.reason}", file=sys.stderr)
    for problem in result.several_faces:
        print(f"several faces: {problem.where}: {problem.reason}", file=sys.stderr)
    for problem in result.refused:
        print(f"refused: {problem.where}: {problem.reason}", file=sys.stderr)
    return 0 if not result.no_face and not result.refused and not plan.rejected else 1
