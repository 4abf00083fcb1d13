"""Passages: what of a lesson is embedded, cut where the model still reads it whole.

Plain unit tests: no app, no database, no model.
"""

from search.passages import EMBEDDED_FIELDS, MAX_PASSAGES, PASSAGE_CHARS, chunks, lesson_passages


def test_each_text_field_is_a_passage_led_by_the_title():
    content = {"title": "Permit came late", "what_happened": "The council took eight weeks.",
               "recommendation": "Ask the council first."}
    passages = lesson_passages(content)
    assert [(p.position, p.field) for p in passages] == [(0, "what_happened"),
                                                         (1, "recommendation")]
    assert passages[0].text == "Permit came late\nThe council took eight weeks."
    assert all(p.text.startswith("Permit came late\n") for p in passages)


def test_a_lesson_with_only_a_title_is_one_passage_of_its_title():
    passages = lesson_passages({"title": "  Crane booked late  ", "what_happened": None})
    assert [(p.position, p.field, p.text) for p in passages] == [(0, "title", "Crane booked late")]


def test_fields_are_read_in_their_order_and_blank_ones_skipped():
    content = {field: f"Text of {field}." for field in EMBEDDED_FIELDS}
    content["title"] = ""
    content[EMBEDDED_FIELDS[0]] = "   "
    passages = lesson_passages(content)
    assert [p.field for p in passages] == list(EMBEDDED_FIELDS[1:])
    assert passages[0].text == f"Text of {EMBEDDED_FIELDS[1]}."  # no title, no leading line


def test_long_text_is_cut_at_sentence_ends_into_pieces_the_model_reads_whole():
    sentences = [f"Sentence number {i} says something about the supplier." for i in range(60)]
    pieces = chunks(" ".join(sentences))
    assert len(pieces) > 1 and all(len(piece) <= PASSAGE_CHARS for piece in pieces)
    assert " ".join(pieces) == " ".join(sentences)  # nothing lost, nothing cut mid-sentence
    assert all(piece.endswith(".") for piece in pieces)


def test_one_endless_sentence_is_cut_at_spaces():
    words = " ".join(["supplier"] * 400)
    pieces = chunks(words)
    assert len(pieces) > 1 and all(len(piece) <= PASSAGE_CHARS for piece in pieces)
    assert " ".join(pieces).split() == words.split()


def test_a_very_long_lesson_stops_at_the_passage_limit():
    text = " ".join(f"Sentence {i} about a late permit from the council." for i in range(2000))
    passages = lesson_passages({"title": "Long", "what_happened": text})
    assert len(passages) == MAX_PASSAGES
    assert [p.position for p in passages] == list(range(MAX_PASSAGES))


def test_the_text_hash_changes_with_the_text_only():
    first, again = (lesson_passages({"title": "T", "what_happened": "Same words."})[0]
                    for _ in range(2))
    other = lesson_passages({"title": "T", "what_happened": "Other words."})[0]
    assert first.text_hash == again.text_hash != other.text_hash
    assert len(first.text_hash) == 64
