"""Time expressions in a sentence, and their resolution to a local calendar date.

Finding and resolving are separate: :func:`find_dates` reads tokens ("late on Wednesday",
"Saturday's strike", "Oct. 8", "5 October", "in March 2019", "overnight", "a day earlier",
"in the last 24 hours"); :func:`resolve` turns one into a date against the publication time
*in the local time of the story's place* (:func:`local_publication`), because "early Tuesday"
in a report filed at 22:50 UTC about Baghdad means Baghdad's Tuesday. The zone is the place's
own (GeoNames gives every place one: Goma is UTC+2, Kinshasa UTC+1), chosen by the caller.

A date right after a reporting verb ("said on Sunday", "kept rising on March 3") dates the
report, not the event; it is kept with ``report=True`` as a last resort.
"""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spacy.tokens import Doc, Span

from worker.pipeline.extract import lexicon


@dataclass(frozen=True, slots=True)
class DateMention:
    """A time expression: ``kind`` with its parameters, not yet resolved."""

    kind: str  # weekday | monthday | month | year | relative | rolling | week | overnight
    start: int  # token span
    end: int
    weekday: int = 0
    month: int = 0
    day: int = 0
    year: int | None = None
    days_back: int = 0
    last: bool = False  # "last Saturday"
    anchored: bool = False  # counts from the incident being told ("the day before")
    report: bool = False  # dates a statement, not the event
    shift: int = 0  # days added after resolving ("on Sunday, a day after ...": -1)
    night: bool = False  # "the night from Friday to Saturday": dates the evening it began


@dataclass(frozen=True, slots=True)
class LocalTime:
    """The publication time in the incident's local time."""

    day: date
    hour: int


@functools.cache
def _tables() -> tuple[dict[str, int], dict[str, int], dict[str, int], frozenset[str], frozenset[str], frozenset[str]]:
    data = lexicon.load("dates")
    weekdays = {w: i for i, w in enumerate(data["weekdays"])}
    months = {k: int(v) for k, v in data["months"].items()}
    relative = {k: int(v) for k, v in data["relative"].items() if isinstance(v, int)}
    anchored = (
        frozenset(data["relative"]["anchored_to_incident"])
        if "anchored_to_incident" in data["relative"]
        else frozenset()
    )
    rolling = frozenset(data["relative"].get("rolling_day", []))
    report = frozenset(data["report_verbs"]["words"])
    return weekdays, months, relative, anchored, rolling, report


@functools.cache
def _phrases_by_first() -> dict[str, tuple[tuple[tuple[str, ...], str, int], ...]]:
    """:func:`_phrases` indexed by their first token."""
    out: dict[str, list[tuple[tuple[str, ...], str, int]]] = {}
    for p in _phrases():
        out.setdefault(p[0][0], []).append(p)
    return {k: tuple(v) for k, v in out.items()}


@functools.cache
def _phrases() -> tuple[tuple[tuple[str, ...], str, int], ...]:
    """Relative and week phrases as token tuples, longest first: (tokens, kind, days)."""
    data = lexicon.load("dates")
    out: list[tuple[tuple[str, ...], str, int]] = []
    for phrase, days in data["relative"].items():
        if isinstance(days, int):
            out.append((tuple(phrase.split()), "relative", days))
    for phrase, days in data["week"].items():
        out.append((tuple(phrase.split()), "week", int(days)))
    out.sort(key=lambda p: -len(p[0]))
    return tuple(out)


_SKIP_BEFORE = frozenset(
    {
        "on",
        "late",
        "early",
        "the",
        ",",
        "by",
        "until",
        "in",
        "of",
        "from",
        "afternoon",
        "morning",
        "evening",
        "night",
        "since",
        "about",
        "around",
        # the audience of a statement: "told journalists on Tuesday"
        "reporters",
        "journalists",
        "parliament",
        "lawmakers",
        "a",
        # page furniture: "Posted: Friday, June 3", "Update (9:10 p.m. Sunday)"
        ":",
        "(",
    }
)
# A clock time's tokens: "9:10", "p.m.", "pm" (a bare "9" counts only before "p.m.").
_CLOCK = re.compile(r"\d{1,2}:\d\d|[ap]\.?m\.?", re.IGNORECASE)


# Words between a toll-update verb and its figure: "rose to at least 100 on Tuesday".
_TOLL_FIGURE_GAP = frozenset(
    {"to", "at", "least", "more", "than", "over", "about", "nearly", "some", "around", "almost"}
)


def _is_report(doc: Doc, start: int, floor: int) -> bool:
    """Whether the date at ``start`` follows a reporting verb ("said on Sunday") or a toll
    update's figure ("the toll rose to 100 on Tuesday" dates the count, not the attack)."""
    weekdays, report = _tables()[0], _tables()[5]
    i = start - 1
    steps = 0
    while i >= floor and steps < 5:
        low = doc[i].lower_
        if low in report:
            return True
        clock = (
            _CLOCK.fullmatch(low)
            or (low.isdigit() and i + 1 < start and _CLOCK.fullmatch(doc[i + 1].lower_))
            or (low == "." and i > floor and _CLOCK.fullmatch(doc[i - 1].lower_))  # "p.m ."
        )
        if clock or low in weekdays:
            # a clock time or the weekday of an explicit date: "9:10 p.m. Sunday",
            # "Friday, June 3"
            i -= 1
            steps += 1
            continue
        if doc[i].like_num and i > floor:
            k = i - 1
            while k > floor and doc[k].lower_ in _TOLL_FIGURE_GAP and i - k <= 4:
                k -= 1
            return k < i - 1 and doc[k + 1].lower_ in {"to", "at"} and doc[k].lower_ in report
        if low not in _SKIP_BEFORE:
            return False
        i -= 1
        steps += 1
    return False


def find_dates(doc: Doc, sent: Span) -> list[DateMention]:
    """Time expressions of one sentence, in text order."""
    weekdays, months, _, anchored, rolling, _ = _tables()
    out: list[DateMention] = []
    toks = [t.lower_ for t in doc[sent.start : sent.end]]
    base = sent.start
    n = len(toks)
    i = 0
    while i < n:
        low = toks[i]
        gi = base + i
        # "X on Sunday, a day after gunmen killed ...": the event is the day before Sunday,
        # and Sunday dates X, not the event.
        after = _after_phrase(toks, i)
        if after is not None:
            days, m = after
            prev = next((d for d in reversed(out) if d.kind not in {"year", "month"}), None)
            if prev is not None:
                out[out.index(prev)] = replace(prev, report=True)
                out.append(replace(prev, start=gi, end=gi + m, report=False, shift=prev.shift - days))
            i += m
            continue
        # relative and week phrases
        hit: tuple[tuple[str, ...], str, int] | None = None
        for phrase, kind, days in _phrases_by_first().get(low, ()):
            m = len(phrase)
            if tuple(toks[i : i + m]) == phrase:
                hit = (phrase, kind, days)
                break
        if hit is not None:
            phrase, kind, days = hit
            text = " ".join(phrase)
            m = len(phrase)
            if kind == "relative" and text == "overnight":
                label = "overnight"
            elif kind == "relative" and text in rolling:
                label = "rolling"
            else:
                label = kind
            out.append(
                DateMention(
                    label, gi, gi + m, days_back=days, anchored=text in anchored, report=_is_report(doc, gi, sent.start)
                )
            )
            i += m
            continue
        holiday = _holiday(toks, i)
        if holiday is not None:
            width, h_month, h_day = holiday
            out.append(
                DateMention(
                    "monthday", gi, gi + width, month=h_month, day=h_day, report=_is_report(doc, gi, sent.start)
                )
            )
            i += width
            continue
        if low in weekdays:
            last = i > 0 and toks[i - 1] in {"last", "past"}
            span = _night_span(toks, i, weekdays)
            night = span > 1
            out.append(
                DateMention(
                    "weekday",
                    gi,
                    gi + span,
                    weekday=weekdays[low],
                    last=last,
                    report=_is_report(doc, gi, sent.start),
                    night=night,
                )
            )
            # "Saturday, August 17": the explicit date follows and wins.
            i += span
            continue
        if low.rstrip(".") in months and _looks_like_date(toks, i):
            mention, i = _month_first(doc, sent, toks, i, months[low.rstrip(".")])
            out.append(mention)
            continue
        dom = _day(toks, i)
        if dom is not None and i + 1 < n and toks[i + 1].rstrip(".") in months:
            month = months[toks[i + 1].rstrip(".")]
            year = _year(toks, i + 2)
            stop = i + 3 if year else i + 2
            out.append(
                DateMention(
                    "monthday", gi, base + stop, month=month, day=dom, year=year, report=_is_report(doc, gi, sent.start)
                )
            )
            i = stop
            continue
        year = _year(toks, i)
        if (
            year is not None
            and i > 0
            and toks[i - 1] in {"in", "since", "of", "from", "until", "late", "early", "mid", "end"}
        ):
            out.append(DateMention("year", gi, gi + 1, year=year))
        i += 1
    return [
        replace(m, report=True)
        if not m.report and (_statement_subject(doc, m, sent) or _topic_follows(doc, m, sent))
        else m
        for m in out
    ]


_TOPIC = frozenset({"about", "regarding", "concerning"})


def _topic_follows(doc: Doc, m: DateMention, sent: Span) -> bool:
    """Whether the event is told as the topic of what was done that day: "the children spoke
    to reporters Wednesday about the murders", "testified Monday about the shooting"."""
    j = m.end
    while j < sent.end and doc[j].lower_ in _PARTS_OF_DAY:
        j += 1
    return j < sent.end and doc[j].lower_ in _TOPIC


_POSSESSIVE = {"’s": "'s", "s": "'s"}


@functools.cache
def _holidays() -> dict[str, tuple[tuple[tuple[str, ...], int, int], ...]]:
    """Fixed-date holidays of ``dates.toml`` as token tuples ("'s" split off), by first token."""
    out: dict[str, list[tuple[tuple[str, ...], int, int]]] = {}
    for phrase, (month, dom) in lexicon.load("dates")["holidays"].items():
        words = tuple(phrase.lower().replace("'s", " 's").split())
        out.setdefault(words[0], []).append((words, int(month), int(dom)))
    return {k: tuple(v) for k, v in out.items()}


def _holiday(toks: list[str], i: int) -> tuple[int, int, int] | None:
    """``(tokens, month, day)`` of a fixed-date holiday at ``i`` ("New Year's Day", "Christmas
    Eve"), else None. Its year is the latest one not after the publication, as for "Oct. 8"."""
    for words, month, dom in _holidays().get(toks[i], ()):
        got = tuple(_POSSESSIVE.get(t, t) for t in toks[i : i + len(words)])
        if got == words:
            return len(words), month, dom
    return None


# Between a statement's subject and its date: "police on Saturday", "police late Sunday".
_SUBJECT_GAP = frozenset({"on", "late", "early", "this"})
# Tokens that may open a sentence before its subject: a dateline ("OAKLAND -"), the subject's
# own name words ("Greene County police"), a determiner.
_SUBJECT_LEAD = frozenset({"the", "a", "-", "—", "–", ",", "(", ")", ":"})
STATEMENT_VERB_REACH = 3


def _statement_subject(doc: Doc, m: DateMention, sent: Span) -> bool:
    """Whether a day stands between the subject that opens its sentence and that subject's
    verb ("Police on Saturday had yet to identify a teen who was found shot Friday evening",
    "Neighbors on Monday night did not want to talk"): the day of what the police or the
    neighbours did, not of the event, unless an event word follows the day at once ("Police
    on Tuesday shot dead two men").

    The subject is a word of ``dates.toml`` ``[report_subjects]`` (who speaks of an event),
    with only name words, a dateline or a determiner before it in the sentence.
    """
    if m.kind not in {"weekday", "monthday"}:
        return False
    i = m.start - 1
    while i >= sent.start and doc[i].lower_ in _SUBJECT_GAP:
        i -= 1
    if i < sent.start or doc[i].lower_ not in _report_subjects():
        return False
    lead = doc[sent.start : i]
    if not all(t.is_space or t.is_title or t.is_upper or t.lower_ in _SUBJECT_LEAD for t in lead):
        return False
    j = m.end
    while j < sent.end and doc[j].lower_ in _PARTS_OF_DAY:
        j += 1
    return not any(j <= t.start < j + STATEMENT_VERB_REACH for t in doc.spans.get("ww_trigger", ()))


@functools.cache
def _report_subjects() -> frozenset[str]:
    return lexicon.word_set("dates", "report_subjects", "words")


def _month_first(doc: Doc, sent: Span, toks: list[str], i: int, month: int) -> tuple[DateMention, int]:
    """A date opened by its month at ``i`` ("Oct. 8", "May 3, 2020", "last March") and the
    index after it."""
    base, n = sent.start, len(toks)
    gi = base + i
    report = _is_report(doc, gi, sent.start)
    j = i + 1
    if j < n and toks[j] == ".":
        j += 1
    day = _day(toks, j)
    if day is not None:
        k = j + 1
        if k < n and toks[k] == ",":
            k += 1
        year = _year(toks, k)
        endt = k + 1 if year else j + 1
        return DateMention("monthday", gi, base + endt, month=month, day=day, year=year, report=report), endt
    year = _year(toks, j)
    last = i > 0 and toks[i - 1] in {"last", "past"}
    stop = j + 1 if year else j
    return DateMention("month", gi, base + stop, month=month, year=year, last=last, report=report), stop


NIGHT_WINDOW = 4


def _night_span(toks: list[str], i: int, weekdays: dict[str, int]) -> int:
    """How many tokens the weekday at ``i`` spans: more than one when it opens a night's
    span ("during the night from Friday to Saturday", "overnight Friday into Saturday",
    "from Friday evening into early Saturday", "between Friday night and Saturday").

    The night is one date, the evening it began (ACLED codes an event by its start).
    """
    j = i + 1
    if j < len(toks) and toks[j] in _PARTS_OF_DAY:
        j += 1
    if j + 1 >= len(toks) or toks[j] not in {"to", "into", "-", "and", "until"}:
        return 1
    k = j + 1
    if toks[k] in {"early", "late"} and k + 1 < len(toks):
        k += 1
    if toks[k] not in weekdays or weekdays[toks[k]] != (weekdays[toks[i]] + 1) % 7:
        return 1
    before = toks[max(0, i - NIGHT_WINDOW) : i]
    opened = i > 0 and toks[i - 1] in {"from", "between"}
    if not opened and not any(t in {"night", "overnight", "nights"} for t in before):
        return 1
    if toks[j] == "and" and not opened:
        return 1
    return k + 1 - i


_PARTS_OF_DAY = frozenset({"morning", "afternoon", "evening", "night"})


_AFTER_COUNTS = {"a": 1, "one": 1, "the": 1, "two": 2, "three": 3}


def _after_phrase(toks: list[str], i: int) -> tuple[int, int] | None:
    """``(days, tokens)`` for "a day after", "two days after", "hours after" at ``i``."""
    words = toks[i : i + 3]
    if len(words) >= 2 and words[0] == "hours" and words[1] == "after":
        return 0, 2
    if len(words) == 3 and words[0] in _AFTER_COUNTS and words[1] in {"day", "days"} and words[2] == "after":
        return _AFTER_COUNTS[words[0]], 3
    return None


# Words after which a bare month name is a date: "in March", "since last May", "mid-March".
_MONTH_LEAD = frozenset(
    {
        "in", "last", "since", "early", "late", "mid", "of", "-", "this", "until", "through", "by", "during",
        "next", "past", "from", "between", "before", "after", "throughout",
    }
)  # fmt: skip


def _looks_like_date(toks: list[str], i: int) -> bool:
    """A month name is a date only next to a day or year, or after a word that opens a time
    ("in March", "last May"); alone it is a word ("May", "March and vigil", "Women's March")."""
    j = i + 2 if i + 2 < len(toks) and toks[i + 1] == "." else i + 1
    nxt = toks[j] if j < len(toks) else ""
    prev = toks[i - 1] if i > 0 else ""
    return (
        _day([nxt], 0) is not None
        or _year([nxt], 0) is not None
        or prev in _MONTH_LEAD
        or (prev.isdigit() and len(prev) <= 2)
        or _day([prev], 0) is not None
        # a range's second month: "from January to March", "between June and August"
        or (prev in {"to", "and"} and any(t.rstrip(".") in _tables()[1] for t in toks[max(0, i - 3) : i - 1]))
    )


def _day(toks: list[str], i: int) -> int | None:
    if i >= len(toks):
        return None
    t = toks[i]
    for suffix in ("st", "nd", "rd", "th"):
        if t.endswith(suffix) and t[: -len(suffix)].isdigit():
            t = t[: -len(suffix)]
    # Length first: int() refuses digit runs over 4300 characters, and isdigit() accepts
    # superscripts ("²") that int() rejects, hence the ASCII check.
    if len(t) <= 2 and t.isascii() and t.isdigit() and 1 <= int(t) <= 31:
        return int(t)
    return None


def _year(toks: list[str], i: int) -> int | None:
    if i < len(toks) and len(toks[i]) == 4 and toks[i].isascii() and toks[i].isdigit() and 1900 <= int(toks[i]) <= 2100:
        return int(toks[i])
    return None


def local_publication(published_at: datetime | None, zone: str | None) -> LocalTime | None:
    """Publication time in the local time of the story's place.

    A timestamp with a non-zero UTC offset is taken as local already (outlets stamp their
    own zone); one in UTC is moved to ``zone`` (an IANA name) when it is known.
    """
    if published_at is None:
        return None
    when = published_at if published_at.tzinfo else published_at.replace(tzinfo=UTC)
    offset = when.utcoffset()
    if (offset is None or offset == timedelta(0)) and zone:
        # Without a tz database on the host (or for a zone it lacks), stay in UTC.
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
            when = when.astimezone(ZoneInfo(zone))
    return LocalTime(when.date(), when.hour)


def resolve(m: DateMention, pub: LocalTime, anchor: date | None = None) -> tuple[date, str] | None:
    """The local date and precision ("day" | "week" | "month" | "year") of a mention."""
    got = _resolve(m, pub, anchor)
    if got is None or not m.shift:
        return got
    return got[0] + timedelta(days=m.shift), got[1]


def _resolve(m: DateMention, pub: LocalTime, anchor: date | None) -> tuple[date, str] | None:
    today = pub.day
    if m.kind == "weekday":
        delta = (today.weekday() - m.weekday) % 7
        if m.last and delta == 0:
            delta = 7
        return today - timedelta(days=delta), "day"
    if m.kind == "monthday":
        year = m.year or today.year
        try:
            d = date(year, m.month, m.day)
        except ValueError:
            return None
        if m.year is None and d > today + timedelta(days=1):
            try:
                d = date(year - 1, m.month, m.day)
            except ValueError:
                return None
        return d, "day"
    if m.kind == "month":
        year = m.year or (
            today.year if m.month <= today.month and not (m.last and m.month == today.month) else today.year - 1
        )
        return date(year, m.month, 1), "month"
    if m.kind == "year":
        return date(m.year or today.year, 1, 1), "year"
    if m.kind == "overnight":
        return (today if pub.hour >= 5 else today - timedelta(days=1)), "day"
    if m.kind == "rolling":
        return (today if pub.hour >= 12 else today - timedelta(days=1)), "day"
    if m.kind == "relative":
        base = anchor if (m.anchored and anchor is not None) else today
        return base - timedelta(days=m.days_back), "day"
    if m.kind == "week":
        if m.days_back < 0:  # the weekend: its Saturday
            delta = (today.weekday() - 5) % 7
            return today - timedelta(days=delta), "week"
        return today - timedelta(days=m.days_back), "week"
    return None
