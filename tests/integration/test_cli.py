"""The `wirewatch` command line, end to end on a loopback site and a SQLite file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import NewsSite
from worker.cli import _state, app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, site: NewsSite) -> CliRunner:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/cli.db"\n[fetch]\nallowed_networks = ["127.0.0.1/32"]\n'
        f'[[feeds]]\nurl = "{site.feed_url}"\nname = "Test Wire"\n'
    )
    monkeypatch.setenv("WIREWATCH_CONFIG", str(cfg))
    monkeypatch.chdir(tmp_path)
    _state.clear()
    return CliRunner()


def invoke(runner: CliRunner, *args: str) -> str:
    _state.clear()
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ingest_once_then_export_in_every_format(cli: CliRunner, tmp_path: Path) -> None:
    invoke(cli, "ingest", "--once")
    data = json.loads(invoke(cli, "export", "--format", "json"))
    incidents = data["incidents"]
    assert {i["event_type"] for i in incidents} >= {"Air/drone strike"}
    strike = next(i for i in incidents if i["event_type"] == "Air/drone strike")
    assert strike["location"]["country"] == "UA" and strike["killed"]["best"] == 12
    report = strike["reports"][0]
    assert report["url"].endswith("/a/strike-village.html?utm_source=rss") and report["source"] == "Test Wire"
    assert report["outlet"] == "Reuters"  # the organisation: the dateline's agency, not the feed
    killed = next(e for e in report["evidence"] if e["field"] == "killed")
    assert "12" in report["sentences"][killed["sentence"]]
    # Each sentence once, however many fields were read from it.
    assert len(set(report["sentences"])) == len(report["sentences"]) < len(report["evidence"])

    invoke(cli, "export", "--format", "csv", "--output", str(tmp_path / "out.csv"))
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text(), newline="")))
    assert len(rows) == len(incidents) and rows[0]["report_urls"]
    row = next(r for r in rows if r["id"] == strike["id"])
    assert row["country_name"] == "Ukraine" and row["outlets"] == "Reuters" and row["evidence"]
    assert row["report_titles"] == " | ".join(r["title"] for r in strike["reports"])
    # On stdout too, the last row ends the file: no empty row after it.
    _state.clear()
    stdout = cli.invoke(app, ["export", "--format", "csv"], catch_exceptions=False).stdout_bytes.decode()
    assert stdout.endswith("\r\n") and not stdout.endswith("\r\n\n")  # (Result.stdout folds CRLF)
    assert len(list(csv.reader(io.StringIO(stdout, newline="")))) == len(incidents) + 1
    geo = json.loads(invoke(cli, "export", "--format", "geojson"))
    assert geo["type"] == "FeatureCollection" and len(geo["features"]) == len(incidents)
    assert geo["features"][0]["properties"]["id"] == incidents[0]["id"]
    assert all(not isinstance(v, dict | list) for f in geo["features"] for v in f["properties"].values())

    shown = json.loads(invoke(cli, "incidents", "show", strike["id"]))
    assert shown["history"][0]["action"] == "created"


def test_feeds_add_import_and_list(cli: CliRunner, tmp_path: Path) -> None:
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="A" xmlUrl="https://a.example/rss"/><outline text="B" xmlUrl="https://b.example/atom"/>'
        "</body></opml>"
    )
    plain = tmp_path / "feeds.txt"
    plain.write_text("# mine\nhttps://c.example/feed\n\nhttps://a.example/rss\n")
    invoke(cli, "feeds", "add", "https://d.example/rss")
    invoke(cli, "feeds", "import", str(opml))
    invoke(cli, "feeds", "import", str(plain))
    listing = invoke(cli, "feeds", "list")
    for host in ("a.example", "b.example", "c.example", "d.example"):
        assert host in listing


def test_extract_reads_stdin_and_jsonl(cli: CliRunner) -> None:
    text = (
        "KYIV (Reuters) - Russian missiles killed at least 7 people in the city of Kharkiv on Tuesday, "
        "the regional governor said."
    )
    out = cli.invoke(app, ["extract", "-", "--published-at", "2023-10-10T18:00:00+00:00"], input=text)
    assert out.exit_code == 0, out.output
    (inc,) = json.loads(out.stdout)["incidents"]
    assert inc["killed"]["best"] == 7 and inc["date"] == "2023-10-10"
    line = json.dumps(
        {"id": "x1", "text": text, "published_at": "2023-10-10T18:00:00+00:00", "source": "R", "title": "t"}
    )
    _state.clear()
    out = cli.invoke(app, ["extract", "-", "--jsonl"], input=line + "\n" + line.replace("x1", "x2") + "\n")
    assert out.exit_code == 0, out.output
    results = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["id"] for r in results] == ["x1", "x2"] and all(r["incidents"] for r in results)


def test_invalid_config_exits_with_the_key_named(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[fetch]\nmax_redirects = -3\n")
    monkeypatch.setenv("WIREWATCH_CONFIG", str(bad))
    _state.clear()
    result = cli.invoke(app, ["feeds", "list"])
    assert result.exit_code == 2 and "fetch.max_redirects" in result.output
