"""The one configuration object the worker is given."""

from __future__ import annotations

import os
import socket
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from worker.config.cameras import Zones
from worker.config.env_names import ENV_PREFIX
from worker.config.formats import EndpointUrl
from worker.config.sections import (
    AlertsSection,
    CheckpointSection,
    FirehoseSection,
    IdentitiesSection,
    KinesisSection,
    OpenSearchSection,
    ProcessorSection,
    QuarantineSection,
    ReplaySection,
    RetentionSection,
    Section,
    TrackerSection,
    WorkerSection,
)
from worker.core.alerts import AlertRules, QualityGate, RuleSettings
from worker.core.cameras import Camera
from worker.core.tracker import TrackerParams


class Config(BaseSettings):
    """Every setting, validated. Build it with `load_config()`, which reads the files and the environment;
    `Config(...)` itself takes only the values it is given (see settings_customise_sources)."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        validate_default=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    worker: WorkerSection = WorkerSection()
    kinesis: KinesisSection = KinesisSection()
    opensearch: OpenSearchSection = OpenSearchSection()
    processor: ProcessorSection = ProcessorSection()
    tracker: TrackerSection = TrackerSection()
    identities: IdentitiesSection = IdentitiesSection()
    checkpoint: CheckpointSection = CheckpointSection()
    firehose: FirehoseSection = FirehoseSection()
    quarantine: QuarantineSection = QuarantineSection()
    retention: RetentionSection = RetentionSection()
    replay: ReplaySection = ReplaySection()
    alerts: AlertsSection = AlertsSection()
    cameras: tuple[Camera, ...] = ()
    zones: Zones = ()  # restricted zone -> employees allowed in it
    aws_endpoint_url: EndpointUrl = Field(
        "", description=("set AWS_ENDPOINT_URL to http://host:port (the local stack's moto), or unset it for AWS")
    )
    warnings: tuple[str, ...] = Field((), repr=False)  # environment names that look like ours but set nothing

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        *_: Any,
        **__: Any,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values passed in: load_config() chooses the environment mapping and the files, so a
        test (or a second configuration in one process) never picks up os.environ behind its back."""
        return (init_settings,)

    @classmethod
    def sections(cls) -> dict[str, type[Section]]:
        """Section name -> its model, in declaration order."""
        return {
            name: field.annotation
            for name, field in cls.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, Section)
        }

    @classmethod
    def keys_by_section(cls) -> dict[str, tuple[str, ...]]:
        return {name: tuple(model.model_fields) for name, model in cls.sections().items()}

    @property
    def worker_id(self) -> str:
        return self.worker.id or f"{socket.gethostname()}-{os.getpid()}"

    def tracker_params(self) -> TrackerParams:
        t = self.tracker
        return TrackerParams(
            max_gap_s=t.max_gap_s,
            stitch_wait_s=t.stitch_wait_s,
            min_hits=t.min_hits,
            reorder_window_s=t.reorder_window_s,
            strong_similarity=t.strong_similarity,
            path_memory_s=t.path_memory_s,
        )

    def alert_rules(self) -> AlertRules:
        a = self.alerts
        return AlertRules(
            watchlist=RuleSettings(a.watchlist_enabled, a.watchlist_severity, a.watchlist_cooldown_s),
            unknown_face=RuleSettings(a.unknown_face_enabled, a.unknown_face_severity, a.unknown_face_cooldown_s),
            restricted_zone=RuleSettings(
                a.restricted_zone_enabled, a.restricted_zone_severity, a.restricted_zone_cooldown_s
            ),
            after_hours=RuleSettings(a.after_hours_enabled, a.after_hours_severity, a.after_hours_cooldown_s),
            watchlist_min_similarity=a.watchlist_min_similarity,
            unknown_min_quality_frames=a.unknown_min_quality_frames,
            gate=QualityGate(
                a.min_face_width, a.min_sharpness, a.min_brightness, a.max_yaw, a.max_pitch, a.min_face_confidence
            ),
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
