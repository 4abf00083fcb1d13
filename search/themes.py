"""Recurring themes: lessons clustered by meaning, labelled, with ids that survive a recompute.

Clustering runs in three steps so it scales to 100k lessons on one core:
k-means cuts the lessons into a few hundred micro-clusters; Ward's method
merges those, weighted by their sizes, down to k themes; and k-means, started
from those themes, moves each lesson to its nearest theme. The Ward start
makes the themes depend less on the seed than plain k-means does, which keeps
theme ids stable across recomputes; bench/theme_quality.py measures both.

Everything here is a pure function of numpy arrays and strings: fixed seeds
and first-index tie-breaks make the same input give the same themes.
"""

import math
import re
from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import faiss
import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

# scipy and scikit-learn are imported where they are used: together they took 0.6 of the
# 2.5 s every `lessons` command spent starting, most of which never clusters anything.

MICRO_CLUSTERS = 200  # 100 to 800 measured equal in quality (bench/theme_quality.py)
MICRO_PER_THEME = 4  # a theme set by hand still gets several micro-clusters to merge
KMEANS_ITERATIONS = 20
K_MIN = 2
K_MAX = 60  # more than this is no longer an overview on one page
TOKEN_PATTERN = r"(?u)\b[a-zA-Z][a-zA-Z-]+\b"  # words, not part numbers or dates
COMMON_SHARE = 0.25  # a word in over a quarter of all lessons names no theme ("design", "nasa")


def cluster(vectors: np.ndarray, k: int | None = None, seed: int = 0) -> np.ndarray:
    """Theme labels 0..k-1 (largest theme first) of unit lesson vectors; k=None chooses k."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vectors) <= 1:
        return np.zeros(len(vectors), dtype=np.int64)
    k = min(k or choose_k(len(vectors)), len(vectors))
    return canonical(refine(vectors, ward_start(vectors, k, seed), seed))


def choose_k(count: int) -> int:
    """The number of themes for `count` lessons: sqrt(count / 2), within K_MIN..K_MAX.

    Quality criteria cannot choose it (bench/theme_quality.py --experiments):
    on the NASA lessons Calinski-Harabasz prefers the fewest themes,
    Davies-Bouldin the most, and the silhouette stays between 0.05 and 0.08
    for every k from 5 to 60, far below the 0.25 that marks real clusters:
    lessons form a continuum, not clumps. So the number follows a reading
    rule: a theme holds about sqrt(2n) lessons, and themes and their sizes
    grow together.
    """
    return max(K_MIN, min(K_MAX, round(math.sqrt(count / 2))))


def ward_start(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Themes made by merging micro-clusters with Ward's method: where k-means starts."""
    count = max(MICRO_CLUSTERS, MICRO_PER_THEME * k)
    micro_of, centres, sizes = micro_clusters(vectors, count, seed)
    merged = cut(ward_merges(centres, sizes), len(centres), min(k, len(centres)))
    return canonical(merged[micro_of])


def micro_clusters(vectors: np.ndarray, count: int,
                   seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-means into at most `count` parts: each vector's part, the part centres, their sizes."""
    if count >= len(vectors):
        return np.arange(len(vectors)), vectors.astype(np.float64), np.ones(len(vectors))
    micro_of = kmeans_labels(vectors, count, seed)
    sizes = np.bincount(micro_of, minlength=count).astype(np.float64)
    kept = np.flatnonzero(sizes)  # a centre no vector is nearest to would be a phantom theme
    renumber = np.full(count, -1)
    renumber[kept] = np.arange(len(kept))
    return renumber[micro_of], mean_vectors(vectors, renumber[micro_of], len(kept)), sizes[kept]


def kmeans_labels(vectors: np.ndarray, k: int, seed: int,
                  start: np.ndarray | None = None) -> np.ndarray:
    """Each vector's cluster after k-means from random centres, or from `start` if given."""
    # min_points_per_centroid=1: few lessons per micro-cluster is the point, not a mistake.
    kmeans = faiss.Kmeans(vectors.shape[1], k, niter=KMEANS_ITERATIONS, seed=seed,
                          min_points_per_centroid=1)
    kmeans.train(vectors, init_centroids=start)
    return kmeans.index.search(vectors, 1)[1][:, 0]


def refine(vectors: np.ndarray, labels: np.ndarray, seed: int) -> np.ndarray:
    """k-means started from the given clusters: every lesson ends in its nearest theme."""
    k = int(labels.max()) + 1
    start = mean_vectors(vectors, labels, k).astype(np.float32)
    return kmeans_labels(vectors, k, seed, start)


def mean_vectors(vectors: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """The mean vector of each label 0..count-1 (float64, not normalised)."""
    members = membership(labels, count)
    sizes = np.asarray(members.sum(axis=1))
    return np.asarray(members @ vectors.astype(np.float64)) / np.maximum(sizes, 1)


def membership(labels: np.ndarray, count: int) -> "sparse.csr_matrix":
    """A count x len(labels) matrix with a 1 where item j has label i: sums per label."""
    from scipy import sparse

    return sparse.csr_matrix((np.ones(len(labels)), (labels, np.arange(len(labels)))),
                             shape=(count, len(labels)))


def ward_merges(centres: np.ndarray, sizes: np.ndarray) -> list[tuple[int, int]]:
    """Ward's merge order of weighted points: each step joins the pair adding least variance.

    A merged pair keeps the smaller index. scipy's linkage cannot weigh its
    points, and a micro-cluster of 300 lessons must weigh more than one of 3.
    """
    centres, sizes = centres.astype(np.float64).copy(), sizes.astype(np.float64).copy()
    cost = np.full((len(centres), len(centres)), np.inf)
    for i in range(len(centres)):
        cost[i, i + 1:] = ward_cost(centres, sizes, i)[i + 1:]
    merges = []
    for _ in range(len(centres) - 1):
        keep, gone = divmod(int(np.argmin(cost)), len(centres))
        total = sizes[keep] + sizes[gone]
        centres[keep] = (sizes[keep] * centres[keep] + sizes[gone] * centres[gone]) / total
        sizes[keep], sizes[gone] = total, 0.0
        cost[gone, :] = cost[:, gone] = np.inf
        row = np.where(sizes > 0, ward_cost(centres, sizes, keep), np.inf)
        cost[keep, keep + 1:], cost[:keep, keep] = row[keep + 1:], row[:keep]
        merges.append((keep, gone))
    return merges


def ward_cost(centres: np.ndarray, sizes: np.ndarray, i: int) -> np.ndarray:
    """The variance that merging cluster i with each cluster would add."""
    gaps = ((centres - centres[i]) ** 2).sum(axis=1)
    return sizes * sizes[i] / (sizes + sizes[i]) * gaps


def cut(merges: list[tuple[int, int]], count: int, k: int) -> np.ndarray:
    """The cluster of each of `count` tree leaves when the merging stops at k clusters."""
    owner = np.arange(count)
    for keep, gone in merges[: count - k]:
        owner[owner == gone] = keep
    return owner


def canonical(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0.. by size, largest first; ties by the first member's position."""
    values, first, counts = np.unique(labels, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))
    renumber = np.empty(labels.max() + 1, dtype=np.int64)
    renumber[values[order]] = np.arange(len(values))
    return renumber[labels]


def centroids(vectors: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The unit mean vector of each theme, row t for label t."""
    means = mean_vectors(vectors, labels, int(labels.max()) + 1)
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    return (means / np.maximum(norms, 1e-12)).astype(np.float32)


def nearest_theme(vector: np.ndarray, theme_centroids: np.ndarray) -> int:
    """The theme a new lesson joins between recomputes: the most similar centroid."""
    return int(np.argmax(theme_centroids @ vector))


def central_member(vectors: np.ndarray, labels: np.ndarray, theme_centroids: np.ndarray,
                   nameable: np.ndarray | None = None) -> list[int]:
    """Per theme, the index of the lesson closest to its centroid (its title names the theme):
    the closest of the `nameable` ones when the theme has any."""
    similarity = (vectors * theme_centroids[labels]).sum(axis=1)
    central = []
    for theme in range(len(theme_centroids)):
        members = np.flatnonzero(labels == theme)
        if nameable is not None and nameable[members].any():
            members = members[nameable[members]]
        central.append(int(members[np.argmax(similarity[members])]))
    return central


def distinctive_terms(texts: list[str], labels: np.ndarray, top: int = 8) -> list[list[str]]:
    """Per theme, the terms that set it apart, by class-based TF-IDF (as in BERTopic), in
    their usual spelling ("ESD", "valve"): the two-word phrase that names it first, if it has
    one, then the most distinctive.

    A term scores its share of the theme's words times log(1 + A / f), where A
    is the average number of words per theme and f the term's count over all
    themes: frequent in this theme, rare in the others. A phrase is two words
    side by side in the text (no stop word between them, so "requested too
    late" gives no "requested late") met at least twice in the theme.
    """
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

    themes = int(labels.max()) + 1
    # Stop words are dropped after counting, not before, so that phrases stay real phrases.
    vectorizer = CountVectorizer(ngram_range=(1, 2), token_pattern=TOKEN_PATTERN, min_df=2,
                                 max_df=max(2, round(COMMON_SHARE * len(texts))))
    try:
        counts = vectorizer.fit_transform(texts)
    except ValueError:  # no word occurs twice: nothing recurs to name a theme by
        return [[] for _ in range(themes)]
    words = vectorizer.get_feature_names_out()
    content = [j for j, term in enumerate(words) if not ENGLISH_STOP_WORDS & set(term.split())]
    counts, words = counts[:, content], words[content]
    per_theme = np.asarray((membership(labels, themes) @ counts).todense(), dtype=np.float64)
    share = per_theme / np.maximum(per_theme.sum(axis=1, keepdims=True), 1.0)
    rarity = np.log1p(per_theme.sum(axis=1).mean() / np.maximum(per_theme.sum(axis=0), 1.0))
    phrase = np.char.find(words.astype(str), " ") >= 0
    scores = np.where(phrase & (per_theme < 2), 0.0, share * rarity)
    found = []
    for theme, row in enumerate(scores):
        order = [j for j in np.argsort(-row, kind="stable") if row[j] > 0]
        chosen = order[:top]
        if (naming := naming_phrase(order, words, phrase)) is not None:
            chosen = [naming, *(j for j in chosen if j != naming)][:top]
        members = [texts[i] for i in np.flatnonzero(labels == theme)]
        found.append(usual_spelling([str(words[j]) for j in chosen], members))
    return found


def naming_phrase(order: list[int], words: np.ndarray, phrase: np.ndarray) -> int | None:
    """The phrase a theme is named by, of its terms in `order`: the first holding one of its
    three most distinctive words ("high pressure" for "pressure, valve, flow"), else the first.

    A phrase that merely scores well can miss the theme ("circuit breakers" for a theme
    of materials), and names that miss are matched to their lessons less often
    (bench/README.md).
    """
    top_words = {str(words[j]) for j in [j for j in order if not phrase[j]][:3]}
    phrases = [j for j in order if phrase[j]]
    return next((j for j in phrases if top_words & set(str(words[j]).split())),
                phrases[0] if phrases else None)


def usual_spelling(terms: list[str], texts: list[str]) -> list[str]:
    """Each lowercase term as these texts most often spell it inside a sentence ("ESD",
    "Mars"); lowercase if only titles and sentence starts give it a capital."""
    bodies = ["\n" + text.partition("\n")[2] for text in texts]  # titles are in title case
    spellings: dict[str, Counter[str]] = defaultdict(Counter)
    for group in ([t for t in terms if " " not in t], [t for t in terms if " " in t]):
        if not group:  # words and phrases apart: a phrase hides the words inside it
            continue
        pattern = re.compile(r"(?<![.!?:\n-]\s)(?<!\n)\b(" + "|".join(
            re.escape(term).replace(r"\ ", r"\s+") for term in group) + r")\b", re.IGNORECASE)
        for body in bodies:
            for match in pattern.finditer(body):
                spelling = " ".join(match.group(1).split())
                spellings[spelling.lower()][spelling] += 1
    # On a tie the lowercase spelling wins: it sorts last, and reverse puts it first.
    return [max(sorted(spellings[term], reverse=True), key=spellings[term].__getitem__)
            if spellings[term] else term for term in terms]


def match_to_previous(old_centroids: dict[int, np.ndarray], new_centroids: np.ndarray,
                      min_similarity: float, next_id: int) -> list[int]:
    """The id of each new theme: the old theme it matches best, or a fresh id from `next_id`.

    Old and new are paired one to one for the highest total cosine (the
    Hungarian method); a pair less alike than `min_similarity` is no match.
    Old ids left unmatched retire; `next_id` lies above every id ever given,
    so a retired id never comes back for another theme.
    """
    from scipy.optimize import linear_sum_assignment

    old_ids = sorted(old_centroids)
    ids = [-1] * len(new_centroids)
    if old_ids and len(new_centroids):
        similarity = new_centroids @ np.stack([old_centroids[i] for i in old_ids]).T
        for new, old in zip(*linear_sum_assignment(similarity, maximize=True), strict=True):
            if similarity[new, old] >= min_similarity:
                ids[new] = old_ids[old]
    for new, theme_id in enumerate(ids):
        if theme_id < 0:
            ids[new], next_id = next_id, next_id + 1
    return ids
