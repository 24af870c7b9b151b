"""Configuration: one object from file + environment, and errors that name the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.config import ConfigError, load_config
from worker.source.daemon import java_command, properties


def load(env: dict[str, str] | None = None, path: Path | None = None):
    return load_config(path, env=env or {}, stack_env_file=None)


def test_defaults_are_valid():
    cfg = load()
    assert cfg.kinesis.stream_name == "detections"
    assert cfg.application_name == "facewatch-detections"
    assert cfg.opensearch.bulk_max_bytes == 5 * 1024 * 1024


def test_file_then_environment(tmp_path):
    file = tmp_path / "w.yaml"
    file.write_text("kinesis:\n  stream_name: from-file\n  max_records: 500\nopensearch:\n  bulk_max_docs: 10\n")
    cfg = load({"FACEWATCH_STREAM": "from-env", "FACEWATCH__OPENSEARCH__BULK_MAX_DOCS": "20"}, file)
    assert cfg.kinesis.stream_name == "from-env"
    assert cfg.kinesis.max_records == 500
    assert cfg.opensearch.bulk_max_docs == 20


def test_stack_env_file_is_under_the_environment(tmp_path):
    stack = tmp_path / "stack.env"
    stack.write_text("export OPENSEARCH_URL=http://127.0.0.1:9999\nexport KINESIS_ENDPOINT=http://127.0.0.1:1\n")
    cfg = load_config(None, env={"OPENSEARCH_URL": "http://127.0.0.1:9200"}, stack_env_file=stack)
    assert cfg.opensearch.url == "http://127.0.0.1:9200"
    assert cfg.kinesis.endpoint == "http://127.0.0.1:1"


@pytest.mark.parametrize(
    "env, field, hint",
    [
        ({"OPENSEARCH_URL": "localhost:9200"}, "opensearch.url", "OPENSEARCH_URL"),
        ({"FACEWATCH__OPENSEARCH__BULK_MAX_BYTES": str(11 * 1024 * 1024)}, "opensearch.bulk_max_bytes", "10 MiB"),
        ({"FACEWATCH__KINESIS__MAX_RECORDS": "lots"}, "kinesis.max_records", "not a valid int"),
        ({"FACEWATCH__KINESIS__INITIAL_POSITION": "START"}, "kinesis.initial_position", "TRIM_HORIZON"),
        ({"FACEWATCH__KINESIS__INITIAL_POSITION": "AT_TIMESTAMP"}, "kinesis.initial_timestamp", "epoch"),
        ({"FACEWATCH__KINESIS__SHUTDOWN_GRACE_MS": "200000"}, "kinesis.shutdown_grace_ms", "stop timeout"),
        ({"FACEWATCH__OPENSEARCH__AUTH": "basic"}, "opensearch.username/password", "OPENSEARCH_USERNAME"),
        ({"FACEWATCH__OPENSEARCH__INDEX_PREFIX": "Faces"}, "opensearch.index_prefix", "lower case"),
        ({"FACEWATCH__KINESIS__FAST_LEASE_TIMERS": "maybe"}, "kinesis.fast_lease_timers", "bool"),
        ({"FACEWATCH__KINESIS__NOPE": "1"}, "kinesis: unknown key(s) nope", "known keys"),
    ],
)
def test_bad_values_name_the_field_and_the_fix(env, field, hint):
    with pytest.raises(ConfigError) as err:
        load(env)
    assert field in str(err.value) and hint in str(err.value)


def test_unknown_section_in_file(tmp_path):
    file = tmp_path / "w.yaml"
    file.write_text("kinesys:\n  stream_name: x\n")
    with pytest.raises(ConfigError, match="unknown section 'kinesys'"):
        load(path=file)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load({"FACEWATCH_CONFIG": str(tmp_path / "missing.yaml")})


def test_daemon_properties_local_and_aws():
    local = properties(
        load(
            {
                "KINESIS_ENDPOINT": "http://127.0.0.1:4567",
                "DYNAMODB_ENDPOINT": "http://127.0.0.1:4568",
                "FACEWATCH__KINESIS__FAST_LEASE_TIMERS": "true",
                "FACEWATCH_WORKER_ID": "w1",
            }
        ),
        python="/py",
    )
    assert local["executableName"] == "/py -m worker processor"
    assert local["kinesisEndpoint"] == "http://127.0.0.1:4567"
    assert local["dynamoDBEndpoint"] == "http://127.0.0.1:4568"
    assert local["workerId"] == "w1"
    assert local["AwsCredentialsProvider"] == "DefaultCredentialsProvider"
    assert local["callProcessRecordsEvenForEmptyRecordList"] == "true"
    assert local["shardSyncIntervalMillis"] == "1000" and local["metricsLevel"] == "NONE"
    aws = properties(
        load(
            {
                "FACEWATCH__KINESIS__INITIAL_POSITION": "AT_TIMESTAMP",
                "FACEWATCH__KINESIS__INITIAL_TIMESTAMP": "1767225600",
            }
        )
    )
    assert "kinesisEndpoint" not in aws and "shardSyncIntervalMillis" not in aws
    assert aws["initialPositionInStreamExtended"] == "1767225600"
    assert "initialPositionInStream" not in aws  # KCL refuses AT_TIMESTAMP there: the timestamp alone says it
    assert aws["metricsLevel"] == "SUMMARY"


def test_camera_names_written_as_numbers_are_kept_as_text(tmp_path):
    file = tmp_path / "w.yaml"
    file.write_text(
        "cameras:\n  - id: 12\n    stream_arn: arn:aws:kinesisvideo:eu-west-1:1:stream/c12/1\n"
        '    floor: 0\n    business_hours: {days: [sat, SUN], start: "10:00", end: "12:30"}\n'
    )
    (camera,) = load(path=file).cameras
    assert (camera.camera_id, camera.floor) == ("12", "0")
    assert camera.business_hours.days == ("sat", "sun") and str(camera.business_hours.end) == "12:30:00"


def test_every_camera_and_zone_problem_is_reported_at_once(tmp_path):
    file = tmp_path / "w.yaml"
    file.write_text(
        "cameras:\n  - {id: '', stream_arn: x}\n  - {id: b, stream_arn: arn:aws:kinesisvideo:r:1:stream/b/1,"
        " business_hours: {start: '19:00', end: '08:00'}}\nzones:\n  - {zone: lab, allowed: [a]}\n"
        "  - {zone: lab}\nkinesis:\n  max_records: 0\n"
    )
    with pytest.raises(ConfigError) as err:
        load(path=file)
    lines = str(err.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "cameras[0].id",
        "cameras[0].stream_arn",
        "cameras[1].business_hours",
        "zones[1].zone",
        "kinesis.max_records",
    ]
    assert "end 08:00 is not after start 19:00" in lines[2] and "listed twice" in lines[3]


def test_the_daemon_heap_is_a_share_of_the_container_memory_unless_pinned(monkeypatch, tmp_path):
    monkeypatch.delenv("FACEWATCH_DAEMON_HEAP", raising=False)
    cfg = load_config(env={}, stack_env_file=None)
    cmd = java_command(cfg, tmp_path / "p")
    assert "-XX:MaxRAMPercentage=40" in cmd and not any(a.startswith("-Xmx") for a in cmd)
    cfg = load_config(env={"FACEWATCH__WORKER__DAEMON_HEAP_PERCENT": "55"}, stack_env_file=None)
    assert "-XX:MaxRAMPercentage=55" in java_command(cfg, tmp_path / "p")
    monkeypatch.setenv("FACEWATCH_DAEMON_HEAP", "1g")
    cmd = java_command(cfg, tmp_path / "p")
    assert "-Xmx1g" in cmd and not any(a.startswith("-XX:MaxRAMPercentage") for a in cmd)
    with pytest.raises(ConfigError, match="daemon_heap_percent"):
        load_config(env={"FACEWATCH__WORKER__DAEMON_HEAP_PERCENT": "95"}, stack_env_file=None)
