"""Casualty figures: numbers tied to "killed" or "injured" words, and one Count per incident.

A figure is a number expression (digits, number words, "dozens", "a dozen") tied to a
death or injury word in the same clause, looked for after the number first ("60 civilians
were killed", "44 people dead") and then before it ("killing at least 63", "the toll rose
to 57"). Qualifiers say how to read it ("at least 60" is a floor: best 60). Figures "dead or
missing" and numbers of hours, kilometres, buildings or animals are not tolls. A toll with no
number may still count people: "a woman and her grandson were killed" is 2.

:func:`combine` turns an incident's figures into ``Count(low, best, high)``: the best figure
is the last one the article marks as the new toll ("rose to", "now", "corrected to"), else
the highest one it does not mark as earlier.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from spacy.tokens import Doc, Span, Token

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
)
_SINGULAR_DET = frozenset({"a", "an", "her", "his", "their", "one", "its"})


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


@dataclass(frozen=True, slots=True)
class _Number:
    start: int
    end: int
    value: int
    vague: bool
    weak: bool


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
        vague = weak = False
        if tok.like_num and any(ch.isdigit() for ch in low):
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
        if _not_people(doc, i, j, end, value):
            i = j
            continue
        out.append(_Number(i, j, value, vague, weak))
        i = j
    return out


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
    }:
        return True
    if prev == "-" and start >= 2 and doc[start - 2].is_alpha:
        return True  # Tu-22, Kh-22 split by the tokenizer
    if 1900 <= value <= 2100 and tok.text.isdigit():
        return True  # a year
    if prev in lexicon.load("dates")["months"] or (
        prev == "." and start >= 2 and doc[start - 2].lower_ in lexicon.load("dates")["months"]
    ):
        return True  # "Oct. 8", "july 14"
    return nxt in lexicon.load("dates")["months"]  # "5 October"


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
    linked: set[int] = set()
    for n in nums:
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
            )
        )
    # Tolls without a number: "a woman and her grandson were killed".
    for tok in sent:
        if tok.lower_ in v.death and tok.i not in linked and tok.lower_ not in {"toll", "death", "deaths", "lives"}:
            count = _people_before(doc, tok.i, sent.start) or _people_after(doc, tok.i, sent.end)
            if count:
                out.append(
                    Figure("killed", count, None, False, False, tok.i, tok.i + 1, tok.i, "civilians", False, earlier)
                )
    return out


def _now_between(doc: Doc, n: _Number, kw: int) -> bool:
    lo, hi = sorted((n.end, kw))
    return any(doc[i].lower_ == "now" for i in range(max(lo - 1, 0), hi + 1))


def _link(doc: Doc, n: _Number, sent: Span, num_tokens: set[int]) -> tuple[str, int] | None:
    v = vocabulary()
    if n.vague:
        return _link_vague(doc, n, sent, num_tokens)
    end = min(sent.end, n.end + FORWARD_WINDOW)
    for i in range(n.end, end):
        low = doc[i].lower_
        if low == "or" and i + 1 < end and doc[i + 1].lower_ in {"more", "so"}:
            continue  # "95 people or more have died"
        if low in {"more", "so"} and i > n.end and doc[i - 1].lower_ == "or":
            continue
        if low == "," and (skip := _aside_end(doc, i, sent.end)):
            end = min(sent.end, skip + FORWARD_WINDOW)
            for k in range(skip, end):
                low2 = doc[k].lower_
                if low2 in v.death:
                    return "killed", k
                if low2 in v.injury:
                    return "injured", k
                if low2 in _FORWARD_STOP:
                    break
            break
        if low in v.death:
            return "killed", i
        if low in v.injury:
            return "injured", i
        if low in {"who", "whom"} and (past := _past_relative(doc, i, sent.end)):
            return past
        if low in _FORWARD_STOP or i in num_tokens:
            break
    start = max(sent.start, n.start - BACKWARD_WINDOW)
    for i in range(n.start - 1, start - 1, -1):
        low = doc[i].lower_
        if i in num_tokens or low in _BACKWARD_STOP:
            break
        if low in v.death and low not in {"dead"} | {"body"}:
            return "killed", i
        if low in v.death and low == "dead" and i >= n.start - 3:
            return "killed", i  # "the number of dead at 12"
        if low in v.injury:
            return "injured", i
    return _toll_subject(doc, n, sent)


VAGUE_NP_WORDS = 4
_VAGUE_GAP_BACK = frozenset({"of", "least", "more", "than", "up", "to", "as", "many", "an", "the"})


def _link_vague(doc: Doc, n: _Number, sent: Span, num_tokens: set[int]) -> tuple[str, int] | None:
    """A vague amount ("dozens", "scores") is a toll only as the subject or object of a
    killing: "dozens were killed", "dozens of civilians died", "dozens of dead", "killed
    dozens", "killing at least scores of people". Not "boats carrying dozens of families",
    "dozens of families fleeing", "hundreds of residents marched": it counts people doing
    something else, and the clause's killing is someone else's.
    """
    v = vocabulary()
    # Forward: [of <people noun phrase>] <aux>* <death word>.
    i = n.end
    if i < sent.end and doc[i].lower_ in {"more", "others"}:
        i += 1  # "scores more were hurt"
    if i < sent.end and doc[i].lower_ == "of":
        i += 1
        if i < sent.end and doc[i].lower_ in v.death:
            return "killed", i  # "dozens of dead", "scores of bodies"
        head = None
        for k in range(i, min(sent.end, i + VAGUE_NP_WORDS)):
            if k in num_tokens or not (doc[k].is_alpha or doc[k].text == "-"):
                break
            if doc[k].lower_ in v.people_nouns:
                head = k
        i = head + 1 if head is not None else -1
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


RELATIVE_WINDOW = 16


def _past_relative(doc: Doc, who: int, limit: int) -> tuple[str, int] | None:
    """ "30 civilians who had stopped to rest ... were killed": the verb after the clause."""
    v = vocabulary()
    for k in range(who + 1, min(limit - 1, who + RELATIVE_WINDOW)):
        if doc[k].lower_ in {"were", "was"} and k > who + 2:
            nxt = doc[k + 1].lower_
            if nxt in v.death:
                return "killed", k + 1
            if nxt in v.injury:
                return "injured", k + 1
    return None


_TOLL_VERBS = frozenset(
    {"rose", "risen", "rises", "rising", "climbed", "climbs", "increased", "jumped", "stands", "stood"}
)


def _toll_subject(doc: Doc, n: _Number, sent: Span) -> tuple[str, int] | None:
    """ "The death toll from <a long phrase> climbed to 23": the number's subject is the toll."""
    prev = [doc[i].lower_ for i in range(max(n.start - 2, sent.start), n.start)]
    if not (len(prev) == 2 and prev[1] in {"to", "at"} and prev[0] in _TOLL_VERBS):
        return None
    for i in range(n.start - 3, sent.start - 1, -1):
        if doc[i].lower_ == "toll":
            return "killed", i
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


def _victims(doc: Doc, start: int, limit: int) -> str | None:
    v = vocabulary()
    for i in range(start, min(start + 4, limit)):
        low = doc[i].lower_
        for name, words in v.victims:
            if low in words:
                return name
    return None


def _is_person(tok: Token) -> bool:
    return tok.lower_ in vocabulary().person


def _people_before(doc: Doc, kw: int, floor: int) -> int:
    """Count singular people named just before a death word: "a 10-year-old boy was killed"."""
    i = kw - 1
    while i >= floor and doc[i].lower_ in _AUX:
        i -= 1
    return _count_people(doc, i, floor, step=-1)


def _people_after(doc: Doc, kw: int, limit: int) -> int:
    if doc[kw].lower_ not in {"killing", "killed", "kills", "kill"}:
        return 0
    return _count_people(doc, kw + 1, limit, step=1)


def _count_people(doc: Doc, i: int, bound: int, step: int) -> int:
    """Walk a noun phrase of singular people ("a woman and her grandson") from token ``i``."""
    count = 0
    pending_noun = False
    seen_det = False
    steps = 0
    while (i >= bound if step < 0 else i < bound) and steps < 14:
        tok = doc[i]
        low = tok.lower_
        steps += 1
        if _is_person(tok):
            if pending_noun:
                break
            pending_noun = True
            if step > 0:
                # forward: determiner came first, the noun closes the unit
                if seen_det:
                    count += 1
                seen_det = False
                pending_noun = False
        elif low in _SINGULAR_DET:
            if step < 0:
                if pending_noun:
                    count += 1
                    pending_noun = False
                else:
                    break
            else:
                seen_det = True
        elif low == "and":
            if step < 0 and pending_noun:
                break
        elif tok.like_num or low in {
            "-",
            "year",
            "old",
            "month",
            "elderly",
            "young",
            "pregnant",
            "local",
            "little",
            "teenage",
        }:
            pass
        elif tok.is_alpha and steps <= 12 and (pending_noun or seen_det):
            pass  # an adjective inside the phrase
        else:
            break
        i += step
    return count


def combine(figures: Sequence[Figure]) -> Count:
    """One ``Count`` from the killed (or injured) figures of one incident, in text order."""
    if not figures:
        return Count()
    values = [f.value for f in figures]
    numeric = [f for f in figures if not f.vague] or list(figures)
    superseding = [f for f in numeric if f.supersede]
    current = [f for f in numeric if not f.earlier] or numeric
    best = superseding[-1].value if superseding else max(f.value for f in current)
    return Count(low=min(values), best=best, high=max(values))


def victims_of(figures: Sequence[Figure]) -> str | None:
    """The victim category of the first killed figure that names one."""
    for f in figures:
        if f.kind == "killed" and f.victims:
            return f.victims
    return None
