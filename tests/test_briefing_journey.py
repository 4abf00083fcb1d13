"""A kickoff in a real Chromium, on a desktop and a phone: the briefing on the project page.

A project manager creates a project from its charter and lands on its page,
where the briefing is the first thing under the title: the past lessons in
rank order, each with why it is there and the decision buttons. They mark
one lesson not applicable and raise another as a risk, each with a note,
and the count line follows. They rewrite the description for a different
kind of project: the briefing is computed again, the page says which
lessons came and went, and both decided lessons stay, with their notes,
pinned as kept where the new ranking left them out. A new lesson is logged
elsewhere; they ask to regenerate, are asked to confirm first, confirm,
and the page names the new lesson. Ranks read 1, 2, 3… down the page, a
category filter never reorders them, counts agree with what is shown, the
phone layout never scrolls sideways, and the page logs no console error.
"""

import re

import pytest
from conftest import console_errors, signed_in_page
from playwright.sync_api import expect
from test_project_page import ERP_CHARTER, ROAD_CHARTER, add_past_lessons

NEW_LESSON = ("Street works permit conditions breached",
              "The council's permit allowed lane closures only outside peak hours; the contractor "
              "closed lanes at rush hour and the council suspended the street works permit.")

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser, app, viewport):
    """The new-project form at `viewport`, signed in as a PMO."""
    with signed_in_page(browser, app, viewport, "/projects/new", "New project") as page:
        yield page


@pytest.fixture
def page_errors(page):
    return console_errors(page)


def ranks(page) -> list[int]:
    """The ranks of the briefing's lessons, top to bottom."""
    return [int(text.rstrip(".")) for text in
            page.locator("#briefing .briefing-item .rank").all_inner_texts()]


def item(page, title: str):
    """The briefing's article for the lesson titled `title`."""
    return page.locator("article.briefing-item").filter(
        has=page.get_by_role("link", name=title, exact=True))


def assert_counts_match(page, decided: int) -> None:
    """The count line says what the page shows: lessons ranked, kept, and decided on."""
    shown = page.locator("#briefing article.briefing-item").count()
    kept = page.locator("#briefing article.briefing-item.kept").count()
    assert page.locator("#briefing .decided").count() == decided
    line = " ".join(page.locator("#briefing-count").inner_text().split())
    assert line.startswith(f"{shown - kept} past approved lessons match this project's description")
    if kept:
        assert f", and {kept} more {'is' if kept == 1 else 'are'} kept because" in line
    assert line.endswith(f"The team has decided on {decided} of the {shown}.")
    assert ranks(page) == list(range(1, shown + 1))


def test_kickoff_briefing_on_the_project_page(page, page_errors, client, viewport):
    add_past_lessons(client)

    # 1. Creating the project lands on its page, the briefing first under the title.
    page.locator("#name").fill("High street and ledger")
    page.locator("#description").fill(ERP_CHARTER)
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    expect(page.locator(".flash")).to_have_text("Project “High street and ledger” created.")
    expect(page.locator("#briefing h2")).to_have_text("Kickoff briefing")
    first = page.locator("#briefing article.briefing-item").first
    expect(first).to_be_visible()
    assert page.locator("#briefing").bounding_box()["y"] < viewport["height"]  # no scrolling
    assert ranks(page) == list(range(1, 16))
    expect(page.locator("#briefing-count")).to_have_text(re.compile(
        r"^15 past approved lessons match this project's description\.\s+Decide on each"))
    why = first.locator(".why")
    assert len(why.locator("strong").all()) <= 2 and why.locator("q").count() == 1
    expect(page.locator("details.charter-details")).not_to_have_attribute("open", "")

    # 2. Two decisions with notes; htmx swaps each form and the count line follows.
    titles = page.locator("#briefing .briefing-item h3 a").all_inner_texts()
    decisions = {titles[1]: ("Not applicable", "Our data was cleansed last year."),
                 titles[3]: ("Raised as a risk", "Book the finance team now.")}
    for title, (button, note) in decisions.items():
        article = item(page, title)
        article.get_by_label("Note").fill(note)
        article.get_by_role("button", name=button).click()
        expect(article.locator(".decided")).to_contain_text(f"{button}: {note}")
    expect(page.locator("#briefing-count")).to_contain_text("The team has decided on 2 of the 15.")
    assert_counts_match(page, decided=2)

    # 3. A category filter shows fewer lessons, at their ranks: never reordered.
    filters = page.locator(".briefing-filter a")
    filters.nth(1).click()
    expect(page).to_have_url(re.compile(r"category="))
    filtered = ranks(page)
    assert filtered == sorted(filtered) and 0 < len(filtered) < 15
    expect(page.locator("#briefing-filtered")).to_contain_text(f"Showing the {len(filtered)} ")
    page.locator(".briefing-filter a").first.click()
    expect(page).to_have_url(re.compile(r"/projects/\d+#briefing$"))
    assert ranks(page) == list(range(1, 16))

    # 4. A new description: the briefing is computed again, says what changed, keeps decisions.
    page.get_by_role("link", name="Edit", exact=True).click()
    page.locator("#description").fill(ROAD_CHARTER)
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    message = page.locator(".flash")
    expect(message).to_contain_text("The briefing was computed again from the new text.")
    expect(message).to_contain_text(re.compile(r"\d+ new lessons? \(“.+”.*\d+ dropped lessons?"))
    expect(message).to_contain_text("the 2 lessons the team decided on are kept")
    for title, (button, note) in decisions.items():
        expect(item(page, title).locator(".decided")).to_contain_text(f"{button}: {note}")
    kept = page.locator("#briefing article.briefing-item.kept")
    assert kept.count() >= 1  # the road ranking has no place for ERP lessons: pinned
    expect(kept.first.locator(".kept-badge")).to_have_text("Kept")
    assert_counts_match(page, decided=2)

    # 5. Regenerate asks first; confirmed, it names the lesson logged since.
    response = client.post("/api/v1/lessons", json={
        "title": NEW_LESSON[0], "what_happened": NEW_LESSON[1], "category": "schedule",
        "status": "approved"})
    assert response.status_code == 201
    before = page.locator("#briefing .briefing-item h3 a").all_inner_texts()
    page.get_by_role("link", name="Regenerate…").click()
    expect(page.locator("h1")).to_have_text("Regenerate the kickoff briefing?")
    expect(page.locator("#regenerate-confirm")).to_contain_text(
        "The 2 lessons the team decided on stay in the briefing")
    page.get_by_role("button", name="Regenerate now").click()
    expect(page).to_have_url(re.compile(r"/projects/\d+$"))
    expect(page.locator(".flash")).to_contain_text(
        f"Briefing regenerated. 1 new lesson (“{NEW_LESSON[0]}”)")
    expect(item(page, NEW_LESSON[0])).to_be_visible()
    after = page.locator("#briefing .briefing-item h3 a").all_inner_texts()
    assert set(after) - set(before) == {NEW_LESSON[0]}
    for title in set(before) - set(after):  # what the message says left is gone
        expect(page.locator(".flash")).to_contain_text(f"“{title}”")
    assert_counts_match(page, decided=2)

    # 6. The phone never scrolls sideways; the page as a person sees it, for a look.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= viewport["width"]
    page.screenshot(path=f"/tmp/project-{viewport['width']}.png", full_page=True)
    page.evaluate("() => window.scrollTo(0, 0)")
    page.screenshot(path=f"/tmp/project-{viewport['width']}-top.png")
    assert page_errors == []
