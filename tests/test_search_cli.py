"""`lessons import --mapping nasa`, `lessons search` and `lessons reindex` on real NASA records."""

import csv
import json
import sys

import pytest


@pytest.fixture
def llis_slice(shared_data, tmp_path):
    """The first 30 lessons of the NASA export, as a file of the same format."""
    csv.field_size_limit(sys.maxsize)
    source = shared_data / "nasa_llis_2101.csv"
    with open(source, encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        rows = [row for _, row in zip(range(30), reader, strict=False)]
        columns = reader.fieldnames
    path = tmp_path / "llis.csv"
    with open(path, "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path, rows


def test_import_search_and_reindex(runner, client, llis_slice):
    path, rows = llis_slice
    first = runner.invoke(args=["import", str(path), "--mapping", "nasa"])
    assert first.exit_code == 0, first.output
    assert "Created 30 lessons" in first.output and "rejected 0" in first.output
    again = runner.invoke(args=["import", str(path), "--mapping", "nasa"])
    assert "Created 0 lessons" in again.output and "skipped 30" in again.output

    row = rows[4]
    lesson = client.get("/api/v1/lessons", query_string={"per_page": 200}).get_json()["items"]
    imported = next(item for item in lesson if item["external_id"] == f"LLIS-{row['Lesson ID']}")
    assert imported["title"] == row["Title"].strip()
    assert imported["recommendation"] == row["Recommendation(s)"].strip()
    assert imported["project_name"] == row["Project / Program"].strip()

    result = runner.invoke(args=["search", row["Title"], "--json", "--limit", "3"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)
    assert hits[0]["external_id"] == f"LLIS-{row['Lesson ID']}"
    assert {"id", "score", "why"} <= set(hits[0])

    plain = runner.invoke(args=["search", row["Title"]])
    assert plain.output.startswith(" 1. ")
    assert runner.invoke(args=["search", "   "]).exit_code != 0

    reindex = runner.invoke(args=["reindex"])
    assert reindex.exit_code == 0, reindex.output
    assert "Index rebuilt: flat (exact)" in reindex.output
    status = runner.invoke(args=["status"]).output
    assert "index: flat (exact)" in status and "up to change" in status
