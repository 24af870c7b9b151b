"""The camera registry: where each KVS stream is, and when that place is open.

Rekognition's records name only the Kinesis Video stream ARN. Everything a security team filters on
(site, floor, zone) and the business hours an after-hours rule needs come from here. A record from a
stream that is not registered is still processed, labelled `registered: false` and counted, so a camera
added before its registry entry loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from worker.core.record import camera_id_from_arn
from worker.documents import LocationSource

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class BusinessHours:
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: time = time(8, 0)
    end: time = time(19, 0)

    def contains(self, local: datetime) -> bool:
        if DAYS[local.weekday()] not in self.days:
            return False
        return self.start <= local.time() < self.end


@dataclass(frozen=True)
class Camera:
    camera_id: str
    stream_arn: str
    site: str = ""
    floor: str = ""
    zone: str = ""
    timezone: str = "UTC"
    business_hours: BusinessHours = BusinessHours()
    registered: bool = True
    alert_rules: frozenset[str] | None = None  # the alert rules that apply here; None: every enabled rule

    def local_time(self, epoch_s: float) -> datetime:
        return datetime.fromtimestamp(epoch_s, tz=ZoneInfo(self.timezone))

    def in_business_hours(self, epoch_s: float) -> bool:
        """Record time, in the camera's own time zone: a replay decides as the live run did."""
        return self.business_hours.contains(self.local_time(epoch_s))

    def location(self) -> LocationSource:
        return {
            "camera_id": self.camera_id,
            "registered": self.registered,
            "site": self.site or None,
            "floor": self.floor or None,
            "zone": self.zone or None,
        }


class CameraRegistry:
    def __init__(self, cameras: list[Camera] | tuple[Camera, ...] = ()) -> None:
        self.by_arn = {c.stream_arn: c for c in cameras}

    def __len__(self) -> int:
        return len(self.by_arn)

    def lookup(self, stream_arn: str) -> Camera:
        camera = self.by_arn.get(stream_arn)
        if camera is not None:
            return camera
        return Camera(camera_id=camera_id_from_arn(stream_arn), stream_arn=stream_arn, registered=False)

    def is_registered(self, stream_arn: str) -> bool:
        return stream_arn in self.by_arn
