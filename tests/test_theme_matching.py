"""Themes as pure functions: clustering, placement, naming, and ids that survive a recompute.

Plain unit tests: no app, no database, no model. Vectors are built around orthogonal unit
vectors, so which theme each belongs to is plain to see.
"""

import math

import numpy as np
import pytest

from search import themes
from search.theme_store import MATCH_SIMILARITY, theme_counts, theme_text, unit_rows

DIM = 8
AXES = np.eye(DIM, dtype=np.float32)


def unit(*values: float) -> np.ndarray:
    """A unit vector in DIM dimensions from its first coordinates."""
    vector = np.zeros(DIM, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def blobs(sizes: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors scattered closely around axis t for the t-th size, and each one's axis."""
    rng = np.random.default_rng(seed)
    axis = np.repeat(np.arange(len(sizes)), sizes)
    vectors = AXES[axis] + 0.05 * rng.standard_normal((len(axis), DIM))
    return unit_rows(vectors), axis


def ids_by_axis(axis: np.ndarray, labels: np.ndarray, ids: list[int]) -> dict[int, set[int]]:
    """The theme ids the lessons around each axis were given."""
    return {int(a): {ids[label] for label in labels[axis == a]} for a in np.unique(axis)}


# Matching new themes to old ones


def test_permuted_centroids_keep_their_old_ids():
    old = {12: AXES[2], 10: AXES[0], 11: AXES[1]}
    new = np.stack([unit(0, 0.1, 1), unit(1, 0, 0.1), unit(0.1, 1)])  # near axes 2, 0, 1
    assert themes.match_to_previous(old, new, MATCH_SIMILARITY, next_id=13) == [12, 10, 11]


def test_a_new_theme_without_a_match_gets_a_fresh_id():
    old = {1: AXES[0], 2: AXES[1]}
    new = np.stack([AXES[1], AXES[3], AXES[0]])
    assert themes.match_to_previous(old, new, MATCH_SIMILARITY, next_id=5) == [2, 5, 1]


def test_old_ids_left_unmatched_retire_and_fresh_ids_count_up_in_order():
    old = {1: AXES[0], 2: AXES[1], 3: AXES[2]}
    new = np.stack([AXES[4], AXES[2], AXES[5]])
    assert themes.match_to_previous(old, new, MATCH_SIMILARITY, next_id=9) == [9, 3, 10]


def test_a_pair_less_alike_than_the_threshold_is_no_match():
    # A recomputed theme and its old self are mostly 0.9 alike, distinct themes up to 0.83.
    itself, neighbour = unit(0.9, math.sqrt(1 - 0.9**2)), unit(0.83, math.sqrt(1 - 0.83**2))
    assert float(itself @ AXES[0]) == pytest.approx(0.9)
    assert float(neighbour @ AXES[0]) == pytest.approx(0.83)
    old = {4: AXES[0]}
    assert themes.match_to_previous(old, np.stack([itself]), MATCH_SIMILARITY, 7) == [4]
    assert themes.match_to_previous(old, np.stack([neighbour]), MATCH_SIMILARITY, 7) == [7]
    assert themes.match_to_previous(old, np.stack([neighbour]), 0.83 - 1e-6, 7) == [4]


def test_pairs_are_chosen_for_the_best_total_not_greedily():
    # X is a little closer to A than to B, but Y is close to A only: taking A for X would
    # leave Y without a match. Paired one to one for the highest total, X keeps B's id.
    a, b = AXES[0], AXES[1]
    x = unit(0.75, 0.66, math.sqrt(1 - 0.75**2 - 0.66**2))
    y = unit(0.74, 0, math.sqrt(1 - 0.74**2))
    assert float(x @ a) > float(x @ b) > 0.6 and float(y @ a) > 0.6 > float(y @ b)
    assert themes.match_to_previous({1: a, 2: b}, np.stack([x, y]), 0.6, next_id=3) == [2, 1]


def test_no_old_themes_and_no_new_themes():
    assert themes.match_to_previous({}, AXES[:3], MATCH_SIMILARITY, next_id=4) == [4, 5, 6]
    assert themes.match_to_previous({1: AXES[0]}, np.zeros((0, DIM), np.float32),
                                    MATCH_SIMILARITY, next_id=2) == []


def test_ids_follow_the_lessons_through_a_recompute_that_reorders_the_themes():
    vectors, axis = blobs([12, 8, 5], seed=1)
    labels = themes.cluster(vectors, 3)
    centroids = themes.centroids(vectors, labels)
    first_ids = themes.match_to_previous({}, centroids, MATCH_SIMILARITY, next_id=1)
    first = ids_by_axis(axis, labels, first_ids)
    assert all(len(found) == 1 for found in first.values())  # one theme per axis

    # New lessons, in another order, and the smallest theme has grown the largest: its label
    # changes from 2 to 0, its id must not.
    vectors, axis = blobs([5, 8, 14], seed=2)
    shuffled = np.random.default_rng(3).permutation(len(axis))
    vectors, axis = vectors[shuffled], axis[shuffled]
    labels = themes.cluster(vectors, 3)
    assert np.all(labels[axis == 2] == 0)
    old = dict(zip(first_ids, centroids, strict=True))
    ids = themes.match_to_previous(old, themes.centroids(vectors, labels), MATCH_SIMILARITY,
                                   next_id=max(first_ids) + 1)
    assert ids_by_axis(axis, labels, ids) == first


# Clustering


def test_cluster_finds_the_groups_largest_first():
    vectors, axis = blobs([4, 9, 6], seed=4)
    labels = themes.cluster(vectors, 3)
    assert labels.tolist() == [2] * 4 + [0] * 9 + [1] * 6


def test_cluster_chooses_k_by_the_reading_rule_and_never_more_than_the_lessons():
    vectors, _ = blobs([25, 25, 25, 25], seed=5)
    assert len(np.unique(themes.cluster(vectors))) == themes.choose_k(100) == 7
    assert len(np.unique(themes.cluster(vectors[:3], k=10))) == 3
    assert themes.cluster(vectors[:1]).tolist() == [0]
    assert themes.cluster(vectors[:0]).tolist() == []


def test_the_same_vectors_give_the_same_themes():
    vectors, _ = blobs([10, 7, 7, 3], seed=6)
    assert np.array_equal(themes.cluster(vectors, 4), themes.cluster(vectors.copy(), 4))


@pytest.mark.parametrize(("count", "k"), [(1, 2), (8, 2), (50, 5), (200, 10), (1_000, 22),
                                          (7_200, 60), (1_000_000, 60)])
def test_choose_k_is_sqrt_of_half_the_lessons_within_bounds(count, k):
    assert themes.choose_k(count) == k
    assert themes.K_MIN <= k <= themes.K_MAX


def test_canonical_labels_are_numbered_by_size_ties_by_first_member():
    assert themes.canonical(np.array([5, 5, 2, 7, 7, 7])).tolist() == [1, 1, 2, 0, 0, 0]
    assert themes.canonical(np.array([3, 3, 1, 1, 9])).tolist() == [0, 0, 1, 1, 2]


def test_ward_merges_the_closest_pairs_first_and_cut_stops_at_k():
    centres = np.array([[0.0], [0.2], [5.0], [5.1]])
    merges = themes.ward_merges(centres, np.ones(4))
    assert merges == [(2, 3), (0, 1), (0, 2)]  # a merged pair keeps the smaller index
    assert themes.cut(merges, 4, 2).tolist() == [0, 0, 2, 2]
    assert themes.cut(merges, 4, 4).tolist() == [0, 1, 2, 3]
    assert themes.cut(merges, 4, 1).tolist() == [0, 0, 0, 0]


def test_ward_weighs_micro_clusters_by_their_size():
    # Ward's cost of a merge: n_i * n_j / (n_i + n_j) * distance squared.
    centres = np.array([[0.0], [1.0], [2.2]])

    def cost(sizes, i, j):
        return sizes[i] * sizes[j] / (sizes[i] + sizes[j]) * (centres[i, 0] - centres[j, 0]) ** 2

    equal, heavy = [1, 1, 1], [100, 100, 1]
    assert cost(equal, 0, 1) < cost(equal, 1, 2)
    assert themes.ward_merges(centres, np.array(equal, float))[0] == (0, 1)
    assert cost(heavy, 1, 2) < cost(heavy, 0, 1)  # two heavy groups cost more to join
    assert themes.ward_merges(centres, np.array(heavy, float))[0] == (1, 2)


# Centroids and placement


def test_centroids_are_unit_means_of_each_theme():
    vectors = np.stack([AXES[0], AXES[1], AXES[2], AXES[2]])
    found = themes.centroids(vectors, np.array([0, 0, 1, 1]))
    assert found.dtype == np.float32
    assert np.allclose(found, [unit(1, 1), AXES[2]])
    assert np.allclose(np.linalg.norm(found, axis=1), 1)


def test_a_new_lesson_joins_the_most_similar_centroid():
    centroids = AXES[:3]
    assert themes.nearest_theme(unit(0.2, 0.9, 0.1), centroids) == 1
    assert themes.nearest_theme(unit(0.1, 0.2, 0.9), centroids) == 2
    assert themes.nearest_theme(unit(1, 1), centroids) == 0  # a tie: the first theme


def test_the_central_member_is_the_lesson_closest_to_its_theme_centroid():
    vectors = np.stack([unit(1, 0.5), unit(1, 0.05), unit(1, 0.3), unit(0.2, 1), unit(0, 1)])
    labels = np.array([0, 0, 0, 1, 1])
    centroids = np.stack([AXES[0], AXES[1]])
    assert themes.central_member(vectors, labels, centroids) == [1, 4]


# Naming


def test_distinctive_terms_name_each_theme_by_its_own_words():
    texts = ["Council permit came late", "The council permit took weeks",
             "Regression testing skipped", "Regression testing cut short",
             "Vendor export refused", "Vendor export clause missing",
             "Crane booked late", "Crane hire cost doubled"]
    terms = themes.distinctive_terms(texts, np.array([0, 0, 1, 1, 2, 2, 3, 3]))
    assert set(terms[0][:3]) == {"council", "permit", "council permit"}
    assert set(terms[1]) == {"regression", "testing", "regression testing"}
    assert set(terms[2]) == {"vendor", "export", "vendor export"}
    assert terms[3] == ["crane", "late"]  # "late" is in another theme too: it ranks below
    assert terms[0][-1] == "late"


def test_nothing_recurring_names_no_theme():
    assert themes.distinctive_terms(["alpha beta", "gamma delta"], np.array([0, 1])) == [[], []]


# The pure helpers of search.theme_store


def test_a_theme_count_is_shared_between_kinds_by_size_and_each_gets_one():
    works = np.array([True] * 30 + [False] * 70)
    assert theme_counts(10, [works, ~works]) == [3, 7]
    few = np.array([True] + [False] * 99)
    assert theme_counts(10, [few, ~few]) == [1, 10]
    assert theme_counts(None, [works, ~works]) == [None, None]


def test_theme_text_reads_title_lessons_and_recommendation_else_what_happened():
    assert theme_text("Permit late", "Eight weeks.", " Asked too late. ", "Ask first.") == (
        "Permit late\nAsked too late.\nAsk first.")
    assert theme_text("Went well", "Early supplier day.", "  ", None) == (
        "Went well\nEarly supplier day.")


def test_unit_rows_scale_to_length_one_and_leave_zero_rows_zero():
    rows = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert rows.dtype == np.float32
    assert np.allclose(rows, [[0.6, 0.8], [0.0, 0.0]])
