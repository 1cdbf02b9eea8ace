"""Settings: precedence, parsing of environment values, refusal of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexio_lite.config import Settings, describe, load_settings, render_toml
from nexio_lite.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_toml_declares_every_setting_with_its_help() -> None:
    """config.toml is the settings' documentation: it must be exactly what the code
    declares (regenerate with `python -c 'from nexio_lite.config import render_toml;
    print(render_toml(), end="")' > config.toml`)."""
    assert (ROOT / "config.toml").read_text() == render_toml()
    assert all(help_ for *_, help_ in describe())


def test_defaults_then_file_then_env_then_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[server]\nport = 9001\nhost = "0.0.0.0"\n[workers]\nconcurrency = 7\n')
    env = {"NEXIO_SERVER_PORT": "9002", "NEXIO_WORKERS_MAX_ATTEMPTS": "5"}
    s = load_settings(str(cfg), environ=env, overrides={"server": {"port": 9003}})
    assert (s.server.host, s.server.port) == ("0.0.0.0", 9003)
    assert (s.workers.concurrency, s.workers.max_attempts) == (7, 5)
    assert s.workers.lease_seconds == 30.0


def test_env_values_are_read_as_toml_or_as_plain_strings(tmp_path: Path) -> None:
    env = {
        "NEXIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "NEXIO_WEBHOOKS_RETRY_SCHEDULE_SECONDS": "[0, 1, 2]",
        "NEXIO_DATABASE_PATH": "/var/lib/nexio/nexio.db",
        "NEXIO_SERVER_PUBLIC_URL": '"https://x.example"',
    }
    s = load_settings(environ=env)
    assert s.webhooks.allow_private_targets is True
    assert s.webhooks.retry_schedule_seconds == [0.0, 1.0, 2.0]
    assert s.database.path == "/var/lib/nexio/nexio.db"
    assert s.server.public_url == "https://x.example"


def test_nexio_config_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server]\nport = 9100\n")
    assert load_settings(environ={"NEXIO_CONFIG": str(cfg)}).server.port == 9100


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[server]\nprot = 1\n", "server.prot"),
        ("[serverz]\nport = 1\n", "serverz"),
        ('[server]\nport = "x"\n', "server.port"),
        ("[server]\nport = 70000\n", "server.port"),
        ("[workers]\nconcurrency = -1\n", "workers.concurrency"),
        ("[workers]\nlease_seconds = true\n", "workers.lease_seconds"),
        ('[log]\nlevel = "loud"\n', "log.level"),
        ("[webhooks]\nretry_schedule_seconds = []\n", "webhooks.retry_schedule_seconds"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        load_settings(str(cfg), environ={})


def test_unknown_environment_variable_is_refused() -> None:
    with pytest.raises(ConfigError, match="NEXIO_SERVER_PROT"):
        load_settings(environ={"NEXIO_SERVER_PROT": "1"})
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_settings(environ={"NEXIO_SERVER_PORT": "eighty"})


def test_missing_explicit_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(str(tmp_path / "nope.toml"), environ={})


def test_missing_default_config_file_means_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a folder without config.toml (the one-file build run anywhere) the built-in
    defaults apply; only a file named by --config or NEXIO_CONFIG must exist."""
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}) == Settings()
    with pytest.raises(ConfigError, match="not found"):
        load_settings(environ={"NEXIO_CONFIG": str(tmp_path / "config.toml")})
