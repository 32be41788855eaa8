"""Run and score every real-data dev set that is present: ACLED notes, CASE snippets, GVA.

    python bench/eval_real.py [REAL_DIR] [--eval-dir DIR] [--out DIR] [--json]

REAL_DIR holds the dev builds ``acled/``, ``case/`` and ``gva/`` (default: ``$WIREWATCH_REAL_EVAL``,
else ``../scratch/real`` next to the repository). The scripts that run and score them come from
the shared evaluation folder (``--eval-dir``, default ``$WIREWATCH_EVAL_DIR`` else
``../shared/eval``): ``real/run_batch.py``, ``real/score_extract.py`` and ``run``. Nothing here
builds a dataset: a missing one is named with the command that builds it
(``../shared/eval/real/README.md``); only the dev half may ever be built.

Prints, per corpus, the figures the project tracks:

    ACLED  detection F1, event type, killed exact, perpetrator, date, place within 25 km
    CASE   detection F1 and precision, event type
    GVA    the end-to-end score table of ``../shared/eval/run`` (one incident per shooting)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIREWATCH = ROOT / ".venv" / "bin" / "wirewatch"

#: corpus -> [(label, path in score_extract's JSON)]
FIGURES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "acled": [
        ("detection F1", ("detection", "f1")),
        ("detection precision", ("detection", "precision")),
        ("detection recall", ("detection", "recall")),
        ("event type", ("fields", "event_type", "accuracy")),
        ("killed exact", ("fields", "killed_exact", "accuracy")),
        ("perpetrator", ("fields", "perpetrator", "accuracy")),
        ("date", ("fields", "date", "accuracy")),
        ("place within 25 km", ("fields", "location_25km", "accuracy")),
    ],
    "case": [
        ("detection F1", ("detection", "f1")),
        ("detection precision", ("detection", "precision")),
        ("detection recall", ("detection", "recall")),
        ("event type", ("fields", "event_type", "accuracy")),
    ],
}
BUILD = {
    "acled": "acled_notes.py <acled git dir> {out}/acled --sample 0",
    "case": "case_types.py <case git dir> {out}/case",
    "gva": "gva_corpus.py <gva git dir> {out}/gva",
}


def _default_real() -> Path:
    env = os.environ.get("WIREWATCH_REAL_EVAL")
    return Path(env) if env else ROOT.parent / "scratch" / "real"


def _default_eval() -> Path:
    env = os.environ.get("WIREWATCH_EVAL_DIR")
    return Path(env) if env else ROOT.parent / "shared" / "eval"


def _dig(node: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _missing(corpus: str, real: Path, eval_dir: Path) -> str:
    script = BUILD[corpus].format(out=real)
    return (
        f"{corpus}: MISSING under {real / corpus}. Build the dev split only, as "
        f"{eval_dir / 'real' / 'README.md'} says: python {eval_dir / 'real' / script}"
    )


def run_notes(corpus: str, real: Path, eval_dir: Path, out: Path) -> dict[str, object] | None:
    """Extract every note of ``corpus`` with the CLI and score it; None when it is not built."""
    notes, gold = real / corpus / "notes.jsonl", real / corpus / "gold.jsonl"
    if not (notes.is_file() and gold.is_file()):
        print(_missing(corpus, real, eval_dir))
        return None
    pred = out / f"{corpus}_pred.jsonl"
    env = {**os.environ, "WIREWATCH": os.environ.get("WIREWATCH", str(WIREWATCH))}
    subprocess.run(
        [sys.executable, str(eval_dir / "real" / "run_batch.py"), str(notes), str(pred)],
        env=env,
        check=True,
        stderr=subprocess.DEVNULL,
    )
    scored = subprocess.run(
        [sys.executable, str(eval_dir / "real" / "score_extract.py"), str(gold), str(pred), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(scored.stdout)
    return result


def run_gva(real: Path, eval_dir: Path) -> str | None:
    """The end-to-end score table of the GVA dev build, or None when it is not built."""
    corpus = real / "gva"
    if not (corpus / "articles.jsonl").is_file():
        print(_missing("gva", real, eval_dir))
        return None
    env = {**os.environ, "WIREWATCH": os.environ.get("WIREWATCH", str(WIREWATCH))}
    done = subprocess.run([str(eval_dir / "run"), str(corpus)], env=env, check=True, capture_output=True, text=True)
    return done.stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("real", nargs="?", type=Path, default=_default_real())
    ap.add_argument("--eval-dir", type=Path, default=_default_eval())
    ap.add_argument("--out", type=Path, help="keep the predictions here (default: a temporary folder)")
    ap.add_argument("--only", choices=["acled", "case", "gva"], action="append", help="run only these corpora")
    ap.add_argument("--json", action="store_true", help="print the full scores as one JSON object")
    args = ap.parse_args()
    if not (args.eval_dir / "real" / "score_extract.py").is_file():
        print(f"no evaluation scripts under {args.eval_dir} (set WIREWATCH_EVAL_DIR or --eval-dir)")
        return 2
    wanted = args.only or ["acled", "case", "gva"]
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        scores: dict[str, object] = {}
        for corpus in ("acled", "case"):
            if corpus not in wanted:
                continue
            result = run_notes(corpus, args.real, args.eval_dir, out)
            if result is None:
                continue
            scores[corpus] = result
            print(f"{corpus} dev ({result['notes']} notes)")
            for label, path in FIGURES[corpus]:
                print(f"  {label:22} {_dig(result, path)}")
        if "gva" in wanted:
            table = run_gva(args.real, args.eval_dir)
            if table is not None:
                scores["gva"] = table.strip().splitlines()[-1]
                print("gva dev, end to end")
                print("\n".join("  " + line for line in table.strip().splitlines()))
        if args.json:
            print(json.dumps(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
