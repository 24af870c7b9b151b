"""Stop the ECS worker service for a rewind in place and start it again afterwards
(`facewatch replay --execute --stop-fleet --cluster C --service S`).

The service's desired count is remembered, set to 0, and the command waits until no task of it runs
(each task checkpoints on SIGTERM: KCL's graceful shutdown); then the rewind runs, and the desired count
is put back whatever happened, so a failed rewind never leaves the fleet down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class FleetNotStopped(RuntimeError):
    """The service still runs tasks after the wait; nothing was rewound."""


def with_service_stopped(
    ecs: Any,
    cluster: str,
    service: str,
    action: Callable[[], T],
    wait_s: float = 300.0,
    out: Callable[[str], None] = lambda line: None,
    poll_s: float = 5.0,
) -> T:
    described = ecs.describe_services(cluster=cluster, services=[service])["services"]
    if not described:
        raise FleetNotStopped(f"no service {service} in cluster {cluster}: check --cluster and --service")
    desired = int(described[0]["desiredCount"])
    out(f"stopping {service}: desired count {desired} -> 0")
    ecs.update_service(cluster=cluster, service=service, desiredCount=0)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            running = int(ecs.describe_services(cluster=cluster, services=[service])["services"][0]["runningCount"])
            if running == 0:
                break
            if time.monotonic() > deadline:
                raise FleetNotStopped(f"{service} still runs {running} tasks after {wait_s:.0f} s: nothing rewound")
            time.sleep(poll_s)
        return action()
    finally:
        out(f"starting {service} again: desired count 0 -> {desired}")
        ecs.update_service(cluster=cluster, service=service, desiredCount=desired)
