"""The one retry policy: capped exponential backoff with full jitter, configured per sink.

A `RetryPolicy` is what a sink is given (base, cap, how many attempts, and what to do before each wait:
the shard's heartbeat, so a processor waiting on a sink outage counts as alive, unlike one that is
stuck). Each operation takes a fresh `Backoff` from it (`policy()`), the state of that operation's
attempts. `RetryPolicy.call` is the whole-call loop every adapter needs (retry what the caller says is
retryable, log it, give up only if the policy has a limit); partial resends (bulk items, Firehose
entries) keep their own loop and take their delays from a `Backoff`.

Full jitter: the n-th delay is uniform in [0, min(cap, base * 2**n)] (AWS Architecture Blog, "Exponential
Backoff And Jitter"): it spreads retries of many shards best, at the cost of an occasional short wait.
We keep this small helper rather than tenacity because two of the loops resend only the failed part
of a request, which tenacity's call-level retry does not model, and the whole policy is 60 lines.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    """One operation's attempts: each `wait` sleeps the next full-jitter delay."""

    base_s: float = 0.2
    cap_s: float = 10.0
    attempt: int = 0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random | None = None

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 30)))
        self.attempt += 1
        return (self.rng or random).uniform(0.0, ceiling)

    def wait(self) -> float:
        delay = self.next_delay()
        self.sleep(delay)
        return delay


class RetriesExhausted(RuntimeError):
    """A policy with a limit ran out of attempts; `__cause__` is the last error."""


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 0.2
    cap_s: float = 10.0
    max_attempts: int | None = None  # None: retry for as long as it takes (a sink: backpressure)
    on_wait: Callable[[], None] = lambda: None  # before every wait: the shard's heartbeat
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random | None = field(default=None, compare=False)

    def __call__(self) -> Backoff:
        """A fresh backoff for one operation under this policy."""
        return Backoff(self.base_s, self.cap_s, sleep=self._sleep, rng=self.rng)

    def _sleep(self, delay: float) -> None:
        self.on_wait()
        self.sleep(delay)

    def call(
        self,
        fn: Callable[[], T],
        retryable: Callable[[BaseException], tuple[str, str] | None],
        log: Any,
        **context: Any,
    ) -> T:
        """`fn()` until it returns. An exception for which `retryable` gives (event, reason) is logged as that
        event (with the reason and the delay) and retried; any other propagates. With `max_attempts`, the
        last retryable error is raised as the cause of RetriesExhausted."""
        backoff = self()
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:  # classified just below; the rest re-raised
                verdict = retryable(exc)
                if verdict is None:
                    raise
                event, reason = verdict
                if self.max_attempts is not None and attempt >= self.max_attempts:
                    raise RetriesExhausted(f"{event}: {attempt} attempts, last: {reason}") from exc
                delay = backoff.next_delay()
                log.warning(event, error=reason, retry_in_s=round(delay, 2), attempt=attempt, **context)
                backoff.sleep(delay)
