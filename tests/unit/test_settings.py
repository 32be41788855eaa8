"""Settings: file discovery, environment overrides, validation naming the key."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from worker.errors import ConfigError
from worker.settings import config_path, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_is_valid_and_matches_the_defaults() -> None:
    shipped = load_settings(REPO / "config.toml", environ={})
    defaults = load_settings(Path("/dev/null"), environ={})
    assert shipped == defaults  # config.toml documents every default, and changes none


def test_environment_overrides_any_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[database]\nurl = "sqlite:///a.db"\n[[feeds]]\nurl = "https://example.org/rss"\n')
    s = load_settings(
        cfg,
        environ={
            "WIREWATCH_DATABASE_URL": "postgresql://u@db/x",
            "WIREWATCH_BROKER_URL": "redis://:secret@r:6379/1",
            "WIREWATCH_FETCH_MAX_BYTES": "1000",
            "WIREWATCH_FETCH_ALLOWED_NETWORKS": '["127.0.0.1/32", "10.0.0.0/8"]',
            "WIREWATCH_FLOWER_PASSWORD": "not-a-setting",
        },
    )
    assert s.database.url == "postgresql://u@db/x"
    assert s.broker.url.endswith("@r:6379/1")
    assert s.fetch.max_bytes == 1000
    assert s.fetch.allowed_networks == (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))
    assert [f.url for f in s.feeds] == ["https://example.org/rss"]


def test_config_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WIREWATCH_CONFIG", raising=False)
    assert config_path() is None
    (tmp_path / "config.toml").write_text("")
    assert config_path() == Path("config.toml")
    monkeypatch.setenv("WIREWATCH_CONFIG", "/etc/ww.toml")
    assert config_path() == Path("/etc/ww.toml")
    assert config_path("x.toml") == Path("x.toml")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[fetch]\nmax_bytes = -1\n", "fetch.max_bytes"),
        ('[fetch]\nallowed_networks = ["not a network"]\n', "fetch.allowed_networks"),
        ('[database]\nurll = "x"\n', "database.urll"),
        ('[[feeds]]\nname = "no url"\n', "feeds.0.url"),
        ("[worker]\ntime_limit = 7200\n", "worker.time_limit"),
    ],
)
def test_invalid_config_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_settings(cfg, environ={})


def test_missing_or_broken_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[database\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(bad, environ={})


def test_default_paths_are_in_the_user_data_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    s = load_settings(Path("/dev/null"), environ={})
    assert s.database.url == f"sqlite:///{tmp_path}/data/wirewatch/wirewatch.db"
    assert s.broker.embedded_dir == str(tmp_path / "data" / "wirewatch" / "redis")
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")  # the XDG spec: relative values are invalid
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert load_settings(Path("/dev/null"), environ={}).database.url.endswith(
        "/home/.local/share/wirewatch/wirewatch.db"
    )


def test_relative_paths_in_a_file_are_relative_to_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "etc" / "config.toml"
    conf.parent.mkdir()
    conf.write_text('[database]\nurl = "sqlite:///var/w.db?timeout=5"\n[broker]\nembedded_dir = "var/redis"\n')
    monkeypatch.chdir(tmp_path)
    s = load_settings(Path("etc/config.toml"), environ={})
    assert s.database.url == f"sqlite:///{tmp_path}/etc/var/w.db?timeout=5"
    assert s.broker.embedded_dir == str(tmp_path / "etc" / "var" / "redis")
    conf.write_text('[database]\nurl = "sqlite:////abs/w.db"\n[broker]\nembedded_dir = "~/redis"\n')
    s = load_settings(conf, environ={"WIREWATCH_BROKER_URL": "redis://h:1/0"})
    assert s.database.url == "sqlite:////abs/w.db"
    assert s.broker.embedded_dir == str(Path.home() / "redis")
    env = load_settings(conf, environ={"WIREWATCH_DATABASE_URL": "sqlite:///here.db"})
    assert env.database.url == "sqlite:///here.db"  # from the environment: the working directory's


def test_errors_name_the_variable_or_the_file_key(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text("[fetch]\nmax_bytez = 3\n")
    with pytest.raises(ConfigError, match=r"fetch\.max_bytez \(in .*c\.toml\): unknown key"):
        load_settings(conf, environ={})
    with pytest.raises(ConfigError, match=r"fetch\.max_bytes \(from WIREWATCH_FETCH_MAX_BYTES\)") as err:
        load_settings(Path("/dev/null"), environ={"WIREWATCH_FETCH_MAX_BYTES": "abc"})
    assert "/dev/null" not in str(err.value)
    with pytest.raises(ConfigError, match="unsupported scheme, use one of sqlite, postgresql"):
        load_settings(Path("/dev/null"), environ={"WIREWATCH_DATABASE_URL": "mysql://u@h/db"})
