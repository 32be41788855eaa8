"""Per-process resources, built lazily once: database engine, HTTP client, spaCy pipeline.

A `Resources` object is what jobs receive; tests build one with their own engine and an
``httpx.MockTransport``. Nothing is created at import time.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.engine import Engine

from worker.pipeline import dedupe
from worker.pipeline.fetch import FetchLimits, build_client
from worker.settings import Settings, get_settings
from worker.store.db import get_engine

if TYPE_CHECKING:
    from spacy.language import Language

    from worker.pipeline.extract.gazetteer import Gazetteer


@dataclass
class Resources:
    settings: Settings
    engine: Engine
    transport: httpx.BaseTransport | None = None
    _client: httpx.Client | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, transport: httpx.BaseTransport | None = None) -> Resources:
        return cls(
            settings=settings, engine=get_engine(settings.database.url, settings.database.echo), transport=transport
        )

    @property
    def limits(self) -> FetchLimits:
        f = self.settings.fetch
        return FetchLimits(
            max_bytes=f.max_bytes,
            timeout=f.timeout,
            total_timeout=f.total_timeout,
            max_redirects=f.max_redirects,
            allowed_networks=f.allowed_networks,
        )

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = build_client(
                self.limits, transport=self.transport, user_agent=self.settings.fetch.user_agent
            )
        return self._client

    @property
    def nlp(self) -> Language:
        from worker.pipeline.extract import load_nlp  # heavy import, only where NLP runs

        return load_nlp(self.settings.nlp.model)

    @property
    def gazetteer(self) -> Gazetteer:
        from worker.pipeline.extract import Gazetteer  # built once per process, cached

        return Gazetteer.load()

    @property
    def policy(self) -> dedupe.Policy:
        d = self.settings.dedupe
        return dedupe.Policy(link_threshold=d.link_threshold, max_km=d.max_km, town_km=d.town_km, max_days=d.max_days)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@functools.cache
def get_resources() -> Resources:
    """The worker process's resources (built on first use)."""
    return Resources.from_settings(get_settings())
