"""Configuration: one object from file + environment, and errors that name the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.config import ConfigError, load_config
from worker.source.daemon import properties


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
        ({"FACEWATCH__KINESIS__NOPE": "1"}, "kinesis.nope", "known keys"),
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
        load({"KINESIS_ENDPOINT": "http://127.0.0.1:4567", "DYNAMODB_ENDPOINT": "http://127.0.0.1:4568",
              "FACEWATCH__KINESIS__FAST_LEASE_TIMERS": "true", "FACEWATCH_WORKER_ID": "w1"}),
        python="/py",
    )
    assert local["executableName"] == "/py -m worker processor"
    assert local["kinesisEndpoint"] == "http://127.0.0.1:4567"
    assert local["dynamoDBEndpoint"] == "http://127.0.0.1:4568"
    assert local["workerId"] == "w1"
    assert local["AwsCredentialsProvider"] == "DefaultCredentialsProvider"
    assert local["callProcessRecordsEvenForEmptyRecordList"] == "true"
    assert local["shardSyncIntervalMillis"] == "1000" and local["metricsLevel"] == "NONE"
    aws = properties(load({"FACEWATCH__KINESIS__INITIAL_POSITION": "AT_TIMESTAMP",
                           "FACEWATCH__KINESIS__INITIAL_TIMESTAMP": "1767225600"}))
    assert "kinesisEndpoint" not in aws and "shardSyncIntervalMillis" not in aws
    assert aws["initialPositionInStreamExtended"] == "1767225600"
    assert aws["metricsLevel"] == "SUMMARY"
