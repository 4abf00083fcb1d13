"""Keyboard and screen-reader use, in a real Chromium on a desktop and a phone.

A person who does not use a mouse: the first Tab stop skips to the main content; the
capture form starts on its title, comes back from a failed save on the first field in
error, and after a save or a new action the focus lands on the message that says so,
not on the page's body. A screen reader's outline: the pages and states
tests/test_every_page_layout.py does not reach (a returned lesson, its edit form and its
author's Review page, a lesson's edit form and history, an account's admin pages) start
with their h1, skip no heading level and name each navigation region, as the layout test
checks of every page it walks.
"""


import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import (
    TEST_PASSWORD,
    console_errors,
    make_user,
    served,
    signed_in,
    signed_in_page,
)
from playwright.sync_api import expect
from test_every_page_layout import (  # noqa: F401  (the same data)
    data,
    outline_problems,
    problems_on,
)

pytestmark = pytest.mark.browser

def returned_lesson(app, reviewer) -> int:
    """A lesson of cy@example.org's that `reviewer` returned: its page shows the review
    panel, its author's Review page the comment and the reply form."""
    author = signed_in(app, "contributor", "cy@example.org")
    lesson = author.post("/api/v1/lessons", json={
        "title": "Scaffold permit expired", "what_happened": "Nobody renewed it."}).get_json()
    sent = reviewer.post(f"/api/v1/lessons/{lesson['id']}/return", json={"comment": "When?"})
    assert sent.status_code == 200, sent.get_json()
    return lesson["id"]


def walk(browser, viewport, url, email, addresses) -> list[str]:
    """Sign in as `email` and check each page as the layout test checks its own (outline,
    axe-core, sideways scrolling); the problems found."""
    context = browser.new_context(base_url=url, viewport=viewport)
    page = context.new_page()
    errors = console_errors(page)
    page.goto("/sign-in")
    page.locator("#email").fill(email)
    page.locator("#password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_count(1)
    problems = []
    for name, address in addresses.items():
        response = page.goto(address)
        assert response is not None and response.ok, (name, address)
        problems += outline_problems(page, name) + problems_on(page, Axe(), name)
    context.close()
    return problems + errors


def test_pages_in_their_other_states_start_with_their_h1_and_name_their_navigation(
        browser, app, viewport, client, data):  # noqa: F811
    make_user(app, "admin", "ada@example.org", name="Admin")
    returned = returned_lesson(app, client)
    other = make_user(app, "contributor")
    extra = {"returned-lesson": f"/lessons/{returned}",
             "edit-returned": f"/lessons/{returned}/edit",
             "edit-lesson": f"/lessons/{data['lesson']}/edit",
             "lesson-history": f"/lessons/{data['lesson']}/history",
             "admin-user": f"/admin/users/{other}",
             "admin-disable": f"/admin/users/{other}/disable"}
    authors = {"own-review": "/review", "own-returned-lesson": f"/lessons/{returned}",
               "own-edit-returned": f"/lessons/{returned}/edit"}
    with served(app) as url:  # the pages in their usual states are the layout test's
        problems = walk(browser, viewport, url, "ada@example.org", extra)
        problems += walk(browser, viewport, url, "cy@example.org", authors)
    assert not problems, "\n".join(problems)


@pytest.fixture
def capture(browser, app, viewport):
    """The capture form at `viewport`, signed in as a PMO, and its console errors."""
    with signed_in_page(browser, app, viewport, "/lessons/new", "Log a lesson") as page:
        yield page, console_errors(page)


def test_a_keyboard_alone_skips_to_the_content_captures_a_lesson_and_adds_an_action(capture):
    page, errors = capture
    # The form opened with the cursor in its title.
    expect(page.locator("#title")).to_be_focused()

    # From a fresh page load the first Tab is the skip link; Enter lands in the content.
    page.goto("/lessons/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()  # on screen once focused, for a sighted keyboard user
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")  # the next stop is inside the content, not the header
    assert page.evaluate("document.activeElement.closest('main') !== null")

    # A failed save brings the cursor to the first field in error, whichever it is.
    page.goto("/lessons/new")
    expect(page.locator("#title")).to_be_focused()
    page.keyboard.type("Crane booked for the wrong week", delay=30)
    page.keyboard.press("Enter")  # "Save and submit", the form's first button
    expect(page.locator("#what_happened")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#what_happened")).to_be_focused()  # htmx settles, then focuses
    page.keyboard.type("The lifting contractor arrived before the steel.", delay=20)
    page.locator("#impact_cost").fill("a lot")
    page.locator("#title").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#impact_cost")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#impact_cost")).to_be_focused()
    # The similar-lessons panel still announces politely, outside what the save swaps.
    expect(page.locator("#similar-suggestions")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#similar-messages")).to_have_attribute("role", "status")

    # Fixed and saved: the focus is on the message that says so, on the lesson's page.
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("12000", delay=20)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Crane booked for the wrong week")
    message = page.locator("main .flash").first
    expect(message).to_contain_text("Lesson “Crane booked for the wrong week” saved")
    expect(message).to_be_focused()

    # Adding an action by keyboard: the focus goes to its confirmation, then on to the form.
    page.locator("#action-description").focus()
    page.keyboard.type("Book the crane after the steel delivery date", delay=20)
    page.keyboard.press("Enter")
    expect(page.locator("#actions .action-list")).to_contain_text("Book the crane")
    expect(page.locator("#action-message")).to_have_text("Action added.")
    expect(page.locator("#action-message")).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#actions') !== null")
    # Chromium logs every 4xx answer; the two refused saves are meant to be 422s.
    assert [e for e in errors if "status of 422" not in e] == []


def test_a_project_form_sent_empty_from_its_foot_brings_the_name_into_view(browser, app,
                                                                           viewport):
    """The button is a long form away from the name: the error must not stay off screen."""
    with signed_in_page(browser, app, viewport, "/projects/new", "New project") as page:
        expect(page.locator("#name")).to_be_focused()
        page.get_by_role("button", name="Create project").scroll_into_view_if_needed()
        page.get_by_role("button", name="Create project").click()
        expect(page.locator("#name")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#name")).to_be_focused()
        expect(page.locator("#name-error")).to_be_in_viewport()
