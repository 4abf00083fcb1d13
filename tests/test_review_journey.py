"""The review loop, in a real Chromium, on a desktop and a phone, each person in their own
browser.

Cy (a contributor) logs a lesson and sends it for review. Pat (a PMO) has logged one too:
the Review page offers Pat no Approve on it, and an approval posted anyway is refused.
Pat returns Cy's lesson with a typed comment; Cy reads it on their own Review page, edits
the lesson as asked and submits it again with a reply; Bea, a second PMO, approves it.
The audit log holds one submit per submission. No page logs a console error (a CSP
violation would be one), and axe-core finds nothing serious on any page visited.
"""

import pytest
from conftest import console_errors, make_user, page_signed_in, served
from playwright.sync_api import expect
from test_notifications_journey import checked
from test_reviews import submit_rows

pytestmark = pytest.mark.browser

CY = ("Scaffold permit expired over the holidays",
      "Nobody owned the renewal, so the scaffold stood unusable for ten days.")
PAT = ("Hoarding licence lapsed", "The licence ran out during the works.")
COMMENT = "Say which council, and who should have renewed it."
EDIT = " Westminster's permit office; the site manager owns renewals now."
REPLY = "Named the council and the owner."


def log_lesson(page, title: str, what_happened: str) -> int:
    """Log a lesson on the capture form on screen and send it for review; its id."""
    # No wait for the suggestions: they queue on their own panel, so a Save clicked while
    # one is due goes through (tests/test_capture_journey.py checks that).
    page.locator("#title").fill(title)
    page.locator("#what_happened").fill(what_happened)
    page.get_by_role("button", name="Save and submit for review").click()
    expect(page.locator("h1")).to_have_text(title)
    expect(page.locator("#review-heading")).to_have_text("Awaiting review")
    return int(page.url.rstrip("/").rsplit("/", 1)[-1])


def test_returned_with_a_comment_edited_resubmitted_and_approved_by_another_pmo(
        browser, app, client, viewport):
    width = viewport["width"]
    for role, email, name in (("pmo", "pat@example.org", "Pat Quinn"),
                              ("contributor", "cy@example.org", "Cy Rivera"),
                              ("pmo", "bea@example.org", "Bea Lund")):
        make_user(app, role, email, name=name)
    with served(app) as url:
        pat = page_signed_in(browser, url, viewport, "pat@example.org", "/lessons/new",
                             "Log a lesson")
        cy = page_signed_in(browser, url, viewport, "cy@example.org", "/lessons/new",
                            "Log a lesson")
        pat_errors, cy_errors = console_errors(pat), console_errors(cy)

        # 1. Each logs a lesson (the capture form is tests/test_capture_journey.py's to check).
        own = log_lesson(pat, *PAT)
        lesson = log_lesson(cy, *CY)
        problems = checked(cy, "lesson-submitted", width)

        # 2. Pat's Review page: both wait; Pat's own offers no Approve, Cy's does.
        pat.goto("/review")
        mine, theirs = pat.locator(f"#review-{own}"), pat.locator(f"#review-{lesson}")
        expect(mine).to_contain_text("Yours: another reviewer approves it.")
        expect(mine.get_by_role("button", name="Approve")).to_have_count(0)
        expect(pat.locator(f"form[action='/lessons/{own}/approve']")).to_have_count(0)
        expect(theirs).to_contain_text("by Cy Rivera")
        expect(theirs.get_by_role("button", name="Approve")).to_be_visible()
        # An approval posted anyway, from Pat's own session, is refused.
        token = pat.locator("input[name=csrf_token]").first.input_value()
        forced = pat.request.post(f"/lessons/{own}/approve", form={"csrf_token": token})
        assert forced.status == 403 and "nobody approves their own lesson" in forced.text()
        assert client.get(f"/api/v1/lessons/{own}").get_json()["status"] == "submitted"

        # 3. Pat returns Cy's lesson with a typed comment.
        theirs.get_by_text("Return with a comment…").click()
        theirs.get_by_label("What should change before it can be approved?").click()
        pat.keyboard.type(COMMENT, delay=10)
        problems += checked(pat, "review-pmo", width)
        theirs.get_by_role("button", name="Return to its author").click()
        expect(pat.get_by_role("status").filter(has_text="Returned to its author")
               ).to_be_visible()
        expect(pat.locator(f"#review-{lesson}")).to_have_count(0)

        # 4. Cy reads the comment on their own Review page, edits as asked, and submits it
        # again with a reply to the comment.
        cy.goto("/review")
        row = cy.get_by_role("row").filter(has_text=CY[0])
        expect(row.locator(".review-comment")).to_have_text(COMMENT)
        problems += checked(cy, "review-author", width)
        row.get_by_role("link", name="Edit it as asked").click()
        expect(cy.locator("h1")).to_have_text("Edit lesson")
        expect(cy.locator(".review-returned .review-comment")).to_have_text(COMMENT)
        problems += checked(cy, "edit-returned", width)
        cy.locator("#what_happened").click()
        cy.keyboard.press("ControlOrMeta+End")
        cy.keyboard.type(EDIT, delay=10)
        cy.get_by_label("What did you change?").click()
        cy.keyboard.type(REPLY, delay=10)
        cy.get_by_role("button", name="Save and submit for review").click()
        expect(cy.locator("#review-heading")).to_have_text("Awaiting review")
        expect(cy.locator("article.lesson")).to_contain_text(EDIT.strip())
        expect(cy.locator(".review-history")).to_contain_text(REPLY)
        problems += checked(cy, "lesson-resubmitted", width)

        # 5. Bea, the second PMO, approves it from her Review page.
        bea = page_signed_in(browser, url, viewport, "bea@example.org", "/review", "Review")
        bea_errors = console_errors(bea)
        queued = bea.locator(f"#review-{lesson}")
        expect(queued).to_contain_text("by Cy Rivera")
        problems += checked(bea, "review-second-pmo", width)
        queued.get_by_role("button", name="Approve").click()
        expect(bea.locator(f"#review-{lesson}")).to_have_count(0)
        expect(bea.locator(f"#review-{own}")).to_have_count(1)  # Pat's waits for her
        for page in (pat, cy, bea):
            page.context.close()

    assert client.get(f"/api/v1/lessons/{lesson}").get_json()["status"] == "approved"
    steps = client.get(f"/api/v1/lessons/{lesson}/reviews").get_json()["items"]
    assert [(s["event"], s["comment"]) for s in steps] == [
        ("submitted", None), ("returned", COMMENT), ("submitted", REPLY), ("approved", None)]
    # One submit row per submission: Cy's two, Pat's one.
    assert [row.actor for row in submit_rows(app, lesson)] == ["cy@example.org"] * 2
    assert [row.actor for row in submit_rows(app, own)] == ["pat@example.org"]
    assert not problems, "\n".join(problems)
    assert pat_errors + cy_errors + bea_errors == []
