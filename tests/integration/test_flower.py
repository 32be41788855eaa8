"""Issue 11 point 10: Flower's credentials, against the real Flower process `wirewatch run
--flower` starts (the real Redis as its broker).

Flower splits its credential list on commas, so a password holding one would become two
"logins", the fragment after the comma one of them: such credentials are refused at start.
Without credentials, exactly ``/healthcheck`` (it answers "OK" and nothing else, for health
probes) and Flower's static files stay open; every other page, ``/metrics`` included, asks
for them."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_TEST_URL
from tests.integration.service import free_port, wait_for
from worker.errors import ConfigError
from worker.settings import Settings
from worker.supervisor import children

pytestmark = pytest.mark.integration

USER, PASSWORD = "admin", "s3cret-pw"


@pytest.mark.parametrize(
    ("user", "password"),
    [("admin", "before,after"), ("admin", "a,b:c"), ("ad,min", "pw"), ("ad:min", "pw"), ("admin", "pw\nx")],
)
def test_credentials_flower_would_split_are_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, user: str, password: str
) -> None:
    monkeypatch.setenv("WIREWATCH_FLOWER_USER", user)
    monkeypatch.setenv("WIREWATCH_FLOWER_PASSWORD", password)
    with pytest.raises(ConfigError) as info:
        children(Settings(), {}, flower=True, var=tmp_path)
    assert "\n" not in str(info.value)
    assert password not in str(info.value)  # the secret is never echoed


@pytest.fixture
def flower(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    monkeypatch.setenv("WIREWATCH_FLOWER_USER", USER)
    monkeypatch.setenv("WIREWATCH_FLOWER_PASSWORD", PASSWORD)
    port = free_port()
    settings = Settings.model_validate({"flower": {"port": port}, "broker": {"url": REDIS_TEST_URL}})
    env = {"PATH": "/usr/bin:/bin", "WIREWATCH_BROKER_URL": REDIS_TEST_URL, "WIREWATCH_CONFIG": "/dev/null"}
    child = next(c for c in children(settings, env, flower=True, var=tmp_path) if c.name == "flower")
    log = (tmp_path / "flower.log").open("wb")
    proc = subprocess.Popen(child.argv, env=child.env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthcheck", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        assert wait_for(up, 60), (tmp_path / "flower.log").read_text()
        yield base
    finally:
        proc.terminate()
        proc.wait(20)


def _auth(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def test_what_flower_leaves_open_without_credentials(flower: str) -> None:
    open_ = httpx.get(f"{flower}/healthcheck", timeout=5)
    assert (open_.status_code, open_.text) == (200, "OK")
    for path in ("/metrics", "/", "/workers", "/tasks", "/broker", "/api/workers", "/api/tasks"):
        r = httpx.get(f"{flower}{path}", timeout=5, follow_redirects=False)
        assert r.status_code in (401, 403), (path, r.status_code)
        assert "wirewatch" not in r.text.lower(), path


def test_metrics_and_pages_answer_with_the_credentials_only(flower: str) -> None:
    good = httpx.get(f"{flower}/metrics", headers=_auth(f"{USER}:{PASSWORD}"), timeout=10)
    assert good.status_code == 200 and "flower_" in good.text
    for wrong in (f"{USER}:wrong", f"{USER}:{PASSWORD[:-1]}", PASSWORD, f"{PASSWORD}:{USER}", ":"):
        assert httpx.get(f"{flower}/metrics", headers=_auth(wrong), timeout=5).status_code in (401, 403), wrong
