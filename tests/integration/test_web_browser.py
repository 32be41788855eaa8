"""The web window in a real browser: Debian's Chromium (/usr/bin/chromium) driven by Playwright.

No browser is ever downloaded: Playwright is pointed at the system Chromium, and every request
the page makes to anything but 127.0.0.1 is aborted (the map's tile URL points at a closed
loopback port, as on an offline machine: markers must still show). The run saves screenshots
of the incidents page and of one incident page; with WIREWATCH_SCREENSHOTS=1 into docs/screenshots/
(linked from the README), else into a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import select

from tests.conftest import REPO, make_settings
from tests.integration import webdata
from tests.integration.webserver import serving
from worker.resources import Resources
from worker.store.db import session_scope, upgrade
from worker.store.models import Correction, Incident
from worker.web.app import create_app
from worker.web.security import Credentials

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# The README's screenshots are refreshed only on request (`WIREWATCH_SCREENSHOTS=1`), so a test
# run leaves the checkout as it found it; otherwise they go to a temporary folder.
SHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("WIREWATCH_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "wirewatch-screenshots"
)
USER, PASSWORD = "analyst", "correct horse battery staple"
OFFLINE_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"  # nothing listens: no tiles, as offline

if not CHROMIUM.exists() or shutil.which("chromium") is None:
    pytest.skip(
        "Chromium is absent (/usr/bin/chromium): `apt-get install -y chromium` (CI's .ci/run does)",
        allow_module_level=True,
    )
playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Resources, webdata.Seeded]]:
    url = f"sqlite:///{tmp_path}/web.db"
    upgrade(url)
    res = Resources.from_settings(make_settings(url, web={"tile_url": OFFLINE_TILES}))
    seeded = webdata.seed(res)
    app = create_app(res.settings, public=True, credentials=Credentials(USER, PASSWORD), engine=res.engine)
    with serving(app) as base:
        yield base, res, seeded
    res.close()


def _loopback_only(route: Any) -> None:
    if urlsplit(route.request.url).hostname == "127.0.0.1":
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def page_of(browser: Any) -> Iterator[Any]:
    """page_of(credentials: bool) -> a new page whose every request stays on loopback, which
    records dialogs, page errors and console errors (CSP violations among them)."""
    contexts = []

    def make(*, credentials: bool = False) -> Any:
        kwargs: dict[str, Any] = {"viewport": {"width": 1400, "height": 900}}
        if credentials:
            kwargs["http_credentials"] = {"username": USER, "password": PASSWORD, "send": "always"}
        ctx = browser.new_context(**kwargs)
        contexts.append(ctx)
        ctx.route("**/*", _loopback_only)
        page = ctx.new_page()
        page.dialogs, page.errors = [], []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on(
            "console",
            lambda m: page.errors.append(m.text) if m.type == "error" and "127.0.0.1:9" not in m.text else None,
        )
        return page

    yield make
    for ctx in contexts:
        ctx.close()


def _markers(page: Any) -> int:
    page.wait_for_selector("#map[data-markers]", timeout=15_000)
    return int(page.locator("path.incident-marker").count())


def _csp_errors(page: Any) -> list[str]:
    return [e for e in page.errors if "Content Security Policy" in e or "Content-Security-Policy" in e]


def test_map_shows_one_marker_per_incident_without_tiles(site: Any, page_of: Any) -> None:
    base, _, seeded = site
    page = page_of()
    page.goto(base + "incidents")
    assert _markers(page) == 4  # ridge (two reports, one incident), lake, harbour, hostile
    assert page.locator("#incident-list tbody tr").count() == 4
    assert page.locator(f'#incident-list tr[data-id="{seeded.ridge}"]').count() == 1
    # Markers are coloured by type and sized by toll.
    sizes = page.eval_on_selector_all("path.incident-marker", "els => els.map(e => e.getBBox().width)")
    assert max(sizes) > min(sizes)
    assert not _csp_errors(page), page.errors
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "incidents.png"))


def test_filter_narrows_list_map_and_url(site: Any, page_of: Any) -> None:
    base, _, seeded = site
    page = page_of()
    page.goto(base + "incidents")
    _markers(page)
    page.fill("input[name=country]", "UA")
    page.fill("input[name=min_killed]", "5")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/incidents?*")
    query = parse_qs(urlsplit(page.url).query)
    assert query["country"] == ["UA"] and query["min_killed"] == ["5"]
    ids = page.eval_on_selector_all("#incident-list tbody tr[data-id]", "rows => rows.map(r => r.dataset.id)")
    assert ids == [seeded.ridge]
    assert _markers(page) == 1
    # The view is shareable: the same URL in a fresh page shows the same list.
    other = page_of()
    other.goto(page.url)
    assert other.locator("#incident-list tbody tr[data-id]").count() == 1
    # A type chosen from the list narrows too.
    page.goto(base + "incidents")
    page.select_option("select[name=event_type]", "Remote explosive/landmine/IED")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/incidents?*event_type=*")
    ids = page.eval_on_selector_all("#incident-list tbody tr[data-id]", "rows => rows.map(r => r.dataset.id)")
    assert ids == [seeded.harbour]


def test_incident_page_shows_each_reports_evidence(site: Any, page_of: Any) -> None:
    base, _, seeded = site
    page = page_of()
    page.goto(base + f"incidents/{seeded.ridge}")
    reports = page.locator("li.report")
    assert reports.count() == 2
    for i, (outlet, toll) in enumerate((("Steppe Post", "7"), ("Delta Wire", "9"))):
        r = reports.nth(i)
        assert r.locator(".outlet").inner_text() == outlet
        assert f"killed: {toll}" in r.locator(".rtoll").inner_text()
        fields = r.locator("ul.evidence li .field").all_text_contents()
        assert fields == ["event_type", "killed"]
        # The killed figure is highlighted inside its sentence.
        killed = r.locator("ul.evidence li").nth(1)
        assert killed.locator("mark").inner_text() == toll
        assert "Tarnovo Ridge" in killed.inner_text()
        assert r.locator(".rtitle a").get_attribute("href").startswith("http")
        assert "score" in r.locator(".linkinfo").inner_text() or "new=True" in r.locator(".linkinfo").inner_text()
    assert "precision: day" in page.locator("#fields").inner_text()
    assert "precision: town" in page.locator("#fields").inner_text()
    assert _markers(page) == 1
    assert page.locator("#history tr").count() >= 3  # header, created, linked
    # As of before the second report: only the first counts.
    page.locator("a", has_text="2026-03-14T18:00:00").first.click()
    page.wait_for_url("**as_of=*")
    assert page.locator("li.report").count() == 1
    assert not _csp_errors(page), page.errors
    page.goto(base + f"incidents/{seeded.ridge}")
    page.screenshot(path=str(SHOTS / "incident.png"), full_page=True)


def test_merge_and_unmerge_in_the_page_change_the_database(site: Any, page_of: Any) -> None:
    base, res, seeded = site
    page = page_of(credentials=True)
    page.goto(base + f"incidents/{seeded.ridge}")
    page.fill("#merge-form input[name=other]", seeded.lake)
    page.fill("#merge-form input[name=note]", "same strike: the lake is beside the ridge")
    page.click("#merge-form button[type=submit]")
    page.wait_for_selector("#done")
    assert "merged" in page.locator("#done").inner_text()
    with session_scope(res.engine) as s:
        assert s.get_one(Incident, seeded.lake).merged_into == seeded.ridge
        assert s.get_one(Incident, seeded.ridge).num_reports == 3
        c = s.exec(select(Correction).where(Correction.kind == "merge")).one()
        assert (c.operator, c.note) == (f"web:{USER}", "same strike: the lake is beside the ridge")
    assert page.locator("li.report").count() == 3
    page.fill(f'form[action$="/unmerge"]:has(input[value="{seeded.lake}"]) input[name=note]', "different places")
    page.click(f'form[action$="/unmerge"]:has(input[value="{seeded.lake}"]) button')
    page.wait_for_selector("#done")
    assert "unmerged" in page.locator("#done").inner_text()
    with session_scope(res.engine) as s:
        assert s.get_one(Incident, seeded.lake).merged_into is None
        assert s.get_one(Incident, seeded.lake).num_reports == 1
        assert s.get_one(Incident, seeded.ridge).num_reports == 2
        c = s.exec(select(Correction).where(Correction.kind == "unmerge")).one()
        assert (c.operator, c.note) == (f"web:{USER}", "different places")
    assert page.locator("li.report").count() == 2
    assert "web:analyst" in page.locator("table.corrections").inner_text()


def test_hostile_article_runs_no_script(site: Any, page_of: Any) -> None:
    base, _, seeded = site
    page = page_of()
    for path in ("incidents", f"incidents/{seeded.hostile}", "incidents?q=strike", "feeds", "api"):
        page.goto(base + path)
        page.wait_for_load_state("load")
        if path.startswith("incidents"):
            _markers(page)
        assert page.evaluate("window.__pwned") is None, path
    page.goto(base + f"incidents/{seeded.hostile}")
    # The markup is shown as text, nothing of it became elements.
    title = page.locator("li.report .rtitle .nolink").inner_text()
    assert title == webdata.HOSTILE_TITLE
    assert page.locator("li.report .outlet").inner_text() == webdata.HOSTILE_SOURCE
    assert webdata.HOSTILE_SENTENCE in page.locator("ul.evidence").inner_text()
    hostile = ":is(#reports, #fields, h1, #history) :is(script, iframe, img, svg, b, a[href^=javascript])"
    assert page.locator(hostile).count() == 0
    assert page.locator("a[href^=javascript]").count() == 0
    assert page.locator("li.report a").count() == 0  # the javascript: URL is not a link
    assert page.eval_on_selector_all("script", "els => els.map(e => e.getAttribute('src'))") == [
        "/static/leaflet/leaflet.js",
        "/static/map.js",
    ]
    # The marker's popup is built from text nodes.
    page.locator("path.incident-marker").first.click()
    page.wait_for_selector(".leaflet-popup-content")
    assert "onerror" in page.locator(".leaflet-popup-content").inner_text()
    assert page.locator(".leaflet-popup-content img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert not [e for e in page.errors if "__pwned" in e]


def test_requests_without_credentials_get_401(site: Any, page_of: Any, tmp_path: Path) -> None:
    base, res, seeded = site
    page = page_of()
    page.goto(base + f"incidents/{seeded.ridge}")  # readable on loopback
    page.fill("#merge-form input[name=other]", seeded.lake)
    response = None
    with page.expect_response(lambda r: r.request.method == "POST") as info:
        page.click("#merge-form button[type=submit]")
    response = info.value
    assert response.status == 401
    with session_scope(res.engine) as s:
        assert s.get_one(Incident, seeded.lake).merged_into is None
    # Listening beyond loopback: every page needs the credentials.
    guarded = create_app(res.settings, public=False, credentials=Credentials(USER, PASSWORD), engine=res.engine)
    with serving(guarded) as other:
        for path in ("incidents", f"incidents/{seeded.ridge}", "incidents.json", "feeds", "static/map.js"):
            # (the browser's own request API: a navigation to a 401 with no credentials to offer
            # ends in a browser error page rather than a response object)
            assert page.request.get(other + path).status == 401, path
        ok = page_of(credentials=True)
        assert ok.goto(other + "incidents").status == 200
        assert _markers(ok) == 4
