"""Flag queries that copy a lesson's wording: any 3-word sequence shared with a title.

The paraphrase set must not reward keyword matching, so no query may share
three consecutive words (stopwords included, punctuation ignored) with the
title of any NASA or demo lesson. Run:
    python bench/paraphrase/check_overlap.py bench/paraphrase/queries.json
"""

import csv
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NASA = ROOT.parent / "shared" / "data" / "nasa_llis_2101.csv"
DEMO = ROOT / "lessons" / "demo" / "demo_data.json"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def trigrams(text: str) -> set[tuple[str, ...]]:
    w = words(text)
    return {tuple(w[i:i + 3]) for i in range(len(w) - 2)}


def titles() -> list[str]:
    csv.field_size_limit(sys.maxsize)
    with NASA.open(encoding="utf-8") as file:
        found = [row["Title"] for row in csv.DictReader(file)]
    demo = json.loads(DEMO.read_text())
    return found + [lesson["title"]
                    for project in demo["projects"] for lesson in project["lessons"]]


def main(path: str) -> None:
    by_gram: dict[tuple[str, ...], str] = {}
    for title in titles():
        for gram in trigrams(title):
            by_gram.setdefault(gram, title)
    bad = 0
    for query in json.loads(Path(path).read_text()):
        shared = sorted(trigrams(query["text"]) & by_gram.keys())
        if shared:
            bad += 1
            print(f"{query['id']}: " + "; ".join(
                f"'{' '.join(g)}' (title: {by_gram[g][:70]})" for g in shared[:5]))
    print(f"{bad} queries share a 3-word sequence with a title")


if __name__ == "__main__":
    main(sys.argv[1])
