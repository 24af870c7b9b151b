"""Index generations: where a side-by-side replay writes, and how the read aliases move to it.

The live fleet writes `<prefix>-<family>-<day>`, and the read alias `<prefix>-<family>` spans them. A
replay's generation NAME writes `<prefix>-gen-NAME-<family>-<day>` under its own templates, which the
live templates' patterns (`<prefix>-<family>-*`) do not match: the live aliases never see a generation
until it is promoted, and the generation has its own camera states and shard progress, so the live
fleet's state is never touched. `promote` swaps, in one atomic alias update, each day the generation
holds: the read alias drops whatever index it had for that day (the live one, or an earlier
generation's) and takes the generation's. `promote --generation live` puts the live indices back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from worker.sinks.templates import FAMILIES, alias_name

READ_FAMILIES = ("detections", "tracks", "alerts")  # what queries read; camera states stay per generation
NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,31}$")
LIVE = "live"
DAY = re.compile(r"\d{4}\.\d{2}\.\d{2}$")


class GenerationError(RuntimeError):
    """A generation command that cannot be done; the message says why and what to do."""


def check_name(name: str) -> str:
    if name == LIVE or not NAME.match(name):
        raise GenerationError(
            f"--generation {name!r}: use 1-32 lowercase letters, digits or _ (not {LIVE!r}), e.g. fix_2026_12_01"
        )
    return name


def generation_prefix(prefix: str, name: str) -> str:
    return f"{prefix}-gen-{name}"


def replay_application(application: str, name: str) -> str:
    return f"{application}-replay-{name}"


@dataclass(frozen=True)
class AliasSwap:
    family: str
    day: str
    removed: list[str]
    added: str


def _daily(client: Any, pattern: str) -> dict[str, str]:
    """day -> index for the daily indices matching a pattern."""
    found = client.indices.get(index=pattern, params={"allow_no_indices": "true", "ignore_unavailable": "true"})
    return {m.group(0): name for name in found if (m := DAY.search(name))}


def _members(client: Any, alias: str) -> list[str]:
    if not client.indices.exists_alias(name=alias):
        return []
    return sorted(client.indices.get_alias(name=alias))


def plan_promote(client: Any, prefix: str, name: str) -> list[AliasSwap]:
    """The alias changes that make the read aliases answer from generation `name` (or `live`)."""
    source = prefix if name == LIVE else generation_prefix(prefix, name)
    swaps: list[AliasSwap] = []
    for family in READ_FAMILIES:
        alias = alias_name(prefix, family)
        members = _members(client, alias)
        days = _daily(client, f"{source}-{family}-*")
        if name != LIVE and not days and family != "alerts":
            raise GenerationError(f"generation {name} holds no {family} index: nothing to promote (replay run first)")
        for day, index in sorted(days.items()):
            removed = [m for m in members if m != index and m.endswith(day)]
            if removed or index not in members:
                swaps.append(AliasSwap(family, day, removed, index))
        if name == LIVE:  # and whatever generation index stands for a day the live indices do not have
            live_days = set(days)
            for member in members:
                m = DAY.search(member)
                if m and m.group(0) not in live_days and not member.startswith(f"{prefix}-{family}-"):
                    swaps.append(AliasSwap(family, m.group(0), [member], ""))
    return swaps


def promote(client: Any, prefix: str, swaps: list[AliasSwap]) -> None:
    actions: list[dict[str, Any]] = []
    for swap in swaps:
        alias = alias_name(prefix, swap.family)
        actions += [{"remove": {"index": index, "alias": alias}} for index in swap.removed]
        if swap.added:
            actions.append({"add": {"index": swap.added, "alias": alias}})
    if actions:
        client.indices.update_aliases(body={"actions": actions})  # one request: readers see before or after


def promoted(client: Any, prefix: str, name: str) -> list[str]:
    """The generation's indices that a read alias spans now."""
    gen = generation_prefix(prefix, name)
    return [m for family in READ_FAMILIES for m in _members(client, alias_name(prefix, family)) if m.startswith(gen)]


def drop(client: Any, dynamodb: Any, prefix: str, application: str, name: str) -> list[str]:
    """Delete generation `name`: its indices, templates and a replay's leftover lease tables. Refused
    while a read alias spans it."""
    live = promoted(client, prefix, name)
    if live:
        raise GenerationError(
            f"generation {name} is promoted ({len(live)} indices behind the read aliases): promote another"
            " generation, or `replay promote --generation live`, first"
        )
    gen = generation_prefix(prefix, name)
    gone = sorted(client.indices.get(index=f"{gen}-*", params={"allow_no_indices": "true"}))
    if gone:
        client.indices.delete(index=f"{gen}-*", params={"allow_no_indices": "true", "ignore_unavailable": "true"})
    for family in FAMILIES:
        client.indices.delete_index_template(name=f"{gen}-{family}", ignore=[404])
    delete_lease_tables(dynamodb, replay_application(application, name))
    return gone


def delete_lease_tables(dynamodb: Any, application: str) -> list[str]:
    """KCL 3 makes three tables per application; a finished replay leaves none behind."""
    deleted = []
    for table in (application, f"{application}-CoordinatorState", f"{application}-WorkerMetricStats"):
        try:
            dynamodb.delete_table(TableName=table)
            deleted.append(table)
        except dynamodb.exceptions.ResourceNotFoundException:
            pass
    return deleted
