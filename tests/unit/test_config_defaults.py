"""One source of each default, the models; worker.yaml is their commented example and must match them."""

from __future__ import annotations

import pytest
import yaml

from worker.config import EXAMPLE_FILE, Config, load_config


def example() -> dict:
    return yaml.safe_load(EXAMPLE_FILE.read_text())


def model_defaults() -> dict[str, dict[str, object]]:
    return {
        name: {key: field.default for key, field in model.model_fields.items()}
        for name, model in Config.sections().items()
    }


def test_every_key_in_worker_yaml_is_the_models_default():
    written = example()
    defaults = model_defaults()
    assert set(written) == set(defaults) | {"cameras", "zones"}
    for section, values in defaults.items():
        assert set(written[section]) == set(values), f"{section}: keys differ from the model"
        for key, default in values.items():
            assert written[section][key] == default, f"{section}.{key}: worker.yaml says {written[section][key]!r}"
    assert written["cameras"] == [] and written["zones"] == []


def test_the_defaults_load_without_worker_yaml_being_read(monkeypatch):
    """The loader does not read worker.yaml: changing it cannot change a default."""
    real_read_text = type(EXAMPLE_FILE).read_text

    def refuse(self, *args, **kwargs):
        if self == EXAMPLE_FILE:
            raise AssertionError("load_config read worker.yaml")
        return real_read_text(self, *args, **kwargs)

    monkeypatch.setattr(type(EXAMPLE_FILE), "read_text", refuse)
    cfg = load_config(env={}, stack_env_file=None)
    assert cfg.kinesis.max_records == Config.sections()["kinesis"].model_fields["max_records"].default


def test_worker_yaml_is_itself_a_valid_configuration_file():
    assert load_config(EXAMPLE_FILE, env={}, stack_env_file=None) == load_config(env={}, stack_env_file=None)


@pytest.mark.parametrize(
    "section",
    [
        "worker",
        "kinesis",
        "opensearch",
        "processor",
        "tracker",
        "identities",
        "checkpoint",
        "firehose",
        "quarantine",
        "retention",
        "alerts",
    ],
)
def test_values_are_plain_python_types_and_frozen(section):
    cfg = load_config(env={}, stack_env_file=None)
    part = getattr(cfg, section)
    for key in type(part).model_fields:
        assert type(getattr(part, key)) in (str, int, float, bool, type(None)), f"{section}.{key}"
    with pytest.raises(ValueError):
        setattr(part, next(iter(type(part).model_fields)), "changed")


def test_a_config_built_directly_takes_only_the_values_given(monkeypatch):
    monkeypatch.setenv("FACEWATCH__KINESIS__STREAM_NAME", "from-os-environ")
    assert Config().kinesis.stream_name == "detections"
    assert load_config(env={}, stack_env_file=None).kinesis.stream_name == "detections"
