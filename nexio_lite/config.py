"""Settings: one attrs tree, every key declared once with its default and a one-line help.

Precedence, lowest first: the defaults below < the TOML file (`config.toml`, or
`--config PATH` / `NEXIO_CONFIG`) < `NEXIO_<SECTION>_<KEY>` environment variables (each
value read as a TOML value, or as a plain string where it does not parse as one) <
command-line flags. Unknown keys and bad values are refused with a message naming the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from nexio_lite.errors import ConfigError

DEFAULT_CONFIG_FILE = "config.toml"


def setting(default: Any, help: str, check: Callable[[Any], str | None] | None = None) -> Any:
    """Declare one setting: its default, its one-line help, and an optional check that
    returns a reason when a value is refused."""
    if isinstance(default, list):
        return attrs.field(factory=lambda: list(default), metadata={"help": help, "check": check})
    return attrs.field(default=default, metadata={"help": help, "check": check})


def _at_least(lo: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= lo else f"must be >= {lo}"


def _between(lo: float, hi: float) -> Callable[[Any], str | None]:
    return lambda v: None if lo <= v <= hi else f"must be between {lo} and {hi}"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of: {', '.join(choices)}"


def _schedule(v: list[float]) -> str | None:
    if not v:
        return "must hold at least one delay"
    if any(d < 0 for d in v):
        return "delays must be >= 0"
    return None


@attrs.define
class ServerSettings:
    host: str = setting("127.0.0.1", "address the HTTP server binds to")
    port: int = setting(8080, "TCP port of the HTTP server", _between(0, 65535))
    public_url: str = setting(
        "", "base URL clients use to reach this server (audit links); empty: http://host:port"
    )
    max_body_bytes: int = setting(262144, "largest request body accepted (413 above)", _at_least(1))
    role: str = setting(
        "all", "all (API and workers), api (the HTTP API only) or worker (jobs, webhooks, "
        "maintenance)",
        _one_of("all", "api", "worker"),
    )  # fmt: skip
    shutdown_grace_seconds: float = setting(
        10.0, "on SIGTERM, how long in-flight jobs may run before they are released", _at_least(0)
    )
    body_timeout_seconds: float = setting(
        10.0, "a request body that has not fully arrived in this time gets 408", _at_least(0.01)
    )


def _database_url(v: str) -> str | None:
    if v and not v.startswith(("postgresql://", "postgres://")):
        return "must be empty (SQLite at database.path) or a postgresql:// URL"
    return None


@attrs.define
class DatabaseSettings:
    url: str = setting(
        "", "PostgreSQL database (postgresql://user@host:5432/name); empty: SQLite at path",
        _database_url,
    )  # fmt: skip
    path: str = setting("nexio.db", "SQLite database file (created and migrated on first start)")
    busy_timeout_ms: int = setting(5000, "how long SQLite waits on a locked database", _at_least(0))


@attrs.define
class WorkerSettings:
    concurrency: int = setting(
        4, "jobs processed at once; 0 runs the API alone (jobs stay queued)", _at_least(0)
    )
    processes: int = setting(
        2, "scoring processes (0: score in the server process's own thread)", _at_least(0)
    )
    lease_seconds: float = setting(
        30.0, "a claimed job is requeued if its lease is not renewed in this time", _at_least(0.1)
    )
    max_attempts: int = setting(
        3, "claims before a job fails with attempts_exhausted", _at_least(1)
    )
    reap_interval_seconds: float = setting(
        5.0, "how often expired leases are looked for", _at_least(0.05)
    )
    poll_interval_seconds: float = setting(
        1.0, "how often idle workers look for work queued by other processes", _at_least(0.01)
    )
    job_timeout_seconds: float = setting(
        60.0, "a job running longer is stopped, its scoring process replaced, and retried",
        _at_least(0.1),
    )  # fmt: skip


@attrs.define
class WebhookSettings:
    concurrency: int = setting(16, "webhook requests in flight at once", _at_least(1))
    timeout_seconds: float = setting(10.0, "per-request timeout of a webhook POST", _at_least(0.01))
    retry_schedule_seconds: list[float] = setting(
        [0, 5, 300, 1800, 7200, 18000, 36000, 36000],
        "delay before each attempt (entry 0 from completion); its length is the attempt count",
        _schedule,
    )
    allow_private_targets: bool = setting(
        False, "allow webhook URLs on loopback, private, link-local or reserved addresses"
    )
    require_https: bool = setting(False, "refuse plain-http webhook URLs")
    rotation_overlap_hours: float = setting(
        24.0, "after a secret rotation, how long the old secret also signs", _at_least(0)
    )


@attrs.define
class RetentionSettings:
    days: int = setting(
        30, "decay_sweep deletes finished evaluation jobs older than this", _at_least(0)
    )
    sweep_interval_hours: float = setting(
        24.0, "how often the server queues a decay_sweep per organization (0: never)",
        _at_least(0),
    )  # fmt: skip
    batch_size: int = setting(
        500, "jobs deleted per write transaction by a sweep (keeps each write short)",
        _at_least(1),
    )  # fmt: skip
    metrics_window_hours: float = setting(
        24.0, "the window a metrics job reports on", _at_least(0.001)
    )


@attrs.define
class LimitSettings:
    requests_per_second_per_key: float = setting(
        0.0, "requests per second each API key may make (429 above; 0: no limit)", _at_least(0)
    )
    burst: int = setting(
        0, "requests a key may make at once above its rate (0: twice the rate)", _at_least(0)
    )


@attrs.define
class LogSettings:
    level: str = setting(
        "info", "lowest level logged", _one_of("debug", "info", "warning", "error")
    )
    format: str = setting(
        "auto", "json, console, or auto (console on a terminal, JSON otherwise)",
        _one_of("auto", "json", "console"),
    )  # fmt: skip


@attrs.define
class MetricsSettings:
    enabled: bool = setting(
        True, "serve GET /metrics (Prometheus text format, no auth) and record; false: 404"
    )


@attrs.define
class UiSettings:
    session_hours: float = setting(
        12.0, "a web console session (/ui/) ends this long after its sign-in", _at_least(0.01)
    )
    secret: str = setting(
        "", "HMAC key signing the console's cookies (empty: a random one kept in the database)"
    )
    trust_forwarded_proto: bool = setting(
        False, "honour X-Forwarded-Proto: https from a proxy (the console's cookies get Secure)"
    )


@attrs.define
class Settings:
    server: ServerSettings = attrs.field(factory=ServerSettings)
    database: DatabaseSettings = attrs.field(factory=DatabaseSettings)
    workers: WorkerSettings = attrs.field(factory=WorkerSettings)
    webhooks: WebhookSettings = attrs.field(factory=WebhookSettings)
    retention: RetentionSettings = attrs.field(factory=RetentionSettings)
    limits: LimitSettings = attrs.field(factory=LimitSettings)
    log: LogSettings = attrs.field(factory=LogSettings)
    metrics: MetricsSettings = attrs.field(factory=MetricsSettings)
    ui: UiSettings = attrs.field(factory=UiSettings)

    @property
    def base_url(self) -> str:
        if self.server.public_url:
            return self.server.public_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"


def sections() -> dict[str, type]:
    """Section name -> its attrs class, in declaration order."""
    return {f.name: f.default.factory for f in attrs.fields(Settings)}  # type: ignore[union-attr]


def describe() -> list[tuple[str, str, Any, str]]:
    """Every setting as (section, key, default, help): the source of the docs and of
    `config.toml`."""
    rows = []
    for name, cls in sections().items():
        for f in attrs.fields(cls):
            default = f.default.factory() if isinstance(f.default, attrs.Factory) else f.default  # type: ignore[arg-type]  # attrs.Factory is a class at run time
            rows.append((name, f.name, default, f.metadata["help"]))
    return rows


def _coerce(key: str, value: Any, field: attrs.Attribute) -> Any:
    """Check one value against its declared type and rule; return the value to keep."""
    kind = field.type
    ok: bool
    if kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind == "list[float]":
        ok = isinstance(value, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        )
        if ok:
            value = [float(v) for v in value]
    else:  # pragma: no cover - a declaration error, caught by the settings tests
        raise TypeError(f"unsupported setting type {kind!r} for {key}")
    if not ok:
        raise ConfigError(f"{key}: expected {kind}, got {value!r}")
    check = field.metadata.get("check")
    reason = check(value) if check else None
    if reason:
        raise ConfigError(f"{key}: {reason} (got {value!r})")
    return value


def _apply(settings: Settings, data: Mapping[str, Any], source: str) -> None:
    known = sections()
    for section, values in data.items():
        if section not in known:
            raise ConfigError(f"{source}: unknown section [{section}]")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: [{section}] must be a table")
        fields = {f.name: f for f in attrs.fields(known[section])}
        target = getattr(settings, section)
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(f"{source}: unknown key {section}.{key}")
            setattr(target, key, _coerce(f"{section}.{key}", value, fields[key]))


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def env_overrides(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`NEXIO_<SECTION>_<KEY>` variables as a nested dict; unknown names are refused."""
    known = sections()
    out: dict[str, dict[str, Any]] = {}
    for name, raw in environ.items():
        if not name.startswith("NEXIO_") or name == "NEXIO_CONFIG":
            continue
        rest = name[len("NEXIO_") :].lower()
        section, _, key = rest.partition("_")
        if section not in known or key not in attrs.fields_dict(known[section]):
            raise ConfigError(f"unknown environment variable {name}")
        out.setdefault(section, {})[key] = _parse_env_value(raw)
    return out


def load_settings(
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Build the settings in precedence order. `config_path` None means `NEXIO_CONFIG`, else
    `config.toml` in the working directory if it exists (an explicit path must exist)."""
    environ = os.environ if environ is None else environ
    settings = Settings()
    explicit = config_path or environ.get("NEXIO_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG_FILE)
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        _apply(settings, data, str(path))
    elif explicit:
        raise ConfigError(f"config file not found: {path}")
    _apply(settings, env_overrides(environ), "environment")
    if overrides:
        _apply(settings, overrides, "command line")
    return settings


def render_toml() -> str:
    """A complete `config.toml` with every setting at its default and a comment each."""
    lines = ["# nexio_lite configuration: every setting, at its default, with what it does.",
             "# Override any key with NEXIO_<SECTION>_<KEY>, e.g. NEXIO_SERVER_PORT=9000.",
             ""]  # fmt: skip
    current = None
    for section, key, default, help in describe():
        if section != current:
            if current is not None:
                lines.append("")
            lines.append(f"[{section}]")
            current = section
        lines.append(f"# {help}")
        lines.append(f"{key} = {_toml_value(default)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return repr(value)
