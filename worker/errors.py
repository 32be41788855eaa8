"""The one error tree of Wirewatch.

    WirewatchError
    ├── ConfigError                 invalid settings: fail at start, name the key
    ├── EnvironmentFault            the machine, not the input (model missing): the articles are
    │                               held, and extracted once a worker starts with its checks passing
    ├── Transient                   retry later with backoff (the task raises Retry)
    │   ├── TransientFetchError     timeouts, connection errors, 429/5xx (carries retry_after)
    │   │   └── DeadlineExceeded    the response did not complete within its wall-clock deadline
    │   └── StoreUnavailable        the database did not answer
    │       └── ResourceExhausted   disk full, out of memory, too many connections: retried
    │                               every few seconds without limit, logged once per condition
    ├── Permanent                   record the failure with its reason, do not retry
    │   ├── FetchError              4xx, refused address, body over the cap, not HTML
    │   │   └── BlockedAddress      SSRF guard: the URL resolves to a forbidden network
    │   ├── FeedError               not a feed, malformed or hostile XML
    │   └── ContentError            page without usable article text
    └── FailureRecorded             raised by a task after its job recorded a permanent failure
                                    (``failures``, the feed's backoff, the entry marked failed)
                                    so Celery and Flower show the task as FAILURE; not retried

Expected outcomes ("not modified", "duplicate", "no incident") are return values, not
exceptions. Third-party exceptions are translated into this tree where the library is used.
"""

from __future__ import annotations


class WirewatchError(Exception):
    """Base of every error Wirewatch raises on purpose."""


class ConfigError(WirewatchError):
    """Settings are invalid; the message names the offending key."""


class EnvironmentFault(WirewatchError):
    """Work failed because of the machine (a model that does not load, a missing data file),
    not because of its input. Raised after the failure is recorded (``recorded``)."""

    recorded = True


class Transient(WirewatchError):
    """A failure that may go away: retry with backoff."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientFetchError(Transient):
    """Network trouble or a server asking us to come back later."""


class DeadlineExceeded(TransientFetchError):
    """The response did not complete within its wall-clock deadline (a server trickling, or
    simply too slow). Retrying at once would cost the same again: the caller leaves it for a
    later attempt (the service's retry with backoff, the next ``ingest --once``)."""


class StoreUnavailable(Transient):
    """The database could not be reached."""


class ResourceExhausted(StoreUnavailable):
    """The database (or the disk under it) ran out of a resource: space, memory, connections.
    ``condition`` names it ("disk full") so it is logged once, not once per attempt."""

    def __init__(self, message: str, *, condition: str) -> None:
        super().__init__(message)
        self.condition = condition


class Permanent(WirewatchError):
    """A failure that retrying will not fix: record it with its reason and move on."""


class FetchError(Permanent):
    """The URL cannot be fetched usefully (4xx, too big, wrong content type...)."""


class BlockedAddress(FetchError):
    """The URL resolves to an address the fetcher must not reach (SSRF guard)."""


class FeedError(Permanent):
    """The bytes are not a usable feed (malformed, hostile or empty)."""


class ContentError(Permanent):
    """The page holds no usable article text."""


class FailureRecorded(WirewatchError):
    """A task's job failed permanently and has already recorded it with its subject (a row in
    ``failures``, the feed's error count and next poll, the entry marked failed). The task
    raises it only so that the outcome is FAILURE in Celery's events and in Flower, with the
    message as its one-line reason; it is not a Transient (never retried) and not recorded
    again (``recorded``)."""

    recorded = True
