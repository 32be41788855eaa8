"""The scheduler: Celery beat ticks; per-feed cadence, validators and backoff live in the database."""
