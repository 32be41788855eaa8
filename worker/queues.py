"""The queues: I/O-bound work (polling, fetching) and CPU-bound work (NLP), scaled apart."""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    IO = "io"
    NLP = "nlp"
