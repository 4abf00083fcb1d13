"""An admin resets a password, in a real Chromium, on a desktop and a phone (issue 13, item 8).

Ada (an admin) opens Ana's account from the Accounts page, resets her password and reads
the one-time password, shown once. In a browser of her own Ana signs in with it, is sent
to choose her own password first, chooses one, and then reaches the home page; the
one-time password no longer signs anyone in. No page logs a console error, and axe-core
finds nothing serious on any page visited.
"""

import pytest
from conftest import console_errors, make_user, page_signed_in, served
from playwright.sync_api import expect
from test_accounts import sign_in
from test_notifications_journey import checked

pytestmark = pytest.mark.browser

ANAS_OWN = "a password Ana chose herself"


def test_a_reset_password_signs_in_once_and_must_be_replaced(browser, app, viewport):
    width = viewport["width"]
    make_user(app, "admin", "ada@example.org", name="Ada")
    ana_id = make_user(app, "contributor", "ana@example.org", name="Ana Lima")
    with served(app) as url:
        ada = page_signed_in(browser, url, viewport, "ada@example.org", "/admin/users",
                             "Accounts")
        ada_errors = console_errors(ada)
        problems = checked(ada, "admin-users", width)

        # 1. Ana's account page; the reset asks nothing more and shows the password once.
        ada.get_by_role("link", name="ana@example.org", exact=True).click()
        expect(ada.locator("h1")).to_have_text("ana@example.org")
        ada.get_by_text("Reset the password…").click()
        ada.get_by_role("button", name="Reset the password").click()
        shown = ada.locator("#one-time-password")
        expect(shown).to_be_visible()
        expect(ada.get_by_role("status").filter(has_text="shown this once")).to_be_visible()
        one_time = shown.inner_text()
        problems += checked(ada, "admin-user-reset", width)
        ada.goto(f"/admin/users/{ana_id}")  # the page again: the password is gone
        expect(ada.locator("h1")).to_have_text("ana@example.org")
        expect(ada.locator("#one-time-password")).to_have_count(0)
        assert one_time not in ada.content()

        # 2. Ana, in her own browser: the one-time password signs her in, to choose her own.
        ana = browser.new_context(base_url=url, viewport=viewport).new_page()
        ana_errors = console_errors(ana)
        ana.goto("/")
        ana.locator("#email").fill("ana@example.org")
        ana.locator("#password").fill(one_time)
        ana.get_by_role("button", name="Sign in").click()
        expect(ana.locator("h1")).to_have_text("Change your password")
        expect(ana).to_have_url(f"{url}/account/password")
        expect(ana.locator(".lead")).to_contain_text("signed in with a one-time password")
        problems += checked(ana, "password-must-change", width)
        ana.goto("/lessons/")  # every other page waits until she has chosen
        expect(ana).to_have_url(f"{url}/account/password")
        ana.get_by_label("Current password").fill(one_time)
        ana.get_by_label("New password (at least 10 characters)").fill(ANAS_OWN)
        ana.get_by_label("New password again").fill(ANAS_OWN)
        ana.get_by_role("button", name="Change password").click()
        expect(ana.get_by_role("status").filter(has_text="Password changed")).to_be_visible()
        problems += checked(ana, "account-after-change", width)

        # 3. Now the home page is hers.
        ana.goto("/")
        expect(ana).to_have_url(f"{url}/")
        expect(ana.locator(".account-menu summary")).to_contain_text("Ana Lima")
        problems += checked(ana, "home-after-change", width)
        for page in (ada, ana):
            page.context.close()

    assert sign_in(app.test_client(), "ana@example.org", one_time).status_code == 401
    assert sign_in(app.test_client(), "ana@example.org", ANAS_OWN).status_code == 303
    assert not problems, "\n".join(problems)
    assert ada_errors + ana_errors == []
