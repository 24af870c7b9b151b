"""Alert rules, in the pure core: tracks in, alerts out, decided by record time only.

A security team wants one alert per visit and rule, within a second or two, and none for employees
going about their day. So the rules look at tracks (a visit), not detections (a frame):

- watchlist: a face matching a watchlist identity (ExternalImageId with the watchlist prefix) at or
  above `min_similarity`, raised at the first such frame, even before the track is confirmed;
- unknown_face: a confirmed track that is nobody's (no frame matched, or too few to name it: see
  worker/core/tracker.py, Identity), once `min_quality_frames` of its unmatched faces passed the quality
  gate (size, sharpness, pose, confidence), so a profile view or a blur that Rekognition could not
  match does not count as a stranger;
- restricted_zone: a recognised employee in a zone their entry in `allowed_zones` does not list;
- after_hours: a recognised employee outside the camera's business hours, in the site's time zone.

The alert id is a hash of (track, rule): a retry, a replay or a second worker computes the same id, and
the sinks deliver an id once. A per-camera cooldown bounds what a crowd can raise; the watchlist rule's
cooldown is per camera and identity, so a watchlisted person leaving and re-appearing is one alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from worker.core.cameras import Camera, CameraRegistry
from worker.core.detections import detection_id, stable_id
from worker.core.record import DetectedFace, FrameRecord
from worker.core.track_docs import category_of
from worker.core.tracker import FrameResult, Track
from worker.documents import AlertSource

RULES = ("watchlist", "unknown_face", "restricted_zone", "after_hours")
Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)


@dataclass(frozen=True)
class QualityGate:
    """What a face must look like before its failure to match says anything about who it is."""

    min_face_width: float = 0.04  # share of the frame width (about 77 px of 1920)
    min_sharpness: float = 20.0  # Rekognition's Quality.Sharpness, 0-100
    min_brightness: float = 15.0
    max_yaw: float = 40.0  # degrees: beyond, a profile view
    max_pitch: float = 30.0
    min_confidence: float = 90.0  # that it is a face at all

    def passes(self, face: DetectedFace) -> bool:
        if face.box.width < self.min_face_width or face.confidence < self.min_confidence:
            return False
        if face.sharpness is not None and face.sharpness < self.min_sharpness:
            return False
        if face.brightness is not None and face.brightness < self.min_brightness:
            return False
        if face.pose is not None and (abs(face.pose.yaw) > self.max_yaw or abs(face.pose.pitch) > self.max_pitch):
            return False
        return True


@dataclass(frozen=True)
class RuleSettings:
    enabled: bool = True
    severity: str = "high"
    camera_cooldown_s: float = 0.0  # at most one alert of this rule per camera per this many seconds (0: no limit)


@dataclass(frozen=True)
class AlertRules:
    watchlist: RuleSettings = RuleSettings(severity="critical", camera_cooldown_s=300.0)
    unknown_face: RuleSettings = RuleSettings(severity="high", camera_cooldown_s=0.0)
    restricted_zone: RuleSettings = RuleSettings(severity="high", camera_cooldown_s=0.0)
    after_hours: RuleSettings = RuleSettings(severity="medium", camera_cooldown_s=0.0)
    watchlist_min_similarity: float = 90.0
    unknown_min_quality_frames: int = 3
    gate: QualityGate = QualityGate()
    # zone -> employees (ExternalImageIds) allowed there; zones not listed are open to every employee
    allowed_zones: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def settings(self, rule: str) -> RuleSettings:
        settings: RuleSettings = getattr(self, rule)
        return settings


@dataclass(frozen=True)
class Alert:
    alert_id: str
    rule: str
    severity: str
    track_id: str
    camera: Camera
    at: float  # record time of the frame that raised it (epoch s)
    identity: str | None  # None: unknown
    confidence: float | None
    fragment_number: str  # where the best frame so far is, in the camera's Kinesis Video stream
    frame_offset_s: float
    arrival_ms: int | None = None  # the record's approximate arrival time, for latency
    detection_id: str = ""  # the face that raised it: the frame a guard is shown first

    @property
    def category(self) -> str:
        return "watchlist" if self.rule == "watchlist" else ("unknown" if self.identity is None else "employee")

    def document(self) -> AlertSource:
        """The alert as delivered (OpenSearch, SNS, webhook): what a guard needs, nothing more."""
        local = self.camera.local_time(self.at)
        return {
            "alert_id": self.alert_id,
            "rule": self.rule,
            "severity": self.severity,
            "track_id": self.track_id,
            **self.camera.location(),  # type: ignore[typeddict-item]  # extra_checks: the delivery keys come later
            "stream_arn": self.camera.stream_arn,
            "time": round(self.at * 1000),
            "local_time": local.isoformat(timespec="seconds"),
            "timezone": self.camera.timezone,
            "identity": self.identity or "unknown",
            "category": self.category,
            "confidence": round(self.confidence, 2) if self.confidence is not None else None,
            "best_frame": {"fragment_number": self.fragment_number, "frame_offset_s": self.frame_offset_s},
            "detection_id": self.detection_id or None,
        }


def alert_source(alert: Alert, shard_id: str, received_ms: int | None) -> AlertSource:
    """The alert's document in the alerts index: the alert as delivered, where it came from, and an
    empty delivery record that each alert sink's lane fills in."""
    return {
        **alert.document(),
        "shard_id": shard_id,
        "arrival_time": alert.arrival_ms,
        "received_time": received_ms,
        "delivered_to": [],
    }


def alert_id(track_id: str, rule: str) -> str:
    return stable_id("alert", track_id, rule)


@dataclass
class AlertStats:
    raised: int = 0
    suppressed_by_cooldown: int = 0


class AlertEngine:
    """Evaluates the rules on the tracks each frame touched. What a track has raised and how many good
    faces it showed live on the track (persisted with it, so a new owner of the shard knows); the
    cooldown clocks live per camera (persisted in the camera's state document)."""

    def __init__(self, rules: AlertRules, registry: CameraRegistry, watchlist_prefix: str) -> None:
        self.rules = rules
        self.registry = registry
        self.watchlist_prefix = watchlist_prefix
        self.last_at: dict[str, dict[str, float]] = {}  # stream ARN -> cooldown key -> record time
        self.stats = AlertStats()

    def on_frame(self, frame: FrameRecord, result: FrameResult, arrival_ms: int | None = None) -> list[Alert]:
        if result.late:
            return []
        camera = self.registry.lookup(frame.stream_arn)
        alerts: list[Alert] = []
        for track in result.touched:
            face = result.faces.get(track.track_id)
            if face is not None and self.rules.gate.passes(face):
                track.note_quality_face()
            raised_by = None  # the detection that raised it: hashed only when an alert is raised (rarely)
            for rule, identity, confidence in self._candidates(track, camera, frame.frame_time):
                if camera.alert_rules is not None and rule not in camera.alert_rules:
                    continue  # e.g. a public lobby where strangers are expected: no unknown_face there
                if rule in track.alerted or not self.rules.settings(rule).enabled:
                    continue  # decided at an earlier face (raised or suppressed), or off: nothing to hash
                if raised_by is None:
                    raised_by = (
                        detection_id(frame.stream_arn, frame.fragment_number, frame.frame_offset_s, face.index)
                        if face is not None
                        else ""
                    )
                alert = self._raise(rule, track, camera, frame.frame_time, identity, confidence, arrival_ms, raised_by)
                if alert is not None:
                    alerts.append(alert)
        return alerts

    def clocks(self, stream_arn: str) -> dict[str, float]:
        """The camera's cooldown clocks, for its state document."""
        return dict(sorted(self.last_at.get(stream_arn, {}).items()))

    def restore_clocks(self, stream_arn: str, clocks: Mapping[str, float]) -> None:
        mine = self.last_at.setdefault(stream_arn, {})
        for key, at in clocks.items():
            mine[key] = max(mine.get(key, float("-inf")), float(at))

    def _candidates(self, track: Track, camera: Camera, t: float) -> list[tuple[str, str | None, float | None]]:
        r = self.rules
        out: list[tuple[str, str | None, float | None]] = []
        watch = sorted(
            (
                (sim, who)
                for who, sim in track.best_similarity.items()
                if category_of(who, self.watchlist_prefix) == "watchlist" and sim >= r.watchlist_min_similarity
            ),
            reverse=True,
        )
        if watch:
            out.append(("watchlist", watch[0][1], watch[0][0]))
        if not track.confirmed:
            return out
        identity, confidence = track.identity()
        # A stranger: nobody's track (unnamed: no match, or too few to be anybody's, as a visitor's track
        # holding one face of the employee beside them), with enough good faces that were not matched (a
        # matched face may have passed the gate too, so those are not counted).
        if identity is None and track.quality_frames - track.matched >= r.unknown_min_quality_frames:
            out.append(("unknown_face", None, None))
        if identity is not None and category_of(identity, self.watchlist_prefix) == "employee":
            allowed = r.allowed_zones.get(camera.zone) if camera.zone else None
            if allowed is not None and identity not in allowed:
                out.append(("restricted_zone", identity, confidence))
            if camera.registered and not camera.in_business_hours(t):
                out.append(("after_hours", identity, confidence))
        return out

    def _raise(
        self,
        rule: str,
        track: Track,
        camera: Camera,
        t: float,
        identity: str | None,
        confidence: float | None,
        arrival_ms: int | None,
        raised_by: str = "",
    ) -> Alert | None:
        settings = self.rules.settings(rule)
        if not settings.enabled or rule in track.alerted:
            return None
        track.alerted.add(rule)  # decided once per track and rule, raised or suppressed
        key = f"{rule}|{identity}" if rule == "watchlist" else rule
        clocks = self.last_at.setdefault(camera.stream_arn, {})
        last = clocks.get(key)
        if settings.camera_cooldown_s and last is not None and 0 <= t - last < settings.camera_cooldown_s:
            self.stats.suppressed_by_cooldown += 1
            return None
        clocks[key] = t
        self.stats.raised += 1
        best = track.best_frame
        return Alert(
            alert_id=alert_id(track.track_id, rule),
            rule=rule,
            severity=settings.severity,
            track_id=track.track_id,
            camera=camera,
            at=t,
            identity=identity,
            confidence=confidence,
            fragment_number=best.fragment_number if best else "",
            frame_offset_s=best.frame_offset_s if best else 0.0,
            arrival_ms=arrival_ms,
            detection_id=raised_by,
        )
