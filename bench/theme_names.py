"""Theme names: would a reader match a theme's name to its lessons? (theme_quality.py --names)

The 2,101 NASA lessons are read from ../shared/data/nasa_llis_2101.csv through
the product's `nasa` import mapping, each encoded whole as the product's
themes encode it (`theme_text`, all-MiniLM-L6-v2; cached in /tmp), and
clustered by `themes.cluster` with k chosen as the product chooses it. Each
theme is then named four ways on the same themes:

  word bag       the names shipped before: up to three distinctive terms, a
                 phrase standing for its words ("export, data, cost, open")
  phrase + title the shipped name (`lessons.models.theme_name`): the phrase that
                 names it (search.themes.naming_phrase) and the central lesson's title
  phrase only / title only   its two halves, to see what each brings

A reader is stood in for by the same model: each lesson and every name are
embedded, and a lesson counts as matched when its own theme's name is the
nearest name (top-1) or among the three nearest (top-3). The central lessons
are left out: their title is in the name. Against the failure patterns of
../shared/data/nasa_llis_failure_patterns_2106.jsonl: the share of themes
whose name's nearest pattern ("configuration drift", ...) is the most common
main pattern of the theme's lessons, and the same for the theme's centroid.
"""

import csv
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from theme_representations import encoded  # noqa: E402  (beside this script; cached in /tmp)

from lessons.imports.mappings import load_mapping  # noqa: E402  (after the path)
from lessons.models import theme_name  # noqa: E402
from search import themes  # noqa: E402
from search.theme_store import LABEL_FIELDS, theme_text  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
NASA_CSV = DATA / "nasa_llis_2101.csv"
PATTERNS = DATA / "nasa_llis_failure_patterns_2106.jsonl"
SHOWN = 10


def read_nasa() -> tuple[list[dict[str, str]], list[str | None]]:
    """Each NASA lesson as the import maps it, and its main failure pattern (None: unlabelled)."""
    mapping = load_mapping("nasa")
    with NASA_CSV.open(encoding="utf-8", newline="") as source:
        lessons = [mapping.apply(row) for row in csv.DictReader(source)]
    entries = {e["lesson_number"]: e for e in map(json.loads, PATTERNS.open(encoding="utf-8"))}
    found = [entries.get(lesson["external_id"].removeprefix("LLIS-")) for lesson in lessons]
    return lessons, [e["failure_patterns"][0] if e and e["failure_patterns"] else None
                     for e in found]


def word_bag(keywords: list[str], terms: int = 3, among: int = 8) -> str:
    """The name themes had before: its distinctive words, a phrase standing for its words."""
    top = [term.lower() for term in keywords[:among]]
    covered = {word for phrase in top if " " in phrase for word in phrase.split()}
    chosen = sorted((term for term in top if " " in term or term not in covered),
                    key=lambda term: " " not in term)[:terms]
    label = ", ".join(chosen)
    return label[:1].upper() + label[1:]


def matched(lessons: np.ndarray, own: np.ndarray, names: np.ndarray) -> tuple[float, float]:
    """Share of lessons whose own theme's name is the nearest name, and among the 3 nearest."""
    similarity = lessons @ names.T
    rank = (similarity > similarity[np.arange(len(own)), own][:, None]).sum(axis=1)
    return float(np.mean(rank == 0)), float(np.mean(rank < 3))


def pattern_agreement(names: np.ndarray, pattern_vectors: np.ndarray,
                      majority: list[int]) -> float:
    """Share of themes whose name's nearest failure pattern is the theme's majority pattern."""
    nearest = np.argmax(names @ pattern_vectors.T, axis=1)
    return float(np.mean(nearest == np.array(majority)))


def measure_names() -> None:
    """Print the table for bench/README.md and example names before and after."""
    lessons, patterns = read_nasa()
    vectors = themes_unit(encoded("names-lessons", [theme_text(*(lesson.get(f) for f in (
        "title", "what_happened", "root_cause", "recommendation"))) for lesson in lessons]))
    labels = themes.cluster(vectors)
    centroids = themes.centroids(vectors, labels)
    texts = ["\n".join(filter(None, (lesson.get(f) for f in LABEL_FIELDS))) for lesson in lessons]
    keywords = themes.distinctive_terms(texts, labels)
    central = themes.central_member(vectors, labels, centroids)
    titles = [lessons[i]["title"] for i in central]
    namings = {
        "word bag (before)": [word_bag(terms) for terms in keywords],
        "phrase + title (shipped)": [theme_name(t, title) for t, title in
                                     zip(keywords, titles, strict=True)],
        "phrase only": [theme_name(terms, "") for terms in keywords],
        "title only": [theme_name([], title) for title in titles],
    }
    pattern_names = sorted({pattern for pattern in patterns if pattern})
    pattern_vectors = themes_unit(encoded("names-patterns",
                                          [name.replace("_", " ") for name in pattern_names]))
    majority = [majority_pattern(pattern_names, patterns, labels, theme)
                for theme in range(len(centroids))]
    scored = np.setdiff1d(np.arange(len(lessons)), central)
    print(f"{len(lessons):,} lessons, {len(centroids)} themes, {len(pattern_names)} failure "
          f"patterns; {len(scored):,} lessons scored (central lessons left out)\n")
    print("| naming | top-1 | top-3 | themes whose name's nearest pattern is their majority "
          "pattern |\n| --- | --- | --- | --- |")
    for naming, found in namings.items():
        name_vectors = themes_unit(encoded("names-found", found))
        top1, top3 = matched(vectors[scored], labels[scored], name_vectors)
        agreement = pattern_agreement(name_vectors, pattern_vectors, majority)
        print(f"| {naming} | {top1:.1%} | {top3:.1%} | {agreement:.1%} |")
    print(f"| (the theme's centroid, no name) | | | "
          f"{pattern_agreement(centroids, pattern_vectors, majority):.1%} |")
    print(f"| (chance) | {1 / len(centroids):.1%} | {3 / len(centroids):.1%} | "
          f"{1 / len(pattern_names):.1%} |")
    sizes = np.bincount(labels)
    print(f"\nThe {SHOWN} largest themes, before → after (majority pattern):")
    for theme in np.argsort(-sizes, kind="stable")[:SHOWN]:
        before, after = (namings[naming][theme]
                         for naming in ("word bag (before)", "phrase + title (shipped)"))
        print(f"- {sizes[theme]} lessons: \"{before}\" → \"{after}\" "
              f"({pattern_names[majority[theme]]})")


def majority_pattern(pattern_names: list[str], patterns: list[str | None], labels: np.ndarray,
                     theme: int) -> int:
    """The index of the theme's most common main pattern (-1 when none of it is labelled,
    which no name's nearest pattern can equal)."""
    counts = Counter(p for p, t in zip(patterns, labels, strict=True) if p and t == theme)
    return pattern_names.index(counts.most_common(1)[0][0]) if counts else -1


def themes_unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1, float32."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


if __name__ == "__main__":
    measure_names()
