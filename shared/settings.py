"""Settings from environment variables, with the embedded defaults used by `make run`.

`Settings` holds what every process shares (where the database, broker and Temporal are, who
this service is, the token secret, the relay's pace). Each service's own knobs live beside it in
`services/<name>/settings.py`, a subclass that names the environment variable of each knob in
`ENV`. A default is written once, as the dataclass field's default: `from_env` only overrides a
field whose variable is set, parsing it by the field's type. Every duration is configurable so
that tests can shrink days into seconds.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import tempfile
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Self
from urllib.parse import unquote, urlsplit

DEV_JWT_SECRET = "nuanliu-dev-secret-not-for-production-use"
# The only environment names: anything else (`Production`, `prod`) is a typo that must not
# silently mean development.
ENVIRONMENTS = ("development", "production")
SERVICES = ("registration", "transfer", "tasks", "notify")
DEFAULT_PORTS = {"console": 5000, "registration": 5001, "transfer": 5002, "tasks": 5003, "notify": 5004}
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEARCH_PATH_MODES = ("options", "role")
# Writes per caller and app unless NUANLIU_WRITE_RATE_LIMIT says otherwise.
WRITE_RATE_LIMITS = {"development": "100000/hour", "production": "60/minute;1000/hour"}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the process must not start."""


def parse_duration(text: str) -> timedelta:
    """Parse `3d`, `12h`, `30m`, `5s`, `250ms` or a bare number of seconds."""
    match = _DURATION.match(text)
    if not match:
        raise SettingsError(f"not a duration: {text!r} (use e.g. 3d, 12h, 30m, 5s)")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


# How a variable's text becomes a field's value, by the field's declared type.
_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "timedelta": parse_duration,
    "Path": Path,
    "bool": lambda text: text.strip().lower() in ("1", "true", "yes", "on"),
}


def parse_bool(text: str) -> bool:
    """`true`/`false` (also 1/0, yes/no, on/off); anything else is refused, not read as false."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r} (use true or false)")


@dataclass(frozen=True)
class Settings:
    service: str
    environment: str = "development"
    database_url: str = ""
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/%2F"
    broker_prefix: str = ""
    jwt_secret: str = field(default=DEV_JWT_SECRET, repr=False)
    # NUANLIU_JWT_SECRET was in the environment (production refuses it, whatever its value).
    jwt_secret_set: bool = False
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    # mTLS to Temporal (PEM file paths, and the name its certificate carries); unset: plaintext.
    temporal_tls_cert: str = ""
    temporal_tls_key: str = ""
    temporal_tls_ca: str = ""
    temporal_tls_server_name: str = ""
    var_dir: Path = PROJECT_ROOT / "var"
    service_urls: Mapping[str, str] = field(default_factory=dict)
    # Every service with an outbox runs a relay at this pace.
    relay_batch_size: int = 200
    relay_poll_interval: float = 0.2
    # After a batch smaller than `relay_batch_size`, the relay waits this long (seconds) before
    # claiming again, so that under load each claim, publish and mark carries many events.
    relay_batch_wait: float = 0.02
    # Connections per process to the service's database (PostgreSQL): a pool and its overflow.
    db_pool_size: int = 5
    db_max_overflow: int = 10
    # How a PostgreSQL connection finds the service's schema: "options" sends a libpq search_path
    # startup option (the shared development URL, one superuser); "role" sends none and relies on
    # the login role's own `ALTER ROLE … SET search_path` (per-service roles; PgBouncer refuses
    # the option).
    db_search_path: str = "options"
    # Retention (shared.retention): how long sent outbox rows and idempotency keys are kept, and
    # how often and in what batches each worker's Schedule prunes them.
    retention_sent_outbox: timedelta = timedelta(days=7)
    retention_idempotency: timedelta = timedelta(days=7)
    retention_batch_size: int = 5000
    retention_every: timedelta = timedelta(hours=1)
    # Per-request metrics and the JSON access line (off only to measure what they cost).
    request_telemetry: bool = True
    # Where rate limits count: memory per process in development; a shared store (e.g.
    # redis://host:6379) in production, where several workers and pods must share the counts.
    ratelimit_storage: str = ""
    # Writes (POST, PUT, PATCH, DELETE) per caller and app (shared.web.limits), as limit strings
    # ("60/minute;1000/hour"). Unset: WRITE_RATE_LIMITS of the environment (development's is
    # high enough for the tests' and benchmarks' load; production's is a person's pace).
    write_rate_limit: str = ""
    # /docs and /openapi.json on the public port: unset means on in development, off in production.
    public_docs: bool | None = None

    # The environment variable of each field a plain value can set (subclasses add their own).
    ENV: ClassVar[Mapping[str, str]] = {
        "environment": "NUANLIU_ENV",
        "amqp_url": "AMQP_URL",
        "broker_prefix": "NUANLIU_BROKER_PREFIX",
        "jwt_secret": "NUANLIU_JWT_SECRET",
        "temporal_address": "TEMPORAL_ADDRESS",
        "temporal_namespace": "TEMPORAL_NAMESPACE",
        "temporal_tls_cert": "TEMPORAL_TLS_CERT",
        "temporal_tls_key": "TEMPORAL_TLS_KEY",
        "temporal_tls_ca": "TEMPORAL_TLS_CA",
        "temporal_tls_server_name": "TEMPORAL_TLS_SERVER_NAME",
        "relay_batch_size": "NUANLIU_RELAY_BATCH_SIZE",
        "relay_poll_interval": "NUANLIU_RELAY_POLL_INTERVAL",
        "relay_batch_wait": "NUANLIU_RELAY_BATCH_WAIT",
        "db_pool_size": "NUANLIU_DB_POOL_SIZE",
        "db_max_overflow": "NUANLIU_DB_MAX_OVERFLOW",
        "db_search_path": "NUANLIU_DB_SEARCH_PATH",
        "retention_sent_outbox": "NUANLIU_RETENTION_SENT_OUTBOX",
        "retention_idempotency": "NUANLIU_RETENTION_IDEMPOTENCY",
        "retention_batch_size": "NUANLIU_RETENTION_BATCH_SIZE",
        "retention_every": "NUANLIU_RETENTION_EVERY",
        "request_telemetry": "NUANLIU_REQUEST_TELEMETRY",
        "ratelimit_storage": "NUANLIU_RATELIMIT_STORAGE",
        "write_rate_limit": "NUANLIU_WRITE_RATE_LIMIT",
    }
    # The service a subclass configures (so `TransferSettings.from_env()` needs no name).
    SERVICE: ClassVar[str] = ""

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def serves_docs(self) -> bool:
        return (not self.is_production) if self.public_docs is None else self.public_docs

    @property
    def effective_write_rate_limit(self) -> str:
        return self.write_rate_limit or WRITE_RATE_LIMITS[self.environment]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def url_of(self, service: str) -> str:
        return self.service_urls.get(service) or f"http://127.0.0.1:{DEFAULT_PORTS[service]}"

    def with_overrides(self, **changes: Any) -> Self:
        return replace(self, **changes)

    @classmethod
    def from_env(
        cls, service: str | None = None, environ: Mapping[str, str] | None = None, *, check: bool = True
    ) -> Self:
        """The settings from the environment, checked (`check=False` only for a process that
        uses nothing but the database, the migrate Job: it holds no other secret to check)."""
        env = os.environ if environ is None else environ
        name = service or cls.SERVICE
        if not name:
            raise SettingsError(f"{cls.__name__}.from_env needs the service's name")
        var_dir = Path(env.get("NUANLIU_VAR_DIR", str(PROJECT_ROOT / "var")))
        values: dict[str, Any] = {
            "service": name,
            "var_dir": var_dir,
            "database_url": database_url_for(name, env, var_dir),
            "service_urls": {
                other: env[f"NUANLIU_{other.upper()}_URL"]
                for other in (*SERVICES, "console")
                if env.get(f"NUANLIU_{other.upper()}_URL")
            },
            **_plain_values(cls, env),
            **cls.values_from_env(env, var_dir),
        }
        for part in ("cert", "key", "ca"):
            # The Kubernetes shape names the mounted files TEMPORAL_TLS_<PART>_FILE: take either.
            variable = f"TEMPORAL_TLS_{part.upper()}"
            if variable not in env and f"{variable}_FILE" in env:
                values[f"temporal_tls_{part}"] = env[f"{variable}_FILE"]
        values["jwt_secret_set"] = "NUANLIU_JWT_SECRET" in env
        if "NUANLIU_PUBLIC_DOCS" in env:
            try:
                values["public_docs"] = parse_bool(env["NUANLIU_PUBLIC_DOCS"])
            except ValueError as error:
                raise SettingsError(f"NUANLIU_PUBLIC_DOCS: {error}") from error
        settings = cls(**values)
        if check:
            settings.check()
        elif settings.db_search_path not in SEARCH_PATH_MODES:
            raise SettingsError(f"NUANLIU_DB_SEARCH_PATH must be one of {', '.join(SEARCH_PATH_MODES)}")
        return settings

    @classmethod
    def values_from_env(cls, env: Mapping[str, str], var_dir: Path) -> dict[str, Any]:
        """Fields a subclass builds from several variables, or relative to `var_dir`."""
        return {}

    def check(self) -> None:
        """Refuse to start on a value that cannot work, and in production on any development
        default: all of them named in one message, so one restart fixes them all."""
        if self.environment not in ENVIRONMENTS:
            raise SettingsError(
                f"NUANLIU_ENV must be exactly 'development' or 'production', not {self.environment!r}"
            )
        if not self.is_production and len(self.jwt_secret.encode()) < 32:
            raise SettingsError("NUANLIU_JWT_SECRET must be at least 32 bytes")
        if self.db_search_path not in SEARCH_PATH_MODES:
            raise SettingsError(f"NUANLIU_DB_SEARCH_PATH must be one of {', '.join(SEARCH_PATH_MODES)}")
        if self.write_rate_limit:
            from limits import parse_many

            try:
                parse_many(self.write_rate_limit)
            except ValueError as error:
                raise SettingsError(
                    f"NUANLIU_WRITE_RATE_LIMIT: {error} (use e.g. 60/minute;1000/hour)"
                ) from error
        if self.db_pool_size < 1 or self.db_max_overflow < 0:
            raise SettingsError("NUANLIU_DB_POOL_SIZE must be at least 1, NUANLIU_DB_MAX_OVERFLOW at least 0")
        if self.is_production:
            found = self.development_defaults()
            if found:
                listed = "".join(f"\n  - {item}" for item in found)
                raise SettingsError(f"production refuses these development defaults:{listed}")

    def development_defaults(self) -> list[str]:
        """What this process would run on that is only fit for development (a subclass adds its
        own knobs). The console and the launcher use no database or broker of their own."""
        found = []
        if self.jwt_secret_set or self.jwt_secret != DEV_JWT_SECRET:
            # The shared HS256 secret lets whoever holds it mint any token, an admin's included:
            # production tokens are RS256 from the token service, and nothing there reads it.
            found.append(
                "NUANLIU_JWT_SECRET is set: the shared HS256 secret is for development only; unset it"
            )
        if self.service in SERVICES:
            if _amqp_user(self.amqp_url) == "guest":
                found.append("AMQP_URL uses the broker's default guest credentials")
            if self.is_sqlite:
                found.append(f"{self.service.upper()}_DATABASE_URL / DATABASE_URL unset: SQLite under var/")
            if not self.ratelimit_storage or self.ratelimit_storage.startswith("memory"):
                found.append("NUANLIU_RATELIMIT_STORAGE unset: rate limits counted per process")
        return found


def development_secret(var_dir: Path, name: str) -> str:
    """A development secret at `var/<name>` (0600), made on first use. Written to a private
    temporary file and linked into place, so that processes starting together all read the same
    one. Production never calls this: it configures its secrets."""
    path = var_dir / name
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(dir=var_dir, prefix=f".{name}-")  # 0600
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_urlsafe(48))
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


def _amqp_user(url: str) -> str:
    # amqp://user:pass@host/vhost; without userinfo the client logs in as guest.
    return unquote(urlsplit(url).username or "guest")


def _plain_values(cls: type[Settings], env: Mapping[str, str]) -> dict[str, Any]:
    """The fields named in `cls.ENV` whose variable is set, parsed by their declared type."""
    types = typing.get_type_hints(cls)
    fields = {item.name for item in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for name, variable in cls.ENV.items():
        if name not in fields:
            raise SettingsError(f"{cls.__name__}.ENV names {name!r}, which is not a field")
        if variable not in env:
            continue
        parse = _PARSERS[getattr(types[name], "__name__", str(types[name]))]
        try:
            values[name] = parse(env[variable])
        except ValueError as error:
            raise SettingsError(f"{variable}: {error}") from error
    return values


def database_url_for(service: str, env: Mapping[str, str], var_dir: Path) -> str:
    """`<SERVICE>_DATABASE_URL`, else the shared `DATABASE_URL` (one schema per service), else SQLite."""
    specific = env.get(f"{service.upper()}_DATABASE_URL")
    if specific:
        return specific
    shared_url = env.get("DATABASE_URL")
    if shared_url:
        return normalise_postgres_url(shared_url)
    return f"sqlite:///{var_dir / f'{service}.db'}"


def normalise_postgres_url(url: str) -> str:
    """Accept `postgres://` and `postgresql://` and select the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
