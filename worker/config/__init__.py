"""The one configuration object: defaults (the models) < YAML file < local stack env file < environment.

Everything is validated at start, and a bad value names its field and the fix, so a worker never
starts half-configured and fails later inside the KCL daemon where errors are hard to see.

- sections.py: the settings and their rules (the one place a default is written; worker.yaml shows them)
- kinds.py, formats.py: value kinds (strict for YAML, parsed for environment text) and text formats
- cameras.py: the camera registry and restricted zones
- sources.py, env_names.py: the YAML file and environment layers; which variable names are ours
- messages.py: pydantic's errors as one line per problem; loader.py: load_config()
"""

from pathlib import Path

from worker.config.cameras import CAMERA_KEYS, parse_cameras, parse_zones
from worker.config.env_names import ENV_ALIASES, ENV_PREFIX
from worker.config.errors import ConfigError
from worker.config.loader import STACK_ENV_FILE, load_config
from worker.config.model import Config
from worker.config.sections import (
    MAX_BULK_BYTES,
    AlertsSection,
    CheckpointSection,
    FirehoseSection,
    IdentitiesSection,
    KinesisSection,
    OpenSearchSection,
    ProcessorSection,
    QuarantineSection,
    RetentionSection,
    TrackerSection,
    WorkerSection,
)
from worker.config.sources import read_env_file

EXAMPLE_FILE = Path(__file__).with_name("worker.yaml")  # every key with its default, commented

__all__ = [
    "CAMERA_KEYS",
    "ENV_ALIASES",
    "ENV_PREFIX",
    "EXAMPLE_FILE",
    "MAX_BULK_BYTES",
    "STACK_ENV_FILE",
    "AlertsSection",
    "CheckpointSection",
    "Config",
    "ConfigError",
    "FirehoseSection",
    "IdentitiesSection",
    "KinesisSection",
    "OpenSearchSection",
    "ProcessorSection",
    "QuarantineSection",
    "RetentionSection",
    "TrackerSection",
    "WorkerSection",
    "load_config",
    "parse_cameras",
    "parse_zones",
    "read_env_file",
]
