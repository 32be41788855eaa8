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

from spacy.tokens import Doc, Span

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
_PASSIVE_AUX = frozenset({"was", "were", "been", "being", "got", "get", "is", "are"})
SUBJECT_WINDOW = 8


def target_words(doc: Doc, start: int, end: int, trigger: Trigger, window: int) -> list[str]:
    """The lowercased words naming what ``trigger`` hit, within the segment ``[start, end)``.

    In the active voice the target follows the trigger ("attacked a police post"), up to
    ``window`` words, but not its agent: the words from a "by" on name who did it ("killed
    by the army"), up to a preposition that names the target again, and so do the words of
    an event phrase ("killed during a police raid"). In the passive voice the target is also
    the clause's subject ("two policemen were shot", "the rebels were reportedly attacked by
    the army"): up to :data:`SUBJECT_WINDOW` words before the auxiliary, back to the clause's
    start or a word that starts the subject's own clause ("police said a boy was shot").
    """
    return _passive_subject(doc, start, trigger) + _serving(_active_targets(doc, start, end, trigger, window))


def _active_targets(doc: Doc, start: int, end: int, trigger: Trigger, window: int) -> list[str]:
    """Up to ``window`` words after ``trigger``, past its agent and event phrases."""
    words: list[str] = []
    agent = False
    i = max(start, trigger.end)
    stop = min(end, trigger.end + 2 * window)
    while len(words) < window:
        i = _past_event_phrase(doc, i, stop)
        if i >= stop:
            break
        low = doc[i].lower_
        if low in {",", "--", "—"} and _attribution(doc, i + 1, stop):
            break  # "two men were shot in the park, police said": who speaks is no target
        i += 1
        # "by X" names the agent; a preposition after it names the target again ("an attack
        # by militants on a checkpoint").
        agent = low == "by" or (agent and low not in _TARGET_PREP)
        if not agent:
            words.append(low)
    return words


ATTRIBUTION_REACH = 4
_SAYING = frozenset({"said", "says", "say", "told", "according", "reported", "reports", "confirmed", "stated"})


def _attribution(doc: Doc, i: int, stop: int) -> bool:
    """Whether the words from ``i`` attribute the sentence ("police said", "according to
    officials", "the sheriff's office reported")."""
    return any(doc[k].lower_ in _SAYING for k in range(i, min(stop, i + ATTRIBUTION_REACH)))


def _passive_subject(doc: Doc, start: int, trigger: Trigger) -> list[str]:
    """The subject's words when ``trigger`` is a passive verb ("two policemen were shot"), else []."""
    aux = trigger.start - 1
    while aux > start and _adverb(doc[aux].lower_):
        aux -= 1
    if aux < start or doc[aux].lower_ not in _PASSIVE_AUX:
        return []
    first = aux
    stops = _subject_stops()
    while first > max(start, aux - SUBJECT_WINDOW) and doc[first - 1].lower_ not in stops:
        first -= 1
    # "an officer's son was shot": a possessor is not the one hit.
    subject = [doc[i].lower_ for i in range(first, aux) if doc[i + 1].lower_ not in _POSSESSIVE]
    return _serving(subject)


@functools.cache
def _subject_stops() -> frozenset[str]:
    return lexicon.word_set("events", "sides", "subject_stops") | {",", ";", ":", "(", ")", "-", "—"}


_POSSESSIVE = frozenset({"'s", "'", "’s", "’"})
_TARGET_PREP = frozenset({"on", "against", "at", "targeting"})
_FORMER = frozenset({"former", "retired", "ex"})


def _serving(words: list[str]) -> list[str]:
    """``words`` up to a "former" or "retired": a former officer is no armed side."""
    cut = next((i for i, w in enumerate(words) if w in _FORMER), len(words))
    return words[:cut]


EVENT_PHRASE_REACH = 4


@functools.cache
def _event_nouns() -> frozenset[str]:
    return lexicon.word_set("events", "sides", "event_nouns")


def _past_event_phrase(doc: Doc, i: int, stop: int) -> int:
    """The index after "during|in <words> <event noun>" starting at ``i`` ("during a police
    raid"), whose words name who carried the event out; ``i`` when none starts there."""
    if i >= stop or doc[i].lower_ not in {"during", "in", "amid"}:
        return i
    for j in range(i + 1, min(stop, i + EVENT_PHRASE_REACH + 1)):
        if doc[j].lower_ in _event_nouns():
            return j + 1
    return i


def _adverb(word: str) -> bool:
    """An adverb that may stand between a passive auxiliary and its verb ("were reportedly")."""
    return word.endswith("ly") or word in {"also", "then", "later", "again", "allegedly"}


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


@functools.cache
def _crew_served() -> frozenset[str]:
    return lexicon.word_set("events", "fire", "crew_served")


def by_fire(chosen: Trigger, triggers: Sequence[Trigger]) -> Trigger:
    """Shelling or an attack told together with fighting ("fired mortars and small arms at the
    positions", "were shot dead in a firefight with the army", "the guards returned fire") is
    an Armed clash: both sides engaged, not a one-sided bombardment or an attack on the
    defenceless. Crew-served weapons told with shelling ("mortars and heavy machine guns") are
    the same side's stand-off fire (``events.toml`` ``[fire]``)."""
    fighting = [t for t in triggers if t.type == CLASH and t.strength >= 3]
    if chosen.type == ATTACK:
        fighting = [t for t in fighting if t.text not in _direct_fire()]
    else:
        # "fired mortars and heavy machine guns at the positions" is one side firing from a
        # distance; "mortars and small arms" puts the sides in contact.
        fighting = [t for t in fighting if t.text not in _crew_served()]
    if chosen.type not in (MISSILE, ATTACK) or not fighting:
        return chosen
    return Trigger(chosen.start, chosen.end, CLASH, chosen.strength, chosen.text)


CHEMICAL = "Chemical weapon"


@functools.cache
def _chemical_agents() -> frozenset[str]:
    return lexicon.word_set("events", "chemical", "agents")


def by_agent(chosen: Trigger, triggers: Sequence[Trigger]) -> Trigger:
    """``chosen`` retyped as a Chemical weapon when the incident's triggers name a chemical
    agent ("shells containing poison gas", "rockets loaded with sarin"): the agent, not the
    shell, rocket or bomb that carried it, types the attack. A named facility or weapons
    programme is not an agent (``events.toml`` ``[chemical]``)."""
    if chosen.type not in (MISSILE, AIR) or not any(t.text in _chemical_agents() for t in triggers):
        return chosen
    return Trigger(chosen.start, chosen.end, CHEMICAL, chosen.strength, chosen.text)
