"""An action's owner closes it from "My actions", in a real Chromium, on a desktop and a phone
(issue 13, item 7).

Pat (a PMO) adds an action to a lesson from the lesson page and gives it to Ben, typing his
email. Ben, in a browser of his own, opens the Actions page, goes to "My actions", finds
it there and marks it done; the row changes in place and the status line says so. No page
logs a console error, and axe-core finds nothing serious on any page visited.
"""

import re

import pytest
from conftest import audit_rows, console_errors, make_user, page_signed_in, served
from playwright.sync_api import expect
from test_notifications_journey import checked

pytestmark = pytest.mark.browser

LESSON = ("Crane vendor shipped late", "The tower crane arrived six weeks after the date "
          "in the contract, and the steel erection slipped with it.")
TASK = "Put a late-delivery penalty in the crane contract"


def test_an_action_given_to_an_account_is_closed_by_its_owner_from_my_actions(
        browser, app, api, viewport):
    width = viewport["width"]
    lesson = api.lesson(*LESSON, status="approved")["id"]
    make_user(app, "pmo", "pat@example.org", name="Pat Quinn")
    make_user(app, "contributor", "ben@example.org", name="Ben Okafor")
    with served(app) as url:
        # 1. Pat adds the action on the lesson page, for Ben.
        pat = page_signed_in(browser, url, viewport, "pat@example.org", f"/lessons/{lesson}",
                             LESSON[0])
        pat_errors = console_errors(pat)
        pat.get_by_label("Add an action").click()
        pat.keyboard.type(TASK, delay=5)
        pat.get_by_label("Owner", exact=True).click()
        pat.keyboard.type("ben@example.org", delay=5)
        pat.get_by_role("button", name="Add action").click()
        added = pat.locator("#actions li.action").filter(has_text=TASK)
        expect(added).to_contain_text("Ben Okafor")
        problems = checked(pat, "lesson-action-added", width)
        pat.context.close()

        # 2. Ben finds it under My actions and closes it there.
        ben = page_signed_in(browser, url, viewport, "ben@example.org", "/actions/", "Actions")
        ben_errors = console_errors(ben)
        problems += checked(ben, "actions", width)
        ben.get_by_role("navigation", name="Whose actions").get_by_role(
            "link", name="My actions").click()
        expect(ben.locator("h1")).to_have_text("My actions")
        row = ben.locator("tr.action-row").filter(has_text=TASK)
        expect(row.locator(".owner")).to_have_text("Ben Okafor")
        expect(row.locator(".status")).to_have_text("Open")
        problems += checked(ben, "my-actions", width)
        row.get_by_role("button", name=re.compile("^Done")).click()
        expect(row.locator(".status")).to_have_text("Done")
        expect(ben.locator("#actions-status")).to_contain_text(f"Done: {TASK}")
        problems += checked(ben, "my-actions-closed", width)
        ben.context.close()

    [action] = api.client.get("/api/v1/actions").get_json()["items"]
    assert (action["description"], action["owner"], action["status"]) == (
        TASK, "ben@example.org", "done")
    assert [row.actor for row in audit_rows(app, "action_status")] == ["ben@example.org"]
    assert not problems, "\n".join(problems)
    assert pat_errors + ben_errors == []
