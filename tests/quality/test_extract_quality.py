"""Accuracy floors of incident extraction on the labelled dev corpus (an evaluation gate).

Runs ``bench/score_extract.py``'s scorer over ``../shared/eval/dev``. The floors sit a little
below what the extractor reaches, so a regression fails CI; raise them as accuracy improves.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "eval" / "dev"

# Lowered when the phrases fitted to single dev articles were removed and detection moved from
# the toll to the event (issue 8), and when the curated villages that were this corpus's incident
# sites were removed (issue 9). Measured with both: recall 0.877, precision 0.844, date 0.969,
# location 0.922, killed 0.938, event type 0.922, perpetrator 0.844; the floors sit a little lower.
# Perpetrator then fell to 0.828 when "Dozo hunters" stopped being an alias of the Dogon militia
# (a mapping written for this corpus's articles; the Dozo are their own militias).
FLOORS = {
    "incident_recall": 0.80,
    "incident_precision": 0.80,
    "date": 0.95,
    "location": 0.90,
    "killed": 0.92,
    "event_type": 0.88,
    "perpetrator": 0.82,
}


def _scorer() -> Any:
    spec = importlib.util.spec_from_file_location("score_extract", ROOT / "bench" / "score_extract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["score_extract"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    not (CORPUS / "gold.json").exists(), reason=f"dev corpus not found at {CORPUS} (../shared is absent)"
)
def test_extraction_meets_accuracy_floors() -> None:
    result = _scorer().run(CORPUS)
    got = {"incident_recall": result.recall, "incident_precision": result.precision, **result.fields}
    below = {k: round(got[k], 3) for k, floor in FLOORS.items() if got[k] < floor}
    assert not below, f"below floor: {below} (floors {FLOORS})"
