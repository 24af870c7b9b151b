"""Where settings come from, each read into one layer of {section: {key: value}}.

Lowest first: the YAML file (FACEWATCH_CONFIG or --config), the local stack's env file, the
environment. Within an environment, a FACEWATCH__<SECTION>__<KEY> name wins over a short alias
(OPENSEARCH_URL). Each layer remembers which file or variable set each value, so a bad value's
message can say where to fix it. Defaults are not a layer: they live in the models.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

from worker.config.env_names import CONFIG_FILE_VARIABLE, ENV_ALIASES, ENV_PREFIX
from worker.config.errors import ConfigError

Settings = dict[str, dict[str, Any]]


def read_env_file(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines (optionally `export KEY=VALUE`), as written by `make stack-up`."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("'\"")
    return values


def read_yaml_file(path: Path, sections: Collection[str], lists: Collection[str]) -> dict[str, Any]:
    """A configuration file: a mapping of sections (each a mapping) and of lists (cameras, zones)."""
    if not path.is_file():
        raise ConfigError(f"{CONFIG_FILE_VARIABLE}: {path} does not exist; give the path of a YAML file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: must be a mapping of sections ({', '.join(list(sections)[:3])}, ...)")
    for name, values in data.items():
        if name in lists:
            continue
        if name not in sections:
            close = difflib.get_close_matches(str(name), list(sections), n=1)
            guess = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"{path}: unknown section '{name}'{guess}; expected one of {', '.join([*sections, *lists])}"
            )
        if values is not None and not isinstance(values, Mapping):
            raise ConfigError(f"{path}: section '{name}' must be a mapping of keys to values")
    return dict(data)


class FacewatchEnvSource(EnvSettingsSource):
    """FACEWATCH__<SECTION>__<KEY> from a given mapping (the environment, or the stack's env file),
    parsed by pydantic-settings as it would parse os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self.given = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self.given.items()}


class AliasEnvSource(PydanticBaseSettingsSource):
    """The documented short names (ENV_ALIASES: OPENSEARCH_URL, FACEWATCH_STREAM, ...); empty ones are unset."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.given = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # whole sections only: see __call__

    def __call__(self) -> dict[str, Any]:
        values: Settings = {}
        for name, dotted in ENV_ALIASES.items():
            if self.given.get(name):
                section, key = dotted.split(".")
                values.setdefault(section, {})[key] = self.given[name]
        return values


@dataclass(frozen=True)
class Layer:
    """One source's settings, and the file or variable each value came from."""

    values: Settings = field(default_factory=dict)
    origins: dict[tuple[str, ...], str] = field(default_factory=dict)


def file_layer(data: Mapping[str, Any], path: Path, sections: Collection[str]) -> Layer:
    values = {name: dict(data[name] or {}) for name in sections if name in data}  # `alerts:` alone: none set
    return Layer(values, {(s, k): str(path) for s, keys in values.items() for k in keys})


def env_layer(settings_cls: type[BaseSettings], env: Mapping[str, str], where: str = "") -> Layer:
    """Aliases, then FACEWATCH__ names over them. `where`: the env file, if the names come from one."""
    suffix = f" in {where}" if where else ""
    aliases = AliasEnvSource(settings_cls, env)()
    explicit = FacewatchEnvSource(settings_cls, env)()
    origins: dict[tuple[str, ...], str] = {
        tuple(dotted.split(".")): name + suffix for name, dotted in ENV_ALIASES.items() if env.get(name)
    }
    origins |= {(s, k): f"{ENV_PREFIX}{s.upper()}__{k.upper()}{suffix}" for s, keys in explicit.items() for k in keys}
    return Layer(merged([aliases, explicit]), origins)


def merged(layers: Iterable[Settings]) -> Settings:
    """Section by section, key by key: a later layer wins."""
    out: Settings = {}
    for layer in layers:
        for section, values in layer.items():
            out.setdefault(section, {}).update(values)
    return out
