"""The capture form's "similar while typing" loop, in a real Chromium, on a desktop and a phone.

Someone logs a lesson: they type a title, pause, see lessons like it; type
more, in the title and in "what happened", pause again, and the suggestions
follow what they typed (the panel must survive every answer, which an
inherited outerHTML swap once broke after the first). They empty "what
happened", decide theirs is one of the suggestions, record it as another
occurrence from the title alone after a one-line confirmation, and undo
it; then they save theirs as a new lesson, sent for review under their own
name (the account's, filled in for them), with one submit in the audit log.
The panel sits beside the form at 1280 px and right under the title at
390 px; suggestions read from most to least alike; the page logs no console
error (an htmx:targetError would be one) and throws nothing; axe-core finds
nothing serious with the suggestions showing, with the confirmation showing,
nor on the saved lesson (screenshots of each in /tmp/shots).
"""

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import console_errors, signed_in_page
from flask import request
from playwright.sync_api import expect
from test_notifications_journey import checked
from test_reviews import submit_rows

# Lessons about clearly different things, so that more typing changes what matches.
LESSONS = {
    "lock-in": ("Our data was trapped in the supplier's proprietary platform",
                "When we tried to change provider, the vendor's closed format and missing export "
                "clause meant a six-month migration we had not budgeted."),
    "testing": ("User acceptance testing squeezed into the final week",
                "The build slipped but the go-live date did not, so UAT shrank from six weeks to "
                "five days and defects reached production."),
    "permits": ("Street works licence requested too late",
                "The council needed eight weeks to grant road closure permits; we asked with "
                "three weeks to go and the installation crews sat idle."),
    "key-person": ("Only the lead architect understood the integration layer",
                   "When she fell ill for a month, nobody else could change the interfaces and "
                   "two releases stalled."),
    "crane": ("Crane booked for the wrong week",
              "The lifting contractor arrived before the steel was delivered and charged "
              "standby for five days."),
}
FIRST_TITLE = "Supplier kept our data"
MORE_TITLE = " locked in their platform"
WHAT_HAPPENED = "The council took weeks to approve the road closure permit and crews sat idle."
OURS = "The supplier's export was a proprietary dump we could not read."

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, app, viewport):
    """The capture form at `viewport`, signed in as a PMO, Pat Quinn."""
    with signed_in_page(browser, app, viewport, "/lessons/new", "Log a lesson",
                        name="Pat Quinn") as page:
        yield page


@pytest.fixture
def page_errors(page):
    return console_errors(page)


def answer_to(title: str, what_happened: str = ""):
    """A predicate for the suggestions answering exactly this draft (not one typed halfway)."""
    def matches(response) -> bool:
        if urlsplit(response.url).path != "/lessons/similar":
            return False
        args = parse_qs(urlsplit(response.url).query)
        return args.get("title", [""]) == [title] and \
            args.get("what_happened", [""]) == [what_happened]
    return matches


def percents(panel) -> list[int]:
    """The "% alike" of each suggestion, top to bottom."""
    return [int(re.match(r"(\d+)%", text).group(1))
            for text in panel.locator(".alike").all_inner_texts()]


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, locator
    return found


def test_similar_while_typing_then_the_same_lesson_from_its_title_and_undo(
        page, page_errors, app, client, viewport):
    ids = {}
    for key, (title, body) in LESSONS.items():
        response = client.post("/api/v1/lessons", json={"title": title, "what_happened": body})
        assert response.status_code == 201, response.get_json()
        ids[key] = response.get_json()["id"]
    width = viewport["width"]
    title, what_happened = page.locator("#title"), page.locator("#what_happened")
    suggestions, messages = page.locator("#similar-suggestions"), page.locator("#similar-messages")
    top = suggestions.locator(".similar-list > li").first

    # 1. A title, typed key by key; the pause brings the lessons like it.
    title.click()
    with page.expect_response(answer_to(FIRST_TITLE)) as first:
        page.keyboard.type(FIRST_TITLE, delay=60)
    assert first.value.ok
    expect(top.get_by_role("link")).to_have_text(LESSONS["lock-in"][0])
    first_answer = suggestions.inner_text()

    # 2. More title, then "what happened" about permits: after the pause the panel follows.
    full_title = FIRST_TITLE + MORE_TITLE
    page.keyboard.type(MORE_TITLE, delay=60)
    what_happened.click()
    with page.expect_response(answer_to(full_title, WHAT_HAPPENED)) as second:
        page.keyboard.type(WHAT_HAPPENED, delay=60)
    assert second.value.ok
    expect(top.get_by_role("link")).to_have_text(LESSONS["permits"][0])
    assert suggestions.inner_text() != first_answer
    shown = percents(suggestions)
    assert len(shown) >= 2 and shown == sorted(shown, reverse=True), shown

    # The panel is still the one region the inputs aim at, and beside the form (desktop) or
    # between the title and the next field (phone).
    expect(page.locator("#similar")).to_have_count(1)
    expect(suggestions).to_have_attribute("aria-live", "polite")
    expect(messages).to_have_attribute("role", "status")
    panel, form = box(page.locator("#similar")), box(page.locator("#lesson-form"))
    title_box = box(page.locator("#field-title"))
    if width >= 1000:
        assert panel["x"] >= form["x"] + form["width"]
        assert abs(panel["y"] - form["y"]) < 40
    else:
        assert panel["y"] >= title_box["y"] + title_box["height"] - 1
        assert panel["y"] + panel["height"] <= box(page.locator("#field-project_id"))["y"] + 1
        assert panel["x"] + panel["width"] <= width
    problems = checked(page, "capture", width)

    # 3. "What happened" emptied again, as when the panel first shows up under a title.
    what_happened.click()
    with page.expect_response(answer_to(full_title)):
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.press("Backspace")
    expect(top.get_by_role("link")).to_have_text(LESSONS["lock-in"][0])
    shown = percents(suggestions)
    assert shown == sorted(shown, reverse=True), shown

    # 4. "This is the same lesson" asks first, in one line, with the title as the note.
    top.get_by_role("button", name="This is the same lesson").click()
    confirm = messages.locator(".occurrence-confirm")
    when = page.locator("#occurred_on").input_value()  # the form's default: today
    expect(confirm).to_contain_text(f"Record another occurrence of “{LESSONS['lock-in'][0]}” "
                                    f"({when}) with the note “{full_title}”?")
    problems += checked(page, "capture-confirm", width)
    occurrences = f"/api/v1/lessons/{ids['lock-in']}/occurrences"
    assert client.get(occurrences).get_json()["items"] == []  # nothing before the answer
    confirm.get_by_role("button", name="Record it").click()
    expect(messages).to_contain_text("Recorded as another occurrence of")
    recorded = client.get(occurrences).get_json()["items"]
    assert [o["note"] for o in recorded] == [full_title]
    assert client.get("/api/v1/lessons?per_page=1").get_json()["total"] == len(LESSONS)
    expect(title).to_have_value(full_title)  # what was typed stays
    expect(what_happened).to_have_value("")

    # 5. Undo takes it back, and says so.
    messages.get_by_role("button", name="Undo").click()
    expect(messages).to_contain_text("Undone")
    assert client.get(occurrences).get_json()["items"] == []
    expect(title).to_have_value(full_title)
    expect(page.locator("#similar-suggestions .similar-list > li")).not_to_have_count(0)

    # 6. Theirs after all: what happened, then saved and sent for review, by its author.
    expect(page.locator("#author")).to_have_value("Pat Quinn")  # from the account
    what_happened.click()
    with page.expect_response(answer_to(full_title, OURS)):
        page.keyboard.type(OURS, delay=10)
    page.get_by_role("button", name="Save and submit for review").click()
    expect(page.locator("h1")).to_have_text(full_title)
    expect(page.locator("article.lesson header")).to_contain_text("logged by Pat Quinn")
    expect(page.locator("#review-heading")).to_have_text("Awaiting review")
    problems += checked(page, "capture-saved", width)
    saved = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert [row.actor for row in submit_rows(app, saved)] == ["pat@example.org"]

    assert not problems, "\n".join(problems)
    assert page_errors == []


def test_a_save_clicked_while_suggestions_are_due_is_not_lost(browser, app):
    """Someone types and clicks Save within the suggestions' pause, and the save takes
    longer than what is left of it: the suggestion asked meanwhile must not abort the save
    (once it did: the lesson was saved but the page stayed on the filled form, inviting a
    second save), nor log an error."""
    view = app.view_functions["lessons.new"]

    def slow_save(**arguments):
        if request.method == "POST":
            time.sleep(1)  # longer than the 500 ms pause, so the suggestion fires during it
        return view(**arguments)

    app.view_functions["lessons.new"] = slow_save
    with signed_in_page(browser, app, {"width": 1280, "height": 800}, "/lessons/new",
                        "Log a lesson") as page:
        errors = console_errors(page)
        page.locator("#title").click()
        page.keyboard.type("Crane booked for the wrong week", delay=10)
        page.locator("#what_happened").click()
        page.keyboard.type("The crane came before the steel.", delay=10)
        page.get_by_role("button", name="Save and submit for review").click()
        expect(page.locator("h1")).to_have_text("Crane booked for the wrong week")
        page.wait_for_timeout(700)  # the suggestion's answer, had it been left waiting
        assert errors == []
