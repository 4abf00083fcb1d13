"""A capture form sent twice, by a double-click on Save or by Save again after Back, saves one
lesson.

People double-click buttons: the first click's answer tells htmx to go to the new
lesson, and the second lands before the browser has left the form. And Back
brings the saved form back as it was, everything typed still in it. Either way
the same form reaches the server twice and must leave one lesson, not two
near-copies for the PMO to merge. The form carries a one-time key; a second send
lands on the lesson the first one saved. The browser tests drive a real
Chromium, with the back/forward cache people's browsers have, against the app
served by waitress.
"""

import re

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, console_errors, make_user, served, sign_in
from playwright.sync_api import expect

from web.views import lessons as lesson_views

TITLE = "Crane booked for the wrong week"


def lesson_titles(client) -> list[str]:
    return [lesson["title"] for lesson in client.get("/api/v1/lessons").get_json()["items"]]


@pytest.fixture(scope="module")
def browser_as_people_run_it(browser):
    """Chromium with its back/forward cache, which Playwright turns off: Back then shows the
    page as it was left, not the page fetched again."""
    launched = browser.browser_type.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        ignore_default_args=["--disable-back-forward-cache"])
    yield launched
    launched.close()


@pytest.fixture
def page(browser_as_people_run_it, app, viewport):
    """The capture form in Chromium at `viewport`, signed in as a PMO."""
    make_user(app, "pmo", "pat@example.org")
    with served(app) as url:
        context = browser_as_people_run_it.new_context(base_url=url, viewport=viewport)
        page = context.new_page()
        page.goto("/lessons/new")
        sign_in(page, "pat@example.org", "Log a lesson")
        yield page
        context.close()


@pytest.mark.browser
def test_a_double_click_on_save_saves_one_lesson(page, client):
    errors = console_errors(page)
    page.locator("#title").fill(TITLE)
    page.locator("#what_happened").fill("The crane came before the steel.")
    page.get_by_role("button", name="Save and submit for review").dblclick()
    expect(page).to_have_url(re.compile(r"/lessons/\d+$"))
    expect(page.locator("h1")).to_have_text(TITLE)
    page.wait_for_load_state("networkidle")
    assert lesson_titles(client) == [TITLE]
    assert not errors


@pytest.mark.browser
def test_save_again_after_back_lands_on_the_saved_lesson(page, client):
    page.locator("#title").fill(TITLE)
    page.locator("#what_happened").fill("The crane came before the steel.")
    page.get_by_role("button", name="Save as draft").click()
    expect(page).to_have_url(re.compile(r"/lessons/\d+$"))
    saved = page.url
    page.go_back(wait_until="commit")  # from the cache: no load event
    expect(page.locator("#title")).to_have_value(TITLE)
    page.get_by_role("button", name="Save as draft").click()
    expect(page).to_have_url(saved)
    expect(page.locator(".flash").last).to_contain_text("already saved from this form")
    assert lesson_titles(client) == [TITLE]


FORM = {"title": TITLE, "what_happened": "The crane came before the steel.", "kind": "went_wrong",
        "severity": "medium", "visibility": "organisation"}


def form_key(client) -> str:
    page = client.get("/lessons/new").get_data(as_text=True)
    return re.search(r'name="form_key" value="([0-9a-f]{32})"', page).group(1)


def test_the_same_form_posted_twice_keeps_one_lesson(client):
    form = {**FORM, "form_key": form_key(client)}
    first = client.post("/lessons/new", data=form)
    second = client.post("/lessons/new", data=form)
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert lesson_titles(client) == [TITLE]
    shown = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "already saved from this form; nothing was added" in shown


def test_each_new_form_has_its_own_key_and_a_refused_one_keeps_it(client):
    key = form_key(client)
    assert form_key(client) != key
    refused = client.post("/lessons/new", data={**FORM, "title": "", "form_key": key})
    assert refused.status_code == 422
    assert f'name="form_key" value="{key}"' in refused.get_data(as_text=True)
    assert client.post("/lessons/new", data={**FORM, "form_key": key}).status_code == 303
    assert lesson_titles(client) == [TITLE]


@pytest.mark.parametrize("key", ["", "not-a-key", "A" * 32, "0" * 33])
def test_a_form_without_a_usable_key_still_saves_each_time(client, key):
    for _ in range(2):
        assert client.post("/lessons/new", data={**FORM, "form_key": key}).status_code == 303
    assert lesson_titles(client) == [TITLE, TITLE]


def test_two_sends_at_once_keep_the_first_lesson(client, monkeypatch):
    """The second send looked before the first committed, so only the unique key stops it."""
    form = {**FORM, "form_key": form_key(client)}
    first = client.post("/lessons/new", data=form)
    real, lookups = lesson_views.services.lesson_from_form, []

    def not_yet_committed_at_first(session, key):
        lookups.append(key)
        return None if len(lookups) == 1 else real(session, key)

    monkeypatch.setattr(lesson_views.services, "lesson_from_form", not_yet_committed_at_first)
    second = client.post("/lessons/new", data=form)
    assert len(lookups) == 2  # looked again once the insert was refused
    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert lesson_titles(client) == [TITLE]
