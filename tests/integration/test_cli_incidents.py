"""`wirewatch incidents show | merge | unmerge | split | relink` on a SQLite file."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import make_settings
from tests.integration.test_linking import add, incident
from tests.integration.test_linking_events import KHOLODNA, VILLAGE, story
from worker.cli import _state, app
from worker.resources import Resources
from worker.store import linking
from worker.store.db import session_scope, upgrade

DAY = date(2024, 3, 14)


@pytest.fixture
def two_incidents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path}/cli.db"
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{url}"\n')
    monkeypatch.setenv("WIREWATCH_CONFIG", str(tmp_path / "config.toml"))
    upgrade(url)
    res = Resources.from_settings(make_settings(url))
    a = "Shelling hit the Petrenko school gym on Lesi Ukrainky street by the Ivanenko pharmacy; two died."
    b = "A drone hit the Lysenko fuel station near the Karazina bridge and the Dovzhenko bakery; five died."
    add(res, "https://one.example/x", [incident(VILLAGE, DAY, 2, sentence=a)], text=story("One", a))
    add(res, "https://two.example/x", [incident(VILLAGE, DAY, 12, sentence=a)], text=story("Two", a))
    add(res, "https://three.example/x", [incident(KHOLODNA, DAY, 5, sentence=b)], text=story("Three", b))
    with session_scope(res.engine) as s:
        first = linking.incident_of_url(s, "https://one.example/x")
        second = linking.incident_of_url(s, "https://three.example/x")
    res.close()
    assert first and second and first != second
    return first, second


def run(*args: str, code: int = 0) -> str:
    _state.clear()
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.stdout if args[1] == "show" and code == 0 else result.output


def test_show_gives_why_each_field_and_who_did_what(two_incidents: tuple[str, str]) -> None:
    keep, other = two_incidents
    shown = json.loads(run("incidents", "show", keep))
    assert shown["incident"]["num_reports"] == 2
    assert "latest credible" in shown["why"]["killed"] and "village" in shown["why"]["location"]
    assert "merge" in run("incidents", "merge", keep, keep, code=1)
    run("incidents", "merge", keep, other, "--operator", "analyst-3", "--note", "one barrage")
    assert "already one incident" in run("incidents", "merge", keep, other)
    moved = json.loads(run("incidents", "show", other))  # the old id redirects
    assert moved["redirected_from"] == other and moved["incident"]["id"] == keep
    merged = [h for h in moved["history"] if h["action"] == "merged"]
    assert {(h["operator"], h["note"]) for h in merged} == {("analyst-3", "one barrage")}
    assert {h["other_incident"] for h in merged} == {keep, other}
    run("incidents", "unmerge", keep, other, "--operator", "analyst-4", "--note", "two places")
    run("incidents", "relink")
    assert json.loads(run("incidents", "show", other))["incident"]["num_reports"] == 1
    assert json.loads(run("incidents", "show", keep))["incident"]["num_reports"] == 2
    assert "no incident" in run("incidents", "show", "nope", code=1)
