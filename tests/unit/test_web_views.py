"""Pure helpers of the web window: filters from a query string, evidence marks, cursors, links."""

from __future__ import annotations

from datetime import date

import pytest

from worker.store.browse import Cursor, IncidentFilter
from worker.web.security import Credentials, http_url, is_loopback, tile_origin
from worker.web.views import BadRequest, count_text, evidence_marks, parse_filter


def test_parse_filter_reads_every_parameter_and_ignores_empty_ones() -> None:
    f = parse_filter(
        {
            "date_from": "2026-01-02",
            "date_to": "",
            "country": "ua",
            "min_killed": "3",
            "q": "  market ",
            "event_type": "",
        }
    )
    assert f == IncidentFilter(date_from=date(2026, 1, 2), country="UA", min_killed=3, text="market")
    assert f.query_params() == {"date_from": "2026-01-02", "country": "UA", "min_killed": "3", "q": "market"}
    assert parse_filter({}) == IncidentFilter()


@pytest.mark.parametrize(
    "params", [{"date_to": "2026-13-01"}, {"country": "UKR"}, {"country": "1A"}, {"min_killed": "2.5"}]
)
def test_parse_filter_names_the_bad_parameter(params: dict[str, str]) -> None:
    with pytest.raises(BadRequest, match=next(iter(params))):
        parse_filter(params)


def test_evidence_marks_split_the_sentence_around_the_span() -> None:
    text = "Intro. Shells killed 12 people in the port. More."
    start = text.index("12")
    sentences = ["Shells killed 12 people in the port.", "On Monday."]
    killed, place = evidence_marks(
        [
            {"field": "killed", "sentence": 0, "start": start, "end": start + 2},
            {"field": "location", "sentence": 0, "start": text.index("port"), "end": text.index("port") + 4},
        ],
        sentences,
        text,
    )
    assert (killed.field, killed.before, killed.span, killed.after) == (
        "killed",
        "Shells killed ",
        "12",
        " people in the port.",
    )
    # Two fields read from one sentence, stored once: each marks its own span.
    assert (place.field, place.span, place.after) == ("location", "port", ".")
    # Offsets that do not fall inside the sentence (a different text version): the whole sentence.
    (w,) = evidence_marks([{"field": "date", "sentence": 1, "start": 500, "end": 510}], sentences, text)
    assert (w.before, w.span, w.after) == ("", "On Monday.", "")
    # An index outside the list (a damaged record) marks nothing rather than failing.
    (bad,) = evidence_marks([{"field": "date", "sentence": 7, "start": 0, "end": 5}], sentences, text)
    assert bad.span == "" and bad.before == "" and bad.after == ""


def test_cursor_round_trip_and_rejects_garbage() -> None:
    for c in (Cursor(date(2026, 3, 1), "01a2ff"), Cursor(None, "abc123")):
        assert Cursor.decode(c.encode()) == c
    for raw in ("nope", "2026-01-01_", "2026-01-01_a;b", "x_abc"):
        with pytest.raises(ValueError, match=r"cursor|date|Invalid"):
            Cursor.decode(raw)


def test_links_tiles_loopback_and_credentials() -> None:
    assert http_url("javascript:alert(1)") is None and http_url("https://a.example/x") == "https://a.example/x"
    assert http_url("HTTP://A.example/") == "HTTP://A.example/" and http_url("ftp://a.example/") is None
    assert tile_origin("https://tile.openstreetmap.org/{z}/{x}/{y}.png") == "https://tile.openstreetmap.org"
    assert tile_origin("") is None
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("example.org")
    creds = Credentials("ana", "pw")
    assert creds.matches("ana", "pw") and not creds.matches("ana", "pW") and not creds.matches("", "pw")
    assert Credentials.from_env({"WIREWATCH_WEB_USER": "ana"}) is None
    assert count_text({"low": 20, "best": 40, "high": 60}) == "40 (20-60)"
    assert count_text({"low": None, "best": None, "high": None}) == ""
