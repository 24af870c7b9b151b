"""The one configuration object: defaults file < YAML file < local stack env file < environment.

Everything is validated at start, and a bad value names its field and the fix, so a worker never
starts half-configured and fails later inside the KCL daemon where errors are hard to see.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping
from datetime import time as time_of_day
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
import yaml

from worker.core.alerts import RULES, SEVERITIES, AlertRules, QualityGate, RuleSettings
from worker.core.cameras import DAYS, BusinessHours, Camera
from worker.core.tracker import TrackerParams

DEFAULTS_FILE = Path(__file__).with_name("worker.yaml")
STACK_ENV_FILE = Path(".run/stack.env")

# Environment variables with a well-known name, and the field each one sets.
ENV_ALIASES: dict[str, str] = {
    "KINESIS_ENDPOINT": "kinesis.endpoint",
    "DYNAMODB_ENDPOINT": "kinesis.dynamodb_endpoint",
    "OPENSEARCH_URL": "opensearch.url",
    "OPENSEARCH_USERNAME": "opensearch.username",
    "OPENSEARCH_PASSWORD": "opensearch.password",
    "AWS_REGION": "kinesis.region",
    "FACEWATCH_STREAM": "kinesis.stream_name",
    "FACEWATCH_APPLICATION": "kinesis.application_name",
    "FACEWATCH_WORKER_ID": "worker.id",
    "FACEWATCH_LOG_LEVEL": "worker.log_level",
}
# Any field can also be set as FACEWATCH__<SECTION>__<KEY>, e.g. FACEWATCH__OPENSEARCH__BULK_MAX_DOCS=500.
ENV_PREFIX = "FACEWATCH__"

MAX_BULK_BYTES = 10 * 1024 * 1024


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field and how to fix it."""


@dataclass(frozen=True)
class WorkerSection:
    id: str = ""
    log_level: str = "info"
    heartbeat_dir: str = ""  # record processors keep one heartbeat file per shard here (`facewatch health`)
    health_max_age_s: float = 300.0  # a heartbeat older than this means a stuck processor


@dataclass(frozen=True)
class KinesisSection:
    stream_name: str = "detections"
    application_name: str = ""
    region: str = "us-east-1"
    endpoint: str = ""
    dynamodb_endpoint: str = ""
    initial_position: str = "TRIM_HORIZON"
    initial_timestamp: float | None = None
    retrieval_mode: str = "POLLING"
    max_records: int = 1000
    idle_time_between_reads_ms: int = 200
    shutdown_grace_ms: int = 90000
    fast_lease_timers: bool = False


@dataclass(frozen=True)
class OpenSearchSection:
    url: str = "http://127.0.0.1:9200"
    auth: str = "none"
    username: str = ""
    password: str = field(default="", repr=False)
    verify_tls: bool = True
    ca_certs: str = ""
    index_prefix: str = "facewatch"
    replicas: int = 1
    bulk_max_bytes: int = 5 * 1024 * 1024
    bulk_max_docs: int = 2000
    request_timeout_s: float = 30.0
    retry_base_s: float = 0.2
    retry_max_s: float = 10.0


@dataclass(frozen=True)
class ProcessorSection:
    max_record_bytes: int = 1024 * 1024
    flush_interval_s: float = 1.0  # buffered writes older than this are flushed at the next callback
    flush_max_records: int = 5000  # ... or as soon as this many records are buffered
    flush_max_bytes: int = 8 * 1024 * 1024  # ... or this many bytes of documents


@dataclass(frozen=True)
class CheckpointSection:
    every_s: float = 5.0  # checkpoint the acknowledged position at most this often (0: after every flush)
    every_records: int = 10000  # ... or sooner once this many acknowledged records are not checkpointed
    attempts: int = 8  # throttled checkpoints are retried this many times, then left to the next one


@dataclass(frozen=True)
class FirehoseSection:
    enabled: bool = True
    endpoint: str = ""  # empty: AWS_ENDPOINT_URL (local stack) or the region's Firehose
    raw_stream: str = "facewatch-raw"  # every parsed frame record, as newline-delimited JSON
    tracks_stream: str = "facewatch-tracks"  # closed tracks
    skip_redelivered: bool = True  # records a previous owner archived (shard progress) are not sent again
    max_batch_records: int = 500
    max_batch_bytes: int = 4 * 1024 * 1024
    retry_base_s: float = 0.2
    retry_max_s: float = 10.0


@dataclass(frozen=True)
class QuarantineSection:
    bucket: str = "facewatch-quarantine"  # S3 dead letters, one object per bad record
    prefix: str = "quarantine/"
    endpoint: str = ""  # empty: AWS_ENDPOINT_URL (local stack) or the region's S3


@dataclass(frozen=True)
class RetentionSection:
    detections_days: int = 30
    tracks_days: int = 365
    alerts_days: int = 365
    quarantine_days: int = 30


@dataclass(frozen=True)
class TrackerSection:
    max_gap_s: float = 6.0  # longest hidden stretch a track bridges
    stitch_wait_s: float = 3.0  # extra time a lost track waits for a tentative one to confirm
    min_hits: int = 3  # faces before a track is a sighting
    reorder_window_s: float = 5.0  # older frames than this behind the camera's latest are not tracked
    strong_similarity: float = 90.0  # two different identities above this never share a track


@dataclass(frozen=True)
class IdentitiesSection:
    watchlist_prefix: str = "wl_"  # ExternalImageIds starting with this are watchlist faces


@dataclass(frozen=True)
class AlertsSection:
    """Rule switches, severities and per-camera cooldowns (seconds of record time; 0: none), and the
    quality gate a face must pass before failing to match says it is a stranger."""

    watchlist_enabled: bool = True
    watchlist_severity: str = "critical"
    watchlist_cooldown_s: float = 300.0  # per camera and watchlisted person: leaving and coming back is one alert
    watchlist_min_similarity: float = 90.0
    unknown_face_enabled: bool = True
    unknown_face_severity: str = "high"
    unknown_face_cooldown_s: float = 0.0
    unknown_min_quality_frames: int = 3
    restricted_zone_enabled: bool = True
    restricted_zone_severity: str = "high"
    restricted_zone_cooldown_s: float = 0.0
    after_hours_enabled: bool = True
    after_hours_severity: str = "medium"
    after_hours_cooldown_s: float = 0.0
    min_face_width: float = 0.04
    min_sharpness: float = 20.0
    min_brightness: float = 15.0
    max_yaw: float = 40.0
    max_pitch: float = 30.0
    min_face_confidence: float = 90.0
    sns_topic_arn: str = ""  # empty: no SNS delivery
    sns_endpoint: str = ""  # empty: AWS_ENDPOINT_URL (local stack) or the region's SNS
    webhook_url: str = ""  # empty: no webhook
    webhook_secret: str = ""  # HMAC-SHA256 key; required with webhook_url
    webhook_timeout_s: float = 5.0
    delivery_attempts: int = 3  # per sink and flush; then the sink is skipped until the next flush
    retry_base_s: float = 0.2
    retry_max_s: float = 2.0
    retry_every_s: float = 2.0  # how often undelivered alerts are retried while the shard is quiet


@dataclass(frozen=True)
class Config:
    worker: WorkerSection
    kinesis: KinesisSection
    opensearch: OpenSearchSection
    processor: ProcessorSection
    tracker: TrackerSection = TrackerSection()
    identities: IdentitiesSection = IdentitiesSection()
    checkpoint: CheckpointSection = CheckpointSection()
    firehose: FirehoseSection = FirehoseSection()
    quarantine: QuarantineSection = QuarantineSection()
    retention: RetentionSection = RetentionSection()
    alerts: AlertsSection = AlertsSection()
    cameras: tuple[Camera, ...] = ()
    zones: tuple[tuple[str, frozenset[str]], ...] = ()  # restricted zone -> employees allowed in it
    aws_endpoint_url: str = ""

    @property
    def worker_id(self) -> str:
        return self.worker.id or f"{socket.gethostname()}-{os.getpid()}"

    def tracker_params(self) -> TrackerParams:
        t = self.tracker
        return TrackerParams(max_gap_s=t.max_gap_s, stitch_wait_s=t.stitch_wait_s, min_hits=t.min_hits,
                             reorder_window_s=t.reorder_window_s, strong_similarity=t.strong_similarity)

    def alert_rules(self) -> AlertRules:
        a = self.alerts
        return AlertRules(
            watchlist=RuleSettings(a.watchlist_enabled, a.watchlist_severity, a.watchlist_cooldown_s),
            unknown_face=RuleSettings(a.unknown_face_enabled, a.unknown_face_severity, a.unknown_face_cooldown_s),
            restricted_zone=RuleSettings(a.restricted_zone_enabled, a.restricted_zone_severity,
                                         a.restricted_zone_cooldown_s),
            after_hours=RuleSettings(a.after_hours_enabled, a.after_hours_severity, a.after_hours_cooldown_s),
            watchlist_min_similarity=a.watchlist_min_similarity,
            unknown_min_quality_frames=a.unknown_min_quality_frames,
            gate=QualityGate(a.min_face_width, a.min_sharpness, a.min_brightness, a.max_yaw, a.max_pitch,
                             a.min_face_confidence),
            allowed_zones=dict(self.zones),
        )

    @property
    def firehose_endpoint(self) -> str:
        return self.firehose.endpoint or self.aws_endpoint_url

    @property
    def sns_endpoint(self) -> str:
        return self.alerts.sns_endpoint or self.aws_endpoint_url

    @property
    def s3_endpoint(self) -> str:
        return self.quarantine.endpoint or self.aws_endpoint_url

    @property
    def application_name(self) -> str:
        return self.kinesis.application_name or f"facewatch-{self.kinesis.stream_name}"


_SECTIONS: dict[str, type] = {
    "worker": WorkerSection,
    "kinesis": KinesisSection,
    "opensearch": OpenSearchSection,
    "processor": ProcessorSection,
    "tracker": TrackerSection,
    "identities": IdentitiesSection,
    "checkpoint": CheckpointSection,
    "firehose": FirehoseSection,
    "quarantine": QuarantineSection,
    "retention": RetentionSection,
    "alerts": AlertsSection,
}
CAMERA_KEYS = ("id", "stream_arn", "site", "floor", "zone", "timezone", "business_hours", "alert_rules")


def read_env_file(path: Path) -> dict[str, str]:
    """Read KEY=VALUE lines (optionally `export KEY=VALUE`), as written by `make stack-up`."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("'\"")
    return values


def _merge(base: dict[str, dict[str, Any]], overlay: Mapping[str, Any], source: str) -> None:
    for section, values in overlay.items():
        if section not in _SECTIONS:
            raise ConfigError(
                f"{source}: unknown section '{section}'; expected one of {', '.join(_SECTIONS)}, cameras, zones"
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: section '{section}' must be a mapping of keys to values")
        known = {f.name for f in fields(_SECTIONS[section])}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"{source}: unknown key '{section}.{key}'; known keys: {', '.join(sorted(known))}"
                )
            base.setdefault(section, {})[key] = value


def _env_overlay(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    overlay: dict[str, dict[str, Any]] = {}
    for name, dotted in ENV_ALIASES.items():
        if env.get(name):
            section, key = dotted.split(".")
            overlay.setdefault(section, {})[key] = env[name]
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            parts = name[len(ENV_PREFIX):].lower().split("__")
            if len(parts) != 2:
                raise ConfigError(f"{name}: expected {ENV_PREFIX}<SECTION>__<KEY>")
            overlay.setdefault(parts[0], {})[parts[1]] = value
    return overlay


def _coerce(section: str, cls: type, values: Mapping[str, Any]) -> Any:
    """Build one section, converting strings from the environment to each field's type."""
    kwargs: dict[str, Any] = {}
    types = {f.name: f.type for f in fields(cls)}
    for key, value in values.items():
        kind = types[key]
        where = f"{section}.{key}"
        if value is None or (isinstance(value, str) and value == "" and "None" in str(kind)):
            kwargs[key] = None if "None" in str(kind) else ""
            continue
        try:
            if kind == "bool":
                if isinstance(value, bool):
                    kwargs[key] = value
                elif str(value).lower() in ("1", "true", "yes", "on"):
                    kwargs[key] = True
                elif str(value).lower() in ("0", "false", "no", "off"):
                    kwargs[key] = False
                else:
                    raise ValueError(value)
            elif kind == "int":
                if isinstance(value, bool):
                    raise ValueError(value)
                kwargs[key] = int(value)
            elif kind.startswith("float"):
                if isinstance(value, bool):
                    raise ValueError(value)
                kwargs[key] = float(value)
            else:
                kwargs[key] = str(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {value!r} is not a valid {kind.split(' ')[0]}") from None
    return cls(**kwargs)


def _check_url(where: str, value: str, *, required: bool, fix: str) -> None:
    if not value:
        if required:
            raise ConfigError(f"{where}: is empty; {fix}")
        return
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ConfigError(f"{where}: {value!r} is not an http(s) URL; {fix}")


def _clock(where: str, value: Any) -> "time_of_day":
    text = str(value)
    try:
        hours, minutes = text.split(":")
        return time_of_day(int(hours), int(minutes))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not a time of day; write it as HH:MM, e.g. \"08:00\"") from None


def _days(where: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) and "-" in value:  # "mon-fri"
        first, _, last = value.lower().partition("-")
        if first in DAYS and last in DAYS and DAYS.index(first) <= DAYS.index(last):
            return DAYS[DAYS.index(first): DAYS.index(last) + 1]
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and items and all(isinstance(d, str) and d.lower() in DAYS for d in items):
        return tuple(d.lower() for d in items)
    raise ConfigError(f"{where}: {value!r}; give days as a range like \"mon-fri\" or a list of {', '.join(DAYS)}")


def parse_cameras(entries: Any, source: str) -> tuple[Camera, ...]:
    """The camera registry from a YAML/JSON list; every mistake names cameras[i].field and the fix."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: cameras must be a list of mappings with id and stream_arn")
    cameras: list[Camera] = []
    seen_ids: set[str] = set()
    seen_arns: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{source}: cameras[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: must be a mapping with id and stream_arn")
        unknown = set(entry) - set(CAMERA_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(CAMERA_KEYS)}")
        camera_id = str(entry.get("id") or "")
        arn = str(entry.get("stream_arn") or "")
        if not camera_id:
            raise ConfigError(f"{where}.id: is empty; give the camera a short unique name, e.g. hq-lobby-1")
        if not (arn.startswith("arn:aws") and ":kinesisvideo:" in arn and ":stream/" in arn):
            raise ConfigError(
                f"{where}.stream_arn: {arn!r} is not a Kinesis Video stream ARN;"
                " expected arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation-time>"
            )
        if camera_id in seen_ids:
            raise ConfigError(f"{where}.id: {camera_id!r} is used twice; camera ids must be unique")
        if arn in seen_arns:
            raise ConfigError(f"{where}.stream_arn: {arn} is registered twice; one camera per stream")
        seen_ids.add(camera_id)
        seen_arns.add(arn)
        tz = str(entry.get("timezone") or "UTC")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}.timezone: {tz!r} is not an IANA time zone; e.g. Europe/Paris") from None
        hours_cfg = entry.get("business_hours") or {}
        if not isinstance(hours_cfg, Mapping):
            raise ConfigError(f"{where}.business_hours: must be a mapping with days, start and end")
        unknown = set(hours_cfg) - {"days", "start", "end"}
        if unknown:
            raise ConfigError(f"{where}.business_hours: unknown key(s) {', '.join(sorted(unknown))}; use days, start, end")
        default = BusinessHours()
        hours = BusinessHours(
            days=_days(f"{where}.business_hours.days", hours_cfg["days"]) if "days" in hours_cfg else default.days,
            start=_clock(f"{where}.business_hours.start", hours_cfg["start"]) if "start" in hours_cfg else default.start,
            end=_clock(f"{where}.business_hours.end", hours_cfg["end"]) if "end" in hours_cfg else default.end,
        )
        if hours.end <= hours.start:
            raise ConfigError(f"{where}.business_hours: end {hours.end} is not after start {hours.start}")
        rules = entry.get("alert_rules")
        if rules is not None:
            if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
                raise ConfigError(f"{where}.alert_rules: must be a list of rule names, e.g. [watchlist, restricted_zone]")
            unknown = sorted(set(rules) - set(RULES))
            if unknown:
                raise ConfigError(f"{where}.alert_rules: unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
        cameras.append(
            Camera(
                camera_id=camera_id,
                stream_arn=arn,
                site=str(entry.get("site") or ""),
                floor=str(entry.get("floor") or ""),
                zone=str(entry.get("zone") or ""),
                timezone=tz,
                business_hours=hours,
                alert_rules=frozenset(rules) if rules is not None else None,
            )
        )
    return tuple(cameras)


def parse_zones(entries: Any, source: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """Restricted zones: `- {zone: lab, allowed: [emp-0001, ...]}`. Zones not listed are open to every employee."""
    if entries in (None, []):
        return ()
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: zones must be a list of {{zone: <name>, allowed: [<ExternalImageId>, ...]}}")
    zones: dict[str, frozenset[str]] = {}
    for i, entry in enumerate(entries):
        where = f"{source}: zones[{i}]"
        if not isinstance(entry, Mapping) or set(entry) - {"zone", "allowed"} or not entry.get("zone"):
            raise ConfigError(f"{where}: expected {{zone: <name>, allowed: [<ExternalImageId>, ...]}}")
        allowed = entry.get("allowed") or []
        if not isinstance(allowed, list) or not all(isinstance(x, str) and x for x in allowed):
            raise ConfigError(f"{where}.allowed: a list of employee ExternalImageIds (may be empty: nobody)")
        name = str(entry["zone"])
        if name in zones:
            raise ConfigError(f"{where}.zone: {name!r} is listed twice; merge the two entries")
        zones[name] = frozenset(allowed)
    return tuple(sorted(zones.items()))


def _cameras_from_env(env: Mapping[str, str]) -> tuple[Any, str] | None:
    if env.get("FACEWATCH_CAMERAS"):
        try:
            return orjson.loads(env["FACEWATCH_CAMERAS"]), "FACEWATCH_CAMERAS"
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"FACEWATCH_CAMERAS: not valid JSON ({exc}); give a JSON list of cameras") from None
    if env.get("FACEWATCH_CAMERAS_FILE"):
        file = Path(env["FACEWATCH_CAMERAS_FILE"])
        if not file.is_file():
            raise ConfigError(f"FACEWATCH_CAMERAS_FILE: {file} does not exist; give a YAML or JSON file")
        data = yaml.safe_load(file.read_text())
        if isinstance(data, Mapping):
            data = data.get("cameras")
        return data, str(file)
    return None


def validate(cfg: Config) -> Config:
    k, o, p = cfg.kinesis, cfg.opensearch, cfg.processor
    if not k.stream_name:
        raise ConfigError("kinesis.stream_name: is empty; pass --stream NAME or set FACEWATCH_STREAM")
    if k.initial_position not in ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"):
        raise ConfigError(
            f"kinesis.initial_position: {k.initial_position!r}; use TRIM_HORIZON, LATEST or AT_TIMESTAMP"
        )
    if k.initial_position == "AT_TIMESTAMP" and k.initial_timestamp is None:
        raise ConfigError("kinesis.initial_timestamp: required with AT_TIMESTAMP; give epoch seconds")
    if k.retrieval_mode not in ("POLLING", "FANOUT"):
        raise ConfigError(f"kinesis.retrieval_mode: {k.retrieval_mode!r}; use POLLING or FANOUT")
    if not 1 <= k.max_records <= 10000:
        raise ConfigError(f"kinesis.max_records: {k.max_records}; GetRecords takes 1..10000")
    if k.idle_time_between_reads_ms < 200:
        raise ConfigError(
            f"kinesis.idle_time_between_reads_ms: {k.idle_time_between_reads_ms}; KCL 3 raises anything"
            " below 200 to 200, set 200 or more"
        )
    if not 0 <= k.shutdown_grace_ms <= 115000:
        raise ConfigError(
            f"kinesis.shutdown_grace_ms: {k.shutdown_grace_ms}; keep it below the ECS stop timeout"
            " (at most 120 s on Fargate), e.g. 90000"
        )
    _check_url("kinesis.endpoint", k.endpoint, required=False,
               fix="set KINESIS_ENDPOINT to http://host:port, or leave it empty for AWS")
    _check_url("kinesis.dynamodb_endpoint", k.dynamodb_endpoint, required=False,
               fix="set DYNAMODB_ENDPOINT to http://host:port, or leave it empty for AWS")
    _check_url("opensearch.url", o.url, required=True,
               fix="set OPENSEARCH_URL to http(s)://host:port of the OpenSearch domain")
    if o.auth not in ("none", "basic", "sigv4"):
        raise ConfigError(f"opensearch.auth: {o.auth!r}; use none, basic or sigv4")
    if o.ca_certs and not Path(o.ca_certs).is_file():
        raise ConfigError(f"opensearch.ca_certs: {o.ca_certs} does not exist; give a PEM CA bundle or leave it empty")
    if o.auth == "sigv4" and not o.url.startswith("https://"):
        raise ConfigError("opensearch.url: SigV4 needs the domain's https:// endpoint (Amazon OpenSearch Service)")
    if o.auth == "basic" and not (o.username and o.password):
        raise ConfigError(
            "opensearch.username/password: required with auth=basic; set OPENSEARCH_USERNAME and"
            " OPENSEARCH_PASSWORD"
        )
    if not 1024 <= o.bulk_max_bytes <= MAX_BULK_BYTES:
        raise ConfigError(
            f"opensearch.bulk_max_bytes: {o.bulk_max_bytes}; between 1 KiB and 10 MiB (10485760)"
        )
    if not 1 <= o.bulk_max_docs <= 50000:
        raise ConfigError(f"opensearch.bulk_max_docs: {o.bulk_max_docs}; between 1 and 50000")
    if not o.index_prefix or o.index_prefix != o.index_prefix.lower() or " " in o.index_prefix:
        raise ConfigError(
            f"opensearch.index_prefix: {o.index_prefix!r}; OpenSearch index names are lower case,"
            " without spaces"
        )
    if not 0 <= o.replicas <= 5:
        raise ConfigError(f"opensearch.replicas: {o.replicas}; between 0 and 5 (0 on a one-node cluster)")
    if o.retry_base_s <= 0 or o.retry_max_s < o.retry_base_s:
        raise ConfigError("opensearch.retry_base_s/retry_max_s: need 0 < retry_base_s <= retry_max_s")
    if not 1024 <= p.max_record_bytes <= 10 * 1024 * 1024:
        raise ConfigError(f"processor.max_record_bytes: {p.max_record_bytes}; between 1 KiB and 10 MiB")
    if not 0.0 <= p.flush_interval_s <= 60.0:
        raise ConfigError(f"processor.flush_interval_s: {p.flush_interval_s}; between 0 (every batch) and 60 seconds")
    if not 1 <= p.flush_max_records <= 100000:
        raise ConfigError(f"processor.flush_max_records: {p.flush_max_records}; between 1 and 100000")
    if not 64 * 1024 <= p.flush_max_bytes <= 256 * 1024 * 1024:
        raise ConfigError(
            f"processor.flush_max_bytes: {p.flush_max_bytes}; between 64 KiB and 256 MiB (it bounds memory"
            " while a sink is down)"
        )
    c = cfg.checkpoint
    if not 0.0 <= c.every_s <= 300.0:
        raise ConfigError(f"checkpoint.every_s: {c.every_s}; between 0 (after every flush) and 300 seconds")
    if not 0 <= c.every_records <= 1_000_000:
        raise ConfigError(f"checkpoint.every_records: {c.every_records}; between 0 (off) and 1000000")
    if not 1 <= c.attempts <= 50:
        raise ConfigError(f"checkpoint.attempts: {c.attempts}; between 1 and 50")
    f = cfg.firehose
    _check_url("firehose.endpoint", f.endpoint, required=False,
               fix="set FACEWATCH__FIREHOSE__ENDPOINT to http://host:port, or leave it empty for AWS")
    if f.enabled and not (f.raw_stream and f.tracks_stream):
        raise ConfigError("firehose.raw_stream/tracks_stream: empty; name both delivery streams or set"
                          " firehose.enabled: false")
    if not 1 <= f.max_batch_records <= 500:
        raise ConfigError(f"firehose.max_batch_records: {f.max_batch_records}; PutRecordBatch takes 1..500")
    if not 1024 <= f.max_batch_bytes <= 4 * 1024 * 1024:
        raise ConfigError(f"firehose.max_batch_bytes: {f.max_batch_bytes}; PutRecordBatch takes at most 4 MiB (4194304)")
    if f.retry_base_s <= 0 or f.retry_max_s < f.retry_base_s:
        raise ConfigError("firehose.retry_base_s/retry_max_s: need 0 < retry_base_s <= retry_max_s")
    q = cfg.quarantine
    if not q.bucket:
        raise ConfigError("quarantine.bucket: is empty; name the S3 bucket for dead letters")
    _check_url("quarantine.endpoint", q.endpoint, required=False,
               fix="set FACEWATCH__QUARANTINE__ENDPOINT to http://host:port, or leave it empty for AWS")
    r = cfg.retention
    for family in ("detections", "tracks", "alerts", "quarantine"):
        days = getattr(r, f"{family}_days")
        if not 1 <= days <= 3650:
            raise ConfigError(f"retention.{family}_days: {days}; between 1 and 3650 days")
    t = cfg.tracker
    if not 1.0 <= t.max_gap_s <= 60.0:
        raise ConfigError(f"tracker.max_gap_s: {t.max_gap_s}; between 1 and 60 seconds (frames come ~1 s apart)")
    if not 0.0 <= t.stitch_wait_s <= 30.0:
        raise ConfigError(f"tracker.stitch_wait_s: {t.stitch_wait_s}; between 0 and 30 seconds")
    if not 1 <= t.min_hits <= 20:
        raise ConfigError(f"tracker.min_hits: {t.min_hits}; between 1 and 20 frames")
    if not 0.0 <= t.reorder_window_s <= t.max_gap_s + t.stitch_wait_s:
        raise ConfigError(
            f"tracker.reorder_window_s: {t.reorder_window_s}; between 0 and max_gap_s + stitch_wait_s"
            " (older frames could belong to tracks already closed)"
        )
    if not 80.0 <= t.strong_similarity <= 100.0:
        raise ConfigError(f"tracker.strong_similarity: {t.strong_similarity}; between 80 and 100")
    a = cfg.alerts
    for rule in ("watchlist", "unknown_face", "restricted_zone", "after_hours"):
        severity = getattr(a, f"{rule}_severity")
        if severity not in SEVERITIES:
            raise ConfigError(f"alerts.{rule}_severity: {severity!r}; use one of {', '.join(SEVERITIES)}")
        if getattr(a, f"{rule}_cooldown_s") < 0:
            raise ConfigError(f"alerts.{rule}_cooldown_s: must be 0 (no cooldown) or more seconds")
    if not 50.0 <= a.watchlist_min_similarity <= 100.0:
        raise ConfigError(f"alerts.watchlist_min_similarity: {a.watchlist_min_similarity}; between 50 and 100")
    if a.webhook_url:
        _check_url("alerts.webhook_url", a.webhook_url, required=True, fix="set FACEWATCH__ALERTS__WEBHOOK_URL to https://...")
        if not a.webhook_secret:
            raise ConfigError("alerts.webhook_secret: is empty; a webhook needs the HMAC key its receiver checks"
                              " (FACEWATCH__ALERTS__WEBHOOK_SECRET, from a secret store)")
    if a.sns_topic_arn and not a.sns_topic_arn.startswith("arn:"):
        raise ConfigError(f"alerts.sns_topic_arn: {a.sns_topic_arn!r} is not an ARN; e.g. arn:aws:sns:eu-west-1:123456789012:facewatch-alerts")
    if a.delivery_attempts < 1:
        raise ConfigError("alerts.delivery_attempts: at least 1")
    if a.unknown_min_quality_frames < 1:
        raise ConfigError("alerts.unknown_min_quality_frames: at least 1 (3 keeps one blurred frame from alerting)")
    if not 0.0 <= a.min_face_width < 1.0:
        raise ConfigError(f"alerts.min_face_width: {a.min_face_width}; a share of the frame width, 0 to 1")
    if not 10.0 <= cfg.worker.health_max_age_s <= 3600.0:
        raise ConfigError(
            f"worker.health_max_age_s: {cfg.worker.health_max_age_s}; between 10 and 3600 (longer than the slowest"
            " flush, shorter than you would wait for a stuck task to be replaced)"
        )
    if cfg.worker.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"worker.log_level: {cfg.worker.log_level!r}; use debug, info, warning or error")
    return cfg


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stack_env_file: Path | None = STACK_ENV_FILE,
) -> Config:
    """Load and validate the configuration.

    The local stack's env file (written by `make stack-up`) sits under the real environment, so a
    developer gets the local endpoints by default and a deployed task (which has no such file) is
    configured by its environment alone.
    """
    env = dict(os.environ if env is None else env)
    merged: dict[str, dict[str, Any]] = {}
    defaults = yaml.safe_load(DEFAULTS_FILE.read_text()) or {}
    camera_source: tuple[Any, str] = (defaults.pop("cameras", None), str(DEFAULTS_FILE))
    zone_source: tuple[Any, str] = (defaults.pop("zones", None), str(DEFAULTS_FILE))
    _merge(merged, defaults, str(DEFAULTS_FILE))
    path = path or env.get("FACEWATCH_CONFIG")
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"FACEWATCH_CONFIG: {file} does not exist; give the path of a YAML file")
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML: {exc}") from None
        if not isinstance(data, Mapping):
            raise ConfigError(f"{file}: must be a mapping of sections (worker, kinesis, opensearch, ...)")
        data = dict(data)
        if "cameras" in data:
            camera_source = (data.pop("cameras"), str(file))
        if "zones" in data:
            zone_source = (data.pop("zones"), str(file))
        _merge(merged, data, str(file))
    stack = read_env_file(stack_env_file) if stack_env_file is not None else {}
    _merge(merged, _env_overlay({**stack, **env}), "environment")
    aws_endpoint = env.get("AWS_ENDPOINT_URL") or stack.get("AWS_ENDPOINT_URL", "")
    camera_source = _cameras_from_env(env) or camera_source
    if env.get("FACEWATCH_ZONES"):
        try:
            zone_source = (orjson.loads(env["FACEWATCH_ZONES"]), "FACEWATCH_ZONES")
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"FACEWATCH_ZONES: not valid JSON ({exc}); give a JSON list of"
                              ' {"zone": ..., "allowed": [...]}') from None
    cfg = Config(
        **{name: _coerce(name, cls, merged.get(name, {})) for name, cls in _SECTIONS.items()},
        cameras=parse_cameras(*camera_source),
        zones=parse_zones(*zone_source),
        aws_endpoint_url=aws_endpoint,
    )
    return validate(cfg)
