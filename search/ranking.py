"""The second stage: every candidate scored on the same signals, weighted for the query's length.

The first stage gathers candidates from three sides (the nearest passages by
meaning, the best bm25 by words, the lessons with a tag close to the query).
Each side alone scores only what it found, so this stage looks at every
candidate with all eyes: how close its best passage is and how much of it is
close, its keyword score, its closest tag, and whether its title holds the
query's words or phrase. A two-word search and a 300-word kickoff
description do not want the same mix, so the weights depend on the query's
length. They were chosen on the tuning half of the paraphrase set and
checked on its held-out half (bench/README.md, "Relevance on queries people
type"). This is a linear learning-to-rank over the signals the product has:
no cross-encoder with its weights can be installed here.

One thing is not left to the weights: a lesson whose title is the query, or
that is tagged with exactly the query's phrase (case, punctuation and spacing
aside), comes before every other, whatever its score. Someone who typed a
title means that lesson, and a bonus added to a sum could still lose to
lessons that merely repeat its words.
"""

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from search.keyword import starting_words

# Signals, in this order, each between 0 and 1 (or so): cosine of the best passage; mean
# cosine of all its passages (how much of the lesson is about the query); keyword score over
# the best keyword score among the candidates, so the weakest match keeps its share; cosine
# of its closest tag (search.tags); share of the query's words in the title; 1 when the
# query's phrase is in the title or is one of its tags.
SIGNALS = ("dense", "passages", "words", "tags", "title", "phrase")
PHRASE_WORDS = 6  # a query longer than this is not a phrase a title or tag could hold


@dataclass(frozen=True)
class Weights:
    """One weight per signal."""

    dense: float
    passages: float
    words: float
    tags: float
    title: float
    phrase: float

    def score(self, signals: Sequence[float]) -> float:
        return sum(w * s for w, s in zip(self.as_tuple(), signals, strict=True))

    def as_tuple(self) -> tuple[float, ...]:
        return tuple(getattr(self, name) for name in SIGNALS)


# Weights by query length in searchable words (up to this many words, weights), chosen by
# `bench/relevance.py tune` on the tuning half. Short searches lean on the best passage and
# on tags; questions on how much of a lesson is about them; charters on words, and on the
# titles that hold them. The phrase searched for, in a title or as a tag, counts whatever
# the tuning said (few queries of the set had one): a README promise.
WEIGHTS: list[tuple[float, Weights]] = [
    (3, Weights(dense=3.0, passages=0.8, words=1.0, tags=1.0, title=0.3, phrase=2.0)),
    (15, Weights(dense=0.3, passages=3.0, words=1.0, tags=0.8, title=0.0, phrase=2.0)),
    (math.inf, Weights(dense=0.5, passages=1.0, words=1.0, tags=0.0, title=3.0, phrase=0.0)),
]


def weights_for(word_count: int) -> Weights:
    """The weights for a query of `word_count` searchable words."""
    return next(weights for limit, weights in WEIGHTS if word_count <= limit)


def phrase_of(text: str) -> str:
    """The query as a phrase, normalised as titles and tags are: lowercase words, single spaces."""
    return " ".join(re.findall(r"\w+", text.lower()))


# A title's or tag's phrase, remembered: every candidate's are matched against the query's
# (`is_named`, twice per search), a search has hundreds of candidates, and the same titles
# and tags come back search after search. Titles are at most 500 characters, so the cache
# stays under a few MB; queries (up to 5,000) are not kept.
heading_phrase = functools.lru_cache(maxsize=8192)(phrase_of)


@dataclass
class Candidate:
    """What the first stage knows of one lesson."""

    dense: float = 0.0  # cosine of the best passage
    passages: float = 0.0  # mean cosine of its passages
    words: float = 0.0  # keyword score (bm25 or ts_rank_cd), 0 without a match
    tags: float = 0.0  # cosine of its closest tag
    title: str = ""
    tag_names: Sequence[str] = ()


def signals(candidates: Mapping[int, Candidate], query_terms: Sequence[str],
            query_phrase: str) -> dict[int, tuple[float, ...]]:
    """Each candidate's signals, in the order of SIGNALS."""
    best_words = max((c.words for c in candidates.values()), default=0.0)
    short = 0 < len(query_phrase.split()) <= PHRASE_WORDS
    result: dict[int, tuple[float, ...]] = {}
    for lesson_id, candidate in candidates.items():
        title_share = (len(starting_words(query_terms, candidate.title)) / len(query_terms)
                       if query_terms else 0.0)
        phrase = short and (f" {query_phrase} " in f" {heading_phrase(candidate.title)} "
                            or is_named(candidate, query_phrase))
        result[lesson_id] = (
            candidate.dense,
            candidate.passages,
            candidate.words / best_words if best_words > 0 else 0.0,
            candidate.tags,
            title_share,
            1.0 if phrase else 0.0,
        )
    return result


def rank(candidates: Mapping[int, Candidate], query_terms: Sequence[str], query_phrase: str,
         weights: Weights | None = None) -> dict[int, float]:
    """Candidates best first: those named by the query (`is_named`), then by weighted signals."""
    weights = weights or weights_for(len(query_terms))
    scored = {lesson_id: weights.score(values)
              for lesson_id, values in signals(candidates, query_terms, query_phrase).items()}
    named = {lesson_id for lesson_id, candidate in candidates.items()
             if is_named(candidate, query_phrase)}
    return dict(sorted(scored.items(),
                       key=lambda item: (item[0] not in named, -item[1], item[0])))


def is_named(candidate: Candidate, query_phrase: str) -> bool:
    """Whether the lesson's title is the query's phrase, or one of its tags is."""
    if not query_phrase:
        return False
    return heading_phrase(candidate.title) == query_phrase or any(
        heading_phrase(tag) == query_phrase for tag in candidate.tag_names)
