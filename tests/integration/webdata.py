"""Articles and incidents for the web window's tests, stored through the real store and linker.

Places, outlets and sentences are invented for these tests. ``seed`` stores:

- the *ridge strike*: two outlets report one air strike on the village of Tarnovo Ridge (UA);
  the linker joins them into one incident with two reports;
- the *lake shelling*: one report of shelling at Ostrova Lake (UA), 150 km away, another incident;
- the *harbour bombing*: one report of a car bomb at Port Selin (a second country, LB);
- the *hostile* article: a title, text, outlet, place and URL full of markup and script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel import select

from worker import jobs
from worker.records import Article, Count, Evidence, Incident, Place
from worker.resources import Resources
from worker.store import linking, repo
from worker.store.db import session_scope
from worker.store.models import Report

RIDGE = Place("Tarnovo Ridge", "UA", 48.512, 35.871, "Dnipropetrovsk Oblast")
LAKE = Place("Ostrova Lake", "UA", 47.300, 37.100, "Donetsk Oblast")
HARBOUR = Place("Port Selin", "LB", 33.900, 35.500, "Beirut")
HOSTILE_PLACE = Place('<img src=x onerror="window.__pwned=11">Hill', "SY", 35.100, 38.200, "<b>Raqqa</b>")

HOSTILE_TITLE = '<script>window.__pwned=1</script>Strike <img src=x onerror="window.__pwned=2"> kills 3'
HOSTILE_URL = "javascript:window.__pwned=3//http://evil.example/a.html"
HOSTILE_SOURCE = '<a href="javascript:window.__pwned=4">Evil Outlet</a>'
HOSTILE_SENTENCE = 'A strike <script>window.__pwned=5</script> killed <b onmouseover="window.__pwned=6">3</b> people.'


def _text_with(sentence: str, filler: str) -> str:
    return f"{sentence} {filler * 12}"


def _incident(place: Place, day: date, killed: int, kind: str, perp: str | None, text: str, number: str) -> Incident:
    sentence = text.split(". ", 1)[0] + "."
    at = text.index(number)
    return Incident(
        event_type=kind,
        date=day,
        date_precision="day",
        location=place,
        perpetrator=perp,
        perpetrator_certainty="stated" if perp else None,
        victims="civilians",
        killed=Count(killed, killed, killed),
        evidence=(
            Evidence("event_type", sentence, 0, len(sentence)),
            Evidence("killed", sentence, at, at + len(number)),
        ),
    )


@dataclass
class Seeded:
    ridge: str  # incident ids
    lake: str
    harbour: str
    hostile: str
    ridge_urls: tuple[str, str]


def add_article(
    res: Resources, url: str, title: str, text: str, source: str, published: datetime, incs: list[Incident]
) -> list[str]:
    art = Article(url=url, canonical_url=url, title=title, text=text, published_at=published, source=source)
    aid = jobs.store_article(res, None, art)
    with session_scope(res.engine) as s:
        rids = repo.store_reports(s, aid, incs)
    out = []
    for rid in rids:
        with session_scope(res.engine) as s:
            out.append(linking.link_report(s, rid, res.policy))
    return out


def seed(res: Resources) -> Seeded:
    day = date(2026, 3, 14)
    t1 = _text_with(
        "Russian drones struck the village of Tarnovo Ridge on Saturday, killing 7 civilians, the governor said.",
        "Rescuers searched a collapsed school gym through the night. ",
    )
    t2 = _text_with(
        "An air strike on Tarnovo Ridge killed 9 people on Saturday, local officials told reporters.",
        "Neighbours described a flash and a roar before the roof fell in. ",
    )
    t3 = _text_with(
        "Shelling hit the lakeside settlement of Ostrova Lake on Saturday, killing 2 fishermen.",
        "The regional administration published photographs of a burnt jetty. ",
    )
    t4 = _text_with(
        "A car bomb exploded near the harbour of Port Selin, killing 4 dock workers.",
        "Police sealed the waterfront and questioned witnesses. ",
    )
    ridge1 = "http://127.0.0.1:9/steppe-post/ridge-strike.html"
    ridge2 = "https://example.org/delta-wire/ridge.html"
    (ridge,) = add_article(
        res,
        ridge1,
        "Drones kill seven in Tarnovo Ridge",
        t1,
        "Steppe Post",
        datetime(2026, 3, 14, 18, tzinfo=UTC),
        [_incident(RIDGE, day, 7, "Air/drone strike", "Russia", t1, "7")],
    )
    add_article(
        res,
        ridge2,
        "Toll rises to nine after strike on Tarnovo Ridge",
        t2,
        "Delta Wire",
        datetime(2026, 3, 15, 9, tzinfo=UTC),
        [_incident(RIDGE, day, 9, "Air/drone strike", "Russia", t2, "9")],
    )
    (lake,) = add_article(
        res,
        "https://example.org/delta-wire/lake.html",
        "Shelling kills two at Ostrova Lake",
        t3,
        "Delta Wire",
        datetime(2026, 3, 14, 20, tzinfo=UTC),
        [_incident(LAKE, day, 2, "Shelling/artillery/missile attack", "Russia", t3, "2")],
    )
    (harbour,) = add_article(
        res,
        "https://example.org/coast-daily/harbour.html",
        "Car bomb kills four at Port Selin harbour",
        t4,
        "Coast Daily",
        datetime(2026, 2, 2, 8, tzinfo=UTC),
        [_incident(HARBOUR, date(2026, 2, 2), 4, "Remote explosive/landmine/IED", None, t4, "4")],
    )
    hostile_text = _text_with(HOSTILE_SENTENCE, "<iframe src='javascript:window.__pwned=7'></iframe> more text. ")
    (hostile,) = add_article(
        res,
        HOSTILE_URL,
        HOSTILE_TITLE,
        hostile_text,
        HOSTILE_SOURCE,
        datetime(2026, 1, 10, 8, tzinfo=UTC),
        [
            _incident(
                HOSTILE_PLACE,
                date(2026, 1, 10),
                3,
                "Air/drone strike",
                '<svg onload="window.__pwned=8">',
                hostile_text,
                "3",
            )
        ],
    )
    return Seeded(ridge, lake, harbour, hostile, (ridge1, ridge2))


def report_incidents(res: Resources) -> dict[str, str | None]:
    """Article URL -> incident id of its (first) report."""
    from worker.store.models import Article as ArticleRow

    with session_scope(res.engine) as s:
        rows = s.exec(select(ArticleRow.url, Report.incident_id).join(Report)).all()
    return dict(rows)
