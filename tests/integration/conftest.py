"""Integration tests run against the real local stack, started here and stopped at the end.

A stack that is already up (`make stack-up`) is reused and left running.
"""

from __future__ import annotations

import os
import uuid

import pytest

from worker.config import load_config
from worker.sinks.opensearch import make_client

pytestmark = pytest.mark.integration


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


@pytest.fixture
def isolated_env(local_stack):
    """Environment for one test: its own index prefix, so its counts are its own."""
    prefix = f"it-{uuid.uuid4().hex[:10]}"
    env = {**os.environ, **local_stack, "FACEWATCH__OPENSEARCH__INDEX_PREFIX": prefix}
    env.pop("FACEWATCH_CONFIG", None)
    return env


@pytest.fixture
def opensearch(local_stack):
    return make_client(load_config(env=dict(os.environ), stack_env_file=None).opensearch)
