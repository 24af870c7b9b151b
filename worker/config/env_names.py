"""Which environment variable names are ours, and what to say about one that is not quite.

Three kinds of name set a setting: the documented short names (ENV_ALIASES), FACEWATCH__<SECTION>__<KEY>
for any field, and the few that point at more configuration (FACEWATCH_CONFIG, FACEWATCH_CAMERAS, ...).
A FACEWATCH__ name is explicitly ours, so a wrong one stops the worker; any other name that looks like
ours but matches nothing (a typo: STRAEM for STREAM, OPENSEARCH_PASSWRD) is only warned about, with the closest
known name, since the environment is shared with other programs.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from worker.config.errors import ConfigError

ENV_PREFIX = "FACEWATCH__"  # any field: FACEWATCH__<SECTION>__<KEY>, e.g. FACEWATCH__OPENSEARCH__BULK_MAX_DOCS=500
ENV_ALIASES: dict[str, str] = {  # documented names, and the field each one sets
    "KINESIS_ENDPOINT": "kinesis.endpoint",
    "DYNAMODB_ENDPOINT": "kinesis.dynamodb_endpoint",
    "OPENSEARCH_URL": "opensearch.url",
    "OPENSEARCH_USERNAME": "opensearch.username",
    "OPENSEARCH_PASSWORD": "opensearch.password",
    "AWS_REGION": "kinesis.region",
    "FACEWATCH_STREAM": "kinesis.stream_name",
    "FACEWATCH_APPLICATION": "kinesis.application_name",
    "FACEWATCH_WORKER_ID": "worker.id",
    "FACEWATCH_LOG_LEVEL": "worker.log_level",
}
CONFIG_FILE_VARIABLE = "FACEWATCH_CONFIG"
CAMERAS_VARIABLE = "FACEWATCH_CAMERAS"
CAMERAS_FILE_VARIABLE = "FACEWATCH_CAMERAS_FILE"
ZONES_VARIABLE = "FACEWATCH_ZONES"
AWS_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
# FACEWATCH_PORT_<NAME> moves a local stack service (worker/localstack/stack.py, DEFAULT_PORTS).
STACK_PORT_NAMES = ("KINESALITE", "KINESIS", "DYNAMODB", "MOTO", "OPENSEARCH", "OPENSEARCH_TRANSPORT")
# Read by the tools, the image, the deploy script and the tests, never by this configuration
# (tests/unit/test_config_env_names.py finds every FACEWATCH_ name the project uses in this list).
TOOL_VARIABLES = (
    "FACEWATCH_HOME",
    "FACEWATCH_ENV",
    "FACEWATCH_TF_STATE",
    "FACEWATCH_TF_LOCK_TABLE",
    "FACEWATCH_BASE_IMAGE",
    "FACEWATCH_CONTAINER_TEST",
    "FACEWATCH_DAEMON_HEAP",
    "FACEWATCH_FUZZ_EXAMPLES",
    "FACEWATCH_NATIVE",  # 0: run the tracker as Python even where a compiled build exists (worker/native.py)
    "FACEWATCH_NATIVE_DIR",  # where the compiled builds are (the image sets it)
)

OUR_PREFIX = "FACEWATCH"
SHARED_PREFIXES = ("OPENSEARCH_", "KINESIS_", "DYNAMODB_")  # other programs use these too
SHARED_CUTOFF = 0.8  # ... so a name there is only suspect when it is this close to one of ours


@dataclass(frozen=True)
class UnknownName:
    name: str
    did_you_mean: str | None

    def __str__(self) -> str:
        guess = f"; did you mean {self.did_you_mean}?" if self.did_you_mean else ""
        return f"{self.name}: matches no facewatch setting{guess} (ignored)"


def known_names(sections: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Every name this project reads, including FACEWATCH__<SECTION>__<KEY> for each field."""
    settings = {f"{ENV_PREFIX}{section.upper()}__{key.upper()}" for section, keys in sections.items() for key in keys}
    return frozenset(
        settings
        | set(ENV_ALIASES)
        | set(TOOL_VARIABLES)
        | {f"FACEWATCH_PORT_{name}" for name in STACK_PORT_NAMES}
        | {CONFIG_FILE_VARIABLE, CAMERAS_VARIABLE, CAMERAS_FILE_VARIABLE, ZONES_VARIABLE}
    )


def check_setting_names(env: Iterable[str], sections: Mapping[str, Collection[str]]) -> None:
    """Refuse a FACEWATCH__ name that cannot be a setting: wrong shape, or a section that does not exist.
    (An unknown key in a known section is refused by the section's model, with the known keys.)"""
    for name in env:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(
                f"{name}: expected {ENV_PREFIX}<SECTION>__<KEY>, e.g. {ENV_PREFIX}OPENSEARCH__BULK_MAX_DOCS"
            )
        if parts[0] not in sections:
            close = difflib.get_close_matches(parts[0], list(sections), n=1)
            guess = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{name}: unknown section '{parts[0]}'{guess}; expected one of {', '.join(sections)}")


def unknown_names(env: Iterable[str], sections: Mapping[str, Iterable[str]]) -> tuple[UnknownName, ...]:
    """Names that look like ours but set nothing, each with the closest known name."""
    known = known_names(sections)
    found: list[UnknownName] = []
    for name in sorted(env):
        upper = name.upper()
        if upper in known or upper.startswith(ENV_PREFIX):
            continue
        if upper.startswith(OUR_PREFIX):
            close = difflib.get_close_matches(upper, known, n=1)
        elif upper.startswith(SHARED_PREFIXES):
            close = difflib.get_close_matches(upper, known, n=1, cutoff=SHARED_CUTOFF)
            if not close:
                continue
        else:
            continue
        found.append(UnknownName(name, close[0] if close else None))
    return tuple(found)
