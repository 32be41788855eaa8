"""Issue 11 point 9 (and issue 12 point 3): every setting is validated at start, ranges, types
and schemes, with a one-line error naming the key, or the environment variable it came from.
The CLI turns that error into exit status 2 (``tests/integration/test_startup.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.errors import ConfigError
from worker.settings import load_settings


def _load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    load_settings(cfg, environ=environ or {})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('log_level = "LOUD"\n', "log_level"),
        ("[flower]\nport = 99999\n", "flower.port"),
        ("[flower]\nport = 0\n", "flower.port"),
        ('[flower]\naddress = "not an address!"\n', "flower.address"),
        ("[fetch]\ntimeout = -1\n", "fetch.timeout"),
        ("[fetch]\ntotal_timeout = 0\n", "fetch.total_timeout"),
        ("[fetch]\nallowed_networks = 5\n", "fetch.allowed_networks"),
        ("[fetch]\nmax_redirects = 1000\n", "fetch.max_redirects"),
        ('[[feeds]]\nurl = "not a url"\n', "feeds.0.url"),
        ('[[feeds]]\nurl = "file:///etc/passwd"\n', "feeds.0.url"),
        ('[[feeds]]\nurl = "ftp://example.org/rss"\n', "feeds.0.url"),
        ('[[feeds]]\nurl = "https://example.org/rss"\ninterval = 1\n', "feeds.0.interval"),
        ('[database]\nurl = "mysql://u@h/db"\n', "database.url"),
        ('[database]\nurl = "not a url"\n', "database.url"),
        ('[broker]\nurl = "amqp://guest@h//"\n', "broker.url"),
        ("[broker]\nvisibility_timeout = 0\n", "broker.visibility_timeout"),
        ('[nlp]\nmodel = ""\n', "nlp.model"),
        ("[worker]\nio_concurrency = 100000\n", "worker.io_concurrency"),
        ('[worker]\nmax_retries = "many"\n', "worker.max_retries"),
        ("[scheduler]\ntick_seconds = 0\n", "scheduler.tick_seconds"),
    ],
)
def test_a_setting_that_cannot_work_is_refused_with_one_line_naming_it(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert key in message
    assert "\n" not in message
    assert "Traceback" not in message


def test_accepted_spellings_still_load(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'log_level = "debug"\n[database]\nurl = "postgresql+psycopg://u@h:5432/db"\n'
        '[broker]\nurl = "rediss://:pw@h:6380/0"\n[fetch]\nallowed_networks = "10.0.0.0/8"\n'
        '[flower]\naddress = "0.0.0.0"\nport = 65535\n'
        '[[feeds]]\nurl = "https://example.org/rss"\n[[feeds]]\nurl = "http://[::1]:8080/feed"\n'
    )
    s = load_settings(cfg, environ={})
    assert s.log_level == "DEBUG"
    assert s.flower.port == 65535
    for url in ("sqlite:///var/w.db", "sqlite:////abs/w.db", "postgres://u@h/db", "postgresql://u@h/db"):
        assert load_settings(cfg, environ={"WIREWATCH_DATABASE_URL": url}).database.url == url
    for url in ("redis://h:6379/1", "redis+socket:///tmp/r.sock", "unix:///tmp/r.sock"):
        assert load_settings(cfg, environ={"WIREWATCH_BROKER_URL": url}).broker.url == url


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WIREWATCH_FETCH_MAX_BYTES", "-5"),
        ("WIREWATCH_FETCH_MAX_BYTES", "lots"),
        ("WIREWATCH_FLOWER_PORT", "99999"),
        ("WIREWATCH_LOG_LEVEL", "LOUD"),
        ("WIREWATCH_DATABASE_URL", "mysql://u@h/db"),
    ],
)
def test_a_bad_environment_value_names_the_environment_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "", {name: value})
    message = str(info.value)
    assert name in message
    assert "c.toml" not in message  # the file is not to blame


def test_a_bad_file_value_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fetch\.max_bytes \(in .*c\.toml\)"):
        _load(tmp_path, "[fetch]\nmax_bytes = -5\n")


def test_an_unknown_environment_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WIREWATCH_FETCH_MAX_BYTE"):
        _load(tmp_path, "", {"WIREWATCH_FETCH_MAX_BYTE": "5"})
