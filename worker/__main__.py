"""Command line: `python -m worker <command>` (also installed as `facewatch`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from worker.config import STACK_ENV_FILE, ConfigError, load_config, read_env_file


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
    log.info("daemon_starting", stream=cfg.kinesis.stream_name, application=cfg.application_name,
             properties=str(props))
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
    from worker.sim import run

    _apply_stack_env()
    cfg = load_config()
    configure(cfg.worker.log_level)
    return run.main(args, lambda: aws.kinesis(cfg), args.stream or cfg.kinesis.stream_name)


def _cmd_stack(args: argparse.Namespace) -> int:
    from worker.localstack import stack

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
        sys.stderr.write(f"no lease table {cfg.application_name}: no worker has run on stream"
                         f" {cfg.kinesis.stream_name} yet (or --stream / FACEWATCH_APPLICATION name another one)\n")
        return 1
    for lease in leases:
        sys.stdout.write(f"{lease.shard_id:24s} owner={lease.owner or '-':28s} checkpoint={lease.checkpoint}\n")
    return 0


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
    from worker.ops import demo

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
        plan = (rekognition.plan_from_folder(source, prefix) if args.folder
                else rekognition.plan_from_csv(source, prefix))
    except OSError as exc:
        log.debug("enrol_source_unreadable", path=str(source), error=str(exc))
        print(f"enrol: cannot read the --csv file ({exc.strerror or type(exc).__name__})", file=sys.stderr)
        return 1
    for problem in plan.rejected:
        print(f"skipped {problem.where}: {problem.reason}", file=sys.stderr)
        log.debug("enrol_skipped", where=problem.where, detail=problem.detail)
    sys.stdout.write(f"{len(plan.items)} image(s) to enrol into {args.collection}"
                     f"{' as watchlist faces' if args.watchlist else ''}, {len(plan.rejected)} skipped\n")
    if plan.rejected:
        print("(images are numbered in name order, CSV rows by line; FACEWATCH_LOG_LEVEL=debug names the files)",
              file=sys.stderr)
    if args.dry_run or not plan.items:
        return 0 if not plan.rejected else 1
    try:
        result = rekognition.enrol(aws.rekognition(cfg), args.collection, plan, log=log)
    except rekognition.EnrolStopped as exc:
        done = exc.result
        sys.stdout.write(f"indexed {done.indexed}; no face found in {len(done.no_face)};"
                         f" refused by Rekognition {len(done.refused)}; stopped\n")
        print(f"enrol: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(f"indexed {result.indexed}; no face found in {len(result.no_face)}; "
                     f"several faces (largest kept) in {len(result.several_faces)}; "
                     f"refused by Rekognition {len(result.refused)}\n")
    for problem in result.no_face:
        print(f"no face: {problem.where}: {problem.reason}", file=sys.stderr)
    for problem in result.several_faces:
        print(f"several faces: {problem.where}: {problem.reason}", file=sys.stderr)
    for problem in result.refused:
        print(f"refused: {problem.where}: {problem.reason}", file=sys.stderr)
    return 0 if not result.no_face and not result.refused and not plan.rejected else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="worker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run_p = sub.add_parser("run", help="start a worker: the KCL MultiLangDaemon with our record processor")
    run_p.add_argument("--stream", help="Kinesis stream to consume (default: kinesis.stream_name)")
    run_p.add_argument("--worker-id", help="KCL worker id (default: <hostname>-<pid>)")
    run_p.add_argument("--config", help="YAML configuration file (default: $FACEWATCH_CONFIG)")
    run_p.add_argument("--properties", help="where to write the daemon's properties file")
    run_p.set_defaults(func=_cmd_run)

    proc_p = sub.add_parser("processor", help="(started by the daemon) the record processor of one shard")
    proc_p.set_defaults(func=_cmd_processor)

    from worker.sim.run import add_arguments

    sim_p = sub.add_parser("simulate", help="produce simulated Rekognition face-search records + ground truth")
    add_arguments(sim_p)
    sim_p.set_defaults(func=_cmd_simulate)

    stack_p = sub.add_parser("stack", help="the embedded local stack (reset: delete its OpenSearch data,"
                                           " only while it is stopped)")
    stack_p.add_argument("action", choices=["up", "down", "status", "reset"])
    stack_p.set_defaults(func=_cmd_stack)

    cs_p = sub.add_parser("create-stream", help="create a Kinesis stream and wait until it is active")
    cs_p.add_argument("--stream")
    cs_p.add_argument("--shards", type=int, default=2)
    cs_p.set_defaults(func=_cmd_create_stream)

    leases_p = sub.add_parser("leases", help="show the KCL lease table: shard, owner, checkpoint")
    leases_p.add_argument("--stream")
    leases_p.set_defaults(func=_cmd_leases)

    q_p = sub.add_parser("quarantine", help="list dead letters in S3, or re-drive them into the stream")
    q_p.add_argument("action", choices=["list", "redrive"])
    q_p.add_argument("--reason", help="only entries of this reason (e.g. not_json, opensearch_400)")
    q_p.add_argument("--day", help="only entries that arrived on this day, YYYY-MM-DD")
    q_p.add_argument("--limit", type=int)
    q_p.add_argument("--stream", help="stream to re-drive into (default: kinesis.stream_name)")
    q_p.add_argument("--dry-run", action="store_true", help="show what would be re-driven, change nothing")
    q_p.set_defaults(func=_cmd_quarantine)

    lr_p = sub.add_parser("local-resources", help="create the buckets and delivery streams on the local stack")
    lr_p.set_defaults(func=_cmd_local_resources)

    ret_p = sub.add_parser("retention", help="apply index retention: ISM policies, or delete expired daily indices")
    ret_p.add_argument("--dry-run", action="store_true")
    ret_p.set_defaults(func=_cmd_retention)

    health_p = sub.add_parser("health", help="exit 0 when every record processor beat recently (container health check)")
    health_p.set_defaults(func=_cmd_health)

    sp_p = sub.add_parser("processors", help="start, stop or list the Rekognition face-search stream processors")
    sp_p.add_argument("action", choices=["start", "stop", "status"])
    sp_p.add_argument("--prefix", default="facewatch-", help="stream processor name prefix (Terraform: <name>-<env>-)")
    sp_p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    sp_p.set_defaults(func=_cmd_processors)

    en_p = sub.add_parser("enrol", help="enrol faces into a Rekognition collection (IndexFaces), from a folder or a CSV")
    en_p.add_argument("--collection", required=True)
    source = en_p.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", help="one image per person; the file name (without suffix) is the external id")
    source.add_argument("--csv", help="columns path,external_image_id (paths relative to the CSV)")
    en_p.add_argument("--watchlist", action="store_true", help="prefix the ids with identities.watchlist_prefix")
    en_p.add_argument("--dry-run", action="store_true", help="check the images and ids, call nothing")
    en_p.set_defaults(func=_cmd_enrol)

    demo_p = sub.add_parser("demo", help="the whole walking skeleton on the local stack, with a summary")
    demo_p.add_argument("--cameras", type=int, default=8)
    demo_p.add_argument("--duration", type=float, default=60.0)
    demo_p.add_argument("--shards", type=int, default=2)
    demo_p.add_argument("--workers", type=int, default=2)
    demo_p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from worker.logs import configure

    # Every command logs JSON on stderr, libraries included; commands that read the config set the level again.
    configure(os.environ.get("FACEWATCH_LOG_LEVEL", "info"))
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one clear line for known operator errors
        from worker.localstack.stack import StackError

        if isinstance(exc, StackError):
            print(f"local stack: {exc}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
