"""The settings sections, with every default and every rule.

These models are the one place a default is written (worker.yaml is the commented example, checked
against them by a test). A field's `description` says the rule and the fix: a bad value's message
ends with it. Checks that involve two fields are the sections' model validators.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from worker.config.errors import problem
from worker.config.formats import (
    MAKE_WEBHOOK_SECRET,
    EndpointUrl,
    IndexPrefix,
    RequiredUrl,
    WebhookSecret,
    WebhookUrl,
    webhook_secrets,
)
from worker.config.kinds import Bool, Cooldown, Float, Int, Name, OptionalFloat, Percent, Seconds, Text
from worker.core.alerts import Severity

KIB = 1024
MIB = 1024 * KIB
MAX_BULK_BYTES = 10 * MIB


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _existing_file(path: str) -> str:
    if path and not Path(path).is_file():
        raise problem(f"{path} does not exist; give a PEM CA bundle or leave it empty")
    return path


def _check_retries(base: float, most: float) -> None:
    if most < base:
        raise problem(f"{base} > {most}; need 0 < retry_base_s <= retry_max_s", key="retry_base_s/retry_max_s")


class Section(BaseModel):
    """Frozen, no unknown keys, and the defaults pass the same checks as any value."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class WorkerSection(Section):
    id: Text = ""  # empty: <hostname>-<pid>
    log_level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = "info"
    heartbeat_dir: Text = ""  # record processors keep one heartbeat file per shard here (`facewatch health`)
    daemon_heap_percent: Float = Field(
        40.0,
        ge=5,
        le=90,
        description=(
            "between 5 and 90: the daemon JVM's share of the container's memory (-XX:MaxRAMPercentage); the"
            " rest is the record processors' (one Python process per shard)"
        ),
    )
    health_max_age_s: Float = Field(
        300.0,
        ge=10,
        le=3600,
        description=(
            "between 10 and 3600 (longer than the slowest flush, shorter than you would wait for a stuck task"
            " to be replaced)"
        ),
    )


class KinesisSection(Section):
    stream_name: Name = Field("detections", description="pass --stream NAME or set FACEWATCH_STREAM")
    application_name: Text = ""  # empty: facewatch-<stream_name>
    region: Name = Field("us-east-1", description="set AWS_REGION, e.g. eu-west-1")
    endpoint: EndpointUrl = Field("", description="set KINESIS_ENDPOINT to http://host:port, or leave it empty for AWS")
    dynamodb_endpoint: EndpointUrl = Field(
        "", description="set DYNAMODB_ENDPOINT to http://host:port, or leave it empty for AWS"
    )
    initial_position: Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"] = "TRIM_HORIZON"
    initial_timestamp: OptionalFloat = Field(None, ge=0, description="epoch seconds, with AT_TIMESTAMP")
    retrieval_mode: Literal["POLLING", "FANOUT"] = "POLLING"
    max_records: Int = Field(1000, ge=1, le=10000, description="GetRecords takes 1..10000")
    idle_time_between_reads_ms: Int = Field(
        200, ge=200, description=("KCL 3 raises anything below 200 to 200, set 200 or more")
    )
    shutdown_grace_ms: Int = Field(
        90000,
        ge=0,
        le=115000,
        description=("keep it below the ECS stop timeout (at most 120 s on Fargate), e.g. 90000"),
    )
    fast_lease_timers: Bool = False

    @model_validator(mode="after")
    def _timestamp_with_at_timestamp(self) -> Self:
        if self.initial_position == "AT_TIMESTAMP" and self.initial_timestamp is None:
            raise problem("required with AT_TIMESTAMP; give epoch seconds", key="initial_timestamp")
        return self


class OpenSearchSection(Section):
    url: RequiredUrl = Field(
        "http://127.0.0.1:9200",
        description=(
            "set OPENSEARCH_URL to http(s)://host:port of the OpenSearch domain (a user and password go in"
            " OPENSEARCH_USERNAME / OPENSEARCH_PASSWORD)"
        ),
    )
    auth: Literal["none", "basic", "sigv4"] = "none"
    username: Text = ""
    password: Text = Field("", repr=False)
    verify_tls: Bool = True
    ca_certs: Annotated[Text, AfterValidator(_existing_file)] = ""
    index_prefix: IndexPrefix = Field(
        "facewatch",
        description=(
            'OpenSearch index names are lower case, without spaces or any of \\ / * ? " < > | , # : and do not'
            " start with _ - + or . (e.g. facewatch or fw-prod)"
        ),
    )
    replicas: Int = Field(1, ge=0, le=5, description="between 0 and 5 (0 on a one-node cluster)")
    bulk_max_bytes: Int = Field(5 * MIB, ge=KIB, le=MAX_BULK_BYTES, description="between 1 KiB and 10 MiB (10485760)")
    bulk_max_docs: Int = Field(2000, ge=1, le=50000, description="between 1 and 50000")
    # A flush larger than one bulk request sends its requests this many at a time (worker/sinks/opensearch.py).
    bulk_in_flight: Int = Field(2, ge=1, le=8, description="between 1 and 8 bulk requests at a time per shard")
    request_timeout_s: Seconds = 30.0
    retry_base_s: Seconds = 0.2
    retry_max_s: Seconds = 10.0

    @model_validator(mode="after")
    def _auth_has_what_it_needs(self) -> Self:
        if self.auth == "sigv4" and not self.url.startswith("https://"):
            raise problem("SigV4 needs the domain's https:// endpoint (Amazon OpenSearch Service)", key="url")
        if self.auth == "basic" and not (self.username and self.password):
            raise problem(
                "required with auth=basic; set OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD", key="username/password"
            )
        _check_retries(self.retry_base_s, self.retry_max_s)
        return self


class ProcessorSection(Section):
    max_record_bytes: Int = Field(1 * MIB, ge=KIB, le=10 * MIB, description="between 1 KiB and 10 MiB")
    flush_interval_s: Float = Field(
        1.0,
        ge=0,
        le=60,
        description=("between 0 (every batch) and 60 seconds; buffered writes older than this are flushed"),
    )
    flush_max_records: Int = Field(5000, ge=1, le=100000, description="between 1 and 100000")
    flush_max_bytes: Int = Field(
        8 * MIB,
        ge=64 * KIB,
        le=256 * MIB,
        description=("between 64 KiB and 256 MiB (it bounds memory while a sink is down)"),
    )
    # Flushes written on the flusher thread while the next batches are processed (worker/source/pipeline.py);
    # 0 writes each flush in the record loop, as before.
    flushes_in_flight: Int = Field(1, ge=0, le=4, description="between 0 (flush in the record loop) and 4")


class CheckpointSection(Section):
    every_s: Float = Field(5.0, ge=0, le=300, description="between 0 (after every flush) and 300 seconds")
    every_records: Int = Field(10000, ge=0, le=1_000_000, description="between 0 (off) and 1000000")
    attempts: Int = Field(8, ge=1, le=50, description="between 1 and 50")


class FirehoseSection(Section):
    enabled: Bool = True
    endpoint: EndpointUrl = Field(
        "",
        description=(
            "set FACEWATCH__FIREHOSE__ENDPOINT to http://host:port, or leave it empty for AWS_ENDPOINT_URL or AWS"
        ),
    )
    raw_stream: Text = "facewatch-raw"  # every parsed frame record, as newline-delimited JSON
    tracks_stream: Text = "facewatch-tracks"  # closed tracks
    archive_bucket: Text = "facewatch-archive"  # where the raw stream lands: `replay run --from-archive` reads it
    skip_redelivered: Bool = True  # records a previous owner archived (shard progress) are not sent again
    max_batch_records: Int = Field(500, ge=1, le=500, description="PutRecordBatch takes 1..500")
    max_batch_bytes: Int = Field(
        4 * MIB, ge=KIB, le=4 * MIB, description=("PutRecordBatch takes at most 4 MiB (4194304)")
    )
    retry_base_s: Seconds = 0.2
    retry_max_s: Seconds = 10.0

    @model_validator(mode="after")
    def _streams_named_when_enabled(self) -> Self:
        for key in ("raw_stream", "tracks_stream"):
            if self.enabled and not getattr(self, key):
                raise problem("is empty; name both delivery streams or set firehose.enabled: false", key=key)
        _check_retries(self.retry_base_s, self.retry_max_s)
        return self


class ReplaySection(Section):
    """Set by `facewatch replay run` for the workers of a side-by-side replay, never by hand: they keep
    only what belongs to the window (worker/source/window.py)."""

    window_from: OptionalFloat = Field(None, ge=0, description="epoch seconds: the replay window's start")
    window_until: OptionalFloat = Field(None, ge=0, description="epoch seconds: the replay window's end")
    cameras: Text = ""  # comma-separated camera ids: only these (empty: every camera)
    deliver_alerts: Bool = False  # send the window's alerts to the configured sinks too
    tail_s: Float = Field(600.0, ge=0, le=86400, description="between 0 and 86400 seconds")

    @model_validator(mode="after")
    def _window_in_order(self) -> Self:
        if (self.window_from is None) != (self.window_until is None):
            raise problem("set both window_from and window_until, or neither", key="window_from/window_until")
        if self.window_from is not None and self.window_until is not None and self.window_until <= self.window_from:
            raise problem(
                f"{self.window_until} <= {self.window_from}; the window must end after it starts", key="window_until"
            )
        return self


class QuarantineSection(Section):
    bucket: Name = Field("facewatch-quarantine", description="name the S3 bucket for dead letters")
    prefix: Text = "quarantine/"
    endpoint: EndpointUrl = Field(
        "",
        description=(
            "set FACEWATCH__QUARANTINE__ENDPOINT to http://host:port, or leave it empty for AWS_ENDPOINT_URL or AWS"
        ),
    )


DaysKept = Annotated[Int, Field(ge=1, le=3650, description="between 1 and 3650 days")]


class RetentionSection(Section):
    detections_days: DaysKept = 30
    tracks_days: DaysKept = 365
    alerts_days: DaysKept = 365
    quarantine_days: DaysKept = 30


class TrackerSection(Section):
    max_gap_s: Float = Field(6.0, ge=1, le=60, description="between 1 and 60 seconds (frames come ~1 s apart)")
    stitch_wait_s: Float = Field(3.0, ge=0, le=30, description="between 0 and 30 seconds")
    min_hits: Int = Field(3, ge=1, le=20, description="between 1 and 20 frames")
    reorder_window_s: Float = Field(
        5.0,
        ge=0,
        description=("between 0 and max_gap_s + stitch_wait_s (older frames could belong to tracks already closed)"),
    )
    strong_similarity: Float = Field(90.0, ge=80, le=100, description="between 80 and 100")
    path_memory_s: Float = Field(120.0, ge=0, le=600, description="between 0 (off) and 600 seconds of record time")

    @model_validator(mode="after")
    def _reorder_within_a_track_lifetime(self) -> Self:
        if self.reorder_window_s > self.max_gap_s + self.stitch_wait_s:
            raise problem(
                f"{self.reorder_window_s} is more than max_gap_s + stitch_wait_s"
                f" ({self.max_gap_s + self.stitch_wait_s})",
                key="reorder_window_s",
            )
        return self


class IdentitiesSection(Section):
    watchlist_prefix: Name = Field(
        "wl_",
        description=(
            "give the ExternalImageId prefix of watchlist faces, e.g. wl_ (empty, no face would be a watchlist"
            " face: the watchlist rule would be off without a word)"
        ),
    )


Degrees = Annotated[Float, Field(gt=0, le=180, description="degrees, more than 0 and at most 180")]


class AlertsSection(Section):
    """Rule switches, severities and per-camera cooldowns (seconds of record time; 0: none), the
    quality gate a face must pass before failing to match says it is a stranger, and delivery."""

    watchlist_enabled: Bool = True
    watchlist_severity: Severity = "critical"
    watchlist_cooldown_s: Cooldown = 300.0  # per camera and watchlisted person: leaving and coming back is one alert
    watchlist_min_similarity: Float = Field(90.0, ge=50, le=100, description="between 50 and 100")
    unknown_face_enabled: Bool = True
    unknown_face_severity: Severity = "high"
    unknown_face_cooldown_s: Cooldown = 0.0
    unknown_min_quality_frames: Int = Field(
        3, ge=1, description=("at least 1 (3 keeps one blurred frame from alerting)")
    )
    restricted_zone_enabled: Bool = True
    restricted_zone_severity: Severity = "high"
    restricted_zone_cooldown_s: Cooldown = 0.0
    after_hours_enabled: Bool = True
    after_hours_severity: Severity = "medium"
    after_hours_cooldown_s: Cooldown = 0.0
    min_face_width: Float = Field(0.04, ge=0, lt=1, description="a share of the frame width, 0 to 1")
    min_sharpness: Percent = 20.0
    min_brightness: Percent = 15.0
    max_yaw: Degrees = 40.0
    max_pitch: Degrees = 30.0
    min_face_confidence: Percent = 90.0
    sns_topic_arn: Text = Field(
        "",
        pattern=r"^(arn:.*)?$",
        description=(
            "expected an ARN, e.g. arn:aws:sns:eu-west-1:123456789012:facewatch-alerts (empty: no SNS delivery)"
        ),
    )
    sns_endpoint: EndpointUrl = Field(
        "",
        description=(
            "set FACEWATCH__ALERTS__SNS_ENDPOINT to http://host:port, or leave it empty for AWS_ENDPOINT_URL or AWS"
        ),
    )
    webhook_url: WebhookUrl = Field(
        "",
        description=(
            "set FACEWATCH__ALERTS__WEBHOOK_URL to the receiver's https:// URL, or leave it empty for no webhook"
        ),
    )
    webhook_secret: WebhookSecret = Field("", repr=False)  # required with webhook_url; from a secret store
    webhook_timeout_s: Seconds = 5.0
    delivery_attempts: Int = Field(3, ge=1, description="at least 1")  # per sink and flush
    retry_base_s: Seconds = 0.2
    retry_max_s: Seconds = 2.0
    # how often undelivered alerts are retried while the shard is quiet (0: at every call of the KCL)
    retry_every_s: Annotated[Float, Field(ge=0, description="0 (at every call) or more seconds")] = 2.0

    @property
    def webhook_secrets(self) -> tuple[str, ...]:
        """Each `whsec_...` secret: two while one is rotated (the webhook signs with each)."""
        return webhook_secrets(self.webhook_secret)

    @model_validator(mode="after")
    def _webhook_has_a_secret(self) -> Self:
        if self.webhook_url and not self.webhook_secret:
            raise problem(
                "is empty; a webhook needs the secret its receiver checks: set FACEWATCH__ALERTS__WEBHOOK_SECRET"
                f" (from a secret store) to a whsec_ secret, made with {MAKE_WEBHOOK_SECRET}",
                key="webhook_secret",
            )
        _check_retries(self.retry_base_s, self.retry_max_s)
        return self
