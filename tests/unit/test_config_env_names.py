"""Environment names: the layers' precedence, and what is said about a name that is not quite ours."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from worker.config import ConfigError, load_config
from worker.config.env_names import STACK_PORT_NAMES, known_names
from worker.config.model import Config

ROOT = Path(__file__).resolve().parents[2]


def load(env: dict[str, str], stack_env_file: Path | None = None):
    return load_config(env=env, stack_env_file=stack_env_file)


@pytest.mark.parametrize(
    "name, did_you_mean",
    [
        ("FACEWATCH_OPENSEARCH__URL", "FACEWATCH__OPENSEARCH__URL"),  # one underscore after FACEWATCH
        ("OPENSEARCH_PASSWRD", "OPENSEARCH_PASSWORD"),
        ("FACEWATCH_STRAEM", "FACEWATCH_STREAM"),
        ("KINESIS_ENDPIONT", "KINESIS_ENDPOINT"),
        ("FACEWATCH_CAMERA", "FACEWATCH_CAMERAS"),
        ("FACEWATCH_PORT_OPENSERCH", "FACEWATCH_PORT_OPENSEARCH"),
    ],
)
def test_a_name_that_looks_like_ours_is_warned_about_with_the_closest_one(name, did_you_mean):
    with capture_logs() as logs:
        cfg = load({name: "http://127.0.0.1:9200"})
    assert [(e["event"], e["log_level"], e["name"], e["did_you_mean"]) for e in logs] == [
        ("config_unknown_env", "warning", name, did_you_mean)
    ]
    assert len(cfg.warnings) == 1 and name in cfg.warnings[0] and did_you_mean in cfg.warnings[0]
    assert "127.0.0.1" not in cfg.warnings[0]  # the value is never repeated: it may be a secret


def test_warnings_are_not_in_the_repr():
    cfg = load({"FACEWATCH_STRAEM": "x"})
    assert cfg.warnings and "FACEWATCH_STRAEM" not in repr(cfg)


def test_names_we_and_other_programs_use_are_not_warned_about(tmp_path):
    cameras = tmp_path / "cameras.yaml"
    cameras.write_text("[]\n")
    env = {
        "FACEWATCH_CONFIG": "",
        "FACEWATCH_CAMERAS": "",
        "FACEWATCH_CAMERAS_FILE": str(cameras),
        "FACEWATCH_ZONES": "[]",
        "FACEWATCH_BASE_IMAGE": "python:3.11-slim",
        "FACEWATCH_CONTAINER_TEST": "1",
        "FACEWATCH_DAEMON_HEAP": "512m",
        "FACEWATCH_HOME": "/srv",
        "FACEWATCH_PORT_MOTO": "4570",
        "FACEWATCH_PORT_OPENSEARCH_TRANSPORT": "9301",
        "FACEWATCH_STREAM": "s",
        "FACEWATCH__KINESIS__REGION": "eu-west-1",
        "OPENSEARCH_USERNAME": "u",
        "KINESIS_ENDPOINT": "http://127.0.0.1:4567",
        "AWS_ENDPOINT_URL": "",
        "OPENSEARCH_JAVA_OPTS": "-Xmx1g",
        "OPENSEARCH_INITIAL_ADMIN_PASSWORD": "x",
        "DYNAMODB_LOCAL_PORT": "1",
        "HOME": "/root",
        "PATH": "/usr/bin",
    }
    with capture_logs() as logs:
        cfg = load(env)
    assert cfg.warnings == () and logs == []


def test_every_facewatch_name_the_project_uses_is_known():
    used: set[str] = set()
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        # Hidden folders (.venv, .cache with a Docker build's changing tree) are not ours: never entered.
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and not d.endswith(".egg-info")]
        files += [Path(folder) / name for name in names if not (folder == str(ROOT) and name.startswith("."))]
    for path in files:
        parts = path.relative_to(ROOT).parts
        if parts[:2] == ("tests", "unit"):  # these hold deliberate misspellings
            continue
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for line in text.splitlines():
            if "did you mean" not in line:  # the docs' examples of a misspelt name
                used |= set(re.findall(r"\bFACEWATCH_[A-Z][A-Z0-9_]*[A-Z0-9]\b", line))
    known = known_names(Config.keys_by_section())
    stack_ports = {name for name in used if name.startswith("FACEWATCH_PORT_")}
    assert used - known - stack_ports == set()
    assert {name.removeprefix("FACEWATCH_PORT_") for name in stack_ports} <= set(STACK_PORT_NAMES)


def test_the_stack_port_names_are_the_local_stacks():
    from worker.localstack.stack import DEFAULT_PORTS

    assert set(STACK_PORT_NAMES) == {name.upper() for name in DEFAULT_PORTS}


@pytest.mark.parametrize(
    "name, says",
    [
        ("FACEWATCH__OPENSEARCH__URLL", "opensearch: unknown key(s) urll (did you mean url?)"),
        ("FACEWATCH__OPENSERCH__URL", "unknown section 'openserch' (did you mean opensearch?)"),
        ("FACEWATCH__OPENSEARCH", "expected FACEWATCH__<SECTION>__<KEY>"),
        ("FACEWATCH__OPENSEARCH__URL__X", "expected FACEWATCH__<SECTION>__<KEY>"),
        ("FACEWATCH__CAMERAS", "expected FACEWATCH__<SECTION>__<KEY>"),
    ],
)
def test_a_wrong_facewatch_double_underscore_name_stops_the_worker(name, says):
    with pytest.raises(ConfigError) as err:
        load({name: "http://127.0.0.1:9200"})
    assert says in str(err.value) and name in str(err.value)


def test_the_environment_is_over_the_stack_file_whatever_the_name(tmp_path):
    stack = tmp_path / "stack.env"
    stack.write_text(
        "export FACEWATCH__OPENSEARCH__URL=http://127.0.0.1:9999\nexport AWS_ENDPOINT_URL=http://127.0.0.1:4569\n"
        "export FACEWATCH__KINESIS__MAX_RECORDS=7\n"
    )
    cfg = load(
        {
            "OPENSEARCH_URL": "http://127.0.0.1:9200",
            "FACEWATCH_STREAM": "s",
            "FACEWATCH__KINESIS__STREAM_NAME": "wins-over-the-alias",
        },
        stack,
    )
    assert cfg.opensearch.url == "http://127.0.0.1:9200"  # the environment's alias beats the file's full name
    assert cfg.kinesis.stream_name == "wins-over-the-alias"  # in one layer, the full name beats the alias
    assert cfg.kinesis.max_records == 7 and cfg.aws_endpoint_url == "http://127.0.0.1:4569"


def test_a_bad_value_from_the_stack_file_says_so(tmp_path):
    stack = tmp_path / "stack.env"
    stack.write_text("KINESIS_ENDPOINT=127.0.0.1:4567\n")
    with pytest.raises(
        ConfigError, match=rf"kinesis\.endpoint: .*\(from KINESIS_ENDPOINT in {re.escape(str(stack))}\)"
    ):
        load({}, stack)


def test_before_logging_is_configured_the_warning_goes_to_stderr_not_the_multilang_stdout(monkeypatch, capsys):
    import structlog

    monkeypatch.setattr(structlog, "is_configured", lambda: False)
    load({"FACEWATCH_STRAEM": "x"})
    out, err = capsys.readouterr()
    assert out == "" and '"config_unknown_env"' in err and "FACEWATCH_STREAM" in err
