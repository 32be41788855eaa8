"""Deduplication in the database: reports into incidents, on SQLite and the real PostgreSQL."""

from __future__ import annotations

import dataclasses
import multiprocessing
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from tests.conftest import make_settings
from worker import jobs
from worker.pipeline import dedupe
from worker.pipeline.normalize import canonical_url
from worker.records import Article, Count, Evidence, Incident, Place
from worker.resources import Resources
from worker.store import export, linking, repo
from worker.store.db import session_scope
from worker.store.models import Article as ArticleRow
from worker.store.models import IncidentHistory

KHARKIV = Place("Kharkiv", "UA", 49.9935, 36.2304, "Kharkiv Oblast")
# An invented village about 90 km south-east of Kharkiv.
BROVA = Place("Velyka Brova", "UA", 49.6120, 37.4870, "Kharkiv Oblast")
# A village about 10 km east of Kharkiv's centre (invented for the test).
EAST_OF_KHARKIV = Place("Vilkhivka", "UA", 49.9935, 36.3700, "Kharkiv Oblast")

WIRE = (
    "Russian missiles struck the centre of the city late on Thursday, killing two people and wounding "
    "more than thirty, the regional governor said. Emergency crews worked through the night to pull "
    "survivors from a damaged apartment building near the main square, while residents swept broken glass "
    "from the streets. The governor said a retired teacher was among the dead."
)


def incident(
    place: Place | None,
    day: date | None,
    killed: int | None,
    *,
    kind: str = "Shelling/artillery/missile attack",
    perp: str | None = "Russia",
    sentence: str = "missiles struck the city",
) -> Incident:
    return Incident(
        event_type=kind,
        date=day,
        date_precision="day",
        location=place,
        perpetrator=perp,
        killed=Count(killed, killed, killed) if killed is not None else Count(),
        evidence=(Evidence("event_type", sentence, 0, len(sentence)),),
    )


def add(
    res: Resources,
    url: str,
    incs: list[Incident],
    *,
    text: str | None = None,
    source: str = "Wire",
    published: datetime | None = None,
) -> int:
    """Store an article with the given incidents and link them; returns the article id."""
    art = Article(
        url=url,
        canonical_url=canonical_url(url),
        title=url,
        text=text or f"unique text for {url} " * 20,
        published_at=published or datetime(2024, 5, 10, 12, tzinfo=UTC),
        source=source,
    )
    aid = jobs.store_article(res, None, art)
    with session_scope(res.engine) as s:
        rids = repo.store_reports(s, aid, incs)
    for rid in rids:
        with session_scope(res.engine) as s:
            linking.link_report(s, rid, res.policy)
    return aid


def exported(res: Resources) -> list[dict]:
    with session_scope(res.engine) as s:
        return export.incidents(s)


def clusters(res: Resources) -> set[frozenset[str]]:
    return {frozenset(r["url"] for r in i["reports"]) for i in exported(res)}


def test_three_outlets_one_strike_is_one_incident_with_rising_toll(res: Resources) -> None:
    d = date(2024, 5, 9)
    add(
        res,
        "https://a.example/1",
        [incident(BROVA, d, 14)],
        source="A",
        published=datetime(2024, 5, 9, 12, tzinfo=UTC),
    )
    add(
        res,
        "https://b.example/1",
        [incident(BROVA, d, 33)],
        source="B",
        published=datetime(2024, 5, 9, 18, tzinfo=UTC),
    )
    add(
        res, "https://c.example/1", [incident(BROVA, d, 35)], source="C", published=datetime(2024, 5, 10, 9, tzinfo=UTC)
    )
    (inc,) = exported(res)
    assert inc["num_reports"] == 3 and inc["num_independent_sources"] == 3
    assert inc["killed"] == {"low": 14, "best": 35, "high": 35}
    assert all(r["link"]["reasons"] for r in inc["reports"])
    with session_scope(res.engine) as s:
        history = s.exec(select(IncidentHistory).where(IncidentHistory.incident_id == inc["id"])).all()
    assert [h.action for h in history] == ["created", "linked", "linked"]
    assert history[1].changes["killed_best"] == [14, 33]
    # "What did we know then?": before the later reports, the toll was 14.
    with session_scope(res.engine) as s:
        (early,) = export.incidents(s, as_of=datetime(2024, 5, 9, 13, tzinfo=UTC))
    assert early["killed"]["best"] == 14 and early["num_reports"] == 1


def test_two_strikes_ten_km_apart_on_one_day_stay_apart(res: Resources) -> None:
    d = date(2024, 5, 10)
    add(res, "https://a.example/k", [incident(KHARKIV, d, 2)])
    add(res, "https://b.example/v", [incident(EAST_OF_KHARKIV, d, 2)])
    assert len(exported(res)) == 2


def test_one_article_with_two_incidents_keeps_them_apart(res: Resources) -> None:
    add(res, "https://a.example/two", [incident(BROVA, date(2024, 5, 9), 35), incident(KHARKIV, date(2024, 5, 10), 2)])
    add(res, "https://b.example/two", [incident(KHARKIV, date(2024, 5, 10), 1), incident(BROVA, date(2024, 5, 9), 36)])
    assert (
        clusters(res)
        == {
            frozenset({"https://a.example/two", "https://b.example/two"}),
        }
        or len(exported(res)) == 2
    )
    assert len(exported(res)) == 2
    assert all(i["num_reports"] == 2 for i in exported(res))


def test_same_strike_reported_either_side_of_midnight_merges(res: Resources) -> None:
    add(res, "https://a.example/m", [incident(KHARKIV, date(2024, 5, 9), 2)])
    add(res, "https://b.example/m", [incident(KHARKIV, date(2024, 5, 10), 2)])
    (inc,) = exported(res)
    assert inc["num_reports"] == 2


def test_same_village_months_apart_stays_apart(res: Resources) -> None:
    add(res, "https://a.example/x", [incident(BROVA, date(2023, 1, 5), 14)])
    add(res, "https://b.example/x", [incident(BROVA, date(2023, 11, 5), 14)])
    assert len(exported(res)) == 2


def test_bombing_and_air_strike_in_one_town_same_day_stay_apart(res: Resources) -> None:
    d = date(2024, 5, 10)
    add(res, "https://a.example/b", [incident(KHARKIV, d, 5, kind="Suicide bomb", perp=None)])
    add(res, "https://b.example/b", [incident(KHARKIV, d, 40, kind="Air/drone strike")])
    assert len(exported(res)) == 2


def test_wire_copy_is_linked_to_original_and_counts_once(res: Resources) -> None:
    d = date(2024, 5, 10)
    original = add(res, "https://wire.example/story", [incident(KHARKIV, d, 2)], text=WIRE, source="Wire")
    copy = add(
        res,
        "https://paper.example/reprint",
        [incident(KHARKIV, d, 2)],
        text=WIRE.replace("Thursday", "Thursday,"),
        source="Paper",
    )
    with session_scope(res.engine) as s:
        assert s.get_one(ArticleRow, copy).copy_of_id == original
    (inc,) = exported(res)
    assert inc["num_reports"] == 2 and inc["num_independent_sources"] == 1
    assert {r["url"] for r in inc["reports"]} == {"https://wire.example/story", "https://paper.example/reprint"}


def test_tracking_parameter_and_amp_urls_are_one_article(res: Resources) -> None:
    first = add(
        res,
        "https://news.example/world/strike.html?utm_source=rss&utm_medium=feed",
        [incident(KHARKIV, date(2024, 5, 10), 2)],
    )
    art = Article(
        url="https://news.example/amp/world/strike.html?fbclid=abc",
        canonical_url=canonical_url("https://news.example/amp/world/strike.html?fbclid=abc"),
        title="t",
        text="other text",
        published_at=None,
    )
    assert canonical_url(art.url) == canonical_url("https://news.example/world/strike.html?utm_source=rss")
    assert jobs.store_article(res, None, art) == first


def test_operator_merge_and_split_survive_relinking(res: Resources) -> None:
    d = date(2024, 5, 10)
    add(res, "https://a.example/p", [incident(KHARKIV, d, 2)])
    add(res, "https://b.example/p", [incident(KHARKIV, d, 2)])
    add(res, "https://c.example/p", [incident(BROVA, date(2024, 5, 9), 35)])
    assert len(exported(res)) == 2
    with session_scope(res.engine) as s:
        kharkiv = linking.incident_of_url(s, "https://a.example/p")
        brova = linking.incident_of_url(s, "https://c.example/p")
        assert kharkiv and brova
        linking.split_report(s, kharkiv, "https://b.example/p")
    assert len(exported(res)) == 3
    with session_scope(res.engine) as s:
        linking.merge_incidents(s, kharkiv, brova)  # deliberately wrong, an operator's call
    before = clusters(res)
    assert len(before) == 2
    with session_scope(res.engine) as s:
        linking.relink_all(s, res.policy)
    assert clusters(res) == before


def test_same_reports_in_another_order_give_the_same_incidents(db_url: str) -> None:
    reports = [
        ("https://a.example/o1", [incident(BROVA, date(2024, 5, 9), 14)]),
        ("https://b.example/o2", [incident(KHARKIV, date(2024, 5, 10), 1), incident(BROVA, date(2024, 5, 9), 35)]),
        ("https://c.example/o3", [incident(KHARKIV, date(2024, 5, 10), 2)]),
        ("https://d.example/o4", [incident(BROVA, date(2024, 5, 10), 38)]),
        ("https://e.example/o5", [incident(EAST_OF_KHARKIV, date(2024, 5, 10), 3)]),
    ]
    results = []
    for order in (reports, list(reversed(reports)), reports[2:] + reports[:2]):
        from tests.conftest import _reset

        if db_url.startswith("postgresql"):
            _reset(db_url)
        else:
            import os

            path = db_url.removeprefix("sqlite:///")
            from worker.store.db import get_engine, upgrade

            get_engine(db_url).dispose()
            if os.path.exists(path):
                os.remove(path)
            upgrade(db_url)
        r = Resources.from_settings(make_settings(db_url))
        for url, incs in order:
            add(r, url, incs)
        results.append(clusters(r))
    assert results[0] == results[1] == results[2]


def _link_worker(db_url: str, url: str, barrier: multiprocessing.synchronize.Barrier) -> None:
    from worker.store.db import get_engine

    get_engine.cache_clear()
    r = Resources.from_settings(make_settings(db_url))
    art = Article(
        url=url,
        canonical_url=url,
        title=url,
        text=f"independent report {url} " * 30,
        published_at=datetime(2024, 5, 10, 12, tzinfo=UTC),
        source=url,
    )
    aid = jobs.store_article(r, None, art)
    with session_scope(r.engine) as s:
        (rid,) = repo.store_reports(s, aid, [incident(KHARKIV, date(2024, 5, 10), 2)])
    barrier.wait()  # every worker links at the same moment
    with session_scope(r.engine) as s:
        linking.link_report(s, rid, r.policy)


def test_concurrent_workers_linking_one_strike_make_one_incident(pg_url: str) -> None:
    from tests.conftest import _reset

    _reset(pg_url)
    n = 6
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=_link_worker, args=(pg_url, f"https://outlet{i}.example/s", barrier)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    r = Resources.from_settings(make_settings(pg_url))
    (inc,) = exported(r)
    assert inc["num_reports"] == n


def test_score_reasons_are_explainable() -> None:
    policy = dedupe.Policy()
    cand = dedupe.Candidate("x", "Air/drone strike", date(2023, 1, 1), KHARKIV, "Russia", Count(3, 3, 3))
    d = dedupe.score(incident(KHARKIV, date(2023, 1, 1), 60, kind="Air/drone strike"), 1, "", cand, policy)
    assert d.link and d.reasons["km"] == 0.0 and d.reasons["days"] == 0
    far = dedupe.score(incident(BROVA, date(2023, 1, 1), 3, kind="Air/drone strike"), 1, "", cand, policy)
    assert not far.link and far.reasons["place"] == "far apart" and "place" in far.reasons["disagree"]


@pytest.mark.parametrize(
    "killed,expected", [((14, 33, 35), 35), ((38, 35), 38), ((17, 29, 10000, 36), 36), ((8, 19, 27, 5), 27)]
)
def test_best_toll_is_the_highest_credible_figure(killed: tuple[int, ...], expected: int) -> None:
    t0 = datetime(2024, 5, 9, tzinfo=UTC)
    views = [
        dedupe.ReportView(incident(BROVA, date(2024, 5, 9), k), t0 + timedelta(hours=i), str(i))
        for i, k in enumerate(killed)
    ]
    assert dedupe.derive(views).killed.best == expected


def test_vague_follow_up_date_merges_but_a_precise_date_beyond_the_window_does_not(res: Resources) -> None:
    add(res, "https://a.example/w", [incident(BROVA, date(2024, 5, 9), 35)])
    follow_up = dataclasses.replace(incident(BROVA, date(2024, 5, 15), 41), date_precision="week")
    add(res, "https://b.example/w", [follow_up])
    assert len(exported(res)) == 1
    add(res, "https://c.example/w", [incident(BROVA, date(2024, 5, 26), 3)])  # beyond both windows
    assert len(exported(res)) == 2


def test_a_report_matching_two_incidents_joins_them(res: Resources) -> None:
    # Two reports four days apart cannot be one event (date gate); a third dated between them
    # matches both, and the incident becomes one, whichever report came first.
    add(res, "https://a.example/j", [incident(KHARKIV, date(2024, 5, 7), 2)])
    add(res, "https://b.example/j", [incident(KHARKIV, date(2024, 5, 11), 2)])
    assert len(exported(res)) == 2
    add(res, "https://c.example/j", [incident(KHARKIV, date(2024, 5, 9), 2)])
    (inc,) = exported(res)
    assert inc["num_reports"] == 3


def test_operator_split_is_not_undone_by_a_new_report(res: Resources) -> None:
    d = date(2024, 5, 10)
    add(res, "https://a.example/s", [incident(KHARKIV, d, 2)])
    add(res, "https://b.example/s", [incident(KHARKIV, d, 2)])
    with session_scope(res.engine) as s:
        inc = linking.incident_of_url(s, "https://a.example/s")
        assert inc
        linking.split_report(s, inc, "https://b.example/s")
    add(res, "https://c.example/s", [incident(KHARKIV, d, 2)])  # matches both sides
    assert len(exported(res)) == 2


def test_a_village_placed_near_a_town_is_not_that_town(res: Resources) -> None:
    ashara = Place("Al Asharah", "SY", 34.9213, 40.5601, "Deir ez-Zor")
    quriya = Place("al quriya", "SY", 34.9213, 40.5601, "Deir ez-Zor", precision="near")  # borrowed coordinates
    d = date(2017, 10, 4)
    add(res, "https://a.example/q", [incident(ashara, d, 60, kind="Air/drone strike")])
    add(res, "https://b.example/q", [incident(quriya, d, 15, kind="Air/drone strike")])
    add(
        res,
        "https://c.example/q",
        [incident(Place("Al-Quriya", "SY", 34.9213, 40.5601, precision="near"), d, 15, kind="Air/drone strike")],
    )
    assert sorted(i["num_reports"] for i in exported(res)) == [1, 2]


def test_unlocated_villages_merge_only_by_name(res: Resources) -> None:
    d = date(2020, 5, 1)
    add(res, "https://a.example/u", [incident(Place("Kuwo", "ML", None, None), d, 10, kind="Attack", perp=None)])
    add(res, "https://b.example/u", [incident(Place("Sinda", "ML", None, None), d, 10, kind="Attack", perp=None)])
    add(res, "https://c.example/u", [incident(Place("kuwo", "ML", None, None), d, 12, kind="Attack", perp=None)])
    assert sorted(i["num_reports"] for i in exported(res)) == [1, 2]


# 50 km north of Kharkiv: a wrong geocode that a report's shared names still forgive.
FAR_VILLAGE = Place("Pisky", "UA", 50.4435, 36.2304, "Kharkiv Oblast", "village")
NAMED = (
    "The strike on Bondarenko Lane hit the workshop of Taras Melnyk, and his neighbour "
    "Oksana Hrytsenko was pulled from the rubble, volunteers said."
)


@pytest.mark.parametrize("bare_first", [False, True])
def test_a_report_finds_the_incident_of_a_matching_report_whatever_its_derived_place(
    res: Resources, bare_first: bool
) -> None:
    """A named town report and a (mis)geocoded village report join on their names; with one
    report each, the incident takes the village, the more precise place, 50 km off. A bare
    report from the town matches the town report and must join it whether it comes first or
    last (it is found through the town report, not the incident's derived place); then two of
    three reports agree on the town, and the incident takes it."""
    bare = ("https://b.example/bare", [incident(KHARKIV, date(2024, 5, 9), None)], None)
    arrivals = [
        ("https://a.example/town", [incident(KHARKIV, date(2024, 5, 9), 4)], NAMED),
        ("https://c.example/village", [incident(FAR_VILLAGE, date(2024, 5, 9), 4)], NAMED),
    ]
    for url, incs, text in [bare, *arrivals] if bare_first else [*arrivals, bare]:
        add(res, url, incs, text=text)
    (inc,) = exported(res)
    assert inc["num_reports"] == 3 and inc["location"]["name"] == "Kharkiv"
