"""Start-up checks: load what the workers need before anything says "ready".

    check_nlp(model)     the spaCy model and the gazetteer load, and extract a sentence
    python -m worker.checks [--config PATH]   the same in a child process, for `wirewatch run`

A model name with a typo, a missing model package or an unreadable gazetteer cache would
otherwise let every NLP worker start, report itself ready and fail every article. These
checks turn them into one line naming the setting and exit status 2; `wirewatch run` runs
them before it starts any process (in a child process, so the supervisor does not keep a
model in memory), and an NLP worker runs them again in its parent process before it forks
(``worker.tasks``), which also warms the model its children share.
"""

from __future__ import annotations

import argparse
import sys

from worker.errors import ConfigError
from worker.settings import load_settings

WARM_TEXT = "KYIV (Reuters) - A missile strike killed two people in Kharkiv on Monday, officials said."


class StartupRefused(SystemExit):
    """A worker process stops at start (SystemExit is not swallowed by Celery's signals)."""


def check_nlp(model: str) -> None:
    """Load the extraction pipeline for `model` and the gazetteer, and extract one sentence.
    Raises ConfigError naming ``nlp.model`` (or the gazetteer) with the cause, in one line."""
    from worker.pipeline.extract import Gazetteer, extract_many, load_nlp
    from worker.records import Article

    try:
        nlp = load_nlp(model)
    except (OSError, ImportError, ValueError) as exc:
        raise ConfigError(f"nlp.model: cannot load {model!r}: {_line(exc)}") from exc
    warm = Article(url="", canonical_url="", title="", published_at=None, text=WARM_TEXT)
    try:
        extract_many(nlp, [warm], gazetteer=Gazetteer.load())
    except (OSError, ImportError, ValueError) as exc:  # the gazetteer index and its data files
        raise ConfigError(f"gazetteer: cannot load it: {_line(exc)}") from exc


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:400] or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Wirewatch start-up checks")
    parser.add_argument("--config", default=None)
    args = parser.parse_args(argv)
    try:
        check_nlp(load_settings(args.config).nlp.model)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
