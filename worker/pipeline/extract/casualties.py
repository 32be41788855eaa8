"""Casualty figures: numbers tied to "killed" or "injured" words, and one Count per incident.

A figure is a number expression (digits, number words, "dozens", "a dozen") tied to a
death or injury word in the same clause, looked for after the number first ("60 civilians
were killed", "44 people dead") and then before it ("killing at least 63", "the toll rose
to 57"). Qualifiers say how to read it ("at least 60" is a floor: best 60). Figures "dead or
missing" and numbers of hours, kilometres, buildings or animals are not tolls. A list of
people counts them all: "a woman and her grandson were killed" is 2, "a woman and her two
children" 3, "two women and a child" 3.

A figure introduced as part of the toll ("including two children", "among the dead were
three children", "two of the dead") is a *subset*: it never sets low or high. A figure
counting the attackers ("eight attackers were also killed", "troops killed 14 militants") or
told as "also killed" is another *group* of the same event's dead.

:func:`combine` turns an incident's figures into ``Count(low, best, high)``. Within a group,
the best figure is the last one the article marks as the new toll ("rose to", "now",
"corrected to"), else the highest one it does not mark as earlier. Groups are summed, low with
low, best with best and high with high: ACLED's fatalities are everyone the event killed,
victims and attackers alike.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

from spacy.tokens import Doc, Span

from worker.pipeline.extract import lexicon
from worker.records import Count

FORWARD_WINDOW = 8
BACKWARD_WINDOW = 12
# Tokens that end a clause when looking from a number for its casualty word.
_FORWARD_STOP = frozenset(
    {",", ";", ":", "(", ")", "and", "or", "but", "while", "when", "as", "after", "because", "since", "--", "—", "–"}
)
_BACKWARD_STOP = frozenset({";", ":", "(", ")", "but", "while", "--", "—", "–"})
_AUX = frozenset(
    {"was", "were", "is", "are", "has", "have", "had", "been", "be", "also", "reportedly", "later", "all", "both"}
    | {"reported", "confirmed", "allegedly"}
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    numbers: dict[str, int]
    multipliers: dict[str, int]
    vague: dict[str, int]
    weak: frozenset[str]
    floor: tuple[tuple[str, ...], ...]
    ceiling: tuple[tuple[str, ...], ...]
    estimate: tuple[tuple[str, ...], ...]
    death: frozenset[str]
    injury: frozenset[str]
    units: frozenset[str]
    non_human: frozenset[str]
    or_words: frozenset[str]
    person: frozenset[str]
    victims: tuple[tuple[str, frozenset[str]], ...]
    people_nouns: frozenset[str]  # heads of "dozens of <people>": victims nouns and more
    counted: frozenset[str]  # plural nouns a number counts in a list of people
    describing: frozenset[str]
    singular_det: frozenset[str]
    subset_before: tuple[tuple[str, ...], ...]
    subset_after: frozenset[str]
    subset_after_next: tuple[tuple[str, ...], ...]
    attackers: frozenset[str]
    also: frozenset[str]
    other_fates: frozenset[str]
    wounding: frozenset[str]  # "shot": wounded unless the text goes on "dead", "to death"
    negations: frozenset[str]
    transitive: frozenset[str]  # killing verbs taking their victims as object
    single_death: frozenset[str]  # death words a singular subject ("a guard was killed") counts as 1
    streets: frozenset[str]  # "2417 Elm St.": a number before these is an address
    not_heads: frozenset[str]  # words a determiner opens that are not a person ("killed a day after")


@functools.cache
def vocabulary() -> Vocabulary:
    data = lexicon.load("casualties")

    def phrases(key: str) -> tuple[tuple[str, ...], ...]:
        return tuple(sorted((tuple(p.split()) for p in data["qualifiers"][key]), key=len, reverse=True))

    return Vocabulary(
        numbers={k: int(v) for k, v in data["numbers"].items()},
        multipliers={k: int(v) for k, v in data["multipliers"].items()},
        vague={k: int(v) for k, v in data["vague"].items()},
        weak=frozenset(data["vague_weak"]["words"]),
        floor=phrases("floor"),
        ceiling=phrases("ceiling"),
        estimate=phrases("estimate"),
        death=lexicon.word_set("casualties", "death", "words"),
        injury=lexicon.word_set("casualties", "injury", "words"),
        units=lexicon.word_set("casualties", "not_casualty", "units"),
        non_human=lexicon.word_set("casualties", "not_casualty", "non_human"),
        or_words=lexicon.word_set("casualties", "not_casualty", "or_words"),
        person=lexicon.word_set("casualties", "people", "singular"),
        victims=tuple((k, frozenset(v)) for k, v in data["victims"].items()),
        people_nouns=frozenset(w for words in data["victims"].values() for w in words)
        | lexicon.word_set("casualties", "people", "singular")
        | lexicon.word_set("casualties", "people", "plural"),
        counted=lexicon.word_set("casualties", "people", "counted"),
        describing=lexicon.word_set("casualties", "people", "describing"),
        singular_det=lexicon.word_set("casualties", "people", "singular_det"),
        subset_before=tuple(tuple(p.split()) for p in data["subset"]["before"]),
        subset_after=lexicon.word_set("casualties", "subset", "after"),
        subset_after_next=tuple(tuple(p.split()) for p in data["subset"]["after_next"]),
        attackers=lexicon.word_set("casualties", "groups", "attackers"),
        also=lexicon.word_set("casualties", "groups", "also"),
        other_fates=lexicon.word_set("casualties", "not_casualty", "other_fates"),
        wounding=lexicon.word_set("casualties", "injury", "wounding"),
        negations=lexicon.word_set("casualties", "death", "negations"),
        transitive=lexicon.word_set("casualties", "death", "transitive"),
        single_death=lexicon.word_set("casualties", "death", "single"),
        not_heads=lexicon.word_set("casualties", "people", "not_heads"),
        streets=lexicon.word_set("casualties", "not_casualty", "streets"),
    )


@dataclass(frozen=True, slots=True)
class Figure:
    """One casualty figure as the text states it."""

    kind: str  # "killed" | "injured"
    value: int
    qualifier: str | None  # "floor" | "ceiling" | "estimate" | None
    vague: bool  # "dozens", "hundreds": ACLED readings, not counts
    weak: bool  # too loose to found an incident on
    start: int  # token index of the number
    end: int
    keyword: int  # token index of the casualty word
    victims: str | None
    supersede: bool = False
    earlier: bool = False
    subset: bool = False  # part of the toll ("including two children"): never sets low/high
    group: str = ""  # "" the victims, "attackers", "also": groups of one event's dead are summed


@dataclass(frozen=True, slots=True)
class _Number:
    start: int
    end: int
    value: int
    vague: bool
    weak: bool
    single: bool = False  # "one": a toll only when tied tightly to a death word ("killing one")


def _parse_digits(text: str) -> int | None:
    t = text.replace(",", "")
    if len(t) > 7 or not (t.isascii() and t.isdigit()):
        return None
    return int(t)


def numbers_in(doc: Doc, start: int, end: int) -> list[_Number]:
    """Number expressions between token ``start`` and ``end``: digits, words, vague amounts."""
    v = vocabulary()
    out: list[_Number] = []
    i = start
    while i < end:
        tok = doc[i]
        low = tok.lower_
        value: int | None = None
        j = i + 1
        vague = weak = single = False
        if low == "one":
            value, single = 1, True
        elif tok.like_num and any(ch.isdigit() for ch in low):
            value = _parse_digits(low)
            if value is not None and j < end and doc[j].lower_ in v.multipliers:
                value *= v.multipliers[doc[j].lower_]
                j += 1
        elif low in v.numbers and low not in {"one", "zero"}:
            value = v.numbers[low]
            # "sixty-three", "twenty one"
            k = j
            if k < end and doc[k].text == "-":
                k += 1
            if k < end and doc[k].lower_ in v.numbers and v.numbers[doc[k].lower_] < 10 <= value:
                value += v.numbers[doc[k].lower_]
                j = k + 1
            if j < end and doc[j].lower_ in v.multipliers:
                value *= v.multipliers[doc[j].lower_]
                j += 1
        elif low in {"dozen", "dozens", "scores", "hundreds", "thousands"}:
            prev = doc[i - 1].lower_ if i > start else ""
            value = v.vague[low]
            if low == "dozen" and prev in v.numbers:
                value = v.numbers[prev] * 12
            elif low == "dozen" and prev not in {"a", "about", "some", "around", "nearly"}:
                value = None
            vague = True
            weak = low in v.weak
        if value is None:
            i += 1
            continue
        j = _range_end(doc, i, j, start, end)
        if _not_people(doc, i, j, end, value):
            i = j
            continue
        out.append(_Number(i, j, value, vague, weak, single))
        i = j
    return out


def _range_end(doc: Doc, i: int, j: int, start: int, end: int) -> int:
    """The end of a range the number at tokens ``i:j`` opens ("20-25", "between 40 and 50"),
    else ``j``. A range is read as its low end, as ACLED does."""
    if j + 1 >= end:
        return j
    if doc[i].text.isdigit() and doc[j].text == "-" and doc[j + 1].text.isdigit():
        return j + 2
    between = i > start and doc[i - 1].lower_ == "between" and doc[j].lower_ == "and"
    if between and (doc[j + 1].like_num or doc[j + 1].lower_ in vocabulary().numbers):
        return j + 2
    return j


@functools.cache
def _qualifier_words() -> frozenset[str]:
    v = vocabulary()
    return frozenset(w for table in (v.floor, v.ceiling, v.estimate) for phrase in table for w in phrase)


def _not_people(doc: Doc, start: int, end: int, limit: int, value: int) -> bool:
    v = vocabulary()
    tok = doc[start]
    nxt = doc[end].lower_ if end < limit else ""
    after = doc[end + 1].lower_ if end + 1 < limit else ""
    prev = doc[start - 1].lower_ if start > 0 else ""
    if ":" in tok.text or (tok.text.isdigit() and len(tok.text) == 4 and tok.text.startswith("0")):
        return True  # clock times: 6:00, 0800 GMT
    if nxt in v.units or (nxt == "-" and after in v.units | {"year", "month", "storey", "story"}):
        return True
    if nxt == "of" and after in v.units:
        return True
    if nxt in v.non_human or (nxt == "of" and after in v.non_human):
        return True
    if prev in {
        "$",
        "£",
        "€",
        "no",
        "no.",
        "number",
        "resolution",
        "aged",
        "age",
        "route",
        "highway",
        "km",
        "tu",
        "kh",
        "called",
        "dialed",
        "dialled",
    }:
        return True
    if (
        prev == "-"
        and start >= 2
        and doc[start - 2].is_alpha
        and not doc[start - 2].whitespace_ + doc[start - 1].whitespace_
    ):
        return True  # Tu-22, Kh-22 split by the tokenizer (not a dateline's "idlib - thirteen")
    if _age_or_address(doc, start, end, limit):
        return True
    if _agent_count(doc, start):
        return True  # "shot by at least six armed men": the attackers, not the victims
    if 1900 <= value <= 2100 and tok.text.isdigit():
        return True  # a year
    if prev in lexicon.load("dates")["months"] or (
        prev == "." and start >= 2 and doc[start - 2].lower_ in lexicon.load("dates")["months"]
    ):
        return True  # "Oct. 8", "july 14"
    # "5 October"; "Colonia 20 de Noviembre", "Rua 7 de Setembro": a date naming a street
    return nxt in lexicon.load("dates")["months"] or nxt in {"de", "del"}


def _age_or_address(doc: Doc, start: int, end: int, limit: int) -> bool:
    """Numbers of wire prose that count no one: an age after a name ("John Doe, 32, was"),
    a street number ("at 2417 Elm St."), a picture caption ("Image 2 of 10")."""
    tok = doc[start]
    prev = doc[start - 1] if start > 0 else None
    nxt = doc[end] if end < limit else None
    if prev is None:
        return False
    k = start - 2 if prev.lower_ == "the" else start - 1
    if k >= 1 and doc[k].lower_ == "of" and doc[k - 1].like_num:
        return True  # "four of the five victims", "2 of 10": the whole, not the toll
    if not tok.text.isdigit():
        return False
    if prev.text == "," and start >= 2 and doc[start - 2].is_title and nxt is not None and nxt.text in {",", ")"}:
        return True  # "Vincent Doe, 32, of Elm Street": an age
    if (
        nxt is not None
        and nxt.is_title
        and any(t.lower_ in vocabulary().streets for t in doc[end : min(limit, end + 4)])
    ):
        return True  # "2417 N. Ninth St.": a street address
    return prev.lower_ in {"image", "photo", "images", "photos", "slide", "page"}


def _agent_count(doc: Doc, start: int) -> bool:
    """Whether the number at ``start`` counts the agents of a passive ("by two gunmen", "by
    around 3 dozen people"): qualifiers may stand between "by" and the number."""
    i = start - 1
    while i >= 0 and (doc[i].lower_ in _qualifier_words() or doc[i].lower_ in {"a", "an"}):
        i -= 1
    return i >= 0 and doc[i].lower_ == "by"


def _qualifier(doc: Doc, start: int, floor: int) -> tuple[str | None, bool]:
    v = vocabulary()
    for name, table in (("floor", v.floor), ("ceiling", v.ceiling), ("estimate", v.estimate)):
        for phrase in table:
            n = len(phrase)
            if start - n < floor:
                continue
            if tuple(t.lower_ for t in doc[start - n : start]) == phrase:
                return name, True
    return None, False


def figures_in(doc: Doc, sent: Span, supersede_at: Sequence[int] = (), earlier: bool = False) -> list[Figure]:
    """Casualty figures of one sentence (token-based, no parser needed).

    ``supersede_at`` are token indexes where a "new toll" cue ends ("rose to", "now");
    ``earlier`` says the sentence marks its figures as earlier ones.
    """
    v = vocabulary()
    out: list[Figure] = []
    nums = numbers_in(doc, sent.start, sent.end)
    num_tokens = {i for n in nums for i in range(n.start, n.end)}
    # Lists of people at a death word ("killing a woman and her two children"): counted whole,
    # so the numbers inside them are not figures of their own.
    lists: list[tuple[int, _People]] = []
    for tok in sent:
        of_person = tok.lower_ == "death" and tok.i + 1 < sent.end and doc[tok.i + 1].lower_ == "of"
        if tok.lower_ in v.death and (
            tok.lower_ not in {"toll", "death", "deaths", "lives"} or doc[tok.i - 1].lower_ == "to" or of_person
        ):
            people = (
                _people_before(doc, tok.i, sent.start)
                or _people_after(doc, tok.i, sent.end)
                or _single_victim(doc, tok.i, sent.start)
                or _body_found(doc, tok.i, sent)
            )
            if people is not None:
                lists.append((tok.i, people))
    in_list = {i for _, p in lists if p.units > 1 for i in range(p.start, p.end)}
    linked: set[int] = set()
    for n in nums:
        if n.start in in_list:
            continue
        found = _link(doc, n, sent, num_tokens)
        if found is None:
            continue
        kind, kw = found
        if kind == "killed" and _or_missing(doc, kw, sent.end):
            continue
        linked.add(kw)
        qual, _ = _qualifier(doc, n.start, sent.start)
        sup = any(n.start - 6 <= i <= n.start for i in supersede_at) or _now_between(doc, n, kw)
        out.append(
            Figure(
                kind=kind,
                value=n.value,
                qualifier=qual,
                vague=n.vague,
                weak=n.weak,
                start=n.start,
                end=n.end,
                keyword=kw,
                victims=_victims(doc, n.end, sent.end),
                supersede=sup,
                earlier=earlier and not sup,
                subset=_subset(doc, n.start, n.end, kw, sent.start),
                group=_group(doc, n.end, kw, sent.end),
            )
        )
    out = _join_counts(doc, out)
    # Lists of people: "a woman and her grandson were killed", "two women and a child".
    for kw, p in lists:
        if p.units == 1 and (p.numbered or kw in linked):
            continue  # "seven people were killed": the number's own figure
        out.append(
            Figure(
                kind="killed",
                value=p.count,
                qualifier=_qualifier(doc, p.start, sent.start)[0],
                vague=False,
                weak=False,
                start=p.start,
                end=p.end,
                keyword=kw,
                victims=_people_victims(doc, p),
                earlier=earlier,
                subset=_subset(doc, p.start, p.end, kw, sent.start),
                # Not "also": "his uncle was also dead" names someone already counted.
                group="attackers" if _group(doc, p.end, kw, sent.end) == "attackers" or _attacker(doc, p) else "",
            )
        )
    return out + _single_wounded(doc, sent, linked, earlier)


def _people_victims(doc: Doc, p: _People) -> str:
    """The victim category of a list of people; a single victim's from its head noun only
    ("a man shot by police was killed" names no police victim)."""
    start = p.end - 1 if p.units == 1 and not p.numbered else p.start
    return _victims(doc, start, p.end, window=p.end - start) or "civilians"


def _attacker(doc: Doc, p: _People) -> bool:
    """Whether a single victim is one of the attackers: "the gunman was shot dead"."""
    return p.units == 1 and any(t.lower_ in vocabulary().attackers for t in doc[p.start : p.end])


def _single_wounded(doc: Doc, sent: Span, linked: set[int], earlier: bool) -> list[Figure]:
    """One wounded told by a singular verb: "a boy was shot in the leg", "a guard was injured".
    Not "was shot dead" or "was shot at" (see :func:`_wounding`)."""
    v = vocabulary()
    out: list[Figure] = []
    for tok in sent:
        low = tok.lower_
        if tok.i in linked or low not in v.injury | v.wounding:
            continue
        if low in v.wounding and _wounding(doc, tok.i, sent.end) != ("injured", tok.i):
            continue
        p = _single_victim(doc, tok.i, sent.start, v.injury | v.wounding)
        if p is None:
            continue
        out.append(
            Figure(
                kind="injured",
                value=1,
                qualifier=None,
                vague=False,
                weak=False,
                start=p.start,
                end=p.end,
                keyword=tok.i,
                victims=_people_victims(doc, p),
                earlier=earlier,
            )
        )
    return out


def _join_counts(doc: Doc, figures: list[Figure]) -> list[Figure]:
    """Figures of one verb joined by "and" are one count: "12 militants and 3 guards were
    killed" is 15, "2 rebel and 1 army fatality" 3."""
    out: list[Figure] = []
    for f in figures:
        prev = out[-1] if out else None
        if (
            prev is not None
            and prev.keyword == f.keyword
            and f.keyword >= f.end  # one verb after both: "12 militants and 3 guards were killed"
            and prev.kind == f.kind
            and not (prev.vague or f.vague or prev.subset or f.subset)
            and [t.lower_ for t in doc[prev.end : f.start] if not t.is_alpha] == []
            and sum(t.lower_ == "and" for t in doc[prev.end : f.start]) == 1
        ):
            group = prev.group if prev.group == f.group else ""
            out[-1] = replace(prev, value=prev.value + f.value, end=f.end, group=group)
            continue
        out.append(f)
    return out


def _ends_with(words: Sequence[str], phrases: Sequence[tuple[str, ...]]) -> bool:
    return any(len(words) >= len(p) and tuple(words[len(words) - len(p) :]) == p for p in phrases)


def _subset(doc: Doc, start: int, end: int, kw: int, floor: int) -> bool:
    """Whether the figure at tokens ``start:end`` (death word ``kw``) counts part of the toll.

    "including (at least) two children", "among the dead were three", "of whom two were
    children", "of the 20 killed, 12" before the number; "three children were among the
    dead", "two of the dead" after it. Such a figure is a subset of the toll, not another estimate of it.
    """
    v = vocabulary()
    i = start
    while i > floor and doc[i - 1].lower_ in _qualifier_words() | {"were", "was", "are", "is"}:
        i -= 1
    if _ends_with([t.lower_ for t in doc[max(floor, i - 4) : i]], v.subset_before):
        return True
    if kw > end and any(doc[k].lower_ in v.subset_after for k in range(end, kw)):
        return True
    if floor + 3 <= kw < start and doc[kw - 1].like_num and [t.lower_ for t in doc[kw - 3 : kw - 1]] == ["of", "the"]:
        return True  # "of the 20 killed, 12 were civilians"
    following = [t.lower_ for t in doc[end : min(end + 2, len(doc))]]
    return any(tuple(following[: len(p)]) == p for p in v.subset_after_next)


def _group(doc: Doc, end: int, kw: int, limit: int) -> str:
    """Which group of the event's dead a figure counts: the attackers, "also" others, or ""."""
    v = vocabulary()
    stop = kw if kw > end else limit
    noun: list[str] = []
    for t in doc[end : min(end + 3, stop)]:
        if not t.is_alpha:
            break  # "killed 20 villagers, gunmen said": the gunmen are not counted
        noun.append(t.lower_)
    if any(w in v.attackers for w in noun):
        return "attackers"  # "troops killed 14 attackers", "eight attackers were also killed"
    near = [t.lower_ for t in doc[max(kw - 2, 0) : kw]]
    return "also" if any(w in v.also for w in near) else ""


def _now_between(doc: Doc, n: _Number, kw: int) -> bool:
    lo, hi = sorted((n.end, kw))
    return any(doc[i].lower_ == "now" for i in range(max(lo - 1, 0), min(hi + 1, len(doc))))


_NO_TOLL = ("", -1)  # the number counts people who met another fate: look no further


def _kind(low: str) -> str | None:
    v = vocabulary()
    if low in v.death:
        return "killed"
    return "injured" if low in v.injury else None


def _link(doc: Doc, n: _Number, sent: Span, num_tokens: set[int]) -> tuple[str, int] | None:
    """(kind, casualty word) the number at ``n`` is a figure of, or None."""
    if n.vague:
        return _link_vague(doc, n, sent, num_tokens)
    found = _link_forward(doc, n, sent, num_tokens)
    if found == _NO_TOLL:
        return None
    found = found or _link_backward(doc, n, sent, num_tokens) or _toll_subject(doc, n, sent)
    if found is not None and n.single and not _tight(doc, n, found[1]):
        return None  # "one" is too common a word to be tied across a clause
    return found


def _tight(doc: Doc, n: _Number, kw: int) -> bool:
    """Whether only people words, auxiliaries and qualifiers stand between the number at
    ``n`` and its casualty word: "one of them fatally", "one soldier was killed", "killing at
    least one"."""
    v = vocabulary()
    if kw < n.start:
        return all(t.lower_ in _qualifier_words() for t in doc[kw + 1 : n.start])
    allowed = _AUX | _MANNER | v.people_nouns | v.counted | v.describing | _TIGHT_WORDS
    return all(t.lower_ in allowed for t in doc[n.end : kw])


_TIGHT_WORDS = frozenset({"of", "them", "whom", "the", "their", "his", "her", "its", "those", "other", "and", "more"})


def _link_forward(doc: Doc, n: _Number, sent: Span, num_tokens: set[int]) -> tuple[str, int] | None:
    """The casualty word after the number, in its clause: "60 civilians were killed"."""
    end = min(sent.end, n.end + FORWARD_WINDOW)
    joined = False  # inside "12 militants and 3 guards were killed": the next number shares the verb
    for i in range(n.end, end):
        low = doc[i].lower_
        if i in num_tokens and joined:
            continue
        joined = low == "and" and i + 1 in num_tokens
        if joined:
            continue
        if (low == "or" and i + 1 < end and doc[i + 1].lower_ in {"more", "so"}) or (
            low in {"more", "so"} and i > n.end and doc[i - 1].lower_ == "or"
        ):
            continue  # "40 people or more have died"
        if low == "," and (skip := _aside_end(doc, i, sent.end)):
            return _link_after_aside(doc, skip, sent)
        if (kind := _kind(low)) is not None:
            # "two other non-fatal shootings": the word is negated
            return None if doc[i - 1].text == "-" and doc[i - 2].lower_ == "non" else (kind, i)
        if low in vocabulary().other_fates:
            return _NO_TOLL  # "3 abducted", "4 were arrested": not the dead
        if low in vocabulary().wounding:
            return _wounding(doc, i, sent.end)
        if low in {"who", "whom"} and (past := _past_relative(doc, i, sent.end)):
            return past
        if low == "and" and _verb_pair(doc, i, end):
            continue  # "was shot and killed", "were attacked and beaten to death"
        if low == "(" and (close := _bracket_end(doc, i, sent.end)):
            return _link_forward(doc, _Number(n.start, close, n.value, n.vague, n.weak, n.single), sent, num_tokens)
        if low in _FORWARD_STOP or low in vocabulary().negations or i in num_tokens:
            return None  # "two fighters with no report of injuries": the word is negated
    return None


def _link_after_aside(doc: Doc, skip: int, sent: Span) -> tuple[str, int] | None:
    """The casualty word after an aside: "six people, two of them children, were killed"."""
    for k in range(skip, min(sent.end, skip + FORWARD_WINDOW)):
        if (kind := _kind(doc[k].lower_)) is not None:
            return kind, k
        if doc[k].lower_ in vocabulary().wounding:
            return _wounding(doc, k, sent.end)
        if doc[k].lower_ in _FORWARD_STOP:
            break
    return None


WOUNDING_AFTER = 5
BRACKET_WINDOW = 16


def _verb_pair(doc: Doc, i: int, end: int) -> bool:
    """Whether the "and" at ``i`` joins two verbs of one subject ("shot and killed"), not two
    clauses ("one civilian and injured 27 more")."""
    before, after = doc[i - 1].lower_, doc[i + 1].lower_ if i + 1 < end else ""
    verb_before = before in _MANNER | vocabulary().wounding or (
        before.endswith("ed") and before not in vocabulary().death
    )
    return verb_before and (_kind(after) is not None or after in _MANNER)


def _bracket_end(doc: Doc, i: int, limit: int) -> int | None:
    """The token after the ")" closing the "(" at ``i``, if near: "5 civilians (2 men and 3
    women) were killed"."""
    for k in range(i + 1, min(limit, i + BRACKET_WINDOW)):
        if doc[k].text == ")":
            return k + 1
    return None


def _wounding(doc: Doc, i: int, limit: int) -> tuple[str, int] | None:
    """What "shot" (or "stabbed") at ``i`` makes of a number before it: killed where the
    clause goes on "dead", "to death", "and killed"; not a casualty when "shot at"; else wounded."""
    for k in range(i + 1, min(limit, i + 1 + WOUNDING_AFTER)):
        low = doc[k].lower_
        if k == i + 1 and low == "at":
            return None
        if (kind := _kind(low)) is not None:
            return kind, k
        if low in _FORWARD_STOP - {"and"} or low in vocabulary().negations or doc[k].like_num:
            break
    return "injured", i


def _link_backward(doc: Doc, n: _Number, sent: Span, num_tokens: set[int]) -> tuple[str, int] | None:
    """The casualty word before the number: "killing at least 63", "the toll rose to 57"."""
    v = vocabulary()
    start = max(sent.start, n.start - BACKWARD_WINDOW)
    for i in range(n.start - 1, start - 1, -1):
        low = doc[i].lower_
        if i in num_tokens or low in _BACKWARD_STOP:
            return None
        if low == "and" and any(t.lower_ not in _qualifier_words() | {"a", "an", "the"} for t in doc[i + 1 : n.start]):
            return None  # "shot two men dead and seized 400 pills": another verb's object
        if low == "and" and _kind(doc[i - 1].lower_) and num_tokens & set(range(i - 1 - FORWARD_WINDOW, i - 1)):
            return None  # "two died and two others are recovering": the verb has its own number
        if low in v.death and (low not in {"dead", "body"} or (low == "dead" and i >= n.start - 3)):
            return "killed", i  # "the number of dead at 9"
        if low in v.injury:
            return "injured", i
    return None


VAGUE_NP_WORDS = 4
_VAGUE_GAP_BACK = frozenset({"of", "least", "more", "than", "up", "to", "as", "many", "an", "the"})


def _link_vague(doc: Doc, n: _Number, sent: Span, num_tokens: set[int]) -> tuple[str, int] | None:
    """A vague amount ("dozens", "scores") is a toll only as the subject or object of a
    killing: "dozens were killed", "dozens of civilians died", "dozens of dead", "killed
    dozens", "killing at least scores of people". Not "buses carrying dozens of pilgrims",
    "dozens of workers leaving", "hundreds of students gathered": it counts people doing
    something else, and the clause's killing is someone else's.
    """
    v = vocabulary()
    # Forward: [of <people noun phrase>] <aux>* <death word>.
    i = n.end
    if i < sent.end and doc[i].lower_ in {"more", "others"}:
        i += 1  # "scores more were injured"
    if i < sent.end and doc[i].lower_ == "of":
        if i + 1 < sent.end and doc[i + 1].lower_ in v.death:
            return "killed", i + 1  # "dozens of dead", "scores of bodies"
        i = _people_head_end(doc, i + 1, sent, num_tokens)
    if i > 0:
        while i < sent.end and doc[i].lower_ in _AUX | {"reportedly"}:
            i += 1
        if i < sent.end:
            low = doc[i].lower_
            if low in v.death and not _or_missing(doc, i, sent.end):
                return "killed", i
            if low in v.injury:
                return "injured", i
            if low in {"who", "whom"} and (past := _past_relative(doc, i, sent.end)):
                return past
    # Backward: <killing word> [qualifier] <amount>: "killed dozens", "killing at least scores".
    k = n.start - 1
    while k >= max(sent.start, n.start - 4) and doc[k].lower_ in _VAGUE_GAP_BACK | _qualifier_words():
        k -= 1
    if k >= sent.start and k not in num_tokens:
        low = doc[k].lower_
        if low in v.death and low not in {"dead", "body", "bodies", "lives"}:
            return "killed", k
        if low in v.injury:
            return "injured", k
    return _toll_subject(doc, n, sent)


def _people_head_end(doc: Doc, i: int, sent: Span, num_tokens: set[int]) -> int:
    """The token after the people noun of "dozens of <young men>" from ``i``, or -1."""
    head = None
    for k in range(i, min(sent.end, i + VAGUE_NP_WORDS)):
        if k in num_tokens or not (doc[k].is_alpha or doc[k].text == "-"):
            break
        if doc[k].lower_ in vocabulary().people_nouns:
            head = k
    return head + 1 if head is not None else -1


RELATIVE_WINDOW = 16


def _past_relative(doc: Doc, who: int, limit: int) -> tuple[str, int] | None:
    """ "12 shepherds who had gathered by a well ... were killed": the verb after the clause."""
    v = vocabulary()
    for k in range(who + 1, min(limit - 1, who + RELATIVE_WINDOW)):
        if doc[k].lower_ in {"were", "was"} and k > who + 2:
            j = k + 1
            while j < limit - 1 and doc[j].lower_ in _AUX | _MANNER:
                j += 1  # "were later shot dead"
            nxt = doc[j].lower_
            if nxt in v.death:
                return "killed", j
            if nxt in v.injury:
                return "injured", j
    return None


_TOLL_VERBS = frozenset(
    {"rose", "risen", "rises", "rising", "climbed", "climbs", "increased", "jumped", "stands", "stood"}
)


def _toll_subject(doc: Doc, n: _Number, sent: Span) -> tuple[str, int] | None:
    """ "The death toll from <a long phrase> climbed to 23", "the number of people killed in
    <a long phrase> has risen to 165": the number's subject is the toll."""
    prev = [doc[i].lower_ for i in range(max(n.start - 2, sent.start), n.start)]
    if not (len(prev) == 2 and prev[1] in {"to", "at"} and prev[0] in _TOLL_VERBS):
        return None
    death = vocabulary().death
    for i in range(n.start - 3, sent.start - 1, -1):
        low = doc[i].lower_
        if low == "toll":
            return "killed", i
        if low in death and any(doc[k].lower_ == "number" for k in range(max(sent.start, i - 4), i)):
            return "killed", i  # "the number of (people) killed", "the number of dead"
    return None


def _aside_end(doc: Doc, comma: int, limit: int) -> int | None:
    """End of an aside like ", six of them children," after a number, or None."""
    for k in range(comma + 1, min(comma + 8, limit)):
        if doc[k].text == ",":
            inner = {t.lower_ for t in doc[comma + 1 : k]}
            if "of" in inner and ({"them", "whom"} & inner or "including" in inner):
                return k + 1
            if "including" in inner or "among" in inner:
                return k + 1
            return None
    return None


def _or_missing(doc: Doc, kw: int, limit: int) -> bool:
    v = vocabulary()
    for i in range(kw + 1, min(kw + 4, limit)):
        if doc[i].lower_ == "or" and i + 1 < limit and doc[i + 1].lower_ in v.or_words:
            return True
    # "wounded or killed", "missing or dead"
    return kw >= 2 and doc[kw - 1].lower_ == "or" and doc[kw - 2].lower_ in v.or_words


def _victims(doc: Doc, start: int, limit: int, window: int = 4) -> str | None:
    v = vocabulary()
    for i in range(start, min(start + window, limit)):
        low = doc[i].lower_
        for name, words in v.victims:
            if low in words:
                return name
    return None


@dataclass(frozen=True, slots=True)
class _People:
    """A list of people at a death word: tokens ``start:end``, how many, in how many units."""

    count: int
    start: int
    end: int
    units: int
    numbered: bool  # some unit is counted by a number ("her two children")


PEOPLE_WINDOW = 16
# Words between the person and the death word of "a man was shot to death", "a woman was
# found stabbed to death", "a soldier was fatally shot".
_MANNER = frozenset({"shot", "stabbed", "beaten", "hacked", "burned", "strangled", "tortured", "to", "found"})
DESCRIBING_WORDS = 4


def _people_before(doc: Doc, kw: int, floor: int) -> _People | None:
    """The list of people just before a death word: "a woman and her two children were killed"."""
    end = kw
    while end > floor and doc[end - 1].lower_ in _AUX | _MANNER:
        end -= 1
    if end <= floor or doc[end - 1].lower_ not in vocabulary().person | vocabulary().counted:
        return None  # a list of people ends with a person
    for start in range(max(floor, end - PEOPLE_WINDOW), end):
        people = _people_list(doc, start, end)
        if people is not None and people.end == end:
            return people  # the longest list ending at the verb
    return None


def _people_after(doc: Doc, kw: int, limit: int) -> _People | None:
    """The list of people a killing verb takes: "killing a woman and her two children",
    "shot dead a local leader", "fatally shot a guard", "beheaded an envoy"."""
    low = doc[kw].lower_
    shot_dead = low == "dead" and kw > 0 and doc[kw - 1].lower_ == "shot"
    start = kw + 1
    if low == "fatally" and start < limit and doc[start].lower_ in vocabulary().wounding:
        start += 1  # "fatally shot a guard"
    elif low == "death" and start < limit and doc[start].lower_ == "of":
        start += 1  # "resulted in the death of a commander"
    elif low not in vocabulary().transitive and not shot_dead:
        return None
    return _people_list(doc, start, min(limit, start + PEOPLE_WINDOW))


SUBJECT_WINDOW = 10
_SUBJECT_STOP = frozenset({",", ";", ":", "(", ")", "and", "but", "while", "when", "after", "as", "."})
_SINGULAR_AUX = frozenset({"was", "has", "is"})
_PLURAL_AUX = frozenset({"were", "have", "are"})


def _single_victim(doc: Doc, kw: int, floor: int, words: frozenset[str] | None = None) -> _People | None:
    """One victim told by a singular verb: "a drug dealer was killed", "the district chief was
    shot and killed", "a suspect was shot and died", "the wounded teenager has died".

    The subject need not be a known person noun: the verb's number says one. Not when the
    subject is negated ("no officer was killed") or a pronoun for a thing ("it was killed off").
    """
    v = vocabulary()
    low = doc[kw].lower_
    if low not in (words or v.single_death) or (low == "death" and doc[kw - 1].lower_ != "to"):
        return None
    i = kw
    while i > floor:
        prev = doc[i - 1].lower_
        if prev in _AUX | _MANNER | {"and", "reportedly", "allegedly", "later", "then"}:
            i -= 1
        elif prev.endswith("ed") and i - 1 > floor and doc[i].lower_ == "and":
            i -= 1  # "was abducted and killed", "was attacked and beaten to death"
        else:
            break
    verbs = {t.lower_ for t in doc[i:kw]}
    if not (verbs & _SINGULAR_AUX or low == "dies") or verbs & _PLURAL_AUX or i <= floor:
        return None
    if i - 3 >= floor and doc[i - 1].text == "," and doc[i - 2].like_num and doc[i - 3].text == ",":
        i -= 3  # "John Doe, 45, was shot dead": an age between the name and its verb
    j = i
    while j > max(floor, i - SUBJECT_WINDOW) and doc[j - 1].lower_ not in _SUBJECT_STOP - {")"}:
        j -= 1
        if doc[j].text == ")":  # "a cadre of a party (its initials) was killed"
            while j > floor and doc[j].text != "(":
                j -= 1
    subject = [t.lower_ for t in doc[j:i]]
    if not subject or subject[-1] in _NOT_SUBJECT or any(w in v.negations for w in subject):
        return None
    return _People(count=1, start=j, end=i, units=1, numbered=False)


BODY_FOUND_WINDOW = 6


def _body_found(doc: Doc, kw: int, sent: Span) -> _People | None:
    """One dead told by the finding of a body: "a man's body was found", "the body of a trader
    was recovered"."""
    if doc[kw].lower_ != "body" or kw == sent.start:
        return None
    owner = doc[kw - 1].lower_
    if owner not in {"a", "the", "his", "her", "'s", "s"}:
        return None
    after = {t.lower_ for t in doc[kw + 1 : min(sent.end, kw + 1 + BODY_FOUND_WINDOW)]}
    if not after & {"found", "recovered", "discovered", "retrieved"}:
        return None
    return _People(count=1, start=kw, end=kw + 1, units=1, numbered=False)


_NOT_SUBJECT = frozenset({"it", "this", "that", "which", "what", "there", "nobody", "none"})


def _people_list(doc: Doc, start: int, limit: int) -> _People | None:
    """People units joined by "and" or commas from token ``start``, or None.

    A unit is one person ("a woman", "her 10-year-old son") or a number of them ("two
    children"). Units joined by a comma alone count only when an "and" closes the list ("a
    woman, her son and a neighbour"): ", a doctor said" is not one of the victims.
    """
    units: list[tuple[int, int, bool]] = []  # (count, end, numbered)
    joins: list[bool] = []  # whether each join has an "and"
    i = start
    while True:
        unit = _person_unit(doc, i, limit)
        if unit is None:
            break
        units.append(unit)
        i = unit[1]
        j, has_and = i, False
        if j < limit and doc[j].text == ",":
            j += 1
        if j < limit and doc[j].lower_ == "and":
            j, has_and = j + 1, True
        if j == i or _person_unit(doc, j, limit) is None:
            break
        joins.append(has_and)
        i = j
    if not units:
        return None
    last_and = max((k for k, a in enumerate(joins) if a), default=-1)
    units = units[: last_and + 2]
    return _People(
        count=sum(c for c, _, _ in units),
        start=start,
        end=units[-1][1],
        units=len(units),
        numbered=any(n for _, _, n in units),
    )


_HEAD_END = frozenset({"in", "at", "near", "on", "from", "who", "during", "while", "after", ",", ".", "and", "by"})


def _number_word(doc: Doc, i: int, limit: int) -> int | None:
    """The count a token gives ("two", "3"), unless it is an age ("10-year-old")."""
    tok = doc[i]
    low = tok.lower_
    value = _parse_digits(low) if tok.like_num else None
    if value is None and low in vocabulary().numbers:
        value = vocabulary().numbers[low]
    if value is None or (i + 1 < limit and doc[i + 1].lower_ in {"-", "year", "years"}):
        return None
    return value


def _person_unit(doc: Doc, i: int, limit: int) -> tuple[int, int, bool] | None:
    """One unit of a list of people from token ``i``: (count, end token, counted by a number)."""
    v = vocabulary()
    det = i < limit and doc[i].lower_ in v.singular_det
    j = i + 1 if det else i
    count = _number_word(doc, j, limit) if j < limit else None
    if count is not None:
        j += 1
    elif j < limit and doc[j].lower_ == "both":
        # "both victims", "both of his guards"
        count, j = 2, j + 1
        if j + 1 < limit and doc[j].lower_ == "of" and doc[j + 1].lower_ in v.singular_det | {"the"}:
            j += 2
    if not det and count is None and (aged := _aged_name(doc, j, limit)) is not None:
        return aged
    # Describing words: "10-year-old", "elderly", and at most a few others ("a Syrian woman").
    others = 0
    while j < limit and doc[j].lower_ not in v.person | v.counted:
        tok = doc[j]
        if others and count is None and doc[i].lower_ in {"a", "an"} and tok.lower_ in _HEAD_END:
            # "beheaded an electoral envoy who...": one person named by a noun the lists lack
            return None if doc[j - 1].lower_ in v.not_heads | v.units | v.non_human else (1, j, False)
        if tok.lower_ in v.describing or tok.like_num:
            j += 1
        elif tok.is_alpha and others < DESCRIBING_WORDS and tok.lower_ not in {"and", "or"} | v.death | v.injury:
            others += 1
            j += 1
        else:
            return None
    if j >= limit or (not det and count is None):
        return None
    noun = doc[j].lower_
    if count is None or count == 1:
        return (1, j + 1, False) if noun in v.person else None
    return (count, j + 1, True) if noun in v.counted else None


NAME_WORDS = 3


def _aged_name(doc: Doc, i: int, limit: int) -> tuple[int, int, bool] | None:
    """One person named with an age before the name, as US local news writes it: "the
    shooting death of 15-year-old Tom Vale" (an age is "<n>-year-old" or "<n>-month-old");
    the name is up to :data:`NAME_WORDS` capitalised words."""
    if not (i + 4 < limit and doc[i].like_num and doc[i + 1].text == "-" and doc[i + 2].lower_ in {"year", "month"}):
        return None
    if doc[i + 3].text != "-" or doc[i + 4].lower_ != "old":
        return None
    j = i + 5
    while j < limit and j - (i + 5) < NAME_WORDS and doc[j].is_title and doc[j].is_alpha:
        j += 1
    return (1, j, False) if j > i + 5 else None


def combine(figures: Sequence[Figure]) -> Count:
    """One ``Count`` from the killed (or injured) figures of one incident, in text order."""
    if not figures:
        return Count()
    # Subsets ("including two children") are part of a toll, not estimates of it; alone,
    # they are all the article says.
    whole = [f for f in figures if not f.subset] or list(figures)
    groups: dict[str, list[Figure]] = {}
    for f in whole:
        groups.setdefault(f.group, []).append(f)
    # ACLED's fatalities are everyone the event killed: "killing six soldiers; eight attackers
    # were also killed" is 14 (low, best and high alike), not a range from 6 to 8.
    counts = [_combine_group(g) for g in groups.values()]
    low, best, high = (sum(getattr(c, k) or 0 for c in counts) for k in ("low", "best", "high"))
    total = [f for f in groups.get("", []) if f.supersede and not f.vague]
    if len(groups) > 1 and total:
        # "the toll rose to 20", "the toll now stands at 9": a new toll counts every group.
        best = total[-1].value
        low, high = min(low, best), max(high, best)
    return Count(low=low, best=best, high=high)


def _combine_group(figures: Sequence[Figure]) -> Count:
    values = [f.value for f in figures]
    numeric = [f for f in figures if not f.vague] or list(figures)
    superseding = [f for f in numeric if f.supersede]
    current = [f for f in numeric if not f.earlier] or numeric
    best = superseding[-1].value if superseding else max(f.value for f in current)
    return Count(low=min(values), best=best, high=max(values))


def lead_figure(figures: Sequence[Figure], count: Count) -> Figure | None:
    """The figure that best evidences ``count``: the one stating its best value, else the
    largest whole (non-subset) figure (a sum of groups is stated by none).
    """
    exact = next((f for f in figures if f.value == count.best and not f.subset), None)
    whole = [f for f in figures if not f.subset] or list(figures)
    return exact or max(whole, key=lambda f: f.value, default=None)


def victims_of(figures: Sequence[Figure]) -> str | None:
    """The victim category of the first killed figure that names one."""
    for f in figures:
        if f.kind == "killed" and f.victims:
            return f.victims
    return None
