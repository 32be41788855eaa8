"""Export formats a spreadsheet or a GIS opens as is: flat CSV rows and GeoJSON properties,
RFC 4180 CSV, and evidence sentences stored once per report.

The incidents are invented records in the export schema (what ``export.incidents`` returns).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from worker.store import export

SENTENCE = 'Shells killed 12 people, "mostly fishermen", in the port of Mariupol on Monday.'
SECOND = "Rescuers said on Tuesday the toll rose to 14,\nofficials added."


def _report(url: str, outlet: str, title: str, killed: int | None, sentence: str) -> dict[str, Any]:
    stored = [
        {"field": "event_type", "text": sentence, "start": 0, "end": 6},
        {"field": "location", "text": sentence, "start": 55, "end": 63},
        {"field": "killed", "text": sentence, "start": 14, "end": 16},
    ]
    return {
        "url": url,
        "source": "Wire One",
        "outlet": outlet,
        "published_at": "2022-03-14T10:00:00+00:00",
        "title": title,
        "copy_of": False,
        "event_type": "Shelling/artillery/missile attack",
        "date": "2022-03-14",
        "location": {"name": "Mariupol", "country": "UA", "lat": 47.1, "lon": 37.5},
        "perpetrator": "Russian forces",
        "killed": killed,
        "injured": None,
        **export.evidence_by_sentence(stored),
        "link": {"score": None, "reasons": {}},
    }


def _incident(ident: str, *, lat: float | None, lon: float | None, country: str | None = "UA") -> dict[str, Any]:
    return {
        "id": ident,
        "event_type": "Shelling/artillery/missile attack",
        "date": "2022-03-14",
        "date_precision": "day",
        "location": {
            "name": "Mariupol" if lat is not None else None,
            "admin1": "Donetsk" if lat is not None else None,
            "country": country,
            "lat": lat,
            "lon": lon,
            "precision": "town" if lat is not None else "country",
        },
        "perpetrator": "Russian forces",
        "perpetrator_certainty": "stated",
        "victims": "civilians",
        "killed": {"low": 12, "best": 14, "high": 14},
        "injured": {"low": None, "best": None, "high": None},
        "num_reports": 3,
        "num_independent_sources": 2,
        "first_reported_at": "2022-03-14T10:00:00+00:00",
        "last_reported_at": "2022-03-15T08:00:00+00:00",
        "reports": [
            _report("https://wire.example/a/1", "Wire One", "Shelling kills 12, in Mariupol", 12, SENTENCE),
            _report("https://paper.example/b?id=2;x=1", "Reuters", 'Toll rises to 14 | "port"', 14, SECOND),
            _report("https://wire.example/a/3", "Wire One", "", 14, SECOND),
        ],
    }


ITEMS = [_incident("a1", lat=47.1, lon=37.5), _incident("b2", lat=None, lon=None, country=None)]
SCALARS = (str, int, float, bool, type(None))


def test_each_distinct_sentence_is_stored_once_and_every_field_points_to_it() -> None:
    stored = [
        {"field": "event_type", "text": SENTENCE, "start": 0, "end": 6},
        {"field": "date", "text": SECOND, "start": 15, "end": 22},
        {"field": "killed", "text": SENTENCE, "start": 14, "end": 16},
    ]
    got = export.evidence_by_sentence(stored)
    assert got["sentences"] == [SENTENCE, SECOND]
    # Nothing is lost: each field gets its own sentence and span back.
    back = [
        {"field": e["field"], "text": got["sentences"][e["sentence"]], "start": e["start"], "end": e["end"]}
        for e in got["evidence"]
    ]
    assert back == stored
    assert export.evidence_by_sentence([]) == {"sentences": [], "evidence": []}


def test_csv_is_rfc4180_with_a_row_per_incident_and_no_blank_row() -> None:
    text = export.to_csv(ITEMS)
    assert text.endswith("\r\n") and not text.endswith("\r\n\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(ITEMS)
    assert list(rows[0]) == export.CSV_COLUMNS
    row = rows[0]
    assert row["country_name"] == "Ukraine" and row["country"] == "UA" and row["admin1"] == "Donetsk"
    # Outlets once each, in report order.
    assert row["outlets"] == "Wire One; Reuters"
    assert row["report_titles"] == 'Shelling kills 12, in Mariupol | Toll rises to 14 | "port"'
    assert row["report_urls"].split(" ") == [r["url"] for r in ITEMS[0]["reports"]]
    # The sentence of the report that agrees with the merged fields (killed 14, as the incident).
    assert row["evidence"] == SECOND
    assert (row["killed_best"], row["killed_low"], row["injured_best"]) == ("14", "12", "")
    assert rows[1]["country_name"] == "" and rows[1]["lat"] == ""
    # Quotes doubled, fields with commas, quotes or line breaks quoted (RFC 4180 section 2).
    assert '"Shelling kills 12, in Mariupol | Toll rises to 14 | ""port"""' in text


def test_geojson_properties_are_the_csv_columns_as_scalars() -> None:
    doc = json.loads(export.to_geojson(ITEMS))
    assert doc["type"] == "FeatureCollection"
    placed, unplaced = doc["features"]
    assert placed["geometry"] == {"type": "Point", "coordinates": [37.5, 47.1]}
    assert unplaced["geometry"] is None  # valid GeoJSON: a feature with no location
    for feature in doc["features"]:
        assert list(feature["properties"]) == export.CSV_COLUMNS
        bad = {k: v for k, v in feature["properties"].items() if not isinstance(v, SCALARS)}
        assert not bad, f"nested properties a GIS would read as JSON text: {bad}"
    assert placed["properties"]["killed_best"] == 14 and placed["properties"]["lat"] == 47.1
    assert placed["properties"]["outlets"] == "Wire One; Reuters"


OGR_TYPES = {
    "id": "String",
    "date": "Date",
    "country_name": "String",
    "lat": "Real",
    "lon": "Real",
    "killed_best": "Integer",
    "killed_low": "Integer",
    "num_reports": "Integer",
    "first_reported_at": "DateTime",
    "outlets": "String",
    "evidence": "String",
}
# ogrinfo's layer summary: "name: Type (width.precision)"; a nested object shows as String(JSON).
_OGR_FIELD = re.compile(r"^(\w+): (\w+(?:\(\w+\))?) \(\d+\.\d+\)$", re.MULTILINE)


def test_gdal_reads_every_property_as_a_typed_column(tmp_path: Path) -> None:
    ogrinfo = shutil.which("ogrinfo")
    if ogrinfo is None:
        pytest.skip("ogrinfo (GDAL, Debian package gdal-bin) is not installed: the GeoJSON is not opened by a GIS")
    path = tmp_path / "incidents.geojson"
    path.write_text(export.to_geojson(ITEMS), encoding="utf-8")
    out = subprocess.run(
        [ogrinfo, "-ro", "-so", "-al", str(path)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert f"Feature Count: {len(ITEMS)}" in out and "Geometry: Point" in out
    fields = dict(_OGR_FIELD.findall(out))
    assert list(fields) == export.CSV_COLUMNS
    assert not [n for n, kind in fields.items() if "JSON" in kind], fields
    assert {n: fields[n] for n in OGR_TYPES} == OGR_TYPES
