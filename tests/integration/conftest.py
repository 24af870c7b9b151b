"""Integration tests run against the real local stack, started here and stopped at the end.

A stack that is already up (`make stack-up`) is reused and left running.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from worker.config import load_config
from worker.ops.resources import delete_local_delivery_streams, ensure_local_resources
from worker.sinks.opensearch import make_client
from worker.sinks.templates import FAMILIES

from .helpers import ProcessorChild

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test in this folder needs the local stack: mark it `integration`, so that `-m integration`
    selects them and `-m "not integration"` is the fast suite. (A `pytestmark` in a conftest marks
    nothing: it applies to test modules only.) The hook sees the whole session's items, hence the path."""
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def local_stack():
    from worker.localstack import stack

    started_here = not stack.is_up()
    env = stack.up(log=lambda m: None)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if started_here:
        stack.down(log=lambda m: None)


def isolated(local_stack: dict[str, str], prefix: str) -> dict[str, str]:
    """Its own indices, delivery streams and dead-letter prefix, so a test's counts are its own.

    Flushing and checkpointing after every batch, in the record loop (the protocol tests expect one
    checkpoint per batch, during that batch's call); tests of the cadence and of the flusher thread
    (test_processor_protocol.py) set their own values.
    """
    env = {
        **os.environ,
        **local_stack,
        "FACEWATCH__OPENSEARCH__INDEX_PREFIX": prefix,
        "FACEWATCH__FIREHOSE__RAW_STREAM": f"{prefix}-raw",
        "FACEWATCH__FIREHOSE__TRACKS_STREAM": f"{prefix}-tracks",
        "FACEWATCH__QUARANTINE__PREFIX": f"{prefix}/",
        "FACEWATCH__PROCESSOR__FLUSH_INTERVAL_S": "0",
        "FACEWATCH__CHECKPOINT__EVERY_S": "0",
        "FACEWATCH__PROCESSOR__FLUSHES_IN_FLIGHT": "0",
    }
    env.pop("FACEWATCH_CONFIG", None)
    ensure_local_resources(load_config(env=env, stack_env_file=None))
    return env


def remove_indices(cfg, prefix: str) -> None:
    """A test's indices and templates: OpenSearch keeps its data across stack restarts now."""
    client = make_client(cfg.opensearch)
    client.indices.delete(index=f"{prefix}-*", params={"allow_no_indices": "true", "ignore_unavailable": "true"})
    for family in FAMILIES:
        client.indices.delete_index_template(name=f"{prefix}-{family}", ignore=[404])


@pytest.fixture
def isolated_env(local_stack):
    prefix = f"it-{uuid.uuid4().hex[:10]}"
    env = isolated(local_stack, prefix)
    yield env
    cfg = load_config(env=env, stack_env_file=None)
    delete_local_delivery_streams(cfg)
    remove_indices(cfg, prefix)


@pytest.fixture
def opensearch(local_stack):
    return make_client(load_config(env=dict(os.environ), stack_env_file=None).opensearch)


@pytest.fixture
def child(isolated_env):
    made: list[ProcessorChild] = []

    def start(env_overrides: dict[str, str] | None = None) -> ProcessorChild:
        c = ProcessorChild({**isolated_env, **(env_overrides or {})})
        made.append(c)
        return c

    yield start
    for c in made:
        c.close()
