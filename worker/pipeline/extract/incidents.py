"""Segmentation: an article's sentences -> the incidents it reports, each with evidence.

    sentences -> segments (clauses split at ";" and ", hours after ...")
              -> drop background ("last year", "in March 2019"), aggregates ("185 civilians
                 in five days", "since 2009") and irrealis figures ("could rise to")
              -> cluster eventive segments (a trigger or a death toll) by place and day:
                 a segment joins a compatible incident, else a trigger segment opens one
              -> keep incidents with a death toll; secondary ones only within a day of
                 the lead incident (older events are context), with a date or a place of
                 their own, and not the lead told again (_told_again)
              -> fields: event type, date, location, perpetrator, killed/injured, victims

One segment opens a new incident when it names a different town, a different day, or says
so ("in a separate incident", "elsewhere"). Segments with nothing to compare join the lead
incident: stories tell their main event at length and others in a sentence or two.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date

from spacy.tokens import Doc, Span

from worker.pipeline import dedupe
from worker.pipeline.extract import actors, casualties, dates, events, lexicon, places
from worker.pipeline.extract.gazetteer import Gazetteer
from worker.records import Article, Count, Evidence, Incident, Place

SECONDARY_MAX_DAYS = 1
# An irrealis cue ("could rise to", "might be among") voids the figures it governs: those
# within this many tokens after it (or right before it: "20 are feared dead").
IRREALIS_WINDOW = 6
_SPLIT_UNITS = frozenset({"hours", "hour", "minutes", "days", "day"})
_SPLIT_RELATIONS = frozenset({"after", "before", "earlier", "later"})


@dataclass
class Segment:
    """A sentence or clause with what the rules found in it."""

    order: int
    span: Span
    triggers: list[events.Trigger]
    figures: list[casualties.Figure]
    dates: list[dates.DateMention]
    places: list[places.PlaceMention]
    roles: list[actors.ActorRole]
    cues: set[str]
    actors: int = 0  # actor mentions, whatever their role

    @property
    def killed(self) -> list[casualties.Figure]:
        return [f for f in self.figures if f.kind == "killed"]

    @property
    def eventive(self) -> bool:
        return bool(self.triggers or self.killed)


@dataclass
class Cluster:
    segments: list[Segment] = field(default_factory=list)
    context: list[Segment] = field(default_factory=list)  # non-eventive segments told after it
    day: date | None = None
    night: bool = False  # the day is a night's evening ("the night from Friday to Saturday")
    separate: bool = False

    def places(self) -> list[places.PlaceMention]:
        return [p for s in self.segments for p in s.places]

    def killed(self) -> list[casualties.Figure]:
        return [f for s in self.segments for f in s.killed]


_SUPERLATIVES = lexicon.word_set("segment", "superlative")
# Words that may open a clause before its break cue: ", in one of the deadliest ...".
_CLAUSE_LEADS = frozenset({"in", "as", "marking", "making", "and"})


def _clause_starts(doc: Doc) -> set[int]:
    """Token indices where a background clause starts inside a sentence.

    A ``clause_break`` cue cuts after a comma (", the highest toll since 2001", ", weeks
    after ..."); "since" also cuts after a superlative earlier in its sentence ("the
    deadliest attack in the capital since 2001"). "killed 10,000 since 2015" is not cut: the
    aggregate cue must stay with its figure.
    """
    out: set[int] = set()
    for cue in doc.spans.get("ww_cue", ()):
        if cue.label_ != "clause" or cue.start == 0:
            continue
        if doc[cue.start - 1].text == ",":
            out.add(cue.start)
        elif cue.start >= 2 and doc[cue.start - 1].lower_ in _CLAUSE_LEADS and doc[cue.start - 2].text == ",":
            # ", in one of the deadliest incidents of the conflict": the comparison describes
            # the event; its "of the conflict" is no aggregate of the sentence's toll.
            out.add(cue.start - 1)
        elif cue[0].lower_ == "since":
            sent = doc[cue.start].sent
            if any(t.lower_ in _SUPERLATIVES for t in doc[max(sent.start, cue.start - 12) : cue.start]):
                out.add(cue.start)
    return out


def segments_of(doc: Doc) -> list[Span]:
    """Sentences, split into clauses at ";", at ", <n> hours after ..." and where a
    background clause starts (see :func:`_clause_starts`)."""
    out: list[Span] = []
    clauses = _clause_starts(doc)
    for sent in doc.sents:
        start = sent.start
        for tok in sent:
            i = tok.i
            if i <= start + 2 or i >= sent.end - 3:
                continue
            cut = None
            if tok.text == ";":
                cut = i + 1
            elif i in clauses or (
                doc[i - 1].text == "," and tok.lower_ in _SPLIT_UNITS and doc[i + 1].lower_ in _SPLIT_RELATIONS
            ):
                cut = i
            if cut is not None:
                out.append(doc[start:cut])
                start = cut
        if start < sent.end:
            out.append(doc[start : sent.end])
    return out


_STAT_BEFORE = frozenset({"fewer", "more", "number", "share", "proportion", "percent", "%"})
_STAT_AFTER = frozenset({"percent", "%", "per", "accounted"})


def _statistical(doc: Doc, start: int, end: int) -> bool:
    """A trigger word used in a statistic ("fewer suicide attacks", "IEDs 28 percent")."""
    if start and doc[start - 1].lower_ in _STAT_BEFORE:
        return True
    after = [t.lower_ for t in doc[end : end + 3]]
    return any(w in _STAT_AFTER for w in after) and any(t.like_num for t in doc[end : end + 3])


def analyse(doc: Doc, gazetteer: Gazetteer) -> tuple[list[Segment], Counter[str]]:
    """Every segment of ``doc`` with its triggers, figures, dates, places, actor roles, cues."""
    countries = places.article_countries(doc, gazetteer)
    blocked = {i for s in doc.spans["ww_actor"] for i in range(s.start, s.end)}
    mentions = places.find_places(doc, gazetteer, set(countries), blocked)
    # Countries of the provinces and towns named count as named too (a story may never say
    # "Ukraine"), and the re-ranked scan uses them.
    named = Counter(countries)
    for m in mentions:
        if m.match.kind in {"admin1", "admin2", "city", "village", "supplement"} and m.place.country and not m.dateline:
            named[m.place.country] += 1
    if named != countries:
        # Re-rank candidates with the fuller country set (cheap: lookups are cached), rather
        # than scanning the tokens again.
        mentions = places.rerank(mentions, gazetteer, set(named))
    mentions = places.anchor_unresolved(doc, mentions)
    triggers = [events.trigger_of(s) for s in doc.spans["ww_trigger"] if not _statistical(doc, s.start, s.end)]
    cues = list(doc.spans["ww_cue"])
    out: list[Segment] = []
    clauses = _clause_starts(doc)
    for order, span in enumerate(segments_of(doc)):
        seg_dates = _dates_of(doc, span, clauses)
        # "who died Nov. 27": a day of the month is no toll.
        dated = {i for m in seg_dates for i in range(m.start, m.end)}
        seg_cues = {c.label_ for c in cues if span.start <= c.start < span.end}
        # "the toll had stood at 59": a pluperfect standing toll is the earlier figure.
        sup_at = [
            c.end
            for c in cues
            if c.label_ == "supersede"
            and span.start <= c.start < span.end
            and not (c[0].lower_ == "stood" and c.start > 0 and doc[c.start - 1].lower_ == "had")
        ]
        irrealis = [c for c in cues if c.label_ == "irrealis" and span.start <= c.start < span.end]
        irrealis_at = [c.start for c in irrealis]
        charged = [c.end for c in cues if c.label_ == "charge" and span.start <= c.start < span.end]
        seg_triggers = _real_triggers(
            [t for t in triggers if span.start <= t.start < span.end and not _charge(t, charged)],
            seg_cues,
            [(c.start, _irrealis_reach(c)) for c in irrealis],
        )
        out.append(
            Segment(
                order=order,
                span=span,
                triggers=seg_triggers,
                figures=[
                    f
                    for f in casualties.figures_in(doc, span, sup_at, earlier="earlier" in seg_cues)
                    if not any(f.start - IRREALIS_WINDOW <= i <= max(f.end, f.keyword) + 2 for i in irrealis_at)
                    and dated.isdisjoint(range(f.start, f.end))
                ],
                dates=seg_dates,
                places=[m for m in mentions if span.start <= m.start < span.end],
                roles=actors.roles_in(doc, span, [(t.start, t.end) for t in seg_triggers]),
                cues=seg_cues,
                actors=sum(1 for a in doc.spans["ww_actor"] if span.start <= a.start < span.end),
            )
        )
    return out, named


CHARGE_WINDOW = 1


def _charge(trigger: events.Trigger, charge_ends: list[int]) -> bool:
    """Whether ``trigger`` names a criminal charge ("charged with murder", "wanted for
    second-degree assault"): the crime's legal name right after a charge cue, no event told."""
    return any(0 <= trigger.start - e <= CHARGE_WINDOW for e in charge_ends)


ADJECTIVE_REACH = 2
_IRREALIS_ADJECTIVES = lexicon.word_set("segment", "irrealis_adjectives")


def _irrealis_reach(cue: Span) -> int:
    """How many tokens after an irrealis cue its triggers are void: a verb's clause ("could
    strike the town"), but only the qualified noun for an adjective ("a possible attack")."""
    return ADJECTIVE_REACH if cue.text.lower() in _IRREALIS_ADJECTIVES else IRREALIS_WINDOW


def _real_triggers(
    triggers: list[events.Trigger], cues: set[str], irrealis_at: list[tuple[int, int]]
) -> list[events.Trigger]:
    """The triggers of a segment that may tell a real violent event.

    A threat or hypothetical ("threatened to attack", "could strike") voids the triggers it
    governs; in a sentence about an accident, a disaster, a protest or an arrest only the
    words that name violence outright (strength 3) stay: "a gas explosion", "an earthquake
    killed", "police raided a house and arrested" are not attacks.
    """
    kept = [t for t in triggers if not any(0 <= t.start - i <= reach for i, reach in irrealis_at)]
    if "non_event" in cues:
        kept = [t for t in kept if t.strength >= 3 and t.type != events.GENERIC]
    return kept


def _dates_of(doc: Doc, span: Span, clauses: set[int]) -> list[dates.DateMention]:
    """The date mentions of a segment; a background clause's read with its sentence's head.

    "dissolved the militia on Friday, a day after gunmen killed 30": the tail clause's date
    is counted from the head's "Friday". (A ", hours after" clause keeps its own dates: its
    event is often the day before.)
    """
    sent = span.sent
    if span.start <= sent.start or span.start not in clauses:
        return dates.find_dates(doc, span)
    return [m for m in dates.find_dates(doc, doc[sent.start : span.end]) if m.start >= span.start]


def _is_background(seg: Segment, pub: dates.LocalTime | None) -> bool:
    if "background" in seg.cues or _timeline_entry(seg):
        return True
    if pub is None:
        return False
    for m in seg.dates:
        if m.report:
            continue
        if m.kind == "year" and m.year is not None and m.year < pub.day.year:
            return True
        if m.kind == "month" and m.year is not None and (m.year, m.month) < (pub.day.year, pub.day.month - 1):
            return True
        if (
            m.kind == "monthday"
            and m.year is not None
            and m.year < pub.day.year - 0
            and (pub.day - date(m.year, m.month, min(m.day, 28))).days > 60
        ):
            return True
    return False


def _timeline_entry(seg: Segment) -> bool:
    """Whether the segment is an entry of a dated list ("Jan. 5: a man shot his neighbour ..."):
    a chronology of past events told for context, not the article's news. A dateline's date
    ("KABUL, Oct. 5: ...", "Oct. 5 - ...", the article's first sentence) opens the news."""
    doc = seg.span.doc
    return seg.order > 0 and any(
        m.end < len(doc) and doc[m.end].text == ":" and not m.report and (m.start == 0 or doc[m.start - 1].text != ",")
        for m in seg.dates
    )


_PRECISION_RANK = {"day": 2, "week": 1, "month": 0}
# Tokens that may sit between a date and the trigger it modifies ("Thursday's strike",
# "Saturday night's attack", "the Oct. 8 strike"); "of" may not ("Monday of the raid").
_LINK_GAP = frozenset({"'s", "s", "’s", "night", "morning", "evening", "afternoon", "deadly", "early", "late"})


def _linked(seg: Segment, m: dates.DateMention, *, forward: bool = True) -> bool:
    """Whether a date modifies the segment's event words directly.

    "Thursday's strike", "the Oct. 8 attack", "the Feb. 2 explosion" (date then trigger,
    unless not ``forward``), or "struck late on Tuesday", "killed on Saturday", "the shooting
    happened early Saturday" (trigger or toll word, then the date; see :func:`_told_when`).
    """
    doc = seg.span.doc
    heads = [(t.start, t.end) for t in seg.triggers] + [(f.keyword, f.keyword + 1) for f in seg.killed]
    # An actor may stand between ("Tuesday's junta air raid", "Sunday's Russian strike").
    actor = {i for a in doc.spans["ww_actor"] if a.start >= m.end for i in range(a.start, a.end)}
    for start, end in heads:
        gap = start - m.end
        between = [i for i in range(m.end, start) if i not in actor]
        if (
            forward
            and 0 <= gap <= 2 + len(actor & set(range(m.end, start)))
            and len(between) <= 2
            and all(doc[i].lower_ in _LINK_GAP for i in between)
        ):
            return True
        if _told_when(doc, end, m.start):
            return True
    return False


_BACK_GAP = frozenset({"on", "late", "early", "last", "this"})
# "the shooting happened early Saturday", "a shooting that occurred on Thursday".
_HAPPENED = frozenset({"that", "which", "happened", "occurred", "took", "place"})
HAPPENED_REACH = 6


def _told_when(doc: Doc, end: int, date_start: int) -> bool:
    """Whether the date starting at ``date_start`` follows the event word ending at ``end``
    closely: "killed on Saturday", "struck late on Tuesday", or through a verb of occurring
    ("the shooting happened early Saturday", "a shooting that took place on Thursday")."""
    if end > date_start:
        return False
    gap = [doc[i].lower_ for i in range(end, date_start)]
    if len(gap) <= 3 and all(w in _BACK_GAP for w in gap):
        return True
    verbs = [w for w in gap if w in _HAPPENED - {"that", "which"}]
    return bool(verbs) and len(gap) <= HAPPENED_REACH and all(w in _BACK_GAP or w in _HAPPENED for w in gap)


@dataclass(frozen=True)
class DatePick:
    """A resolved date mention of a segment with how strongly it dates the event."""

    day: date
    precision: str
    mention: dates.DateMention
    key: tuple[int, ...]  # larger is better


def _date_picks(seg: Segment, pub: dates.LocalTime, anchor: date | None) -> list[DatePick]:
    """The segment's dates, best first: event-linked, then day precision, then the first
    linked or the earliest other one.

    A date that modifies the event ("said the Aug. 9 attack") is the event's even after a
    reporting verb; a date that dates a statement ("told journalists on Tuesday") comes last.
    """
    out = []
    for m in seg.dates:
        if m.kind == "year":
            continue
        got = dates.resolve(m, pub, anchor)
        if got is None:
            continue
        # A week before a verb ("a man who lost his job last week shot ...") is a clause's.
        linked = _linked(seg, m, forward=m.kind != "week")
        report = m.report and not linked
        # Linked dates in reading order: "a link between a shooting early Wednesday and a
        # shooting Friday" tells Wednesday's first. Others the earliest: a statement's day
        # comes after the event's.
        order = -m.start if linked else -got[0].toordinal()
        key = (int(not report), int(linked), _PRECISION_RANK.get(got[1], 0), order)
        out.append(DatePick(got[0], got[1], m, key))
    return sorted(out, key=lambda p: p.key, reverse=True)


def _event_day(seg: Segment, pub: dates.LocalTime | None, anchor: date | None) -> tuple[date, str, DatePick] | None:
    """The segment's best day-precision date that is not a statement's date, if any."""
    if pub is None:
        return None
    for p in _date_picks(seg, pub, anchor):
        if p.precision == "day" and p.key[0]:
            return p.day, p.precision, p
    return None


WEEK_SLACK = 3


def _another_week(seg: Segment, pub: dates.LocalTime | None, anchor: date | None, clusters: list[Cluster]) -> bool:
    """Whether a segment with no day of its own tells its event in a week no incident so far
    was dated in ("a vigil for a man killed in a shooting last week" after a shooting dated
    Thursday): it is another, older event, not a sentence of theirs."""
    if pub is None or not clusters or any(c.day is None for c in clusters):
        return False
    linked = [p for p in _date_picks(seg, pub, anchor) if p.key[0] and p.key[1] and p.precision == "week"]
    return bool(linked) and all(abs((c.day - linked[0].day).days) > WEEK_SLACK for c in clusters if c.day)


CONTEXT_DATE_WINDOW = 3


def _context_day(
    c: Cluster, pub: dates.LocalTime, anchor: date | None
) -> list[tuple[tuple[int, ...], int, DatePick, Segment]]:
    """For an incident its own sentences do not date: the first day-precision date that is
    no statement's in the sentences told right after it ("It happened Saturday around 4
    p.m."), as one pick (key, order, pick, segment); else none."""
    start = c.segments[0].order
    for n, s in enumerate(c.context):
        if s.order - start > CONTEXT_DATE_WINDOW:
            break
        for p in _date_picks(s, pub, anchor):
            if p.precision == "day" and p.key[0]:
                return [(p.key, -n, p, s)]
    return []


def _or_context_day(
    picks: list[tuple[tuple[int, ...], int, DatePick, Segment]], c: Cluster, pub: dates.LocalTime, anchor: date | None
) -> list[tuple[tuple[int, ...], int, DatePick, Segment]]:
    """``picks`` of the incident's own sentences, or the day told right after them when they
    date no event, only statements ("two men were shot, police said Tuesday. It happened
    late Monday."): a sentence without event words dates the event (:func:`_context_day`)."""
    if any(key[0] for key, _, _, _ in picks):
        return picks
    return _context_day(c, pub, anchor) or picks


def _primary_place(seg: Segment) -> places.PlaceMention | None:
    # Countries are too often an actor's ("Russia denied ...") to tell incidents apart.
    usable = [p for p in seg.places if not p.dateline and not p.reference and p.match.kind != "country"]
    if not usable:
        return None
    return max(usable, key=lambda p: (p.rank, -p.start))


_SENTENCE_END = frozenset({".", "!", "?", "…"})
HEADLINE_MAX_WORDS = 20
_CLOSING = frozenset({'"', "”", "’", "'", ")", "]", "»"})


def headline(span: Span) -> bool:
    """Whether a segment is a line that ends without a full stop: a headline, a caption or a
    promo of the page ("Police Tape (Photo: Staff)", "1:49 Residents react to weekend's
    shooting", "Related: Two hurt in crash on Elm Road"), not a sentence of the story.

    Pages put them before, inside and after the story; one about another event would open
    an incident of its own, or lend its toll to the story's: they are told as context (their
    places may still place the story). The story's sentences end with a full stop (a closing
    quote or bracket may follow it), or are longer than a headline.
    """
    toks = [t for t in span if not t.is_space]
    if not toks or not span[-1].is_space or "\n" not in span[-1].text:
        return False
    if sum(t.is_alpha for t in toks) > HEADLINE_MAX_WORDS:
        return False  # a story's sentence that lost its full stop
    while len(toks) > 1 and toks[-1].text in _CLOSING:
        toks.pop()
    last = toks[-1].text
    return last not in _SENTENCE_END and not (len(last) > 1 and last.endswith("."))


def cluster(segs: Sequence[Segment], pub: dates.LocalTime | None) -> list[Cluster]:
    """Group eventive segments into incidents (see the module docstring)."""
    clusters: list[Cluster] = []
    lead_tolls: list[Segment] = []  # tolls told before any event word
    for seg in segs:
        # An aggregate cue speaks about figures ("185 civilians in five days"); a trigger
        # sentence without a toll keeps its event ("as hundreds of residents queued").
        if _is_background(seg, pub) or ("aggregate" in seg.cues and seg.killed):
            continue
        if _lead_toll(seg) and not clusters:
            lead_tolls.append(seg)
            continue
        if not seg.eventive or headline(seg.span):
            if clusters:
                clusters[-1].context.append(seg)
            continue
        anchor = clusters[0].day if clusters else None
        # A toll without a trigger word dates the count ("by Saturday the toll rose to 40"),
        # not an event.
        # Killing verbs alone (strength 0) tell a toll, except in the first event sentence.
        opening = bool(seg.triggers) and (not clusters or any(t.strength > 0 for t in seg.triggers))
        day = _event_day(seg, pub, anchor) if opening else None
        separate = "separate" in seg.cues
        other = day is None and opening and _another_week(seg, pub, anchor, clusters)
        target = None if separate or other else _join_target(seg, clusters, day, opening=opening)
        if target is None:
            if not opening:
                continue
            if separate and not clusters and not seg.killed:
                continue
            target = Cluster(separate=separate)
            clusters.append(target)
            if len(clusters) == 1:
                day = _lead_tolls(target, lead_tolls, seg, day, pub)
        target.segments.append(seg)
        if target.day is None and day is not None:
            target.day = day[0]
            target.night = day[2].mention.night
    return clusters


LEAD_TOLL_REACH = 2


def _lead_toll(seg: Segment) -> bool:
    """A toll told without event words, not in a headline nor in a sentence about an
    accident or a disaster ("workers were hurt when a furnace at a plant exploded")."""
    return (
        not seg.triggers
        and any(not f.weak for f in seg.figures)
        and "non_event" not in seg.cues
        and not headline(seg.span)
    )


def _lead_tolls(
    c: Cluster,
    tolls: list[Segment],
    opening: Segment,
    day: tuple[date, str, DatePick] | None,
    pub: dates.LocalTime | None,
) -> tuple[date, str, DatePick] | None:
    """Put in the lead incident ``c`` the tolls told just before its first event word, and
    return the incident's day.

    News often leads with the toll and tells the violence after it: "Three people were
    found dead inside a home early Sunday. (...) Police said they heard gunshots." Tolls
    within :data:`LEAD_TOLL_REACH` segments before ``opening`` join, unless they give
    another day or a place the opening segment's place rules out; one's day dates the
    incident when the opening segment has none.
    """
    here = _primary_place(opening)
    for s in tolls:
        if opening.order - s.order > LEAD_TOLL_REACH:
            continue
        own = _event_day(s, pub, None)
        if own is not None and day is not None and own[0] != day[0]:
            continue
        there = _primary_place(s)
        if here is not None and there is not None and places.compatible(here, [there]) is False:
            continue
        c.segments.append(s)
        day = day or own
    return day


def _join_target(
    seg: Segment, clusters: list[Cluster], day: tuple[date, str, DatePick] | None, *, opening: bool
) -> Cluster | None:
    """The incident a segment joins: the most compatible in day and place, earlier first."""
    here = _primary_place(seg)
    best: tuple[int, int] | None = None
    target: Cluster | None = None
    for idx, c in enumerate(clusters):
        score = 0
        if day is not None and c.day is not None:
            if not _same_day(day[0], day[2].mention.night, c):
                continue
            score += 1
        if not opening and _other_victims(seg, c):
            continue
        if here is not None:
            verdict = places.compatible(here, c.places())
            if verdict is False:
                continue
            score += bool(verdict)
        key = (score, -idx)
        if best is None or key > best:
            best, target = key, c
    return target


def _same_day(day: date, night: bool, c: Cluster) -> bool:
    """Whether ``day`` is the cluster's day; a night spans its evening and the next morning
    ("overnight" in a morning report is dated by that morning)."""
    assert c.day is not None
    diff = (c.day - day).days
    return diff == 0 or (night and diff == 1) or (c.night and diff == -1)


def _other_victims(seg: Segment, c: Cluster) -> bool:
    """Whether a toll told without an event word counts other victims than the incident's.

    Only vague tolls: "the militants said they had killed dozens of soldiers" after a strike
    that killed 40 civilians is another event told in passing; "three soldiers were also
    killed" is a firm count of the same event's victims.
    """
    if not seg.killed or not all(f.vague for f in seg.killed):
        return False
    mine, theirs = casualties.victims_of(seg.killed), casualties.victims_of(c.killed())
    return mine is not None and theirs is not None and mine != theirs


TOLL_MAX_SEGMENTS = 1
# A trigger this strong names violence outright ("shot", "shooting", "stabbed"), not a word
# that may tell it ("fired", "attack").
STRONG = 3


def _has_toll(c: Cluster) -> bool:
    """Whether a firm toll is told with the event: in a trigger segment or the one right after.

    A toll told far from any trigger word ("212 were killed" paragraphs after "fewer
    bombings" in a report on half-year totals) is a statistic, not this event's toll. A count
    of wounded is a toll too when a word that names the violence outright tells it ("five
    people were shot", "a shooting that wounded three"): a non-fatal shooting is news as much
    as a fatal one, but not in a sentence of totals ("312 were shot and wounded so far this
    year"; such a sentence with dead is dropped before, see :func:`cluster`).
    """
    told = [s.order for s in c.segments if any(t.strength > 0 for t in s.triggers)]
    strong = [s.order for s in c.segments if any(_strong(t) for t in s.triggers)]

    def near(order: int, orders: list[int]) -> bool:
        # A toll the lead tells before its first event word (see _lead_tolls) is told with it.
        lead = bool(orders) and 0 < min(orders) - order <= LEAD_TOLL_REACH
        return lead or any(0 <= order - t <= TOLL_MAX_SEGMENTS for t in orders)

    return any(
        not f.weak
        and (near(s.order, told) if f.kind == "killed" else near(s.order, strong) and "aggregate" not in s.cues)
        for s in c.segments
        for f in s.figures
    )


def _strong(t: events.Trigger) -> bool:
    return t.type != events.GENERIC and t.strength >= STRONG


def _is_event(c: Cluster, lead: bool) -> bool:
    """Whether a cluster reports a violent event, fatal or not.

    A firm toll told with a trigger is enough. Otherwise, for the article's first event, told
    with a place, a word that names the event's kind (an air strike, shelling, a clash, an abduction,
    gunmen) is enough; a generic one ("attack", "fired") needs a victim count, an actor or a
    place in the sentences that tell it. Without a place, a day and a word that names the
    violence outright ("shooting") are enough. A later event needs a toll or to be set apart:
    "the hospital gate was hit" is a detail of the story told, not another event.
    """
    if _has_toll(c):
        return True
    told = [s for s in c.segments if s.triggers]
    if not lead:
        # A later event of the article is told as one: set apart ("in a separate attack")
        # or with victims of its own.
        return c.separate and any(t.type != events.GENERIC for s in told for t in s.triggers)
    if not any(s.places for s in c.segments):
        # An event without a toll is news where the text places it, or when a word names the
        # violence outright and the text gives its day: "a shooting early Saturday on the 2400
        # block of Elm Street" in a neighbourhood the gazetteer lacks is a report of one event.
        # Not in a sentence about a protest, an arrest or an accident, whose strong words may
        # be about something else ("protesters blocked the road in both directions").
        return c.day is not None and any(_strong(t) for s in told if "non_event" not in s.cues for t in s.triggers)
    if any(t.type != events.GENERIC and t.strength >= 2 for s in told for t in s.triggers):
        return True
    # A killing verb alone needs an agent or a place: "212 were killed" in a statistic is not.
    return any(s.roles or s.actors or s.places or (s.figures and any(t.strength > 0 for t in s.triggers)) for s in told)


def _evidence(fieldname: str, doc: Doc, seg: Segment, start: int, end: int) -> Evidence:
    sent = seg.span.sent if seg.span.start < len(doc) else seg.span
    return Evidence(fieldname, sent.text, doc[start].idx, doc[end - 1].idx + len(doc[end - 1].text))


def _zone(gazetteer: Gazetteer, *where: Place | None, country: str | None) -> str | None:
    """The time zone a UTC publication time is read in: the first of ``where`` that has one
    (the dateline's place: the reporter's "yesterday" is their day; else the event's place),
    else ``country``'s most populous zone, else None (UTC)."""
    for p in where:
        if p is not None and p.timezone:
            return p.timezone
    return gazetteer.country_zone(country)


def build(doc: Doc, article: Article, gazetteer: Gazetteer) -> list[Incident]:
    """The incidents ``doc`` (the processed ``article.text``) reports."""
    segs, named = analyse(doc, gazetteer)
    main_country = named.most_common(1)[0][0] if named else None
    # The dateline's town (a dateline country says no more than the country fallback does).
    dateline = next((p.place for s in segs for p in s.places if p.dateline and p.match.kind != "country"), None)
    pub = dates.local_publication(article.published_at, _zone(gazetteer, dateline, country=main_country))
    found = cluster(segs, pub)
    clusters = [c for n, c in enumerate(found) if _is_event(c, lead=n == 0)]
    if not clusters:
        return []
    article_triggers = [t for s in segs if "background" not in s.cues for t in s.triggers]
    # Sentences no reported incident holds: a claim or an accusation told apart from the
    # event ("Giving the new toll on Sunday, the minister blamed al-Shabab") may name the
    # lead incident's perpetrator.
    held = {s.order for c in clusters[1:] for s in [*c.segments, *c.context]}
    held |= {s.order for s in clusters[0].segments}
    spare = [
        s for s in segs if s.order not in held and s.roles and not _is_background(s, pub) and "aggregate" not in s.cues
    ]

    seats = [(p, s) for s in segs for p in s.places if p.jurisdiction]

    def make(c: Cluster, lead_day: date | None) -> Incident | None:
        return _incident(
            doc,
            c,
            article=article,
            article_triggers=article_triggers,
            main_country=main_country,
            zone=lambda location, country: _zone(gazetteer, dateline, location, country=country),
            lead_day=lead_day,
            lead=clusters[0],
            spare=spare if c is clusters[0] or clusters[0].segments[0] in c.segments else (),
            seats=seats,
        )

    built: list[tuple[Cluster, Incident]] = []
    lead_day: date | None = None
    for n, c in enumerate(clusters):
        inc = make(c, lead_day)
        if inc is None or _too_vague(inc, lead=n == 0):
            continue
        if n == 0:
            lead_day = inc.date
        elif lead_day and inc.date and abs((inc.date - lead_day).days) > SECONDARY_MAX_DAYS:
            continue
        built.append((c, inc))
    # One event told twice (the lead sentence dated by the funerals, a later one by
    # "Thursday's strike"): merge and rebuild, so the best-linked date and actor win.
    merged = True
    while merged:
        merged = False
        pairs = [(a, b) for a in range(len(built)) for b in range(a + 1, len(built))]
        for i, j in pairs:
            (ci, ai), (cj, aj) = built[i], built[j]
            if ci.separate or cj.separate:
                continue
            if not (_same_event(ai, aj, _placed(ci) and _placed(cj)) or (i == 0 and _told_again(ai, aj))):
                continue
            both = Cluster(
                segments=sorted([*ci.segments, *cj.segments], key=lambda x: x.order),
                context=sorted([*ci.context, *cj.context], key=lambda x: x.order),
                day=ci.day or cj.day,
            )
            inc = make(both, None if i == 0 else lead_day)
            if inc is None:
                continue
            built[i] = (both, inc)
            del built[j]
            merged = True
            break
    return [inc for _, inc in built]


_FOLLOW_UP_CUES = frozenset({"supersede", "earlier", "background"})


def _told_as_news(c: Cluster, seg: Segment, pick: DatePick, pub: dates.LocalTime, article: Article) -> bool:
    """Whether a statement's date dates the event too: "jets killed 60 civilians ..., activists
    said late on Wednesday" in a report published that Wednesday.

    The statement must be made on the publication day (local or UTC), in the sentence that
    tells the event (a trigger or a toll), and nothing marks it as a follow-up (a background
    or "earlier" cue in that sentence, a toll that "rose to" or was "earlier" given; an
    event date would have been picked instead): then the event is the day's news.
    """
    utc_day = article.published_at.astimezone(UTC).date() if article.published_at else None
    if pick.day not in {pub.day, utc_day} or not (seg.triggers or seg.killed):
        return False
    return not (seg.cues & _FOLLOW_UP_CUES or any(f.supersede or f.earlier for f in c.killed()))


TARGET_WINDOW = 6
_WOUNDS = frozenset({"wound", "wounds"})


def _target_words(doc: Doc, c: Cluster) -> list[str]:
    """The words right after each trigger of the event: where its target is named
    ("attacked a police post"), not its perpetrator ("police shot ...")."""
    attackers = casualties.vocabulary().attackers | {"men", "individuals", "militiamen"}
    words = []
    for s in c.segments:
        for t in s.triggers:
            if t.text.split()[-1] in attackers | _WOUNDS:
                # "gunmen", "armed men": the attackers, whose target is elsewhere; "gunshot
                # wounds": the injury of someone named before it ("found him with gunshot wounds").
                continue
            words += events.target_words(doc, s.span.start, s.span.end, t, TARGET_WINDOW)
    return words


def _says_none_died(c: Cluster) -> bool:
    """Whether the incident's sentences, or those told right after them, say nobody died."""
    told = {s.order for s in c.segments}
    near = [s for s in c.context if s.order - 1 in told or s.order - 2 in told]
    return any("no_deaths" in s.cues for s in [*c.segments, *near])


def _placed(c: Cluster) -> bool:
    """Whether the text places the cluster's event (the dateline alone does not)."""
    return any(not p.dateline for s in [*c.segments, *c.context] for p in s.places)


def _same_event(a: Incident, b: Incident, both_placed: bool = True) -> bool:
    """Whether two incidents of one article are one event told in two places.

    Same event type, compatible perpetrators, and either the same town within a day, or
    one without a place of its own (``both_placed`` False) within a day.
    """
    if a.event_type != b.event_type:
        return False
    if a.perpetrator and b.perpetrator and a.perpetrator != b.perpetrator:
        return False
    days = abs((a.date - b.date).days) if a.date and b.date else 0
    if not both_placed:
        return days <= 1 and (a.location is None or b.location is None or a.location.country == b.location.country)
    if a.location is None or b.location is None:
        return days == 0
    if a.location.country != b.location.country:
        return False
    coarse = {"country", "province"}
    if a.location.precision in coarse or b.location.precision in coarse:
        return days == 0 and (
            a.location.precision == "country"
            or b.location.precision == "country"
            or a.location.admin1 == b.location.admin1
            or a.location.name in {b.location.admin1, b.location.name}
            or b.location.name == a.location.admin1
        )
    return days <= 1 and places.same_place(a.location, b.location)


def _too_vague(inc: Incident, *, lead: bool) -> bool:
    """Whether a later incident of an article says too little to be reported as an event of
    its own: nothing in the text dates it (its date is the lead's) and it has no place ("37
    were killed in another village" on some holiday the date reader does not know is
    background, not a second event). The lead incident is always kept: a short note may give
    neither."""
    if lead or any(e.field == "date" for e in inc.evidence):
        return False
    return inc.location is None


# Places that are a place of their own, not an area another place may lie in.
_OWN_PLACE = frozenset({"town", "city", "village", "neighbourhood", "neighborhood", "near"})
# Tolls this compatible (dedupe.casualty_compatibility: 1 equal, 0.5 one unknown, about 0.7 for
# 2 against 8) may be one event's toll told twice; 4 against 80 may not.
TOLD_AGAIN_TOLL = 0.5


def _told_again(lead: Incident, other: Incident) -> bool:
    """Whether a later incident of an article, not set apart by the text, is its lead event
    told again (placed only by its district or province, or by nothing; the toll restated a
    day later).

    An article mostly reports one event, so a second one needs evidence that it is another:
    an incompatible event type or named perpetrator, a toll that cannot be the same, or a
    place of its own (both incidents placed at a town, a village or "near" one, at different
    places), unless the very same toll is given for both (the capital where officials spoke
    and the village struck).
    """
    if dedupe.type_compatibility(lead.event_type, other.event_type) == 0.0:
        return False
    if lead.perpetrator and other.perpetrator and lead.perpetrator != other.perpetrator:
        return False
    if dedupe.casualty_compatibility(lead.killed, other.killed) < TOLD_AGAIN_TOLL:
        return False
    if lead.killed.best is not None and lead.killed.best == other.killed.best and lead.killed.best > 0:
        return True
    a, b = lead.location, other.location
    if a is None or b is None or a.precision not in _OWN_PLACE or b.precision not in _OWN_PLACE:
        return True
    return places.same_place(a, b)


def _incident(
    doc: Doc,
    c: Cluster,
    *,
    article: Article,
    article_triggers: Sequence[events.Trigger],
    main_country: str | None,
    zone: Callable[[Place | None, str | None], str | None],
    lead_day: date | None,
    lead: Cluster,
    spare: Sequence[Segment] = (),
    seats: Sequence[tuple[places.PlaceMention, Segment]] = (),
) -> Incident | None:
    evidence: list[Evidence] = []
    # --- event type
    trig_list = [t for s in c.segments for t in s.triggers]
    chosen = events.choose(trig_list, article_triggers)
    if chosen is None:
        return None
    launch = {c.label_ for c in doc.spans["ww_cue"] if c.label_ in {"air_launch", "ground_launch"}}
    chosen = events.by_launch(chosen, "air_launch" in launch, "ground_launch" in launch)
    chosen = events.by_sides(chosen, _target_words(doc, c), casualties.victims_of(c.killed()))
    chosen = events.by_fire(chosen, trig_list)
    chosen = events.by_agent(chosen, trig_list)
    tseg = (
        next(s for s in c.segments if s.span.start <= chosen.start < s.span.end)
        if any(s.span.start <= chosen.start < s.span.end for s in c.segments)
        else c.segments[0]
    )
    evidence.append(_evidence("event_type", doc, tseg, chosen.start, chosen.end))
    # --- location
    trigger_segs = {id(s) for s in c.segments if s.triggers}
    first = c.segments[0].order
    cands = [
        (p, s.order - first, id(s) in trigger_segs)
        for s in sorted([*c.segments, *c.context], key=lambda x: x.order)
        for p in s.places
    ]
    # Nothing placed in the incident's sentences: the jurisdiction of the local force the
    # article names ("Dayton police said"), where the event lies.
    where = places.choose(cands) or places.choose([(m, 0, False) for m, _ in seats])
    location: Place | None = None
    if where is not None:
        location = where.place
        if where.match.kind == "country":
            location = Place(location.name, location.country, location.lat, location.lon, None, "country")
        elif where.near:
            location = Place(
                location.name,
                location.country,
                location.lat,
                location.lon,
                location.admin1,
                "near",
                timezone=location.timezone,
            )
        if location.country is None and main_country:
            # A town the gazetteer lacks lies, as far as the text says, in the country the
            # article is about: enough to deduplicate it within that country.
            location = Place(location.name, main_country, None, None, None, location.precision)
        pseg = next((s for s in [*c.segments, *c.context] if where in s.places), None) or next(
            s for m, s in seats if m is where
        )
        evidence.append(_evidence("location", doc, pseg, where.start, where.end))
    country = (location.country if location else None) or main_country
    # --- date, in the incident's local time
    pub = dates.local_publication(article.published_at, zone(location, country))
    day: date | None = None
    precision: str | None = None
    if pub is not None:
        anchor = lead_day if c is not lead else None
        picks = [(p.key, -n, p, s) for n, s in enumerate(c.segments) for p in _date_picks(s, pub, anchor)]
        picks = _or_context_day(picks, c, pub, anchor)
        if picks:
            _, _, best, s = max(picks, key=lambda x: (x[0][:3], x[1], x[0][3:]))
            if not best.key[0]:
                # Only statements are dated ("the toll rose to 100 on Tuesday", "had stood at
                # 59 late on Monday"): the event came by the earliest of them.
                _, _, best, s = max(picks, key=lambda x: (x[0][:3], x[0][3:], x[1]))
            day, precision = best.day, best.precision
            if not best.key[0] and not _told_as_news(c, s, best, pub, article):
                # Only a statement is dated ("police said on Thursday"): the event came on
                # that day or some days before it.
                precision = "week"
            evidence.append(_evidence("date", doc, s, best.mention.start, best.mention.end))
        else:
            # Nothing in the text dates the event: the publication day, loosely.
            day, precision = (lead_day, "day") if lead_day else (pub.day, "week")
    # --- casualties
    killed_figs = c.killed()
    injured_figs = [f for s in c.segments for f in s.figures if f.kind == "injured"]
    killed = casualties.combine(killed_figs)
    injured = casualties.combine(injured_figs)
    if not killed.known and (_says_none_died(c) or injured.known):
        # The text says nobody died, or counts the event's casualties and names no dead.
        killed = Count(0, 0, 0)
    for name, figs, count in (("killed", killed_figs, killed), ("injured", injured_figs, injured)):
        pick = casualties.lead_figure(figs, count)
        if pick is not None:
            fseg = next(s for s in c.segments if pick in s.figures)
            lo, hi = sorted((pick.start, pick.keyword))
            evidence.append(_evidence(name, doc, fseg, lo, max(hi, pick.end - 1) + 1))
    # --- perpetrator
    # Statements right after an incident's sentences speak about it ("The Taliban claimed
    # responsibility."); farther ones may be about anything.
    told = {s.order for s in c.segments}
    near = [s for s in c.context if s.order - 1 in told or s.order - 2 in told]
    role_list = [
        (r, s.order - c.segments[0].order) for s in sorted([*c.segments, *near], key=lambda x: x.order) for r in s.roles
    ]
    unclaimed = any(c.label_ == "unclaimed" for c in doc.spans["ww_cue"])
    who = actors.choose(role_list, country, unclaimed=unclaimed)
    if who is None and spare:
        # Only a claim or an accusation counts from elsewhere in the article.
        claims = [(r, s.order - first) for s in spare for r in s.roles if r.role in {"claimed", "accused"}]
        who = actors.choose(claims, country, unclaimed=unclaimed)
    perpetrator = certainty = None
    if who is not None:
        perpetrator, certainty, mention_role = who
        aseg = next((s for s in [*c.segments, *c.context, *spare] if mention_role in s.roles), c.segments[0])
        evidence.append(_evidence("perpetrator", doc, aseg, mention_role.start, mention_role.end))
    return Incident(
        event_type=chosen.type,
        date=day,
        date_precision=precision,
        location=location,
        perpetrator=perpetrator,
        perpetrator_certainty=certainty,
        victims=casualties.victims_of(killed_figs),
        killed=killed if killed.known else Count(),
        injured=injured if injured.known else Count(),
        evidence=tuple(evidence),
    )
