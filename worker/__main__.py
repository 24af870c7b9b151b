"""Command line: `facewatch <command>` (the console script, the image's entry point), or
`python -m worker <command>` from a checkout.

The image carries the runtime only: the simulator (worker/sim), the local stack (worker/localstack) and
the demo (worker/ops/demo.py) are left out of it, so this module and every runtime command import them
only inside the development commands that need them; without them those commands say so in one line
and exit 69.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from worker.commands import (
    CONSOLE_PROG,
    EXIT_CODES,
    EXIT_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_STACK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    MODULE_PROG,
    NotInstalled,
    _cmd_checkpoints,
    _cmd_create_stream,
    _cmd_demo,
    _cmd_enrol,
    _cmd_health,
    _cmd_leases,
    _cmd_local_resources,
    _cmd_processor,
    _cmd_processors,
    _cmd_quarantine,
    _cmd_replay,
    _cmd_retention,
    _cmd_run,
    _cmd_simulate,
    _cmd_stack,
    dev_available,
    package_version,
)
from worker.config import ConfigError


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's help ends with its default; an option without one says in its help what happens
    when it is left out ("(default: ...)"), and on/off flags are off unless given."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or "(default" in text
            or action.required
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return text + " (default: %(default)s)"


def build_parser(prog: str = CONSOLE_PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="facewatch: the KCL consumer workers for Amazon Rekognition Video face-search results"
        " (OpenSearch, tracks, alerts, the S3 archive and dead letters).",
        epilog=EXIT_CODES,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {package_version()}", help="print the version and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True, title="commands")
    public: list[str] = []
    dev_note = "development checkout only" if dev_available() else "development checkout only: not in this installation"

    def command(name: str, summary: str | None, dev: bool = False) -> argparse.ArgumentParser:
        if summary is None:  # internal: no help entry at all, so not listed (help=SUPPRESS prints "==SUPPRESS==")
            return sub.add_parser(
                name,
                formatter_class=HelpFormatter,
                description="internal: the record processor of one shard, started by the KCL daemon",
            )
        public.append(name)
        text = f"{summary} [{dev_note}]" if dev else summary
        return sub.add_parser(
            name,
            help=text,
            description=text,
            formatter_class=HelpFormatter,
            epilog=f"exit codes: `{prog} --help` lists them",
        )

    run_p = command("run", "start a worker: the KCL MultiLangDaemon with our record processor")
    run_p.add_argument(
        "--stream",
        help="Kinesis stream to consume (default: kinesis.stream_name, i.e."
        " FACEWATCH_STREAM or the configuration file, else detections)",
    )
    run_p.add_argument("--worker-id", help="KCL worker id (default: FACEWATCH_WORKER_ID, else <hostname>-<pid>)")
    run_p.add_argument(
        "--config", help="YAML configuration file (default: $FACEWATCH_CONFIG, else the built-in defaults)"
    )
    run_p.add_argument(
        "--properties", help="where to write the daemon's properties file (default: .run/<worker-id>.properties)"
    )
    run_p.set_defaults(func=_cmd_run)

    # Internal: the daemon starts one per leased shard (`python -m worker processor`, worker/source/daemon.py).
    proc_p = command("processor", None)
    proc_p.set_defaults(func=_cmd_processor)

    sim_p = command("simulate", "produce simulated Rekognition face-search records + ground truth", dev=True)
    sim_p.add_argument("--stream", help="Kinesis stream to put records into (default: kinesis.stream_name)")
    sim_p.add_argument(
        "--out", type=Path, help="write records as JSON lines to this file instead (default: put them into the stream)"
    )
    sim_p.add_argument(
        "--truth",
        type=Path,
        default=Path(".run/truth.jsonl"),
        help="where to write the ground truth of every visit (JSON lines)",
    )
    sim_p.add_argument("--cameras", type=int, default=8, help="simulated cameras")
    sim_p.add_argument("--duration", type=float, default=60.0, help="simulated seconds")
    sim_p.add_argument("--seed", type=int, default=7, help="random seed: the same seed makes the same world")
    sim_p.add_argument("--start", type=float, help="epoch seconds of the first frame (default: now)")
    sim_p.add_argument(
        "--realtime",
        action="store_true",
        help="pace frames at their frame time, 1 fps per camera (default: as fast as possible)",
    )
    sim_p.add_argument("--employees", type=int, default=40, help="enrolled employees in the simulated world")
    sim_p.add_argument("--arrivals-per-min", type=float, default=4.0, help="visits per camera per minute")
    sim_p.set_defaults(func=_cmd_simulate)

    stack_p = command(
        "stack", "the embedded local stack (reset: delete its OpenSearch data, only while it is stopped)", dev=True
    )
    stack_p.add_argument(
        "action",
        choices=["up", "down", "status", "reset"],
        help="up: start it and write .run/stack.env; down: stop it; status: which servers answer;"
        " reset: delete .run/data/opensearch",
    )
    stack_p.set_defaults(func=_cmd_stack)

    cs_p = command("create-stream", "create a Kinesis stream and wait until it is active")
    cs_p.add_argument("--stream", help="stream name (default: kinesis.stream_name)")
    cs_p.add_argument("--shards", type=int, default=2, help="open shards")
    cs_p.set_defaults(func=_cmd_create_stream)

    leases_p = command("leases", "show the KCL lease table: shard, owner, checkpoint")
    leases_p.add_argument(
        "--stream",
        help="stream whose lease table to show (default: kinesis.stream_name; the table is kinesis.application_name)",
    )
    leases_p.set_defaults(func=_cmd_leases)

    cp_p = command("checkpoints", "save every shard's KCL checkpoint to a JSON file, or show such a file")
    cp_sub = cp_p.add_subparsers(dest="action", required=True, metavar="{export,show}")
    cp_export = cp_sub.add_parser(
        "export", help="write the application's checkpoints to a file", formatter_class=HelpFormatter
    )
    cp_export.add_argument(
        "--out", type=Path, help="the file to write (default: .run/checkpoints/<application>-<UTC time>.json)"
    )
    cp_export.add_argument("--stream", help="stream whose application to export (default: kinesis.stream_name)")
    cp_show = cp_sub.add_parser("show", help="print an exported file readably", formatter_class=HelpFormatter)
    cp_show.add_argument("file", type=Path, help="a file written by `checkpoints export`")
    cp_p.set_defaults(func=_cmd_checkpoints)

    rp_p = command(
        "replay",
        "replay records: `replay run` into a new index generation beside the live fleet (from the stream or"
        " the archive), `replay promote` / `drop` a generation; or, with --to-..., rewind the application in"
        " place (the fleet stopped)",
    )
    rp_sub = rp_p.add_subparsers(dest="action", metavar="{run,promote,drop}")
    run_r = rp_sub.add_parser(
        "run",
        help="replay a window into generation NAME, beside the live fleet",
        formatter_class=HelpFormatter,
        description="Replay [--from, --until) into <prefix>-gen-NAME-* with workers of its own (their own lease"
        " table), or from the S3 archive with --from-archive. Alerts are indexed, not sent; the archive is not"
        " written; the live fleet and its indices are not touched.",
    )
    run_r.add_argument("--from", dest="from_", required=True, metavar="ISO8601", help="window start (frame time)")
    run_r.add_argument("--until", metavar="ISO8601", help="window end, exclusive (default: now)")
    run_r.add_argument("--generation", required=True, help="name of the new index generation, e.g. fix_2026_12_01")
    run_r.add_argument("--cameras", nargs="+", metavar="CAMERA", help="only these camera ids (default: every camera)")
    run_r.add_argument(
        "--from-archive", action="store_true", help="read the Firehose raw archive in S3, not the stream"
    )
    run_r.add_argument("--workers", type=int, default=1, help="replay workers (KCL daemons) to start")
    run_r.add_argument(
        "--deliver-alerts", action="store_true", help="send the window's alerts to SNS / the webhook too"
    )
    run_r.add_argument(
        "--tail-s", type=float, default=600.0, help="go on this long past --until so visits in progress there end"
    )
    run_r.add_argument("--report-every-s", type=float, default=10.0, help="progress report interval")
    run_r.add_argument(
        "--max-lookback-hours", type=float, default=6.0, help="how far before --from to look for quiet points"
    )
    run_r.add_argument("--stream", help="stream to replay (default: kinesis.stream_name)")
    run_r.add_argument(
        "--worker-logs",
        default=".run/logs",
        metavar="DIR",
        help="where the replay workers' logs go, one file each; - for this command's own output (in a container)",
    )
    promote_r = rp_sub.add_parser(
        "promote", help="make the read aliases answer from generation NAME (or `live`)", formatter_class=HelpFormatter
    )
    promote_r.add_argument("--generation", required=True, help="a generation name, or live for the live indices")
    promote_r.add_argument("--dry-run", action="store_true", help="print the alias changes, change nothing")
    drop_r = rp_sub.add_parser(
        "drop", help="delete generation NAME (refused while promoted)", formatter_class=HelpFormatter
    )
    drop_r.add_argument("--generation", required=True, help="the generation to delete")
    drop_r.add_argument("--stream", help="stream whose replay lease tables to delete (default: kinesis.stream_name)")
    to = rp_p.add_mutually_exclusive_group()
    to.add_argument(
        "--to-checkpoints",
        type=Path,
        metavar="FILE",
        help="a file written by `checkpoints export` (default: none; to rewind, give one --to-... option)",
    )
    to.add_argument(
        "--to-datetime",
        metavar="ISO8601",
        help="records that arrived from this time on, e.g. 2026-12-01T08:00:00Z (default: none; see --to-checkpoints)",
    )
    to.add_argument("--to-earliest", action="store_true", help="the oldest records the stream still holds")
    to.add_argument("--to-latest", action="store_true", help="skip every record received so far")
    mode = rp_p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the plan per shard and camera, change nothing")
    mode.add_argument("--execute", action="store_true", help="apply it (refused while a worker holds a live lease)")
    rp_p.add_argument(
        "--shards", nargs="+", metavar="SHARD", help="only these shards and their children (default: every shard)"
    )
    rp_p.add_argument(
        "--deliver-alerts",
        action="store_true",
        help="send the replayed records' alerts to SNS / the webhook too (they are only indexed otherwise)",
    )
    rp_p.add_argument(
        "--allow-trimmed",
        action="store_true",
        help="rewind although an exported shard was trimmed from the stream (its children start at their beginning)",
    )
    rp_p.add_argument("--stream", help="stream whose application to rewind (default: kinesis.stream_name)")
    rp_p.add_argument(
        "--stop-fleet",
        action="store_true",
        help="with --execute on ECS: set the worker service's desired count to 0, wait for its tasks to stop,"
        " rewind, and set it back (needs --cluster and --service)",
    )
    rp_p.add_argument("--cluster", help="ECS cluster of the worker service, with --stop-fleet (default: none)")
    rp_p.add_argument("--service", help="ECS worker service, with --stop-fleet (default: none)")
    rp_p.add_argument(
        "--max-lookback-hours",
        type=float,
        default=6.0,
        help="how far before the target to look for each camera's quiet point",
    )
    rp_p.add_argument(
        "--live-check-s",
        type=float,
        help="watch the leases this long for a running worker before executing (default: the failover time + 2 s)",
    )
    rp_p.set_defaults(func=_cmd_replay)

    q_p = command("quarantine", "list dead letters in S3, or re-drive them into the stream")
    q_p.add_argument(
        "action",
        choices=["list", "redrive"],
        help="list: one line per entry; redrive: put the original bytes back into the stream",
    )
    q_p.add_argument("--reason", help="only entries of this reason, e.g. not_json, opensearch_400 (default: all)")
    q_p.add_argument("--day", help="only entries that arrived on this day, YYYY-MM-DD (default: every day)")
    q_p.add_argument("--limit", type=int, help="at most this many entries (default: no limit)")
    q_p.add_argument("--stream", help="stream to re-drive into (default: kinesis.stream_name)")
    q_p.add_argument("--dry-run", action="store_true", help="show what would be re-driven, change nothing")
    q_p.set_defaults(func=_cmd_quarantine)

    lr_p = command(
        "local-resources",
        "create the buckets and delivery streams on the local stack (refuses on AWS, where Terraform owns them)",
    )
    lr_p.set_defaults(func=_cmd_local_resources)

    ret_p = command("retention", "apply index retention: ISM policies, or delete expired daily indices")
    ret_p.add_argument("--dry-run", action="store_true", help="show what would be applied or deleted, change nothing")
    ret_p.set_defaults(func=_cmd_retention)

    health_p = command("health", "exit 0 when every record processor beat recently (container health check)")
    health_p.set_defaults(func=_cmd_health)

    sp_p = command("processors", "start, stop or list the Rekognition face-search stream processors")
    sp_p.add_argument(
        "action",
        choices=["start", "stop", "status"],
        help="start the stopped ones, stop the running ones, or list them all",
    )
    sp_p.add_argument("--prefix", default="facewatch-", help="stream processor name prefix (Terraform: <name>-<env>-)")
    sp_p.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    sp_p.set_defaults(func=_cmd_processors)

    en_p = command("enrol", "enrol faces into a Rekognition collection (IndexFaces), from a folder or a CSV")
    en_p.add_argument("--collection", required=True, help="Rekognition collection id")
    source = en_p.add_mutually_exclusive_group(required=True)
    source.add_argument("--folder", help="one image per person; the file name (without suffix) is the external id")
    source.add_argument("--csv", help="columns path,external_image_id (paths relative to the CSV)")
    en_p.add_argument("--watchlist", action="store_true", help="prefix the ids with identities.watchlist_prefix")
    en_p.add_argument("--dry-run", action="store_true", help="check the images and ids, call nothing")
    en_p.set_defaults(func=_cmd_enrol)

    demo_p = command("demo", "the whole walking skeleton on the local stack, with a summary", dev=True)
    demo_p.add_argument("--cameras", type=int, default=8, help="simulated cameras")
    demo_p.add_argument("--duration", type=float, default=60.0, help="seconds of simulated video, played in real time")
    demo_p.add_argument("--shards", type=int, default=2, help="shards of the demo's stream")
    demo_p.add_argument("--workers", type=int, default=2, help="workers to start (each a KCL daemon)")
    demo_p.set_defaults(func=_cmd_demo)

    sub.metavar = "{" + ",".join(public) + "}"  # the public commands only: `processor` stays out of usage and help
    return parser


def main(argv: list[str] | None = None, prog: str = CONSOLE_PROG) -> int:
    """Run one command and return its exit code (see EXIT_CODES); `--help`, `--version` and usage errors
    return argparse's code (0, 0, 2) rather than raise SystemExit."""
    try:
        args = build_parser(prog).parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    from worker.logs import configure

    # Every command logs JSON on stderr, libraries included; commands that read the config set the level again.
    configure(os.environ.get("FACEWATCH_LOG_LEVEL", "info"))
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except NotInstalled as exc:
        sys.stderr.write(
            f"{prog} {exc.command}: a development command, not part of this installation ({exc.module} is"
            f" left out of the worker image, which carries the runtime only); run it from a source checkout:"
            f" .venv/bin/python -m worker {exc.command}\n"
        )
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # one clear line for known operator errors
        # Only a command that imported the local stack can raise its error; never import it here.
        stack = sys.modules.get("worker.localstack.stack")
        if stack is not None and isinstance(exc, stack.StackError):
            print(f"local stack: {exc}", file=sys.stderr)
            return EXIT_STACK
        raise


if __name__ == "__main__":
    sys.exit(main(prog=MODULE_PROG))
