"""What the models refuse: meaningless numbers, empty names, bad URLs and index prefixes, YAML values of
the wrong kind; and what the environment's text may still say."""

from __future__ import annotations

import pytest

from worker.config import ConfigError, load_config


def load(env: dict[str, str] | None = None, path=None):
    return load_config(path, env=env or {}, stack_env_file=None)


def refused(env: dict[str, str], field: str) -> str:
    with pytest.raises(ConfigError) as err:
        load(env)
    message = str(err.value)
    assert field in message, message
    return message


def setting(dotted: str) -> str:
    section, key = dotted.split(".")
    return f"FACEWATCH__{section.upper()}__{key.upper()}"


POSITIVE_SECONDS = [
    "opensearch.request_timeout_s",
    "opensearch.retry_base_s",
    "opensearch.retry_max_s",
    "firehose.retry_base_s",
    "firehose.retry_max_s",
    "alerts.webhook_timeout_s",
    "alerts.retry_base_s",
    "alerts.retry_max_s",
]
COOLDOWNS = [
    "alerts.watchlist_cooldown_s",
    "alerts.unknown_face_cooldown_s",
    "alerts.restricted_zone_cooldown_s",
    "alerts.after_hours_cooldown_s",
]
QUALITY_GATE = [
    "alerts.min_face_width",
    "alerts.min_sharpness",
    "alerts.min_brightness",
    "alerts.max_yaw",
    "alerts.max_pitch",
    "alerts.min_face_confidence",
]
OTHER_NUMBERS = [
    "worker.health_max_age_s",
    "processor.flush_interval_s",
    "checkpoint.every_s",
    "tracker.strong_similarity",
    "alerts.watchlist_min_similarity",
    "tracker.max_gap_s",
    "tracker.path_memory_s",
]


@pytest.mark.parametrize(
    "field", POSITIVE_SECONDS + COOLDOWNS + QUALITY_GATE + OTHER_NUMBERS + ["alerts.retry_every_s"]
)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1"])
def test_non_finite_and_negative_numbers_are_refused(field, value):
    refused({setting(field): value}, field)


@pytest.mark.parametrize("field", POSITIVE_SECONDS + ["alerts.max_yaw", "alerts.max_pitch"])
def test_zero_is_refused_where_it_means_nothing(field):
    refused({setting(field): "0"}, field)


@pytest.mark.parametrize(
    "field",
    COOLDOWNS + ["processor.flush_interval_s", "checkpoint.every_s", "alerts.retry_every_s", "tracker.path_memory_s"],
)
def test_zero_is_accepted_where_it_means_none_or_every_time(field):
    section, key = field.split(".")
    assert getattr(getattr(load({setting(field): "0"}), section), key) == 0.0


@pytest.mark.parametrize(
    "field",
    [
        "kinesis.stream_name",
        "kinesis.region",
        "firehose.raw_stream",
        "firehose.tracks_stream",
        "quarantine.bucket",
        "opensearch.index_prefix",
        "identities.watchlist_prefix",
    ],
)
def test_empty_names_are_refused(field):
    assert "is empty" in refused({setting(field): ""}, field)


def test_empty_delivery_streams_are_fine_when_the_archive_is_off():
    cfg = load({"FACEWATCH__FIREHOSE__ENABLED": "false", "FACEWATCH__FIREHOSE__TRACKS_STREAM": ""})
    assert not cfg.firehose.enabled


@pytest.mark.parametrize(
    "prefix",
    [
        "*",
        "_all",
        "fw,x",
        "-fw",
        "+fw",
        "_fw",
        ".fw",
        "Faces",
        "fw x",
        "fw#x",
        "fw:x",
        'fw"x',
        "fw\\x",
        "fw/x",
        "fw?x",
        "fw<x",
        "fw>x",
        "fw|x",
        "fw*",
    ],
)
def test_index_prefixes_that_opensearch_refuses_or_that_are_patterns(prefix):
    message = refused({"FACEWATCH__OPENSEARCH__INDEX_PREFIX": prefix}, "opensearch.index_prefix")
    assert "lower case" in message


@pytest.mark.parametrize("prefix", ["facewatch", "fw-prod", "fw_prod.2", "0fw"])
def test_good_index_prefixes(prefix):
    assert load({"FACEWATCH__OPENSEARCH__INDEX_PREFIX": prefix}).opensearch.index_prefix == prefix


@pytest.mark.parametrize(
    "url, says",
    [
        ("localhost:9200", "is not an http(s) URL"),
        ("http://search:99999", "bad port"),
        ("http://search:abc", "bad port"),
        ("http://search:0", "bad port"),
        ("http://sea rch:9200", "space"),
        ("http://search:9200/ x", "space"),
        ("ftp://search", "is not an http(s) URL"),
    ],
)
def test_malformed_urls(url, says):
    message = refused({"OPENSEARCH_URL": url}, "opensearch.url")
    assert says in message and "OPENSEARCH_URL" in message


def test_credentials_in_a_url_are_refused_without_being_repeated():
    message = refused({"OPENSEARCH_URL": "https://admin:s3cr3t-pw@search.example.com"}, "opensearch.url")
    assert "credentials" in message and "OPENSEARCH_USERNAME" in message and "OPENSEARCH_PASSWORD" in message
    assert "s3cr3t-pw" not in message and "admin" not in message


@pytest.mark.parametrize(
    "field, hint",
    [
        ("kinesis.endpoint", "KINESIS_ENDPOINT"),
        ("kinesis.dynamodb_endpoint", "DYNAMODB_ENDPOINT"),
        ("firehose.endpoint", "FIREHOSE__ENDPOINT"),
        ("quarantine.endpoint", "QUARANTINE__ENDPOINT"),
        ("alerts.sns_endpoint", "SNS_ENDPOINT"),
    ],
)
def test_every_endpoint_is_checked(field, hint):
    assert hint in refused({setting(field): "http://host:123456"}, field)


def test_aws_endpoint_url_is_checked():
    assert "AWS_ENDPOINT_URL" in refused({"AWS_ENDPOINT_URL": "moto:4569"}, "aws_endpoint_url")


@pytest.mark.parametrize(
    "yaml_text, field, says",
    [
        ("kinesis:\n  stream_name: [a, b]\n", "kinesis.stream_name", "is not a string"),
        ("kinesis:\n  stream_name: {a: 1}\n", "kinesis.stream_name", "is not a string"),
        ("kinesis:\n  stream_name: yes\n", "kinesis.stream_name", "is not a string"),
        ("quarantine:\n  prefix: 2026\n", "quarantine.prefix", "is not a string"),
        ("alerts:\n  watchlist_severity: yes\n", "alerts.watchlist_severity", "use one of"),
        ("opensearch:\n  bulk_max_docs: 2000.9\n", "opensearch.bulk_max_docs", "not a valid int"),
        ("opensearch:\n  bulk_max_docs: true\n", "opensearch.bulk_max_docs", "not a valid int"),
        ("opensearch:\n  verify_tls: 1\n", "opensearch.verify_tls", "not a valid bool"),
        ("opensearch:\n  verify_tls: [true]\n", "opensearch.verify_tls", "not a valid bool"),
        ("tracker:\n  max_gap_s: .nan\n", "tracker.max_gap_s", "not a finite number"),
        ("tracker:\n  max_gap_s: true\n", "tracker.max_gap_s", "not a valid float"),
    ],
)
def test_yaml_values_of_the_wrong_kind_are_refused(tmp_path, yaml_text, field, says):
    file = tmp_path / "w.yaml"
    file.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load(path=file)
    assert field in str(err.value) and says in str(err.value) and str(file) in str(err.value)


def test_environment_text_is_parsed():
    cfg = load(
        {
            "FACEWATCH__OPENSEARCH__BULK_MAX_DOCS": "2000",
            "FACEWATCH__OPENSEARCH__VERIFY_TLS": "0",
            "FACEWATCH__FIREHOSE__ENABLED": "false",
            "FACEWATCH__KINESIS__FAST_LEASE_TIMERS": "1",
            "FACEWATCH__FIREHOSE__SKIP_REDELIVERED": "TRUE",
            "FACEWATCH__OPENSEARCH__RETRY_BASE_S": "0.5",
            "FACEWATCH__KINESIS__INITIAL_TIMESTAMP": "",
            "FACEWATCH_LOG_LEVEL": "WARNING",
        }
    )
    assert cfg.opensearch.bulk_max_docs == 2000 and type(cfg.opensearch.bulk_max_docs) is int
    assert cfg.opensearch.verify_tls is False and cfg.firehose.enabled is False
    assert cfg.kinesis.fast_lease_timers is True and cfg.firehose.skip_redelivered is True
    assert cfg.opensearch.retry_base_s == 0.5 and cfg.kinesis.initial_timestamp is None
    assert cfg.worker.log_level == "warning"


@pytest.mark.parametrize(
    "field, value",
    [
        ("opensearch.bulk_max_docs", "2000.9"),
        ("opensearch.bulk_max_docs", "true"),
        ("opensearch.verify_tls", "maybe"),
        ("tracker.max_gap_s", "six"),
    ],
)
def test_environment_text_that_is_not_the_kind_is_refused(field, value):
    refused({setting(field): value}, field)


@pytest.mark.parametrize(
    "yaml_text",
    [
        "kinesis:\n  initial_timestamp: 1767225600\n  initial_position: AT_TIMESTAMP\n",
        "opensearch:\n  retry_base_s: 1\n",
        "kinesis:\n  endpoint: ~\n",
        "alerts:\n",
    ],
)
def test_yaml_ints_for_floats_nulls_for_empty_text_and_empty_sections_are_fine(tmp_path, yaml_text):
    file = tmp_path / "w.yaml"
    file.write_text(yaml_text)
    cfg = load(path=file)
    assert cfg.kinesis.endpoint == "" and type(cfg.opensearch.retry_base_s) is float


def test_every_problem_is_one_line_naming_its_field_and_origin(tmp_path):
    file = tmp_path / "w.yaml"
    file.write_text("kinesis:\n  max_records: 0\nopensearch:\n  replicas: 9\n")
    with pytest.raises(ConfigError) as err:
        load({"FACEWATCH__ALERTS__MAX_YAW": "0", "OPENSEARCH_URL": "localhost:9200"}, file)
    lines = str(err.value).splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("kinesis.max_records: 0; GetRecords takes 1..10000") and lines[0].endswith(
        f"(from {file})"
    )
    assert any(line.startswith("opensearch.replicas: 9; between 0 and 5") for line in lines)
    assert any(
        line.startswith("opensearch.url: 'localhost:9200'") and line.endswith("(from OPENSEARCH_URL)") for line in lines
    )
    assert any(
        line.startswith("alerts.max_yaw: '0'") and line.endswith("(from FACEWATCH__ALERTS__MAX_YAW)") for line in lines
    )
