"""Wrong input to any `wirewatch` command ends in one line naming the problem, not a traceback.

Each case runs the installed console script in a subprocess, as a user would: from an empty
directory, with a data directory (XDG_DATA_HOME) and a home of its own, so nothing touches the
real ones. Only the place index is shared (read only), so that `extract` does not rebuild it.
Most cases fail before spaCy is loaded, which keeps each run to the import time of the CLI.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from worker.cli import describe_error
from worker.pipeline.extract.gazetteer import default_cache_dir

WIREWATCH = Path(sys.executable).with_name("wirewatch")  # the console script (worker.cli:main)


@dataclass(frozen=True)
class Run:
    status: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The last line on stderr, where the error line goes."""
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass(frozen=True)
class Cli:
    """Runs ``wirewatch`` in `cwd` (an empty directory) with `env`."""

    cwd: Path
    env: dict[str, str]

    def __call__(self, *args: str, env: dict[str, str] | None = None, stdin: str = "") -> Run:
        proc = subprocess.run(
            [str(WIREWATCH), *args],
            cwd=self.cwd,
            env=self.env | (env or {}),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def wirewatch(tmp_path: Path) -> Cli:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WIREWATCH_", "XDG_"))}
    env |= {
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "WIREWATCH_CACHE_DIR": str(default_cache_dir()),
    }
    return Cli(cwd, env)


def _one_line(result: Run) -> None:
    assert result.status != 0, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.error.startswith("error: "), result.stderr


UNREACHABLE_PG = f"postgresql://postgres@127.0.0.1:{_closed_port()}/wirewatch"


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["incidents", "show", "nope"], {}, "no incident nope"),
        (["incidents", "merge", "nope", "gone"], {}, "no incident nope"),
        (["incidents", "unmerge", "nope", "gone"], {}, "incident gone is not merged into nope"),
        (["incidents", "split", "nope", "--report", "https://example.org/a"], {}, "no incident nope"),
        (["extract", "missing.txt"], {}, "No such file or directory: missing.txt"),
        (["feeds", "import", "missing.opml"], {}, "No such file or directory: missing.opml"),
        (["feeds", "list"], {"WIREWATCH_DATABASE_URL": UNREACHABLE_PG}, "database unavailable at postgresql://"),
        (["db", "upgrade"], {"WIREWATCH_DATABASE_URL": UNREACHABLE_PG}, "database unavailable at postgresql://"),
        (["export"], {"WIREWATCH_DATABASE_URL": UNREACHABLE_PG}, "database unavailable at postgresql://"),
        (["ingest", "--once"], {"WIREWATCH_DATABASE_URL": UNREACHABLE_PG}, "database unavailable at postgresql://"),
        (["incidents", "relink"], {"WIREWATCH_DATABASE_URL": UNREACHABLE_PG}, "database unavailable at"),
        (["web", "--port", "0"], {"WIREWATCH_DATABASE_URL": UNREACHABLE_PG}, "database unavailable at"),
        (
            ["run"],
            {"WIREWATCH_BROKER_URL": f"redis://127.0.0.1:{_closed_port()}/0", "WIREWATCH_BROKER_EMBEDDED": "false"},
            "broker.url: nothing answers at redis://127.0.0.1:",
        ),
        (
            ["feeds", "list"],
            {"WIREWATCH_DATABASE_URL": "mysql://u@127.0.0.1/w"},
            "unsupported scheme, use one of sqlite, postgresql",
        ),
        (
            ["feeds", "list"],
            {"WIREWATCH_FETCH_MAX_BYTES": "abc"},
            "fetch.max_bytes (from WIREWATCH_FETCH_MAX_BYTES): Input should be a valid integer",
        ),
        (["demo"], {"WIREWATCH_SCHEDULER_TICK_SECONDS": "-1"}, "scheduler.tick_seconds (from WIREWATCH_SCHEDULER_"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_wrong_input_gives_one_error_line(wirewatch: Cli, args: list[str], env: dict[str, str], expected: str) -> None:
    result = wirewatch(*args, env=env)
    _one_line(result)
    assert expected in result.error


def test_bad_key_in_config_file_names_file_and_key(wirewatch: Cli) -> None:
    (wirewatch.cwd / "bad.toml").write_text("[fetch]\nmax_bytez = 3\n")
    result = wirewatch("--config", "bad.toml", "feeds", "list")
    _one_line(result)
    assert result.status == 2
    assert "fetch.max_bytez (in bad.toml): unknown key" in result.error


def test_feeds_add_bad_url_does_not_traceback(wirewatch: Cli) -> None:
    result = wirewatch("feeds", "add", "not a url")
    assert "Traceback" not in result.stderr + result.stdout


def test_verbose_shows_the_traceback(wirewatch: Cli) -> None:
    result = wirewatch("-v", "incidents", "merge", "nope", "gone")
    assert result.status == 1
    assert "Traceback (most recent call last)" in result.stderr and "CorrectionError" in result.stderr
    assert result.error == "error: no incident nope"


def test_unexpected_errors_are_named() -> None:
    assert describe_error(KeyError("feeds")) == ("unexpected KeyError: 'feeds'", 1)


def test_extract_jsonl_reports_bad_lines_and_goes_on(wirewatch: Cli) -> None:
    good = json.dumps({"id": "ok", "text": "An air strike killed 12 people in Kharkiv on Monday."})
    stdin = "\n".join(["not json", good, "[1, 2]", json.dumps({"id": 9, "title": "no text"})]) + "\n"
    result = wirewatch("extract", "--jsonl", stdin=stdin)
    _one_line(result)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("line") for r in rows] == [1, None, 3, 4]
    assert rows[0]["error"].startswith("not JSON") and rows[2]["error"] == "not a JSON object but list"
    assert rows[3] == {"line": 4, "id": 9, "error": 'no "text" string'}
    assert rows[1]["id"] == "ok" and rows[1]["incidents"], rows[1]
    assert result.error == "error: 3 of 4 input lines could not be read"


def test_commands_work_from_a_fresh_directory(wirewatch: Cli, tmp_path: Path) -> None:
    """No var/ and no config.toml: the database goes to the per-user data directory."""
    created = wirewatch("db", "upgrade")
    db_file = tmp_path / "data" / "wirewatch" / "wirewatch.db"
    assert created.status == 0, created.stderr
    assert f"created the database at {db_file} (migrations applied up to" in created.stderr
    again = wirewatch("db", "upgrade")
    assert f"the database at {db_file} is already up to date (revision" in again.stderr
    listed = wirewatch("feeds", "list")
    assert listed.status == 0 and "next poll" in listed.stdout, listed.stderr
    exported = wirewatch("export")
    assert exported.status == 0 and json.loads(exported.stdout)["incidents"] == [], exported.stderr
    assert db_file.exists() and list(wirewatch.cwd.iterdir()) == []


def test_help_shows_flags_as_flags(wirewatch: Cli) -> None:
    result = wirewatch("ingest", "--help")
    assert result.status == 0 and "--once" in result.stdout
    assert "<bool>" not in result.stdout
