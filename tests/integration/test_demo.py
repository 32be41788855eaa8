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
