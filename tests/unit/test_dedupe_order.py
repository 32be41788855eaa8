"""Arrival order does not change the incidents: `dedupe.decide` run report by report over every
order of the same reports gives the same clusters (the pure counterpart of
tests/quality/test_dedupe_order.py)."""

from __future__ import annotations

from datetime import date
from itertools import permutations

from worker.pipeline import dedupe
from worker.records import Count, Incident, Place

DAY = date(2024, 3, 9)
TOWN = Place("Kharkiv", "UA", 49.9935, 36.2304, "Kharkiv Oblast", "town")
# A wrong geocode: the neighbouring province for a report that names no town.
PROVINCE = Place("Poltava Oblast", "UA", 49.6, 34.5, "Poltava Oblast", "province")
NAMES = frozenset({"franka", "petrenko", "moroz"})
TEXT = "A drone hit a depot on Franka Street, killing five workers, Petrenko and Moroz said."


def _report(place: Place, killed: int | None) -> Incident:
    return Incident(
        event_type="Air/drone strike", date=DAY, date_precision="day", location=place, killed=Count(best=killed)
    )


# name -> (report, event names, evidence text). The named town report and the province report
# join on their shared names (the place is forgiven); the bare town report joins the named town
# report but not the province report: nothing but one place that disagrees.
REPORTS = {
    "named": (_report(TOWN, 5), NAMES, TEXT),
    "province": (_report(PROVINCE, 5), NAMES, TEXT),
    "bare": (_report(TOWN, None), frozenset(), "A drone struck the city on Saturday."),
}


def _clusters(order: tuple[str, ...]) -> frozenset[frozenset[str]]:
    """Link the reports one at a time in `order`, as the store does, and return the incidents."""
    incident_of: dict[str, str] = {}
    for n, name in enumerate(order):
        rec, names, text = REPORTS[name]
        cands = [
            dedupe.Candidate(
                id=incident_of[other],
                event_type=o.event_type,
                date=o.date,
                location=o.location,
                perpetrator=o.perpetrator,
                killed=o.killed,
                evidence_text=o_text,
                article_ids=frozenset({order.index(other)}),
                date_precision=o.date_precision,
                injured=o.injured,
                names=o_names,
            )
            for other in order[:n]
            for o, o_names, o_text in [REPORTS[other]]
        ]
        plan = dedupe.decide(rec, n, text, cands, dedupe.Policy(), names=names)
        target = plan.target or f"incident-{name}"
        incident_of[name] = target
        for other, inc in list(incident_of.items()):
            if inc in plan.absorb:
                incident_of[other] = target
    out: dict[str, set[str]] = {}
    for name, inc in incident_of.items():
        out.setdefault(inc, set()).add(name)
    return frozenset(frozenset(v) for v in out.values())


def test_the_reports_link_as_the_test_expects() -> None:
    named, province, bare = (REPORTS[k] for k in ("named", "province", "bare"))

    def cmp(a: tuple[Incident, frozenset[str], str], b: tuple[Incident, frozenset[str], str]) -> dedupe.Decision:
        cand = dedupe.Candidate(
            id="x", event_type=b[0].event_type, date=b[0].date, location=b[0].location, perpetrator=None,
            killed=b[0].killed, evidence_text=b[2], article_ids=frozenset({99}), names=b[1],
        )  # fmt: skip
        return dedupe.compare(a[0], 1, a[2], cand, dedupe.Policy(), names=a[1])

    assert cmp(province, named).link and cmp(province, named).reasons["forgiven"] == "place"
    assert cmp(bare, named).link
    assert not cmp(bare, province).link and not dedupe.vetoes(cmp(bare, province))


def test_every_arrival_order_gives_the_same_incidents() -> None:
    results = {order: _clusters(order) for order in permutations(REPORTS)}
    assert set(results.values()) == {frozenset({frozenset(REPORTS)})}, results


def test_tolls_agree_as_evidence_only_when_someone_died() -> None:
    """Two reports that both count nobody dead are no likelier one event than two reports that
    give no toll: most shootings and raids kill nobody. Equal tolls above 0 are evidence."""
    assert dedupe.casualty_compatibility(Count(best=0), Count(best=0)) == 0.5
    assert dedupe.casualty_compatibility(Count(best=0), Count()) == 0.5
    assert dedupe.casualty_compatibility(Count(best=4), Count(best=4)) == 1.0
    assert dedupe.casualty_compatibility(Count(best=3), Count(best=60)) < 0.3
