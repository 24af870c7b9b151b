"""The camera registry and the restricted zones, as they are written in YAML or JSON.

Entries are validated as pydantic models (every mistake is named `cameras[i].field` with its fix)
and become the core's plain `Camera` and zone tuples, which know nothing about configuration.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from worker.config.errors import ConfigError, problem
from worker.config.kinds import Text
from worker.config.messages import config_error
from worker.core.alerts import RULES
from worker.core.cameras import DAYS, BusinessHours, Camera

Zones = tuple[tuple[str, frozenset[str]], ...]  # restricted zone -> employees allowed in it
KVS_STREAM_ARN = r"^arn:aws[\w-]*:kinesisvideo:[^:]*:[^:]*:stream/.+"


def _label(value: Any) -> Any:
    """Ids and places may be written as numbers in YAML (`floor: 0`): they are names."""
    if value is None:
        return ""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _clock(value: Any) -> time:
    hours, _, minutes = str(value).partition(":")
    try:
        return time(int(hours), int(minutes))
    except ValueError:
        raise problem(f'{value!r} is not a time of day; write it as HH:MM, e.g. "08:00"') from None


def _days(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) and "-" in value:  # "mon-fri"
        first, _, last = value.lower().partition("-")
        if first in DAYS and last in DAYS and DAYS.index(first) <= DAYS.index(last):
            return DAYS[DAYS.index(first) : DAYS.index(last) + 1]
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and items and all(isinstance(d, str) and d.lower() in DAYS for d in items):
        return tuple(d.lower() for d in items)
    raise problem(f'{value!r}; give days as a range like "mon-fri" or a list of {", ".join(DAYS)}')


def _time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise problem(f"{name!r} is not an IANA time zone; e.g. Europe/Paris") from None
    return name


def _known_rules(rules: tuple[str, ...] | None) -> tuple[str, ...] | None:
    unknown = sorted(set(rules or ()) - set(RULES))
    if unknown:
        raise problem(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    return rules


def _employee_ids(value: Any) -> Any:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
        raise problem("a list of employee ExternalImageIds (may be empty: nobody)")
    return value


Label = Annotated[Text, BeforeValidator(_label)]
Clock = Annotated[time, BeforeValidator(_clock)]
_OPEN = BusinessHours()


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BusinessHoursEntry(Entry):
    days: Annotated[tuple[str, ...], BeforeValidator(_days)] = _OPEN.days
    start: Clock = _OPEN.start
    end: Clock = _OPEN.end

    @model_validator(mode="after")
    def _end_after_start(self) -> Self:
        if self.end <= self.start:
            raise problem(f"end {self.end:%H:%M} is not after start {self.start:%H:%M}")
        return self


class CameraEntry(Entry):
    id: Annotated[Label, Field(min_length=1)] = Field(
        description="give the camera a short unique name, e.g. hq-lobby-1"
    )
    stream_arn: Annotated[Text, Field(pattern=KVS_STREAM_ARN)] = Field(
        description=(
            "expected a Kinesis Video stream ARN, arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation-time>"
        )
    )
    site: Label = ""
    floor: Label = ""
    zone: Label = ""
    timezone: Annotated[Text, BeforeValidator(lambda v: v or "UTC"), AfterValidator(_time_zone)] = "UTC"
    business_hours: Annotated[BusinessHoursEntry, BeforeValidator(lambda v: {} if v is None else v)] = Field(
        default_factory=BusinessHoursEntry, description="a mapping with days, start and end"
    )
    alert_rules: Annotated[tuple[Text, ...] | None, AfterValidator(_known_rules)] = Field(
        None, description=("a list of rule names, e.g. [watchlist, restricted_zone]")
    )

    def to_camera(self) -> Camera:
        hours = self.business_hours
        return Camera(
            camera_id=self.id,
            stream_arn=self.stream_arn,
            site=self.site,
            floor=self.floor,
            zone=self.zone,
            timezone=self.timezone,
            business_hours=BusinessHours(hours.days, hours.start, hours.end),
            alert_rules=frozenset(self.alert_rules) if self.alert_rules is not None else None,
        )


class ZoneEntry(Entry):
    zone: Annotated[Label, Field(min_length=1)] = Field(description="name the zone, as the cameras' zone does")
    allowed: Annotated[tuple[Text, ...], BeforeValidator(_employee_ids)] = ()


def _one_camera_per_id_and_stream(entries: tuple[CameraEntry, ...]) -> tuple[CameraEntry, ...]:
    ids: set[str] = set()
    arns: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.id in ids:
            raise problem(f"{entry.id!r} is used twice; camera ids must be unique", key=f"[{i}].id")
        if entry.stream_arn in arns:
            raise problem(f"{entry.stream_arn} is registered twice; one camera per stream", key=f"[{i}].stream_arn")
        ids.add(entry.id)
        arns.add(entry.stream_arn)
    return entries


def _each_zone_once(entries: tuple[ZoneEntry, ...]) -> tuple[ZoneEntry, ...]:
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if entry.zone in seen:
            raise problem(f"{entry.zone!r} is listed twice; merge the two entries", key=f"[{i}].zone")
        seen.add(entry.zone)
    return entries


CameraEntries = Annotated[
    tuple[CameraEntry, ...],
    BeforeValidator(lambda v: () if v is None else v),
    AfterValidator(_one_camera_per_id_and_stream),
]
ZoneEntries = Annotated[
    tuple[ZoneEntry, ...], BeforeValidator(lambda v: () if v is None else v), AfterValidator(_each_zone_once)
]
CAMERA_ENTRIES: TypeAdapter[tuple[CameraEntry, ...]] = TypeAdapter(CameraEntries)
ZONE_ENTRIES: TypeAdapter[tuple[ZoneEntry, ...]] = TypeAdapter(ZoneEntries)
CAMERA_KEYS = tuple(CameraEntry.model_fields)


def cameras_of(entries: tuple[CameraEntry, ...]) -> tuple[Camera, ...]:
    return tuple(entry.to_camera() for entry in entries)


def zones_of(entries: tuple[ZoneEntry, ...]) -> Zones:
    return tuple(sorted((entry.zone, frozenset(entry.allowed)) for entry in entries))


def parse_cameras(entries: Any, source: str) -> tuple[Camera, ...]:
    """The camera registry from a YAML/JSON list; every mistake names cameras[i].field and the fix."""
    try:
        return cameras_of(CAMERA_ENTRIES.validate_python(entries))
    except ValidationError as exc:
        raise _from_source(exc, CameraEntries, "cameras", source) from None


def parse_zones(entries: Any, source: str) -> Zones:
    """Restricted zones: `- {zone: lab, allowed: [emp-0001, ...]}`. Zones not listed are open to every employee."""
    try:
        return zones_of(ZONE_ENTRIES.validate_python(entries))
    except ValidationError as exc:
        raise _from_source(exc, ZoneEntries, "zones", source) from None


def _from_source(exc: ValidationError, root: Any, name: str, source: str) -> ConfigError:
    return config_error(exc, root, lambda loc: source, at=(name,))
