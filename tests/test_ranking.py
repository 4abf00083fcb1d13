"""The second stage of search: candidates scored on six signals, weighted by the query's length.

Plain unit tests: no app, no database, no model. Expected scores are worked out here from the
weights and the signal definitions in search.ranking, not taken from its output.
"""

import random

import pytest

from search.keyword import terms
from search.ranking import (
    PHRASE_WORDS,
    SIGNALS,
    WEIGHTS,
    Candidate,
    Weights,
    phrase_of,
    rank,
    signals,
    weights_for,
)

SHORT, QUESTION, LONG = (weights for _, weights in WEIGHTS)
SEARCH = "vendor lock-in"  # two searchable words: "in" is a stopword
QUESTION_TEXT = "How do we stop a supplier from holding our data hostage when the contract ends?"
CHARTER = (
    "Replace the regional finance ledger with a cloud platform: migrate five years of invoices, "
    "retrain accounts payable staff, integrate procurement approvals, negotiate supplier exit "
    "terms, and run parallel payroll before the auditors sign off the cutover at year end."
)


def ranked(candidates, query, weights=None):
    """The ranking retrieval asks for: the query's searchable words and its phrase."""
    return rank(candidates, terms(query), phrase_of(query), weights)


def test_a_search_a_question_and_a_description_each_get_their_weights():
    assert len(terms(SEARCH)) == 2 and weights_for(len(terms(SEARCH))) is SHORT
    (short_limit, _), (question_limit, _), _ = WEIGHTS
    assert short_limit < len(terms(QUESTION_TEXT)) <= question_limit
    assert weights_for(len(terms(QUESTION_TEXT))) is QUESTION
    assert len(terms(CHARTER)) > question_limit and weights_for(len(terms(CHARTER))) is LONG
    # What each mix leans on, as the module says: the best passage, how much of the lesson is
    # about the query, and titles holding a charter's words.
    assert max(SIGNALS, key=lambda name: getattr(SHORT, name)) == "dense"
    assert max(SIGNALS, key=lambda name: getattr(QUESTION, name)) == "passages"
    assert max(SIGNALS, key=lambda name: getattr(LONG, name)) == "title"


def test_each_length_limit_belongs_to_its_own_weights_and_one_more_word_to_the_next():
    limits = [limit for limit, _ in WEIGHTS]
    assert limits == sorted(limits) and limits[-1] == float("inf")
    assert weights_for(0) is SHORT
    for (limit, weights), (_, following) in zip(WEIGHTS, WEIGHTS[1:], strict=False):
        assert weights_for(int(limit)) is weights
        assert weights_for(int(limit) + 1) is following
    assert weights_for(10_000) is LONG


def test_the_query_length_decides_between_the_best_passage_and_a_title_holding_every_word():
    # Every word of both queries in the second title, never as the short query's phrase.
    every_word = " ".join(reversed(terms(CHARTER))) + " lock vendor"
    pool = {
        1: Candidate(dense=0.9, passages=0.2, title="Cash flow forecast ignored"),
        2: Candidate(dense=0.3, passages=0.3, title=every_word),
    }
    short_scores = ranked(pool, SEARCH)
    assert short_scores == pytest.approx({
        1: SHORT.dense * 0.9 + SHORT.passages * 0.2,
        2: SHORT.dense * 0.3 + SHORT.passages * 0.3 + SHORT.title * 1.0})
    assert list(short_scores) == [1, 2]
    long_scores = ranked(pool, CHARTER)
    assert long_scores == pytest.approx({
        1: LONG.dense * 0.9 + LONG.passages * 0.2,
        2: LONG.dense * 0.3 + LONG.passages * 0.3 + LONG.title * 1.0})
    assert list(long_scores) == [2, 1]


@pytest.mark.parametrize("weights", [SHORT, QUESTION, LONG], ids=["short", "question", "long"])
def test_a_lesson_found_by_meaning_and_by_words_outranks_one_found_by_either(weights):
    pool = {
        1: Candidate(dense=0.7, passages=0.5, words=4.0),  # meaning only
        2: Candidate(dense=0.7, passages=0.5, words=8.0),  # both
        3: Candidate(dense=0.2, passages=0.1, words=8.0),  # words only
    }
    scores = rank(pool, ["supplier", "exit"], "supplier exit", weights)
    assert list(scores)[0] == 2
    assert scores[2] == pytest.approx(weights.dense * 0.7 + weights.passages * 0.5 + weights.words)
    assert scores[1] == pytest.approx(scores[2] - weights.words * 0.5)


def test_the_weakest_keyword_hit_keeps_its_share_and_no_hit_gets_none():
    pool = {1: Candidate(words=12.0), 2: Candidate(words=3.0), 3: Candidate(words=0.25),
            4: Candidate(words=0.0)}
    words = {lesson: values[SIGNALS.index("words")]
             for lesson, values in signals(pool, ["valve"], "valve").items()}
    assert words == pytest.approx({1: 1.0, 2: 0.25, 3: 0.25 / 12, 4: 0.0})
    assert words[3] > 0
    assert list(rank(pool, ["valve"], "valve")) == [1, 2, 3, 4]


def test_keyword_scores_count_relative_to_the_best_so_their_scale_does_not_matter():
    # bm25 and ts_rank_cd score on very different scales; the ranking must not care.
    bm25 = {1: Candidate(dense=0.5, words=9.0), 2: Candidate(dense=0.6, words=3.0)}
    rank_cd = {i: Candidate(dense=c.dense, words=c.words / 90) for i, c in bm25.items()}
    for lesson, values in signals(bm25, ["valve"], "valve").items():
        assert values == pytest.approx(signals(rank_cd, ["valve"], "valve")[lesson])
    assert ranked(bm25, "valve") == pytest.approx(ranked(rank_cd, "valve"))


def test_without_any_keyword_hit_the_words_signal_is_zero_not_an_error():
    pool = {1: Candidate(dense=0.4), 2: Candidate(dense=0.6)}
    assert all(values[SIGNALS.index("words")] == 0.0
               for values in signals(pool, ["valve"], "valve").values())
    assert ranked(pool, "valve") == pytest.approx({2: SHORT.dense * 0.6, 1: SHORT.dense * 0.4})


def test_no_candidates_rank_to_nothing():
    assert signals({}, ["valve"], "valve") == {}
    assert rank({}, ["valve"], "valve") == {}
    assert rank({}, [], "") == {}


def test_an_empty_query_lifts_no_title_and_matches_no_phrase():
    pool = {1: Candidate(dense=0.5, title=""), 2: Candidate(dense=0.5, title="Valve failed")}
    assert signals(pool, [], "") == {1: (0.5, 0.0, 0.0, 0.0, 0.0, 0.0),
                                     2: (0.5, 0.0, 0.0, 0.0, 0.0, 0.0)}


def test_the_title_signal_is_the_share_of_query_words_starting_a_title_word():
    pool = {1: Candidate(title="Council permits were late"),
            2: Candidate(title="Crane permit from the council, crane late"),
            3: Candidate(title="Nothing relevant")}
    title = {lesson: values[SIGNALS.index("title")]
             for lesson, values in signals(pool, ["permit", "council", "crane"], "").items()}
    assert title == pytest.approx({1: 2 / 3, 2: 1.0, 3: 0.0})  # "permit" starts "permits"


def test_the_phrase_in_a_title_lifts_a_lesson_past_closer_ones():
    pool = {
        1: Candidate(dense=0.62, title="Supplier data stuck in their format"),
        2: Candidate(dense=0.50, title="Vendor lock-in through a closed format"),
        3: Candidate(dense=0.50, title="Lock the vendor list before tender"),  # words, no phrase
    }
    scores = ranked(pool, SEARCH)
    assert scores == pytest.approx({
        1: SHORT.dense * 0.62,
        2: SHORT.dense * 0.50 + SHORT.title * 1.0 + SHORT.phrase * 1.0,
        3: SHORT.dense * 0.50 + SHORT.title * 1.0})
    assert list(scores)[0] == 2
    assert scores[2] - scores[3] == pytest.approx(SHORT.phrase)  # the phrase alone


def test_a_tag_that_is_the_query_lifts_a_lesson_but_a_tag_holding_it_does_not():
    pool = {
        1: Candidate(dense=0.6, tags=0.8, tag_names=["Vendor lock-in risk"]),
        2: Candidate(dense=0.5, tags=0.8, tag_names=["procurement", "VENDOR LOCK-IN"]),
    }
    values = signals(pool, terms(SEARCH), phrase_of(SEARCH))
    assert values[1][SIGNALS.index("phrase")] == 0.0
    assert values[2][SIGNALS.index("phrase")] == 1.0
    assert list(ranked(pool, SEARCH)) == [2, 1]
    assert ranked(pool, SEARCH)[2] == pytest.approx(
        SHORT.dense * 0.5 + SHORT.tags * 0.8 + SHORT.phrase)


def test_the_phrase_must_match_whole_words():
    pool = {1: Candidate(title="Avoiding vendor lock-ins"), 2: Candidate(title="Vendor lock-in")}
    values = signals(pool, terms(SEARCH), phrase_of(SEARCH))
    assert values[1][SIGNALS.index("phrase")] == 0.0  # "lock ins" is not "lock in"
    assert values[2][SIGNALS.index("phrase")] == 1.0


def test_a_query_too_long_for_a_phrase_matches_no_title_phrase():
    words = [f"word{i}" for i in range(PHRASE_WORDS + 1)]
    at_limit, over = " ".join(words[:PHRASE_WORDS]), " ".join(words)
    pool = {1: Candidate(title=over, tag_names=[over])}
    assert signals(pool, words[:PHRASE_WORDS], at_limit)[1][SIGNALS.index("phrase")] == 1.0
    assert signals(pool, words, over)[1][SIGNALS.index("phrase")] == 0.0


def test_equal_scores_are_ordered_by_lesson_id_whatever_the_order_found():
    ids = [7, 3, 11, 5, 1]
    pool = {lesson: Candidate(dense=0.5, words=2.0) for lesson in ids}
    pool[9] = Candidate(dense=0.9, words=2.0)
    assert list(ranked(pool, SEARCH)) == [9, 1, 3, 5, 7, 11]


def test_the_same_candidates_in_any_order_rank_the_same():
    rng = random.Random(17)
    pool = {lesson: Candidate(dense=round(rng.random(), 1), passages=round(rng.random(), 1),
                              words=round(rng.random() * 5, 1), tags=round(rng.random(), 1),
                              title=rng.choice(["Vendor lock-in", "Late permit", "Exit costs"]))
            for lesson in range(1, 40)}
    first = ranked(pool, SEARCH)
    named = [lesson for lesson in first if pool[lesson].title == "Vendor lock-in"]
    assert list(first)[:len(named)] == named  # titled with the query: ahead, then by score
    for tier in (named, list(first)[len(named):]):
        scores = [first[lesson] for lesson in tier]
        assert scores == sorted(scores, reverse=True)
    for _ in range(5):
        items = list(pool.items())
        rng.shuffle(items)
        again = ranked(dict(items), SEARCH)
        assert list(again.items()) == list(first.items())


def test_given_weights_replace_the_ones_for_the_query_length():
    only_words = Weights(dense=0.0, passages=0.0, words=1.0, tags=0.0, title=0.0, phrase=0.0)
    pool = {1: Candidate(dense=0.9, words=1.0), 2: Candidate(dense=0.1, words=4.0)}
    assert ranked(pool, SEARCH, only_words) == pytest.approx({2: 1.0, 1: 0.25})
    assert list(ranked(pool, SEARCH)) == [1, 2]


def test_a_weight_for_each_signal_and_no_more():
    assert SHORT.score((1.0,) * len(SIGNALS)) == pytest.approx(sum(SHORT.as_tuple()))
    with pytest.raises(ValueError):
        SHORT.score((1.0,) * (len(SIGNALS) - 1))


def test_a_lesson_titled_or_tagged_with_the_query_comes_first_whatever_its_score():
    # Everything but the name favours the others: they hold the phrase in their titles too.
    long_title = "Flibbertigibbet clause signed before the legal review had finished"
    pool = {
        1: Candidate(dense=0.1, passages=0.1, title="Flibbertigibbet!"),
        2: Candidate(dense=0.1, passages=0.1, title="Site survey", tag_names=["flibbertigibbet"]),
        3: Candidate(dense=0.1, passages=0.1, title=long_title.upper()),
        **{lesson: Candidate(dense=0.9, passages=0.9, words=5.0, tags=0.9,
                             title=f"Flibbertigibbet clause {lesson}: {long_title}")
           for lesson in range(4, 20)},
    }
    assert list(ranked(pool, "  flibbertigibbet. "))[:2] == [1, 2]  # equal scores: by id
    assert list(ranked(pool, long_title))[0] == 3  # longer than a phrase: titles count still
    assert 1 not in list(ranked(pool, "flibbertigibbet clause"))[:16]  # holding is not naming
