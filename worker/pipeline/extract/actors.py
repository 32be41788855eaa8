"""Perpetrators: actor mentions, the role each plays in its sentence, and the incident's actor.

Actor aliases are matched by the ``wirewatch_mentions`` component (``ww_actor`` spans,
``worker/data/extract/actors.toml``). A mention's role comes from the words around it:

    claimed   "Hamas claimed the rocket fire", "IS said it carried out ..."
    stated    the actor is part of the event's telling: "a Russian missile", "Taliban car
              bomb", "air raids by the Saudi-led coalition"
    accused   "blamed al-Shabab", "accused the coalition", "attributed to Turkish forces"
    believed  "planes thought to be Turkish", "gunmen thought to be jihadists"
    denied    "the army denied carrying out the raid"

A mention followed by a speaker noun ("Ukrainian officials") or preceded by a target word
("a raid aimed at al-Shabaab fighters") has no role. The incident's perpetrator is the
actor with the highest role score over its sentences, earlier sentences weighing more.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pycountry
from spacy.tokens import Doc, Span

from worker.pipeline.extract import lexicon

ROLE_WEIGHT = {"claimed": 5.0, "stated": 4.0, "accused": 3.0, "believed": 3.0, "denied": 2.0}
CERTAINTY_ORDER = ("claimed", "stated", "accused", "believed", "denied")
_TARGET_BEFORE = frozenset({"on", "at", "against", "targeting", "targeted", "target", "fight", "fighting", "hit"})
_PREDICATE_ACCUSE = frozenset({"was to blame", "were to blame", "was behind", "were behind", "responsible for"})
_AFFILIATION = frozenset({"aligned", "linked", "affiliated", "allied", "inspired", "backed"})
# "the group linked to al-Qaeda", "an ally of the Houthis": the parent named after these is
# context for the actor named before it, not the actor.
_AFFILIATED_TO = frozenset({"linked", "aligned", "affiliated", "allied", "tied", "connected", "ally", "allies"})
_NEGATION = frozenset({"not", "no", "never", "nobody"})


@dataclass(frozen=True, slots=True)
class ActorRole:
    """One actor mention with its role (see the module docstring)."""

    actor: str  # normalized name, or "?alias" when it depends on the country
    role: str
    start: int
    end: int


@functools.cache
def _source_words() -> frozenset[str]:
    return lexicon.word_set("actors", "source_words", "words")


@functools.cache
def _ambiguous() -> dict[str, dict[str, str]]:
    return {k: dict(v) for k, v in lexicon.load("actors")["ambiguous"].items()}


def roles_in(doc: Doc, sent: Span, trigger_tokens: Sequence[tuple[int, int]]) -> list[ActorRole]:
    """Roles of the actor mentions of one sentence (mentions with no role are left out)."""
    actors = [s for s in doc.spans["ww_actor"] if sent.start <= s.start < sent.end]
    if not actors:
        return []
    cues = [c for c in doc.spans["ww_cue"] if sent.start <= c.start < sent.end and c.label_ in ROLE_WEIGHT]
    out: list[ActorRole] = []
    for a in actors:
        nxt = doc[a.end].lower_ if a.end < sent.end else ""
        nxt2 = doc[a.end + 1].lower_ if a.end + 1 < sent.end else ""
        prev = doc[a.start - 1].lower_ if a.start > sent.start else ""
        speaker = (
            nxt in _source_words()
            or f"{nxt} {nxt2}" in _source_words()
            or (nxt in {"s", "'s", "’s"} and nxt2 in _source_words())
        )
        if (nxt == "-" and nxt2 in _AFFILIATION) or nxt in _AFFILIATION:
            continue  # "IS-aligned ISWAP": the group named next is the actor
        if _affiliated_to(doc, a, sent) or (
            prev == "-" and a.start - 2 >= sent.start and doc[a.start - 2].lower_ == "anti"
        ):
            continue  # "linked to al-Qaeda", "anti-Houthi forces": context, not the actor
        role = _cue_role(doc, a, cues)
        agent = _near_trigger(doc, a, trigger_tokens) or _clause_subject(doc, a, sent, trigger_tokens, actors)
        if role is None and not speaker and prev not in _TARGET_BEFORE and agent:
            role = "stated"
        if role is None:
            continue
        out.append(ActorRole(a.label_, role, a.start, a.end))
    return out


def _affiliated_to(doc: Doc, a: Span, sent: Span) -> bool:
    """Whether ``a`` is named as a parent: "linked to al-Qaeda", "an ally of the Houthis"."""
    i = a.start - 1
    if i > sent.start and doc[i].lower_ == "the":
        i -= 1
    return i > sent.start and doc[i].lower_ in {"to", "with", "of"} and doc[i - 1].lower_ in _AFFILIATED_TO


def _cue_role(doc: Doc, a: Span, cues: Sequence[Span]) -> str | None:
    """The role the nearest certainty cue gives actor mention ``a``, or None."""
    found = [cand for c in cues if (cand := _cue_candidate(doc, a, c)) is not None]
    return min(found, key=lambda x: x[0])[1] if found else None


def _cue_candidate(doc: Doc, a: Span, c: Span) -> tuple[int, str] | None:
    """(distance, role) when cue ``c`` governs actor ``a``, by the cue's kind."""
    label, text = c.label_, c.text.lower()
    if label == "claimed":
        if c.end < len(doc) and doc[c.end].lower_ == "to" and text in {"claimed", "claims"}:
            return None  # "claimed to have killed": a boast about other events
        if not 0 <= c.start - a.end <= 12:
            return None
        negated = any(doc[i].lower_ in _NEGATION for i in range(max(c.start - 3, a.end), c.start))
        return c.start - a.end, "believed" if negated else "claimed"
    if label == "accused":
        if text in _PREDICATE_ACCUSE:
            return (c.start - a.end, "accused") if 0 <= c.start - a.end <= 6 else None
        return (a.start - c.end, "accused") if 0 <= a.start - c.end <= 10 else None
    if label == "denied":
        return (c.start - a.end, "denied") if 0 <= c.start - a.end <= 8 else None
    if label == "believed":
        if 0 <= a.start - c.end <= 4:
            return a.start - c.end, "believed"
        if 0 <= c.start - a.end <= 3 and text in {"suspected", "believed to be", "thought to be"}:
            return c.start - a.end, "believed"
    return None


_PASSIVE = frozenset({"was", "were", "been", "being", "is", "are", "got"})


def _near_trigger(doc: Doc, a: Span, trigger_tokens: Sequence[tuple[int, int]]) -> bool:
    """Whether the actor is the agent of a trigger next to it: named right before it in the
    active voice ("Russian missile", "soldiers executed"), after its "by" ("air raids by
    the coalition"), or first after its "between" ("clashes between X and Y"). Before a passive ("two soldiers were killed") the actor is the target."""
    for start, end in trigger_tokens:
        if a.start < start <= a.end + 4 and not any(
            doc[i].lower_ in _PASSIVE or doc[i].text == "," for i in range(a.end, start)
        ):
            return True  # "Russian missile", "Saudi-led coalition air strike", "U.S. drone| strike"
        if 0 <= a.start - end <= 3 and any(doc[i].lower_ == "by" for i in range(end, a.start)):
            return True  # "air raids by the coalition"
        if 0 <= a.start - end <= BY_REACH and _right_after_by(doc, a) and _event_phrase(doc, end, a.start):
            return True  # "killed in an operation by police forces", "wounded by Afghan forces fire"
        if 0 <= a.start - end <= 4 and any(doc[i].lower_ == "between" for i in range(end, a.start)):
            return True  # "clashes erupted between X and Y": a side of the fighting
    return False


SUBJECT_REACH = 12
BY_REACH = 6
# Words that may stand between a clause's start and its subject actor ("the", "the military
# forces of Armenia").
_LEAD_WORDS = frozenset({"the", "a", "an", "military", "armed", "security", "government", "suspected", "alleged"})


# What may stand between a trigger and a "by" that names its agent: "killed in an operation by",
# "wounded by Afghan forces fire" (not "a settlement for people uprooted by").
_BY_BRIDGE = frozenset(
    {"in", "during", "an", "a", "the", "operation", "operations", "raid", "raids", "offensive", "attack",
     "attacks", "fire", "strike", "strikes", "airstrike", "airstrikes", "shelling", "gunfire", "ambush",
     "assault", "bombardment", "by"}
)  # fmt: skip


def _event_phrase(doc: Doc, start: int, end: int) -> bool:
    return all(doc[i].lower_ in _BY_BRIDGE for i in range(start, end))


def _right_after_by(doc: Doc, a: Span) -> bool:
    """Whether "by" (or "by the") comes right before actor mention ``a``."""
    i = a.start - 1
    if i > 0 and doc[i].lower_ == "the":
        i -= 1
    return i >= 0 and doc[i].lower_ == "by"


def _clause_start(doc: Doc, a: Span, sent: Span) -> bool:
    """Whether ``a`` opens its clause: at the sentence start or after a comma, past lead words."""
    i = a.start
    while i > sent.start and doc[i - 1].lower_ in _LEAD_WORDS:
        i -= 1
    return i == sent.start or doc[i - 1].text == ","


def _clause_subject(
    doc: Doc, a: Span, sent: Span, trigger_tokens: Sequence[tuple[int, int]], actors: Sequence[Span]
) -> bool:
    """Whether ``a`` opens its clause (at the sentence start or after a comma: "On 28 April,
    Boko Haram looted a house and kidnapped one person") and a trigger follows within
    :data:`SUBJECT_REACH` tokens in the active voice, with no other actor and no comma between:
    the clause's subject does what the trigger says."""
    if not _clause_start(doc, a, sent):
        return False
    for start, _ in trigger_tokens:
        gap = _past_aside(doc, a.end, start, trigger_tokens)
        if not gap <= start <= gap + SUBJECT_REACH:
            continue
        between = doc[gap:start]
        if any(t.lower_ in _PASSIVE or t.text in {",", ";", ":"} for t in between):
            continue
        if not any(gap <= other.start < start and not _joined(doc, other) for other in actors):
            return True
    return False


ASIDE_REACH = 10


def _past_aside(doc: Doc, end: int, before: int, trigger_tokens: Sequence[tuple[int, int]]) -> int:
    """Where the clause goes on after an aside set off by commas right after its subject
    ("JWS, which operates under the Turkish command, shelled ...", "Government forces, while on
    patrol, clashed with ..."): the token after the closing comma, or ``end`` when there is no
    such aside (none, longer than :data:`ASIDE_REACH`, or telling an event itself)."""
    opening = end
    if opening < before and doc[opening].lower_ == "and":  # "X and its allies, operating ..."
        opening = next((i for i in range(end, min(before, end + 5)) if doc[i].text == ","), end)
    if opening >= before or doc[opening].text != ",":
        return end
    close = next((i for i in range(opening + 1, min(before, opening + ASIDE_REACH + 1)) if doc[i].text == ","), None)
    if close is None or any(end < s < close for s, _ in trigger_tokens):
        return end
    return close + 1


def _joined(doc: Doc, other: Span) -> bool:
    """An actor coordinated with the subject ("Turkish forces and allied factions"): the same side."""
    return other.start > 0 and doc[other.start - 1].lower_ in {"and", "with"}


STATE_BRANCH = {"?state:military": "Military Forces of", "?state:police": "Police Forces of"}


def resolve_name(actor: str, country: str | None) -> str | None:
    """The actor's name; ``"?alias"`` names resolve by the incident's country (or not at all).

    Bare force nouns ("soldiers", "police": ``?state:<branch>``) name that country's forces.
    """
    if not actor.startswith("?"):
        return actor
    if actor in STATE_BRANCH:
        found = pycountry.countries.get(alpha_2=country) if country else None
        name = (getattr(found, "common_name", None) or found.name) if found else None
        return f"{STATE_BRANCH[actor]} {name}" if name else None
    return _ambiguous().get(actor[1:], {}).get(country or "")


def choose(
    roles: Sequence[tuple[ActorRole, int]], country: str | None, *, unclaimed: bool = False
) -> tuple[str, str, ActorRole] | None:
    """The perpetrator ``(name, certainty, deciding mention)`` from ``(role, sentence order)`` pairs.

    ``unclaimed``: the article says nobody claimed the attack; an actor only accused or
    suspected is then not the perpetrator (None).
    """
    score: dict[str, float] = defaultdict(float)
    kinds: dict[str, set[str]] = defaultdict(set)
    first: dict[str, ActorRole] = {}
    for r, order in roles:
        name = resolve_name(r.actor, country)
        if name is None:
            continue
        score[name] += ROLE_WEIGHT[r.role] / (1.0 + 0.35 * order)
        kinds[name].add(r.role)
        first.setdefault(name, r)
    if not score:
        return None
    name = max(score, key=lambda n: score[n])
    if unclaimed and not kinds[name] & {"claimed", "stated"}:
        return None
    # The certainty is how the story first frames the actor ("planes thought to be Turkish"),
    # unless the actor itself claims the attack.
    certainty = "claimed" if "claimed" in kinds[name] else first[name].role
    return name, certainty, first[name]
