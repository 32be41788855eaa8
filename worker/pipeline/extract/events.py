"""Event type: the ACLED sub-event type an incident's trigger words point to.

Triggers come from the ``ww_trigger`` span group (``worker/data/extract/events.toml``),
labelled ``"<type>|<strength>"``. The incident's type is the first trigger of the highest
strength in reading order among its sentences, where strength 3 and 2 count alike once a
strength-2 trigger comes first ("jets" before a later "mortar fire" claim keeps the air
strike). Generic words ("attack", "blast") only decide when nothing else does: then the
most specific trigger elsewhere in the article wins, else the word's default.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from spacy.tokens import Span

from worker.pipeline.extract import lexicon

GENERIC = "generic"


@dataclass(frozen=True, slots=True)
class Trigger:
    """One trigger mention: token span, sub-event type (or "generic") and strength."""

    start: int
    end: int
    type: str
    strength: int
    text: str


def trigger_of(span: Span) -> Trigger:
    kind, strength = span.label_.rsplit("|", 1)
    return Trigger(span.start, span.end, kind, int(strength), span.text.lower())


@functools.cache
def _generic_defaults() -> dict[str, str]:
    return {k: str(v) for k, v in lexicon.load("events")["generic_default"].items()}


AIR = "Air/drone strike"
MISSILE = "Shelling/artillery/missile attack"


@functools.cache
def _missile_words() -> frozenset[str]:
    return lexicon.word_set("events", "launch", "missile_words")


def by_launch(chosen: Trigger, air: bool, ground: bool) -> Trigger:
    """``chosen`` retyped by the missile's launch platform, where the text names it.

    A bare missile word ("a Russian missile") types a missile attack; when the article
    names an air launch ("a Kh-101 launched by a Tu-95 bomber") and no ground or sea
    launch ("Iskander", "ballistic missile"), it is an air strike (ACLED's convention).
    """
    if chosen.type == MISSILE and chosen.text in _missile_words() and air and not ground:
        return Trigger(chosen.start, chosen.end, AIR, chosen.strength, chosen.text)
    return chosen


def choose(triggers: Sequence[Trigger], article_triggers: Sequence[Trigger]) -> Trigger | None:
    """The trigger that types an incident (``triggers`` in reading order), or None.

    Returns a Trigger whose ``type`` is a real sub-event type (generic ones are typed here).
    """
    specific = [t for t in triggers if t.type != GENERIC]
    if specific:
        # Strength 3 in the first sentence-ish region beats an earlier strength 2 only when
        # they are close (same sentence); otherwise reading order decides.
        first = specific[0]
        same_region = [t for t in specific if t.start - first.start < 25]
        return max(same_region, key=lambda t: (t.strength, -t.start))
    # A generic event word ("attack", "blast") types before a killing verb (strength 0).
    generic = sorted((t for t in triggers if t.type == GENERIC), key=lambda t: (t.strength == 0, t.start))
    if not generic:
        return None
    elsewhere = [t for t in article_triggers if t.type != GENERIC and t.strength >= 2]
    if elsewhere:
        best = max(elsewhere, key=lambda t: (t.strength, -t.start))
        return Trigger(generic[0].start, generic[0].end, best.type, 1, generic[0].text)
    defaults = _generic_defaults()
    kind = defaults.get(generic[0].text, defaults.get("*", "Attack"))
    return Trigger(generic[0].start, generic[0].end, kind, 1, generic[0].text)


ATTACK = "Attack"
CLASH = "Armed clash"


@functools.cache
def _armed_words() -> frozenset[str]:
    return lexicon.word_set("events", "sides", "armed")


ARMED_VICTIMS = frozenset({"security forces", "fighters"})


def by_sides(chosen: Trigger, target_words: Sequence[str], victims: str | None) -> Trigger:
    """``chosen`` retyped as an Armed clash when an Attack hits an armed side.

    ``target_words``: the lowercased tokens after the trigger in the sentences that tell the
    event; ``victims``: the category of the dead. ACLED codes two armed, organized sides
    fighting as an Armed clash, whoever fired first; an Attack is violence against people
    who are not fighting back (civilians, a bus, a home).
    """
    armed = victims in ARMED_VICTIMS or bool(_armed_words() & set(target_words))
    if chosen.type != ATTACK or not armed:
        return chosen
    return Trigger(chosen.start, chosen.end, CLASH, chosen.strength, chosen.text)


@functools.cache
def _direct_fire() -> frozenset[str]:
    """The direct-fire weapon phrases (``events.toml``, the trigger named ``direct_fire``)."""
    entries = lexicon.load("events")["trigger"]
    return frozenset(p.lower() for e in entries if e.get("name") == "direct_fire" for p in e["phrases"])


def by_fire(chosen: Trigger, triggers: Sequence[Trigger]) -> Trigger:
    """Shelling or an attack told together with direct fire or a clash ("fired mortars and
    small arms at the positions", "were shot dead in a firefight with the army") is an Armed
    clash: both sides engaged, not a one-sided bombardment or an attack on the defenceless."""
    fighting = [t for t in triggers if t.type == CLASH and t.strength >= 3]
    if chosen.type == ATTACK:
        fighting = [t for t in fighting if t.text not in _direct_fire()]
    if chosen.type not in (MISSILE, ATTACK) or not fighting:
        return chosen
    return Trigger(chosen.start, chosen.end, CLASH, chosen.strength, chosen.text)
