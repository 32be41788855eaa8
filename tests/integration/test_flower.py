"""Issue 11 point 10: Flower's credentials, against the real Flower process `wirewatch run
--flower` starts (the real Redis as its broker).

Flower splits its credential list on commas, so a password holding one would become two
"logins", the fragment after the comma one of them: such credentials are refused at start.

Issue 12 point 4: every route of Flower's own URL table is tried. Without credentials these
answer, and show no data: ``/healthcheck`` ("OK", for health probes), ``/static/...`` (Flower's
JavaScript, CSS, images), ``/logout`` (a page that clears a login cookie) and ``/login`` (404:
the OAuth hand-off, not configured). Every other route answers 401, ``/metrics`` included: the
pages and the read API to GET, the control API (shutdown, revoke, apply...) to POST. With the
credentials, the pages and the read API answer."""

from __future__ import annotations

import base64
import re
import subprocess
import time
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


# Routes that answer without credentials, each showing no task, worker or broker data.
OPEN_ROUTES = {"/healthcheck", "/static/x", "/logout", "/login", "/no-such-page"}
# Read routes that answer 200 with the credentials (the others name an unknown worker or task,
# or need query arguments, and answer 404/400/503 with them, never 401).
READ_ROUTES = {
    "/",
    "/workers",
    "/tasks",
    "/broker",
    "/metrics",
    "/api/workers",
    "/api/tasks",
    "/api/task/types",
    "/api/queues/length",
}


def flower_routes() -> list[tuple[str, bool]]:
    """Every route in Flower's URL table as (a concrete path, whether it serves GET)."""
    from flower.urls import handlers  # type: ignore[import-untyped]
    from tornado.web import RequestHandler

    routes = []
    for handler in handlers:
        pattern = handler.regex.pattern if hasattr(handler, "regex") else handler[0]
        path = pattern.rstrip("$").replace("(.+)", "x").replace("(.*)", "x").replace("/?", "")
        handler_class = handler.handler_class if hasattr(handler, "handler_class") else handler[1]
        path = "/no-such-page" if path == ".*" else path
        routes.append((path, handler_class.get is not RequestHandler.get))  # else GET answers 405
    return routes


def test_what_flower_leaves_open_without_credentials(flower: str) -> None:
    routes = flower_routes()
    assert len(routes) > 30 and {p for p, _ in routes} >= OPEN_ROUTES | READ_ROUTES
    open_ = httpx.get(f"{flower}/healthcheck", timeout=5)
    assert (open_.status_code, open_.text) == (200, "OK")
    for path in OPEN_ROUTES:
        r = httpx.get(f"{flower}{path}", timeout=5)
        assert r.status_code in (200, 404), (path, r.status_code)
        assert "wirewatch" not in r.text.lower() and "redis://" not in r.text, path
    for path, serves_get in routes:
        if path in OPEN_ROUTES:
            continue
        r = httpx.request("GET" if serves_get else "POST", f"{flower}{path}", timeout=5, follow_redirects=False)
        assert r.status_code == 401, (path, r.request.method, r.status_code)
        assert "wirewatch" not in r.text.lower(), path


def test_every_read_route_answers_with_the_credentials(flower: str) -> None:
    for path, serves_get in flower_routes():
        if not serves_get or path in OPEN_ROUTES:
            continue
        r = httpx.get(f"{flower}{path}", headers=_auth(f"{USER}:{PASSWORD}"), timeout=10)
        assert r.status_code == 200 if path in READ_ROUTES else r.status_code in (400, 404, 503), (path, r.status_code)


def test_metrics_and_pages_answer_with_the_credentials_only(flower: str) -> None:
    good = httpx.get(f"{flower}/metrics", headers=_auth(f"{USER}:{PASSWORD}"), timeout=10)
    assert good.status_code == 200 and "flower_" in good.text
    for wrong in (f"{USER}:wrong", f"{USER}:{PASSWORD[:-1]}", PASSWORD, f"{PASSWORD}:{USER}", ":"):
        assert httpx.get(f"{flower}/metrics", headers=_auth(wrong), timeout=5).status_code in (401, 403), wrong


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+ ")
OTHER_FORMATS = re.compile(r"^\[([DIWEC] \d{6} |\d{4}-\d\d-\d\d [\d:,]+: [A-Z]+/)")  # tornado's, Celery's


def test_flower_logs_in_our_format_without_no_answer_noise(flower: str, tmp_path: Path) -> None:
    """No worker answers Flower's inspect broadcasts here (as at the start of `wirewatch run`):
    Flower logged "Inspect method ... failed" once per method per page; those lines are gone,
    and every line is in Wirewatch's one format (not tornado's or Celery's)."""
    for path in ("/", "/workers", "/api/workers?refresh=1"):
        assert httpx.get(f"{flower}{path}", headers=_auth(f"{USER}:{PASSWORD}"), timeout=10).status_code == 200
    assert httpx.get(f"{flower}/worker/x", headers=_auth(f"{USER}:{PASSWORD}"), timeout=10).status_code == 404
    time.sleep(3)  # Flower's inspect timeout is 1 s
    log = (tmp_path / "flower.log").read_text()
    assert "Inspect method" not in log, log
    assert "Unknown worker 'x'" in log  # real problems still show
    lines = [line for line in log.splitlines() if line and not line.startswith((" ", "[", "'", "]"))]
    assert lines and all(LOG_LINE.match(line) for line in lines), log
    assert not any(OTHER_FORMATS.match(line) for line in log.splitlines()), log
