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

# Issue 9 removed the curated villages that were exactly this corpus's incident sites
# (Ogossagou, Dahyan, Wazir Tangi, Hroza...): their reports now fall back to the district,
# province or a neighbouring town, and the floors below are the measured figures without them
# (recall 0.836, precision 0.861, location 0.934, perpetrator 0.869), a little lower.
FLOORS = {
    "incident_recall": 0.82,
    "incident_precision": 0.85,
    "date": 0.96,
    "location": 0.92,
    "killed": 0.97,
    "event_type": 0.93,
    "perpetrator": 0.86,
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
