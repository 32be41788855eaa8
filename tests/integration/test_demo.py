"""The README's first command: `wirewatch demo` runs the real service on the bundled site."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

pytestmark = pytest.mark.integration
DEMO_BROKER = os.environ.get("WIREWATCH_TEST_DEMO_REDIS", "redis://127.0.0.1:6379/12")


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
