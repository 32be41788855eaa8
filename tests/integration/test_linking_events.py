"""Linking on the event, not the city, and corrections an operator can trust: on SQLite and
the real PostgreSQL. Places, names and texts are invented for these tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from tests.integration.test_linking import add, clusters, exported, incident
from worker.pipeline import dedupe
from worker.pipeline.names import VICTIM_MARK
from worker.records import Count, Place
from worker.resources import Resources
from worker.store import linking
from worker.store.db import session_scope
from worker.store.models import Correction, IncidentHistory, Report, ReportKey

DAY = date(2024, 3, 14)
OBLAST = "Kharkiv Oblast"
CITY = Place("Kharkiv", "UA", 49.9935, 36.2304, OBLAST, "town")
# Two neighbourhoods of the city, about 6 km apart.
SALTIVKA = Place("Saltivka", "UA", 50.0250, 36.3300, OBLAST, "neighbourhood")
KHOLODNA = Place("Kholodna Hora", "UA", 49.9850, 36.1900, OBLAST, "neighbourhood")
VILLAGE = Place("Velyka Brova", "UA", 49.6120, 37.4870, OBLAST, "village")
DISTRICT = Place("Brivka Raion", "UA", 49.6680, 37.4910, OBLAST, "district")
PROVINCE = Place(OBLAST, "UA", 49.5000, 36.5000, OBLAST, "province")
FAR = Place("Lviv", "UA", 49.8397, 24.0297, "Lviv Oblast", "town")


def story(outlet: str, body: str) -> str:
    """An outlet's own wording around the facts it shares with other outlets."""
    return f"{outlet} reporting. {body} Our correspondent in the region says crews were still at work. " * 3


WIRE_STYLES = (
    "{body} Regional officials gave the toll at a briefing; rescuers searched the rubble overnight "
    "and a curfew was declared until morning. Neighbours described a flash and a long rumble.",
    "Emergency services said on Thursday: {body} Photographs showed a collapsed roof and burnt "
    "lorries in the yard. The governor asked residents to stay in shelters during alerts.",
    "{body} It was the third strike on the district this month, according to local volunteers, "
    "who said the warehouse had stored flour for schools and a field kitchen.",
)


def published(hours: int) -> datetime:
    return datetime(2024, 3, 14, 9, tzinfo=UTC) + timedelta(hours=hours)


def test_two_events_in_different_districts_of_one_city_on_one_day_stay_apart(res: Resources) -> None:
    market = "A missile hit the covered market on Heroiv Pratsi avenue near the Nadiya tram depot, killing four."
    pension = "A drone struck the pension office beside the Zhuravlivka water tower, killing four."
    add(res, "https://one.example/a", [incident(SALTIVKA, DAY, 4, sentence=market)], text=story("One", market))
    add(res, "https://two.example/b", [incident(KHOLODNA, DAY, 4, sentence=pension)], text=story("Two", pension))
    # The same two events, each also reported only as "in the city": they join their own event.
    add(
        res,
        "https://three.example/c",
        [incident(CITY, DAY, 4, sentence=market)],
        text=story("Three", market),
        published=published(5),
    )
    assert len(exported(res)) == 2
    assert {"https://one.example/a", "https://three.example/c"} in [set(c) for c in clusters(res)]


def test_city_level_place_with_distinct_named_targets_is_two_events(res: Resources) -> None:
    market = "Shells hit the Barabashovo market stalls of Ostapchuk traders by Pavlova station; three died."
    office = "Shells hit the Derzhprom tower offices of the Melnyk notary on Svobody square; three died."
    add(res, "https://one.example/m", [incident(CITY, DAY, 3, sentence=market)], text=story("One", market))
    add(res, "https://two.example/o", [incident(CITY, DAY, 3, sentence=office)], text=story("Two", office))
    assert len(exported(res)) == 2


def test_one_event_at_village_district_and_province_level_joins(res: Resources) -> None:
    body = "Shelling hit the Velyka Brova mill run by the Bondarenko family during the Tkachenko harvest fair; eleven died."
    add(res, "https://one.example/v", [incident(VILLAGE, DAY, 11, sentence=body)], text=story("One", body))
    add(
        res,
        "https://two.example/d",
        [incident(DISTRICT, DAY, 11, sentence=body)],
        text=story("Two", body),
        published=published(2),
    )
    add(
        res,
        "https://three.example/p",
        [incident(PROVINCE, DAY, 11, sentence=body)],
        text=story("Three", body),
        published=published(4),
    )
    (inc,) = exported(res)
    assert inc["num_reports"] == 3
    assert inc["location"]["name"] == "Velyka Brova" and inc["location"]["precision"] == "village"


def test_one_report_with_a_wrong_place_among_three_agreeing_joins(res: Resources) -> None:
    body = "Missiles destroyed the Sokolenko grain depot and the Yaremchuk garage on Myru street; seven died."
    for n, outlet in enumerate(("one", "two", "three")):
        add(
            res,
            f"https://{outlet}.example/g",
            [incident(VILLAGE, DAY, 7, sentence=body)],
            text=story(outlet.title(), body),
            published=published(n),
        )
    # A fourth outlet's report geocoded to the wrong end of the country, everything else agreeing.
    add(
        res,
        "https://four.example/g",
        [incident(FAR, DAY, 7, sentence=body)],
        text=story("Four", body),
        published=published(5),
    )
    (inc,) = exported(res)
    assert inc["num_reports"] == 4 and inc["location"]["name"] == "Velyka Brova"
    wrong = next(r for r in inc["reports"] if r["url"] == "https://four.example/g")
    assert wrong["link"]["reasons"]["forgiven"] == "place"
    # A wrong place and a different toll are two fields off: never the same event.
    add(res, "https://five.example/g", [incident(FAR, DAY, 200, sentence=body)], text=story("Five", body))
    assert len(exported(res)) == 2


def test_a_toll_outlier_in_one_report_does_not_set_the_toll(res: Resources) -> None:
    body = "A strike on the Lytvynenko bakery by the Hrushko library on Sumska street killed twelve."
    for n, (outlet, killed) in enumerate((("one", 12), ("two", 1200), ("three", 14))):
        add(
            res,
            f"https://{outlet}.example/t",
            [incident(VILLAGE, DAY, killed, sentence=body)],
            text=story(outlet.title(), body),
            published=published(n),
        )
    (inc,) = exported(res)
    assert inc["num_reports"] == 3
    assert inc["killed"] == {"low": 12, "best": 14, "high": 14}
    with session_scope(res.engine) as s:
        from worker.store.models import Incident

        why = s.get_one(Incident, inc["id"]).field_reasons
    assert "1200" in why["killed"] and "latest" in why["killed"]


def test_ids_survive_relink_and_old_ids_redirect(res: Resources) -> None:
    a = "Shelling hit the Petrenko school gym; two died."
    b = "A drone hit the Lysenko fuel station; five died."
    add(res, "https://one.example/i", [incident(VILLAGE, DAY, 2, sentence=a)], text=story("One", a))
    add(res, "https://two.example/i", [incident(VILLAGE, DAY, 2, sentence=a)], text=story("Two", a))
    add(res, "https://three.example/i", [incident(KHOLODNA, DAY, 5, sentence=b)], text=story("Three", b))
    before = {i["id"]: {r["url"] for r in i["reports"]} for i in exported(res)}
    assert len(before) == 2
    for _ in range(2):
        with session_scope(res.engine) as s:
            linking.relink_all(s, res.policy)
        assert {i["id"]: {r["url"] for r in i["reports"]} for i in exported(res)} == before
    with session_scope(res.engine) as s:
        for inc_id in before:
            assert linking.resolve(s, inc_id) == inc_id


def test_merge_unmerge_and_history_say_who_and_why(res: Resources) -> None:
    a = "Shelling hit the Petrenko school gym; two died."
    b = "A drone hit the Lysenko fuel station; five died."
    add(res, "https://one.example/u", [incident(VILLAGE, DAY, 2, sentence=a)], text=story("One", a))
    add(res, "https://two.example/u", [incident(KHOLODNA, DAY, 5, sentence=b)], text=story("Two", b))
    before = clusters(res)
    with session_scope(res.engine) as s:
        keep = linking.incident_of_url(s, "https://one.example/u")
        other = linking.incident_of_url(s, "https://two.example/u")
        assert keep and other
        with pytest.raises(linking.CorrectionError):
            linking.merge_incidents(s, keep, keep)
        assert linking.merge_incidents(s, keep, other, operator="analyst-7", note="same barrage")
        assert not linking.merge_incidents(s, keep, other, operator="analyst-7")  # already one
        assert not linking.merge_incidents(s, other, keep)  # the old id redirects: still one
        assert len(s.exec(select(Correction).where(Correction.kind == "merge")).all()) == 1
        merged = s.exec(select(IncidentHistory).where(IncidentHistory.incident_id == keep)).all()[-1]
        assert (merged.action, merged.other_incident_id, merged.operator, merged.note) == (
            "merged",
            other,
            "analyst-7",
            "same barrage",
        )
    assert len(exported(res)) == 1
    with session_scope(res.engine) as s:
        linking.unmerge_incidents(s, keep, other, operator="analyst-9", note="two places after all")
    after = {i["id"]: {r["url"] for r in i["reports"]} for i in exported(res)}
    assert after == {keep: {"https://one.example/u"}, other: {"https://two.example/u"}}
    assert clusters(res) == before
    with session_scope(res.engine) as s:
        linking.relink_all(s, res.policy)  # the undone merge is not replayed
    assert {i["id"]: {r["url"] for r in i["reports"]} for i in exported(res)} == after


def test_three_wire_services_under_one_feed_name_count_three_outlets(res: Resources) -> None:
    body = "A strike on the Velyka Brova Savchenko warehouse killed six."
    for n, host in enumerate(("www.reuters.example", "apnews.example", "news.afp.example")):
        add(
            res,
            f"https://{host}/story-{n}",
            [incident(VILLAGE, DAY, 6, sentence=body)],
            text=WIRE_STYLES[n].format(body=body),
            source="World wires",
            published=published(n),
        )
    (inc,) = exported(res)
    assert inc["num_reports"] == 3 and inc["num_independent_sources"] == 3


@pytest.mark.parametrize(
    "url,agency,name,key",
    [
        ("https://www.example.co.uk/a", None, "X", "example.co.uk"),
        ("https://sacramento.tv.example.com/a", None, "X", "example.com"),
        ("https://news.example.org/a", "Reuters", "X", "agency:reuters"),
        ("http://127.0.0.1:8000/a", None, "Daily Example", "daily example"),
    ],
)
def test_outlet_key_is_the_organisation(url: str, agency: str | None, name: str, key: str) -> None:
    assert dedupe.outlet_key(url, agency, name) == key


def test_two_reports_one_misread_in_the_hundreds_is_set_aside() -> None:
    t0 = datetime(2024, 3, 14, tzinfo=UTC)
    views = [
        dedupe.ReportView(incident(VILLAGE, DAY, k), t0 + timedelta(hours=i), f"r{i}") for i, k in enumerate((9, 1300))
    ]
    assert dedupe.derive(views).killed == Count(9, 9, 9)
    undated = [*views, dedupe.ReportView(incident(VILLAGE, DAY, 11), None, "r2")]
    assert dedupe.derive(undated).killed.best == 11  # undated counts as earliest; the higher figure stands


@pytest.mark.parametrize(
    "a,b,relation",
    [
        (VILLAGE, DISTRICT, "contained"),
        (VILLAGE, PROVINCE, "contained"),
        (SALTIVKA, CITY, "contained"),
        (SALTIVKA, KHOLODNA, "distinct sub-places"),
        (CITY, CITY, "same town"),
        (VILLAGE, VILLAGE, "same spot"),
        (VILLAGE, FAR, "far apart"),
        (VILLAGE, Place("Lviv Oblast", "UA", 49.8, 24.0, "Lviv Oblast", "province"), "other province"),
        # Precision unknown to the gazetteer, but named like its own province: the province.
        (VILLAGE, Place(OBLAST, "UA", 49.9, 36.2, OBLAST, "town"), "contained"),
    ],
)
def test_place_relations_know_precision_and_containment(a: Place, b: Place, relation: str) -> None:
    assert dedupe.place_match(a, b, dedupe.Policy()).relation == relation
    assert dedupe.place_match(b, a, dedupe.Policy()).relation == relation


# An invented town of the United States, for shootings told by the victim's age and sex.
HARLOW = Place("Harlow", "US", 39.10, -94.60, "Missouri", "town")


def test_a_victim_described_alike_joins_two_reports_of_one_shooting(res: Resources) -> None:
    # Each report names people and places the other does not; both describe one 7-year-old boy.
    first = (
        "Neighbour Dana Quill heard two shots before a 7-year-old boy was hit on his bicycle "
        "outside the Morrow Arms flats, the family of Ravel Tessing confirmed."
    )
    second = (
        "The seven-year-old Harlow boy is home again. Her aunt Pia Lonsdale thanked Brookfield "
        "Academy and the Vesper Chapel choir for their cards."
    )
    # The same day in the same town, a 7-year-old girl is another shooting.
    other = "A 7-year-old girl was hurt outside the Kestrel Inn, where Ott Brannigan and Gale Moorcroft ran to help."
    for url, text in (("https://one.example/g", first), ("https://two.example/g", second)):
        add(res, url, [incident(HARLOW, DAY, 0, kind="Attack", perp=None, sentence=text)], text=text)
    add(
        res, "https://three.example/b", [incident(HARLOW, DAY, 0, kind="Attack", perp=None, sentence=other)], text=other
    )
    assert {"https://one.example/g", "https://two.example/g"} in [set(c) for c in clusters(res)]
    assert len(exported(res)) == 2
    with session_scope(res.engine) as s:
        keys = s.exec(select(ReportKey.key)).all()
    # Looked up across the country, an age and a sex would bring in every such shooting.
    assert keys and not [k for k in keys if k.startswith(VICTIM_MARK)]


def test_relinking_reads_every_report_s_names_afresh(res: Resources) -> None:
    # Names stored by an older reading (here: a stale word) give way to the current reading.
    text = "Neighbour Dana Quill heard the shots on Corvel Road, where a 7-year-old boy was hurt."
    add(res, "https://one.example/r", [incident(HARLOW, DAY, 0, kind="Attack", perp=None, sentence=text)], text=text)
    with session_scope(res.engine) as s:
        (report,) = s.exec(select(Report)).all()
        report.names = ["stale"]
        s.add(ReportKey(key="stale", report_id=report.id, day=DAY))
    with session_scope(res.engine) as s:
        linking.relink_all(s, res.policy)
    with session_scope(res.engine) as s:
        (report,) = s.exec(select(Report)).all()
        keys = set(s.exec(select(ReportKey.key)).all())
    assert report.names is not None and {"dana quill", "#7m"} <= set(report.names)
    assert "stale" not in report.names and "stale" not in keys and "dana quill" in keys
