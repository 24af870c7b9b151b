"""load_config(): the layers merged, then validated at once, so a worker never starts half-configured.

Order, lowest first: the models' defaults (worker.yaml shows them), the YAML file (`path` or
FACEWATCH_CONFIG), the local stack's env file, the environment. The cameras and zones come whole from
the last place that gives them: the environment (FACEWATCH_CAMERAS, FACEWATCH_CAMERAS_FILE,
FACEWATCH_ZONES), else the YAML file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import structlog
import yaml
from pydantic import ValidationError

from worker.config.cameras import CAMERA_ENTRIES, ZONE_ENTRIES, CameraEntries, ZoneEntries, cameras_of, zones_of
from worker.config.env_names import (
    AWS_ENDPOINT_VARIABLE,
    CAMERAS_FILE_VARIABLE,
    CAMERAS_VARIABLE,
    CONFIG_FILE_VARIABLE,
    ZONES_VARIABLE,
    UnknownName,
    check_setting_names,
    unknown_names,
)
from worker.config.errors import ConfigError
from worker.config.messages import Loc, problem_lines
from worker.config.model import Config
from worker.config.sources import Layer, env_layer, file_layer, merged, read_env_file, read_yaml_file
from worker.logs import get_logger

STACK_ENV_FILE = Path(".run/stack.env")
LISTS = ("cameras", "zones")


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stack_env_file: Path | None = STACK_ENV_FILE,
) -> Config:
    """Load and validate the configuration; raise ConfigError with one line per problem.

    The local stack's env file (written by `make stack-up`) sits under the real environment, so a
    developer gets the local endpoints by default and a deployed task (which has no such file) is
    configured by its environment alone.
    """
    env = dict(os.environ if env is None else env)
    stack = read_env_file(stack_env_file) if stack_env_file is not None else {}
    sections = Config.keys_by_section()
    check_setting_names([*stack, *env], sections)
    given = path or env.get(CONFIG_FILE_VARIABLE)
    file = Path(given) if given else None
    data = read_yaml_file(file, sections, LISTS) if file is not None else {}
    layers = [
        file_layer(data, file, sections) if file is not None else Layer(),
        env_layer(Config, stack, str(stack_env_file)),
        env_layer(Config, env),
    ]
    origins: dict[Loc, str] = {where: source for layer in layers for where, source in layer.origins.items()}
    aws_endpoint, aws_origin = _aws_endpoint(env, stack, stack_env_file)
    origins[("aws_endpoint_url",)] = aws_origin
    unknown = unknown_names([*stack, *env], sections)

    lines: list[str] = []
    cameras = _validated(CAMERA_ENTRIES, CameraEntries, ("cameras",), *_cameras_given(env, data, file), lines)
    zones = _validated(ZONE_ENTRIES, ZoneEntries, ("zones",), *_zones_given(env, data, file), lines)
    try:
        cfg = Config.model_validate(
            {
                **merged(layer.values for layer in layers),
                "cameras": cameras_of(cameras or ()),
                "zones": zones_of(zones or ()),
                "aws_endpoint_url": aws_endpoint,
                "warnings": tuple(str(name) for name in unknown),
            }
        )
    except ValidationError as exc:
        lines += problem_lines(exc, Config, lambda loc: origins.get(_setting(loc)))
    if lines:
        raise ConfigError("\n".join(lines))
    _warn(unknown)
    return cfg


def _aws_endpoint(env: Mapping[str, str], stack: Mapping[str, str], stack_env_file: Path | None) -> tuple[str, str]:
    """AWS_ENDPOINT_URL (S3, Firehose and SNS of the local stack), and where it was set."""
    if env.get(AWS_ENDPOINT_VARIABLE):
        return env[AWS_ENDPOINT_VARIABLE], AWS_ENDPOINT_VARIABLE
    return stack.get(AWS_ENDPOINT_VARIABLE, ""), f"{AWS_ENDPOINT_VARIABLE} in {stack_env_file}"


def _setting(loc: Loc) -> tuple[str | int, ...]:
    """(section, key) of an error's location, or ("aws_endpoint_url",)."""
    return tuple(loc[:2])


def _validated(adapter: Any, root: Any, at: Loc, entries: Any, source: str, lines: list[str]) -> Any:
    """The entries validated, or None with their problems added to `lines`."""
    try:
        return adapter.validate_python(entries)
    except ValidationError as exc:
        lines += problem_lines(exc, root, lambda loc: source, at)
        return None


def _cameras_given(env: Mapping[str, str], data: Mapping[str, Any], file: Path | None) -> tuple[Any, str]:
    if env.get(CAMERAS_VARIABLE):
        return _json(env[CAMERAS_VARIABLE], CAMERAS_VARIABLE, "give a JSON list of cameras"), CAMERAS_VARIABLE
    if env.get(CAMERAS_FILE_VARIABLE):
        registry = Path(env[CAMERAS_FILE_VARIABLE])
        if not registry.is_file():
            raise ConfigError(f"{CAMERAS_FILE_VARIABLE}: {registry} does not exist; give a YAML or JSON file")
        try:
            entries = yaml.safe_load(registry.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{registry}: not valid YAML or JSON: {exc}") from None
        return (entries.get("cameras") if isinstance(entries, Mapping) else entries), str(registry)
    return data.get("cameras"), str(file)


def _zones_given(env: Mapping[str, str], data: Mapping[str, Any], file: Path | None) -> tuple[Any, str]:
    if env.get(ZONES_VARIABLE):
        fix = 'give a JSON list of {"zone": ..., "allowed": [...]}'
        return _json(env[ZONES_VARIABLE], ZONES_VARIABLE, fix), ZONES_VARIABLE
    return data.get("zones"), str(file)


def _json(text: str, name: str, fix: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{name}: not valid JSON ({exc}); {fix}") from None


def _warn(unknown: tuple[UnknownName, ...]) -> None:
    log = _logger()
    for name in unknown:
        log.warning("config_unknown_env", name=name.name, did_you_mean=name.did_you_mean)


def _logger() -> Any:
    """structlog's logger; stderr before worker.logs.configure() has run (every command loads its
    configuration first), since structlog's default prints to stdout: the KCL MultiLang channel in
    the processor."""
    if structlog.is_configured():
        return get_logger()
    return structlog.wrap_logger(
        structlog.PrintLogger(sys.stderr),
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
    )
