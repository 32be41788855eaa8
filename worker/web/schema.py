"""The JSON API's response types: the export schema (:mod:`worker.store.export`), typed so the
OpenAPI document describes it. The API returns exactly what ``wirewatch export`` writes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Location(_Out):
    name: str | None
    admin1: str | None
    country: str | None
    lat: float | None
    lon: float | None
    precision: str | None
    # A report's place also says what it is and its district (``feature``, ``admin2``: issue
    # 9's geoparser); they pass through as stored, so the twin stays equal to the export.
    model_config = ConfigDict(extra="allow")


class Count(_Out):
    low: int | None
    best: int | None
    high: int | None


class Evidence(_Out):
    field: str
    sentence: int  # index into the report's ``sentences``
    start: int
    end: int


class Link(_Out):
    score: float | None
    reasons: dict[str, Any]


class Report(_Out):
    url: str
    source: str | None
    outlet: str  # the organisation: the dateline's wire agency, else the feed's name, else the host
    published_at: str | None
    title: str
    copy_of: bool
    event_type: str | None
    date: str | None
    location: Location | None
    perpetrator: str | None
    killed: int | None
    injured: int | None
    sentences: list[str]
    evidence: list[Evidence]
    link: Link


class Incident(_Out):
    id: str
    event_type: str
    date: str | None
    date_precision: str | None
    location: Location
    perpetrator: str | None
    perpetrator_certainty: str | None
    victims: str | None
    killed: Count
    injured: Count
    num_reports: int
    num_independent_sources: int
    first_reported_at: str | None
    last_reported_at: str | None
    reports: list[Report]


class IncidentPage(_Out):
    incidents: list[Incident]
    next: str | None  # the URL of the next page, None on the last


class IncidentOne(_Out):
    incident: Incident
    history: list[dict[str, Any]]
    corrections: list[dict[str, Any]]


class Feed(_Out):
    id: int
    url: str
    name: str | None
    enabled: bool
    interval: int
    last_polled_at: str | None
    last_success_at: str | None
    last_status: int | None
    error_count: int
    last_error: str | None
    next_poll_at: str | None
    newest_item_at: str | None
    entries: int
    failures: int


class Failure(_Out):
    at: str
    stage: str
    error: str
    reason: str
    url: str | None
    feed_id: int | None
    attempts: int


class FeedsPage(_Out):
    feeds: list[Feed]
    failures: list[Failure]
