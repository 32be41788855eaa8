"""The rules that decide how many incidents one article gives and what a merged incident says:
a later incident of an article told again, a later incident too vague to stand, the merged
incident's place, and the event names reports corroborate each other with. Invented places
and people."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

from worker.pipeline import dedupe
from worker.pipeline.extract.incidents import _told_again, _too_vague
from worker.records import Count, Evidence, Incident, Place

DAY = date(2021, 6, 12)
TOWN = Place("Amberfield", "US", 40.00, -80.00, "Ohio", "town")
NEXT_TOWN = Place("Birchmont", "US", 40.15, -80.10, "Ohio", "town")
FAR_TOWN = Place("Cedarvale", "US", 33.00, -100.00, "Texas", "town")
PROVINCE = Place("Marra", "XX", 12.0, 24.0, "Marra", "province")
VILLAGE = Place("Tulum Dar", "XX", 12.2, 24.1, "Marra", "village")
CAPITAL = Place("Port Hessel", "XX", 9.0, 20.0, "Hessel", "town")
DATED = (Evidence("date", "on Saturday", 0, 11),)


def inc(
    where: Place | None,
    day: date | None = DAY,
    killed: int | None = 2,
    kind: str = "Attack",
    perp: str | None = None,
    evidence: tuple[Evidence, ...] = DATED,
) -> Incident:
    toll = Count(killed, killed, killed) if killed is not None else Count()
    return Incident(kind, day, "day", where, perp, killed=toll, evidence=evidence)


def test_a_later_incident_on_the_same_day_with_a_like_toll_is_the_lead_told_again() -> None:
    # Placed by nothing of its own, a toll close to the lead's.
    assert _told_again(inc(TOWN, killed=8), inc(None, killed=2))
    # Placed only by its district, the day after: no town of its own to set it apart.
    assert _told_again(inc(TOWN), inc(PROVINCE, DAY + timedelta(days=1)))
    # The very same toll given for both, a day apart: one event.
    assert _told_again(inc(CAPITAL, DAY + timedelta(days=1), 40), inc(VILLAGE, DAY, 40))


def test_a_later_incident_with_evidence_of_its_own_stays_apart() -> None:
    # Another kind of event (a bombing and a drone strike told in one report).
    assert not _told_again(inc(TOWN, kind="Suicide bomb"), inc(NEXT_TOWN, kind="Air/drone strike"))
    # A toll that cannot be the same event's: 2 against 50.
    assert not _told_again(inc(TOWN, killed=2), inc(NEXT_TOWN, killed=50))
    # Another town, on the same day or another, with a different toll.
    assert not _told_again(inc(TOWN, killed=3), inc(NEXT_TOWN, DAY - timedelta(days=1), killed=2))
    assert not _told_again(inc(TOWN, killed=8), inc(FAR_TOWN, killed=2))
    # ... but the very same toll for both is one event (the town where officials spoke).
    assert _told_again(inc(TOWN, killed=8), inc(FAR_TOWN, killed=8))
    # Two named perpetrators that differ.
    assert not _told_again(inc(TOWN, perp="Group A"), inc(TOWN, perp="Group B"))


def test_a_later_incident_needs_a_date_or_a_place_of_its_own() -> None:
    undated = inc(None, evidence=())
    assert _too_vague(undated, lead=False)
    assert not _too_vague(undated, lead=True)  # a short note may give neither
    assert not _too_vague(inc(None), lead=False)  # dated in the text
    assert not _too_vague(inc(VILLAGE, evidence=()), lead=False)  # placed


def views(*places: Place) -> list[dedupe.ReportView]:
    t0 = datetime(2021, 6, 12, 8, tzinfo=UTC)
    return [dedupe.ReportView(inc(p), t0 + timedelta(hours=i), f"https://r{i}.example/") for i, p in enumerate(places)]


def test_the_incident_takes_the_place_most_reports_agree_with() -> None:
    # Three reports give the province; one names the capital, where officials spoke.
    got = dedupe.derive(views(CAPITAL, PROVINCE, PROVINCE, PROVINCE))
    assert got.location == PROVINCE
    assert "3 of 4" in got.reasons["location"]
    # A village inside that province refines it: it agrees with the province reports too.
    assert dedupe.derive(views(PROVINCE, VILLAGE, PROVINCE)).location == VILLAGE
    # One report each: the more precise place.
    assert dedupe.derive(views(PROVINCE, VILLAGE)).location == VILLAGE


def test_a_city_and_a_date_weeks_apart_do_not_link_without_shared_names() -> None:
    city = Place("Lakeport", "US", 41.0, -87.0, "Illinois", "town")
    early = Incident("Attack", date(2021, 6, 1), "month", city)
    late = Incident("Attack", date(2021, 6, 20), "day", city)

    def cand(names: frozenset[str]) -> dedupe.Candidate:
        return dedupe.Candidate("i1", "Attack", late.date, city, None, Count(), date_precision="day", names=names)

    one_name = dedupe.compare(early, 1, "", cand(frozenset({"side"})), dedupe.Policy(), names=frozenset({"side"}))
    assert not one_name.link and "vague date" in one_name.reasons["gate"]
    shared = frozenset({"orchard", "kessler"})
    assert dedupe.compare(early, 1, "", cand(shared), dedupe.Policy(), names=shared).link
    # Two stated tolls that agree corroborate as well as names do.
    side = frozenset({"side"})
    tolled = dedupe.Candidate("i1", "Attack", late.date, city, None, Count(6, 6, 6), date_precision="day", names=side)
    with_toll = dataclasses.replace(early, killed=Count(5, 5, 5))
    assert dedupe.compare(with_toll, 1, "", tolled, dedupe.Policy(), names=side).link
    # Within the day window the city and the day are the evidence they always were.
    same_day = Incident("Attack", date(2021, 6, 20), "day", city)
    assert dedupe.compare(same_day, 1, "", cand(frozenset()), dedupe.Policy()).link
