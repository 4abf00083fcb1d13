"""Paging past the first page, on the lesson list and in search, with the same URL arguments
(`page`, `per_page`); a page past the end answers with the last one, never "Page 9 of 2"."""

import re

import pytest

TOPICS = ["crane", "permit", "supplier", "testing", "budget", "handover", "scaffold"]


@pytest.fixture
def many(client):
    """Twenty-three lessons about site permits, each with a unique title."""
    ids = []
    for n in range(23):
        topic = TOPICS[n % len(TOPICS)]
        response = client.post("/api/v1/lessons", json={
            "title": f"Street works permit {n} late for the {topic}",
            "what_happened": f"The council took weeks over permit {n}; the {topic} crews waited."})
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["id"])
    return ids


def shown_titles(html):
    return re.findall(r"Street works permit (\d+) late", html)


def hits(html):
    """The ids of the lessons a search page shows (titles there are highlighted)."""
    return [int(n) for n in re.findall(r'<article class="hit">\s*<h2><a href="/lessons/(\d+)"',
                                       html)]


def test_the_lesson_list_answers_a_page_past_the_end_with_the_last_one(client, many):
    last = client.get("/lessons/?per_page=10&page=3").get_data(as_text=True)
    assert "Page 3 of 3" in last and len(shown_titles(last)) == 3
    past = client.get("/lessons/?per_page=10&page=999")
    body = past.get_data(as_text=True)
    assert past.status_code == 200 and "Page 999" not in body
    assert "Page 3 of 3" in body and shown_titles(body) == shown_titles(last)
    assert 'href="/lessons/?per_page=10&amp;page=2"' in body  # the way back
    # The API keeps answering a page past the end with no items, so clients stop paging.
    api = client.get("/api/v1/lessons?per_page=10&page=999").get_json()
    assert api["items"] == [] and api["total"] == 23


def test_search_pages_past_the_first_results(client, many):
    query = {"q": "street works permit late", "per_page": 10}
    first = client.get("/search", query_string=query).get_data(as_text=True)
    total = int(re.search(r"1–10 of (\d+) results", first).group(1))
    assert total == 23  # every lesson matches the words
    assert "Page 1 of 3" in first
    assert re.search(r'href="/search\?[^"]*page=2[^"]*" rel="next"', first)
    second = client.get("/search", query_string={**query, "page": 2}).get_data(as_text=True)
    third = client.get("/search", query_string={**query, "page": 3}).get_data(as_text=True)
    assert "11–20 of 23 results" in second and "21–23 of 23 results" in third
    pages = [hits(html) for html in (first, second, third)]
    assert [len(ids) for ids in pages] == [10, 10, 3]
    assert sorted(sum(pages, [])) == sorted(many)  # each once, none lost
    # A page past the end: the last page, saying so.
    past = client.get("/search", query_string={**query, "page": 999})
    body = past.get_data(as_text=True)
    assert past.status_code == 200 and "Page 999" not in body
    assert "There is no page 999: these are the last results, page 3 of 3." in body
    assert hits(body) == pages[2]
    # The fragment htmx asks for pages the same way.
    fragment = client.get("/search", query_string={**query, "page": 2},
                          headers={"HX-Request": "true"}).get_data(as_text=True)
    assert hits(fragment) == pages[1] and "<html" not in fragment
