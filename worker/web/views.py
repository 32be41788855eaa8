"""Page helpers: the filter from the query string, evidence marks, small formatting.

parse_filter(params) -> IncidentFilter     raises BadRequest naming the parameter
evidence_marks(evidence, sentences, text)  each evidence sentence split around its span
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker.store.browse import Cursor, IncidentFilter


class BadRequest(ValueError):
    """A query parameter that cannot be read; the message names it."""


def _date(params: Mapping[str, str], name: str) -> dt.date | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(f"{name}: not a date (YYYY-MM-DD): {raw!r}") from exc


def _text(params: Mapping[str, str], name: str, max_len: int = 200) -> str | None:
    raw = (params.get(name) or "").strip()
    return raw[:max_len] or None


def parse_filter(params: Mapping[str, str]) -> IncidentFilter:
    """The view an analyst asked for: date_from, date_to, country, event_type, perpetrator,
    min_killed, q (text). Empty parameters mean "any"."""
    country = _text(params, "country")
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise BadRequest(f"country: a two-letter ISO code, not {country!r}")
    raw_min = (params.get("min_killed") or "").strip()
    try:
        min_killed = int(raw_min) if raw_min else None
    except ValueError as exc:
        raise BadRequest(f"min_killed: not a whole number: {raw_min!r}") from exc
    if min_killed is not None and min_killed < 0:
        raise BadRequest("min_killed: must be 0 or more")
    return IncidentFilter(
        date_from=_date(params, "date_from"),
        date_to=_date(params, "date_to"),
        country=country.upper() if country else None,
        event_type=_text(params, "event_type"),
        perpetrator=_text(params, "perpetrator"),
        min_killed=min_killed,
        text=_text(params, "q"),
    )


def parse_cursor(params: Mapping[str, str]) -> Cursor | None:
    raw = (params.get("after") or "").strip()
    if not raw:
        return None
    try:
        return Cursor.decode(raw)
    except ValueError as exc:
        raise BadRequest(f"after: {exc}") from exc


def parse_as_of(params: Mapping[str, str]) -> dt.datetime | None:
    raw = (params.get("as_of") or "").strip()
    if not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadRequest(f"as_of: not an ISO time: {raw!r}") from exc
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


@dataclass(frozen=True, slots=True)
class Mark:
    """An evidence sentence as three plain strings: the part in `span` is highlighted."""

    field: str
    before: str
    span: str
    after: str


def evidence_marks(evidence: list[dict[str, Any]], sentences: list[str], article_text: str) -> list[Mark]:
    """Each evidence sentence (``evidence[n]["sentence"]`` indexes ``sentences``, as in the
    export), with the words its field was read from marked.

    The span is ``article_text[start:end]`` when that lies inside the sentence; otherwise the
    whole sentence is marked. Plain strings only: the template escapes every part.
    """
    out = []
    for ev in evidence:
        at_n = ev.get("sentence")
        sentence = str(sentences[at_n]) if isinstance(at_n, int) and 0 <= at_n < len(sentences) else ""
        start, end = ev.get("start"), ev.get("end")
        span = ""
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(article_text):
            span = article_text[start:end]
        at = sentence.find(span) if span else -1
        if at < 0:
            out.append(Mark(str(ev.get("field") or ""), "", sentence, ""))
        else:
            out.append(Mark(str(ev.get("field") or ""), sentence[:at], span, sentence[at + len(span) :]))
    return out


def count_text(c: Mapping[str, Any]) -> str:
    """{low, best, high} as "40 (20-60)"; "" when unknown."""
    best, low, high = c.get("best"), c.get("low"), c.get("high")
    if best is None and low is None and high is None:
        return ""
    text = str(best if best is not None else "?")
    if (low is not None and low != best) or (high is not None and high != best):
        text += f" ({low if low is not None else '?'}-{high if high is not None else '?'})"
    return text
