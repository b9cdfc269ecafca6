"""Peel's one settings class: every knob is a ``PEEL_`` environment variable."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "peel-development-secret-do-not-use-in-production"  # noqa: S105


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class EventBusKind(StrEnum):
    memory = "memory"
    nats = "nats"


class Settings(BaseSettings):
    """Everything Peel can be configured with; nothing else reads ``os.environ``."""

    model_config = SettingsConfigDict(env_prefix="PEEL_", env_file=None, extra="ignore")

    env: Environment = Environment.development
    data_dir: Path = Field(default=Path("var"), description="Where SQLite, blobs and Parquet live")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; defaults to a SQLite file in the data folder"
    )
    secret_key: str = DEVELOPMENT_SECRET
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    public_url: str | None = Field(
        default=None, description="External URL; https:// marks cookies Secure and sends HSTS"
    )
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    session_hours: float = Field(default=8.0, gt=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)
    api_token_days: int = Field(default=90, ge=1)
    event_bus: EventBusKind = EventBusKind.memory
    nats_url: str = "nats://127.0.0.1:4222"
    job_workers: int = Field(default=2, ge=1)
    upload_max_bytes: int = Field(default=10 * 1024**3, ge=1, description="Resumable upload limit")
    upload_expiry_hours: float = Field(default=24, gt=0)
    form_upload_max_bytes: int = Field(
        default=50 * 1024**2, ge=1024, description="Limit for a file sent with an ordinary form"
    )
    clamd_address: str | None = Field(
        default=None, description="ClamAV daemon for virus scanning: host:port or socket path"
    )
    smtp_host: str | None = None
    smtp_port: int = 25
    mail_from: str = "Peel <no-reply@peel.invalid>"
    reporting_default_force: str | None = Field(
        default=None, description="Organisation code that receives reports no boundary places"
    )
    postcode_csv: Path | None = Field(default=None, description="postcode,lat,lon for geocoding")
    boundary_shapefile: Path | None = Field(default=None, description="LSOA polygons (BNG)")
    force_lookup_csv: Path | None = Field(default=None, description="LSOA to police force CSV")
    map_tile_url: str | None = Field(
        default=None, description="XYZ tile URL for maps, e.g. a force's own tile server"
    )
    map_attribution: str = ""
    report_rate_per_hour: int = Field(default=20, ge=1)
    track_rate_per_hour: int = Field(default=30, ge=1)
    upload_rate_per_hour: int = Field(default=200, ge=1, description="Anonymous uploads started")
    evidence_signing_key: Path | None = Field(
        default=None,
        description="Ed25519 key (PEM) that signs custody tree heads; made on first use",
    )
    evidence_share_link_days: int = Field(default=14, ge=1, le=365)
    evidence_retention_every_hours: float = Field(
        default=24, ge=0, description="How often the retention job runs in the server; 0: never"
    )
    evidence_bwv_dock: Path | None = Field(
        default=None, description="Folder a body-worn video dock writes clips and sidecars to"
    )
    anpr_retention_days: int = Field(
        default=365, ge=1, description="Days of ANPR reads kept; older day partitions are dropped"
    )
    anpr_open_search_days: int = Field(
        default=90, ge=1, description="ANPR searches reaching further back need a supervisor"
    )
    anpr_max_speed_kmh: float = Field(
        default=180, gt=0, description="Faster than this between two reads suggests a clone"
    )
    anpr_flush_seconds: float = Field(
        default=5, gt=0, description="How often live ANPR reads are written to Parquet"
    )
    anpr_live_subject: str = Field(
        default="peel.anpr.reads", description="Event-bus subject camera feeds publish reads to"
    )
    anpr_demo_feed_per_second: float = Field(
        default=0, ge=0, description="Replay simulated demo reads live at this rate; 0: off"
    )
    fusion_match_threshold: float = Field(
        default=0.9,
        gt=0,
        lt=1,
        description="Person records at least this likely to match are joined into one entity",
    )
    fusion_keep_threshold: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="Scored pairs at least this likely are kept as link evidence for review",
    )
    fusion_max_upload_mb: int = Field(
        default=200, ge=1, description="Largest source file accepted for a fusion import"
    )
    fusion_engine: str = Field(
        default="duckdb", description="Linkage engine: 'duckdb' (one machine) or 'spark'"
    )
    log_format: str | None = Field(default=None, description="'json' or 'console'")
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        weak = self.secret_key == DEVELOPMENT_SECRET or len(self.secret_key) < 32
        if self.env == Environment.production and weak:
            raise ValueError(
                "PEEL_SECRET_KEY must be set to a random value of at least 32 characters "
                "when PEEL_ENV=production (for example: python -c "
                "'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'peel.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def parquet_dir(self) -> Path:
        return self.data_dir / "parquet"

    @property
    def anpr_dir(self) -> Path:
        return self.data_dir / "anpr"

    @property
    def fusion_dir(self) -> Path:
        return self.data_dir / "fusion"

    @property
    def served_over_tls(self) -> bool:
        return bool(self.public_url and self.public_url.startswith("https://"))

    @property
    def is_production(self) -> bool:
        return self.env == Environment.production

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "json" if self.is_production else "console"

    def ensure_data_dir(self) -> None:
        for folder in (self.data_dir, self.blob_dir, self.parquet_dir):
            folder.mkdir(parents=True, exist_ok=True)


@lru_cache
def get_settings() -> Settings:
    return Settings()
