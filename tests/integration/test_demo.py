"""The README's first command: `wirewatch demo` runs the real service on the bundled site."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.conftest import REDIS_TEST_URL

pytestmark = pytest.mark.integration
# The suite's own Redis (tests/conftest.py); the demo flushes it before it runs.
DEMO_BROKER = REDIS_TEST_URL


def test_demo_ingests_the_bundled_site_with_the_real_service(tmp_path: Path) -> None:
    redis.Redis.from_url(DEMO_BROKER).flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIREWATCH_")}
    env.update(WIREWATCH_BROKER_URL=DEMO_BROKER, COLUMNS="200")
    out = subprocess.run(
        [sys.executable, "-m", "worker.cli", "demo", "--seconds", "240"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "Incidents" in text and "Kafr Nabl" in text
    assert (tmp_path / "var" / "demo" / "wirewatch.db").exists()
    assert re.search(r"Browse them: wirewatch --config \S+ web --port \d+ +then open http://127\.0\.0\.1:\d+/", text)
    # Flower's address is offered only while the service runs; its stop is said before the results.
    flower = re.search(r"Flower, while the service runs: (http://127\.0\.0\.1:\d+/) \(user demo, password \S+\)", text)
    assert flower, text[-3000:]
    stopped = out.stderr.index(f"the service has stopped, and Flower with it ({flower[1]} no longer answers)")
    assert flower[1] not in out.stderr[stopped + 200 :] and flower[1] not in out.stdout
    service_log_is_one_format((tmp_path / "var" / "demo" / "service.log").read_text(errors="replace"))
    # The web window serves every page on the demo data.
    from fastapi.testclient import TestClient

    from tests.conftest import make_settings
    from worker.web.app import create_app

    settings = make_settings(f"sqlite:///{tmp_path}/var/demo/wirewatch.db")
    client = TestClient(create_app(settings, public=True, credentials=None))
    listing = client.get("/incidents.json").json()
    assert listing["incidents"]
    assert client.get("/incidents").status_code == 200
    for item in listing["incidents"]:
        page = client.get(f"/incidents/{item['id']}")
        assert page.status_code == 200 and "Reports" in page.text
    assert client.get("/feeds.json").json()["feeds"]


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+ ")
OTHER_FORMATS = re.compile(r"^\[([DIWEC] \d{6} |\d{4}-\d\d-\d\d [\d:,]+: [A-Z]+/)")  # tornado's, Celery's


def service_log_is_one_format(log: str) -> None:
    """Issue 12 point 5, on the log of `wirewatch run --flower` (supervisor, two workers, beat,
    Flower): one log format; no SecurityWarning from Celery (root is noted in one line of ours
    per worker, when running as root); no "Inspect method ... failed" from Flower starting before
    the workers; no line for the few-seconds tick."""
    lines = log.splitlines()
    assert not [line for line in lines if OTHER_FORMATS.match(line)], log[-3000:]
    assert sum(bool(LOG_LINE.match(line)) for line in lines) > 20, log[-3000:]
    assert "SecurityWarning" not in log and "superuser privileges" not in log, log[-3000:]
    assert log.count("runs as root (allowed:") == (2 if os.geteuid() == 0 else 0), log[-3000:]
    assert "Inspect method" not in log, log[-3000:]
    assert "wirewatch.tick[" not in log and "(wirewatch.tick)" not in log
