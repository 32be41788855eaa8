"""The Atom feed of new and updated incidents (RFC 4287), built with lxml (escaping is lxml's).

Each entry's id is stable per incident (``tag:`` URI), ``updated`` is the incident's last
change, so a reader shows an incident again when its toll or reports change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from worker.web.views import count_text

ATOM = "http://www.w3.org/2005/Atom"


def _el(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def _summary(item: dict[str, Any]) -> str:
    loc = item["location"]
    place = ", ".join(p for p in (loc.get("name"), loc.get("admin1"), loc.get("country")) if p)
    killed = count_text(item["killed"])
    parts = [
        item["event_type"],
        f"on {item['date']}" if item["date"] else "date unknown",
        f"at {place}" if place else "",
        f"by {item['perpetrator']}" if item["perpetrator"] else "",
        f"killed {killed}" if killed else "",
        f"{item['num_reports']} reports from {item['num_independent_sources']} sources",
    ]
    return "; ".join(p for p in parts if p)


def feed(
    items: Sequence[dict[str, Any]], updated: dict[str, datetime], *, self_url: str, base_url: str, title: str
) -> bytes:
    """`items` in the export schema; `updated` maps incident id to its last change."""
    root = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM})
    _el(root, "title", title)
    _el(root, "id", self_url)
    _el(root, "link", rel="self", href=self_url)
    _el(root, "link", rel="alternate", type="text/html", href=self_url.replace(".atom", "", 1))
    newest = max(updated.values(), default=datetime.now(UTC))
    _el(root, "updated", newest.isoformat())
    author = _el(root, "author")
    _el(author, "name", "Wirewatch")
    for item in items:
        entry = _el(root, "entry")
        loc = item["location"]
        _el(entry, "title", f"{item['event_type']}: {loc.get('name') or 'unknown place'} ({item['date'] or '?'})")
        _el(entry, "id", f"tag:wirewatch,2026:incident:{item['id']}")
        _el(entry, "link", rel="alternate", type="text/html", href=f"{base_url}incidents/{item['id']}")
        _el(entry, "updated", updated[item["id"]].isoformat())
        if item.get("first_reported_at"):
            _el(entry, "published", item["first_reported_at"])
        _el(entry, "summary", _summary(item))
        if loc.get("country"):
            _el(entry, "category", term=loc["country"], label="country")
        _el(entry, "category", term=item["event_type"], label="event type")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
