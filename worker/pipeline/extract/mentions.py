"""The spaCy component that marks what the extraction rules read: triggers, actors and cues.

``wirewatch_mentions`` runs after ``ner`` and the sentencizer. It matches the lexicons of
``worker/data/extract`` on lowercased tokens (so it works as well on normalized lowercase
text as on wire copy) and stores the matches as span groups:

    doc.spans["ww_trigger"]  label "<ACLED sub-event type>|<strength>" (or "generic|1")
    doc.spans["ww_actor"]    label "<actor name>", or "?<alias>" for country-dependent aliases
    doc.spans["ww_cue"]      label "<kind>" for certainty, date, toll and segmentation cues

Triggers and actors keep the longest match where matches overlap; cues keep every match.
It also repairs sentence starts the sentencizer puts after abbreviations that normalized text
splits off ("oct . 14", "u.n . officials").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import pycountry
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span, Token
from spacy.util import filter_spans

from worker.pipeline.extract import lexicon
from worker.pipeline.extract.gazetteer import country_aliases

# Cue lists: (data file, key path) -> cue label.
_CUE_LISTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("actors", ("cues", "claimed"), "claimed"),
    ("actors", ("cues", "accused"), "accused"),
    ("actors", ("cues", "denied"), "denied"),
    ("actors", ("cues", "believed"), "believed"),
    ("actors", ("cues", "unclaimed"), "unclaimed"),
    ("segment", ("background",), "background"),
    ("segment", ("aggregate",), "aggregate"),
    ("segment", ("separate",), "separate"),
    ("segment", ("irrealis",), "irrealis"),
    ("segment", ("non_event",), "non_event"),
    ("segment", ("charge",), "charge"),
    ("segment", ("clause_break",), "clause"),
    ("events", ("launch", "air"), "air_launch"),
    ("events", ("launch", "ground"), "ground_launch"),
    ("casualties", ("death", "supersede"), "supersede"),
    ("casualties", ("death", "earlier"), "earlier"),
    ("casualties", ("death", "none"), "no_deaths"),
)

# Abbreviations after which the sentencizer must not start a sentence.
_NO_BREAK_AFTER = frozenset(
    {
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.n",
        "u.s",
        "u.k",
        "gen",
        "col",
        "capt",
        "maj",
        "lt",
        "sgt",
        "st",
        "dr",
        "mr",
        "mrs",
        "ms",
        "no",
        "vs",
        "prof",
        "gov",
        "sen",
        "rep",
        "brig",
        "adm",
        "cmdr",
    }
)


_TITLES = frozenset(
    {"gen", "col", "capt", "maj", "lt", "sgt", "dr", "mr", "mrs", "ms", "prof", "gov", "sen", "rep", "brig", "adm"}
    | {"cmdr"}
)


# Nouns naming a state's armed forces: "Ethiopian military" -> "Ethiopia's military".
_FORCE_NOUNS = frozenset(
    {"military", "army", "forces", "troops", "air force", "armed forces", "navy", "jets", "warplanes", "junta"}
)


def possessive_aliases(aliases: Iterable[str]) -> set[str]:
    """The possessive-country spellings of a state's forces aliases.

    "ethiopian military" also reads "ethiopia's military" (and normalized "ethiopia s
    military"): every name of the demonym's country (``demonyms.csv``) + "'s" + the same
    force noun. Aliases that are not "<demonym> <force noun>" give nothing.
    """
    names: dict[str, set[str]] = {}
    demonyms: dict[str, str] = {}
    for alias in country_aliases():
        if alias.case_sensitive:
            continue
        if alias.kind == "name":
            names.setdefault(alias.country, set()).add(alias.form.lower())
        else:
            demonyms[alias.form.lower()] = alias.country
    out: set[str] = set()
    for phrase in aliases:
        first, _, rest = phrase.lower().partition(" ")
        if rest in _FORCE_NOUNS and first in demonyms:
            out |= {f"{name}'s {rest}" for name in names.get(demonyms[first], ())}
    return out


def state_force_aliases(taken: Iterable[str]) -> dict[str, set[str]]:
    """Actor name -> aliases of every country's military and police forces.

    From the country names and demonyms (``demonyms.csv`` and pycountry, via
    :func:`country_aliases`) and the force nouns of ``actors.toml`` ``[state_forces]``:
    "<demonym> <noun>" ("Malian soldiers") and "<noun> of <country>" for the ``of_country`` nouns.
    Named "Military Forces of <country>" or "Police Forces of <country>" (ACLED's naming).
    Aliases in ``taken`` (the curated table's) are left to the curated actor.
    """
    nouns = lexicon.load("actors")["state_forces"]
    names: dict[str, str] = {}
    forms: dict[str, set[tuple[str, str]]] = {}
    for alias in country_aliases():
        if alias.case_sensitive or len(alias.form) < 4:
            continue
        forms.setdefault(alias.country, set()).add((alias.kind, alias.form.lower()))
    for c in pycountry.countries:
        names[c.alpha_2] = getattr(c, "common_name", None) or c.name
    taken_set = {v for phrase in taken for v in lexicon.variants(phrase)}
    out: dict[str, set[str]] = {}
    for cc, country_forms in forms.items():
        if cc not in names:
            continue
        for branch, label in (("military", "Military Forces of"), ("police", "Police Forces of")):
            phrases = set()
            for kind, form in country_forms:
                for noun in nouns[branch]:
                    if kind == "demonym":
                        phrases.add(f"{form} {noun}")
                    elif noun in nouns["of_country"]:
                        phrases.add(f"{noun} of {form}")
            out[f"{label} {names[cc]}"] = {p for p in phrases if p not in taken_set}
    return out


def _add(matcher: PhraseMatcher, nlp: Language, label: str, phrases: Iterable[str]) -> None:
    """Add every spelling of ``phrases`` under ``label``, tokenized as text would be.

    Each form is tokenized as written lowercase and title-cased (the tokenizer's exceptions
    differ: "oct." vs "Oct."), and duplicates are dropped.
    """
    seen: set[tuple[str, ...]] = set()
    docs = []
    for phrase in phrases:
        for form in lexicon.variants(phrase):
            for cased in (form, form.title(), form.upper()):
                doc = nlp.make_doc(cased)
                key = tuple(t.lower_ for t in doc)
                if key not in seen:
                    seen.add(key)
                    docs.append(doc)
    if docs:
        matcher.add(label, docs)


class MentionTagger:
    """Marks triggers, actors and cues in a Doc (see the module docstring)."""

    def __init__(self, nlp: Language) -> None:
        vocab = nlp.vocab
        self.triggers = PhraseMatcher(vocab, attr="LOWER")
        for entry in lexicon.load("events")["trigger"]:
            _add(self.triggers, nlp, f"{entry['type']}|{entry['strength']}", entry["phrases"])
        actors = lexicon.load("actors")
        self.actors = PhraseMatcher(vocab, attr="LOWER")
        self.actors_cased = PhraseMatcher(vocab, attr="ORTH")
        for entry in actors["actor"]:
            _add(self.actors, nlp, entry["name"], [*entry["aliases"], *sorted(possessive_aliases(entry["aliases"]))])
            cased = entry.get("aliases_cased", [])
            if cased:
                self.actors_cased.add(entry["name"], [nlp.make_doc(a) for a in cased])
        taken = [a for entry in actors["actor"] for a in entry["aliases"]]
        for name, phrases in state_force_aliases(taken).items():
            _add(self.actors, nlp, name, sorted(phrases))
        forces = actors["state_forces"]
        _add(self.actors, nlp, "?state:military", forces["bare_military"])
        _add(self.actors, nlp, "?state:police", forces["bare_police"])
        for alias in actors["ambiguous"]:
            _add(self.actors, nlp, f"?{alias}", [alias])
        self.cues = PhraseMatcher(vocab, attr="LOWER")
        for name, path, label in _CUE_LISTS:
            node = lexicon.load(name)
            for key in path:
                node = node[key]
            _add(self.cues, nlp, label, node)
        self.vocab = vocab

    def __call__(self, doc: Doc) -> Doc:
        _repair_sentences(doc)
        strings = self.vocab.strings
        trig = [Span(doc, s, e, label=strings[m]) for m, s, e in self.triggers(doc)]
        kept = [t for t in filter_spans(trig) if not _unarmed_return(doc, t) and not compound_modifier(doc, t)]
        doc.spans["ww_trigger"] = [t for t in kept if not means_of_travel(doc, t, kept)]
        act = [Span(doc, s, e, label=strings[m]) for m, s, e in self.actors(doc)]
        act += [Span(doc, s, e, label=strings[m]) for m, s, e in self.actors_cased(doc)]
        groups = filter_spans([*group_mentions(doc), *subject_names(doc, doc.spans["ww_trigger"])])
        doc.spans["ww_actor"] = _with_groups(filter_spans(act), groups)
        doc.spans["ww_cue"] = [
            Span(doc, s, e, label=strings[m]) for m, s, e in self.cues(doc) if not _compound(doc, strings[m], e)
        ]
        return doc


_NAMED_ENTS = frozenset({"NORP", "ORG", "GPE", "PERSON", "FAC", "LOC"})
_FORCE_KINDS = frozenset({"military", "armed", "security", "government", "police", "defence", "defense"})


@functools.cache
def _group_words() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    groups = lexicon.load("actors")["groups"]
    return frozenset(groups["heads"]), frozenset(groups["name_heads"]), frozenset(groups["not_qualifiers"])


def _named(tok: Token) -> bool:
    """A token that carries a name: part of a named entity, or an acronym ("NPA", "FARDC")."""
    return tok.ent_type_ in _NAMED_ENTS or (tok.is_upper and tok.is_alpha and len(tok) >= 2)


def _qualifier_start(doc: Doc, head: int, lower: int) -> int | None:
    """Where the name before group noun ``doc[head]`` starts, or None when no name qualifies it.

    Walks back over capitalised tokens and "pro-" / "anti-" forms ("pro - Hadi") down to ``lower``;
    at least one of them must be :func:`_named`.
    """
    _, _, skip = _group_words()
    i = head
    while i > lower:
        tok = doc[i - 1]
        if tok.lower_ in skip or not (tok.is_title or tok.is_upper or tok.text == "-" or tok.lower_ in _STANCE):
            break
        if tok.text == "-" and not (i - 2 >= lower and doc[i - 2].lower_ in _STANCE):
            break
        i -= 1
    pro_name = any(doc[j].lower_ in _STANCE and doc[j + 1].text == "-" for j in range(i, head - 2))
    if i == head or not (pro_name or any(_named(t) for t in doc[i:head])):
        return None
    return i


def group_mentions(doc: Doc) -> list[Span]:
    """Armed groups named by a qualifier and a group noun (``actors.toml`` ``[groups]``),
    labelled with their own words: "Puntland Dervish forces", "forces of Artsakh".

    Also names of organisations whose own name ends in a group noun ("National Liberation
    Army"). Works on cased text; lowercase text has no names to find here.
    """
    heads, name_heads, _ = _group_words()
    out: list[Span] = []
    for sent in doc.sents:
        for tok in sent:
            low = tok.lower_
            if low in name_heads and tok.is_title and tok.i > sent.start and doc[tok.i - 1].is_title:
                start = _qualifier_start(doc, tok.i, sent.start)
                if start is not None:
                    out.append(Span(doc, start, tok.i + 1, label=doc[start : tok.i + 1].text))
                    continue
            if low not in heads and low not in _MEMBER_WORDS:
                continue
            start = _qualifier_start(doc, tok.i, sent.start) if low in heads else None
            if start is not None:
                out.append(Span(doc, start, tok.i + 1, label=doc[start : tok.i + 1].text))
            elif (named := _named_after(doc, tok, sent)) is not None:
                out.append(named)
    return filter_spans(out)


@functools.cache
def _return_fire() -> tuple[frozenset[str], frozenset[str], int]:
    events = lexicon.load("events")
    phrases = frozenset(p.lower() for p in events["fire"]["return_fire"])
    return phrases, lexicon.word_set("events", "sides", "armed"), int(events["fire"]["return_reach"])


def _unarmed_return(doc: Doc, trig: Span) -> bool:
    """A "returned fire" whose subject is not an armed side ("a bystander shot back"): no fight."""
    phrases, armed, reach = _return_fire()
    if trig.text.lower() not in phrases:
        return False
    return not any(t.lower_ in armed for t in doc[max(0, trig.start - reach) : trig.start])


_TRAVEL_PREPS = frozenset({"by", "via"})


def means_of_travel(doc: Doc, trig: Span, triggers: Iterable[Span]) -> bool:
    """An aircraft named as a way to travel ("reachable only by helicopter", "flown out via
    helicopter"), with no other event word in its sentence: no air strike.

    A bare singular noun after "by" names a means ("by car", "by helicopter"); an attacker takes
    an article or a plural ("killed by a drone", "attacked by helicopters"), and a strength-2
    word (an aircraft) only implies an event, so a killing verb beside it keeps the sentence's event.
    """
    if not trig.label_.endswith("|2") or trig.start == 0 or doc[trig.start - 1].lower_ not in _TRAVEL_PREPS:
        return False
    if trig[-1].lower_.endswith("s"):
        return False
    sent = trig.sent
    return not any(t is not trig and sent.start <= t.start < sent.end for t in triggers)


_PARTICIPLES = frozenset({"hit", "struck", "torn", "shot", "stricken"})


def compound_modifier(doc: Doc, trig: Span) -> bool:
    """A one-word trigger that closes a hyphenated adjective ("the hardest-hit areas", "a
    war-ravaged region", "conflict-hit towns"): it describes a place or people, no event.

    Only participles ("hit", "-ed" forms) count: the trigger follows a hyphen written without
    spaces. Hyphenated event nouns ("air-strike") are lexicon phrases and match from their first word.
    """
    i = trig.start
    if len(trig) != 1 or i < 2 or doc[i - 1].text != "-" or doc[i - 2].whitespace_ or doc[i - 1].whitespace_:
        return False
    word = trig[0].lower_
    return word in _PARTICIPLES or word.endswith("ed")


NAME_REACH = 3
_NOT_NAMES = frozenset({"DATE", "TIME", "GPE", "LOC", "FAC", "CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT"})


def subject_names(doc: Doc, triggers: Iterable[Span]) -> list[Span]:
    """Names that are the subject of a violent verb, labelled with their own words: "On 2 May,
    Velka attacked ...", "KDLF reportedly shelled ...". A group the alias table lacks is still
    named by the clause that tells what it did.

    The name is up to :data:`NAME_REACH` capitalised words opening a clause after a comma (at
    a sentence's start only an acronym, as any first word is capitalised), not a place, date
    or number, followed by a trigger verb in the past tense, adverbs allowed between.
    Works on cased text only.
    """
    out: list[Span] = []
    for trig in triggers:
        verb = doc[trig.start]
        if not verb.lower_.endswith("ed") or trig.label_.startswith("generic|0"):
            continue
        end = trig.start
        while end > 0 and doc[end - 1].lower_.endswith("ly") and doc[end - 1].is_lower:
            end -= 1
        start = end
        while start > max(0, end - NAME_REACH) and _name_part(doc[start - 1]):
            start -= 1
        if start == end or (start > 0 and doc[start - 1].text != "," and not doc[start].is_sent_start):
            continue
        if doc[start].is_sent_start and not all(t.is_upper for t in doc[start:end]):
            continue
        out.append(Span(doc, start, end, label=doc[start:end].text))
    return out


def _name_part(tok: Token) -> bool:
    """A word that may be part of a group's name: capitalised, not a function word, not a
    place, date or number."""
    return tok.text[:1].isupper() and tok.is_alpha and not tok.is_stop and tok.ent_type_ not in _NOT_NAMES


# "members of Tropa Roja", "elements of the ..." name a group only through the name after them.
_MEMBER_WORDS = frozenset({"members", "elements", "cadres"})


def _named_after(doc: Doc, tok: Token, sent: Span) -> Span | None:
    """ "<group noun> of|from <Name>" ("military forces of Artsakh", "militias from Velka",
    "members of Tropa Roja"), or None. A force kind right before is part of it."""
    first = tok.i + 2
    if first < sent.end and doc[first].lower_ == "the":
        first += 1
    if first >= sent.end or doc[tok.i + 1].lower_ not in {"of", "from"} or not _named(doc[first]):
        return None
    end = first
    while end < sent.end and (_name_word(doc[end]) or (end > first and _joins_name(doc, end, sent))):
        end += 1
    if end == first:
        return None
    start = tok.i - 1 if tok.i > sent.start and doc[tok.i - 1].lower_ in _FORCE_KINDS else tok.i
    return Span(doc, start, end, label=doc[start:end].text)


_NAME_PARTICLES = frozenset({"de", "del", "della", "des", "du", "la", "el", "al", "ul", "wal", "bin", "ibn"})


def _name_word(tok: Token) -> bool:
    return (tok.is_title or tok.is_upper) and tok.is_alpha


def _joins_name(doc: Doc, i: int, sent: Span) -> bool:
    """A lowercase particle inside a name ("Tropa del Infierno", "Ahrar al Sham")."""
    return doc[i].lower_ in _NAME_PARTICLES and i + 1 < sent.end and _name_word(doc[i + 1])


# "pro-Hadi forces", "anti-Houthi forces": a stance towards the named side, part of the group's name.
_STANCE = frozenset({"pro", "anti"})


def _against(a: Span) -> bool:
    """An alias written as what a group stands against ("anti - Houthi"): not that actor."""
    doc = a.doc
    return a.start >= 2 and doc[a.start - 1].text == "-" and doc[a.start - 2].lower_ == "anti"


def _with_groups(aliases: list[Span], groups: list[Span]) -> list[Span]:
    """Alias matches and the group names that overlap none of them. A bare force noun
    (``?state:...``) inside a group name gives way to it: "FARDC soldiers", "military forces
    of Artsakh" name more than "soldiers" of the incident's country; so does an alias the group
    stands against ("anti-Houthi National Resistance forces" are not the Houthis)."""
    bare = [a for a in aliases if a.label_.startswith("?state:") or _against(a)]
    wider = [g for g in groups if any(g.start <= a.start and a.end <= g.end and g != a for a in bare)]
    kept = [a for a in aliases if not any(g.start <= a.start and a.end <= g.end for g in wider)]
    used = {i for sp in kept for i in range(sp.start, sp.end)}
    free = [g for g in groups if not any(i in used for i in range(g.start, g.end))]
    return sorted([*kept, *free], key=lambda sp: sp.start)


def _compound(doc: Doc, label: str, end: int) -> bool:
    """An aggregate cue that ends inside a hyphenated modifier: "Ethiopia's war-torn Tigray",
    "the conflict-hit north" describe a place, not a toll over a war."""
    return label == "aggregate" and end + 1 < len(doc) and doc[end].text == "-" and not doc[end - 1].whitespace_


def _repair_sentences(doc: Doc) -> None:
    """Sentence starts the sentencizer misses or misplaces.

    A line break ends a paragraph, a headline or a caption, with or without a full stop: the
    word after it starts a sentence ("(Published Friday)\nA man was shot ...", a related
    story's headline "Video: Police Chase Suspect\n"Somebody said ..."), unless it is a
    lowercase word (a hard-wrapped line goes on). A full stop after an abbreviation that
    normalized text splits off ("oct . 14") ends nothing.
    """
    if not doc.has_annotation("SENT_START"):
        return
    for tok in doc[1:-1]:
        if tok.is_space and "\n" in tok.text and not tok.is_sent_start:
            nxt = doc[tok.i + 1]
            if not nxt.is_space and not nxt.is_lower:
                nxt.is_sent_start = True
    for tok in doc[2:]:
        if not tok.is_sent_start:
            continue
        prev, before = doc[tok.i - 1], doc[tok.i - 2]
        # "oct . 14" (split off) or "U.S. drone" (one token): an abbreviation, not an end.
        abbrev = (prev.text == "." and before.lower_ in _NO_BREAK_AFTER) or (
            prev.text.endswith(".") and prev.lower_[:-1] in _NO_BREAK_AFTER
        )
        # After a title ("Col. Ahmed al-Nuri") the capital starts a name, not a sentence.
        titled = before.lower_ in _TITLES if prev.text == "." else prev.lower_[:-1] in _TITLES
        # An abbreviation in capitals before a word in capitals ("ST. LOUIS, Mo. -"): a
        # dateline's town, not a sentence end.
        capitals = tok.is_upper and (prev.is_upper if prev.text != "." else before.is_upper)
        if abbrev and (titled or capitals or (not tok.is_title and not tok.is_upper)):
            tok.is_sent_start = False


@Language.factory("wirewatch_mentions")
def make_mention_tagger(nlp: Language, name: str) -> MentionTagger:
    """spaCy factory for :class:`MentionTagger` (``nlp.add_pipe("wirewatch_mentions")``)."""
    return MentionTagger(nlp)
