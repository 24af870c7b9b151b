"""The command line's habits: --version, a help text and default for every flag, the program's name as
typed, the internal `processor` command kept out of the help, and exit codes that tell a usage error (2)
from a configuration error (78) and a development command missing from this installation (69)."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import structlog

import worker.commands as cli
from worker.__main__ import EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_USAGE, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
PUBLIC = [
    "run",
    "simulate",
    "stack",
    "create-stream",
    "leases",
    "checkpoints",
    "replay",
    "quarantine",
    "local-resources",
    "retention",
    "health",
    "processors",
    "enrol",
    "demo",
]


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    """No .run/stack.env and no configuration from the developer's shell; logging restored afterwards."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("FACEWATCH", "OPENSEARCH_", "KINESIS_", "DYNAMODB_", "AWS_ENDPOINT")):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.lastResort)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.lastResort = saved[2]
    structlog.reset_defaults()


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


def test_help_lists_the_public_commands_and_the_exit_codes_but_not_processor(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: facewatch ")
    assert "{" + ",".join(PUBLIC) + "}" in out  # the metavar: public commands only
    assert re.findall(r"^    (\S+) ", out, re.M) == PUBLIC  # one entry per public command
    assert "SUPPRESS" not in out
    for code in ("0", "1", "2", "3", "69", "78", "130"):
        assert f"\n  {code} " in out, code
    assert "configuration error" in out and "usage error" in out


def test_processor_is_still_a_command_the_daemon_can_start():
    # worker/source/daemon.py starts `<python> -m worker processor` once per leased shard.
    from worker.config import load_config
    from worker.source.daemon import properties

    assert properties(load_config(env={}, stack_env_file=None))["executableName"].endswith(" -m worker processor")
    args = build_parser().parse_args(["processor"])
    assert args.func is cli._cmd_processor
    assert _subparsers(build_parser()).metavar.strip("{}").split(",") == PUBLIC


def test_version_is_the_installed_distributions(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"facewatch {importlib.metadata.version('facewatch-worker')}\n"


def test_version_falls_back_to_pyproject_without_metadata(monkeypatch, capsys):
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"facewatch {PYPROJECT_VERSION}\n"


def test_the_program_name_is_what_the_user_typed():
    assert build_parser().prog == "facewatch"
    assert build_parser("python -m worker").prog == "python -m worker"
    assert _subparsers(build_parser("python -m worker")).choices["health"].prog == "python -m worker health"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {cli.CONSOLE_PROG: "worker.__main__:main"}


def test_python_dash_m_worker_names_itself_so():
    done = subprocess.run(
        [sys.executable, "-m", "worker", "--version"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("python -m worker ")
    bad = subprocess.run(
        [sys.executable, "-m", "worker", "run", "--nope"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert bad.returncode == EXIT_USAGE
    assert bad.stderr.startswith("usage: python -m worker ") and "__main__" not in bad.stderr
    assert bad.stderr.endswith("python -m worker: error: unrecognized arguments: --nope\n")


def test_every_flag_has_a_help_text_and_shows_its_default():
    parser = build_parser()
    commands = _subparsers(parser).choices
    checked = 0
    for name, sub in commands.items():
        required_groups = [a for g in sub._mutually_exclusive_groups if g.required for a in g._group_actions]
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings[0]}: no help text"
            shown = formatter._get_help_string(action)
            if action.required or action in required_groups or isinstance(action, argparse._StoreTrueAction):
                continue  # no default to show: given every time, or a switch that is off unless given
            assert "(default:" in shown, f"{name} {action.option_strings[0]}: no default in {shown!r}"
            if action.default is not None:
                assert "%(default)s" in shown or str(action.default) in shown
            checked += 1
    assert checked >= 25


def test_simulate_flags_are_what_the_simulator_reads():
    from worker.sim.run import spec_from_args

    args = build_parser().parse_args(["simulate", "--cameras", "3", "--start", "1767225600"])
    spec = spec_from_args(args)
    assert spec.cameras == 3 and spec.start == 1767225600.0 and spec.duration_s == 60.0
    assert args.truth == Path(".run/truth.jsonl") and args.out is None and args.realtime is False


def test_an_unknown_flag_is_a_usage_error(capsys):
    assert main(["health", "--no-such-flag"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("usage: facewatch ")
    assert err.endswith("facewatch: error: unrecognized arguments: --no-such-flag\n")


def test_an_unknown_command_is_a_usage_error(capsys):
    assert main(["no-such-command"]) == EXIT_USAGE
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err


def test_a_bad_configuration_exits_78_with_one_line_naming_the_field(monkeypatch, capsys):
    monkeypatch.setenv("OPENSEARCH_URL", "localhost:9200")
    assert main(["health"]) == EXIT_CONFIG
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("configuration error: opensearch.url: 'localhost:9200' is not an http(s) URL")
    assert lines[0].endswith("(from OPENSEARCH_URL)") and captured.out == ""


def test_a_bad_configuration_file_field_exits_78(tmp_path, monkeypatch, capsys):
    (tmp_path / "site.yaml").write_text("kinesis:\n  max_records: 2000.9\n")
    monkeypatch.setenv("FACEWATCH_CONFIG", str(tmp_path / "site.yaml"))
    assert main(["health"]) == EXIT_CONFIG
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("configuration error: kinesis.max_records: 2000.9 ")


@pytest.mark.parametrize("argv", [["simulate", "--out", "x.jsonl"], ["stack", "status"], ["demo"]])
def test_a_development_command_without_its_modules_says_so_in_one_line(argv, monkeypatch, capsys):
    # As in the image: worker/sim, worker/localstack and worker/ops/demo.py are not there.
    for name in list(sys.modules):
        if cli._is_dev_module(name):
            monkeypatch.delitem(sys.modules, name)
    for name in cli.DEV_MODULES:
        monkeypatch.setitem(sys.modules, name, None)  # `import` of it raises ModuleNotFoundError
    assert main(argv) == EXIT_UNAVAILABLE
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"facewatch {argv[0]}: a development command, not part of this installation")
    assert f"python -m worker {argv[0]}" in line and "Traceback" not in line


def test_an_import_error_of_a_runtime_dependency_is_not_mistaken_for_a_development_command():
    with pytest.raises(ModuleNotFoundError), cli._dev_only("simulate"):
        import no_such_dependency_of_facewatch  # noqa: F401 - the import is the test


def test_a_stack_error_exits_3(monkeypatch, capsys):
    from worker.localstack import stack

    def refuse() -> None:
        raise stack.StackError("port 9200 for opensearch is taken")

    monkeypatch.setattr(stack, "up", refuse)
    assert main(["stack", "up"]) == 3
    assert capsys.readouterr().err.strip() == "local stack: port 9200 for opensearch is taken"
