"""The one exception a bad configuration raises, and the error type our own validators use."""

from __future__ import annotations

from pydantic_core import PydanticCustomError

PROBLEM = "facewatch_config"


class ConfigError(ValueError):
    """A configuration value is wrong; each line names the field and how to fix it."""


def problem(message: str, key: str = "") -> PydanticCustomError:
    """A complete message from one of our validators (it already says what to do).

    `key` names the field when a section-level check fails (e.g. "initial_timestamp"), or the entry
    of a list (e.g. "[1].stream_arn"); the message is passed as context so braces in it are kept.
    """
    return PydanticCustomError(PROBLEM, "{message}", {"message": message, "key": key})
