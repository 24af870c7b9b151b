"""Capped exponential backoff with full jitter, shared by every adapter that retries."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Callable

# Called before every backoff wait: the record processor's heartbeat, so a shard waiting on a sink
# outage counts as alive (it is retrying), unlike one that is stuck.
_on_wait: list[Callable[[], None]] = []


def on_wait(hook: Callable[[], None]) -> None:
    _on_wait.append(hook)


def _sleep(delay: float) -> None:
    for hook in _on_wait:
        hook()
    time.sleep(delay)


@dataclass
class Backoff:
    base_s: float = 0.2
    cap_s: float = 10.0
    attempt: int = 0
    sleep: Callable[[float], None] = _sleep
    rng: random.Random | None = None

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return (self.rng or random).uniform(ceiling / 2, ceiling)

    def wait(self) -> float:
        delay = self.next_delay()
        self.sleep(delay)
        return delay

    def reset(self) -> None:
        self.attempt = 0
