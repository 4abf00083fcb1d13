"""Being told, in a real Chromium, on a desktop and a phone (issue 16).

Someone follows a category from the lesson list filtered by it: the button
turns into "Following" in place, keeps the focus, and a status says so. A
colleague writes a lesson in that category and another PMO approves it; the
dispatcher runs. A minute later the bell's poll shows 1, and says so in its
live region, without a reload. The list marks it unread in words; opening it
lands on the lesson and the count is gone. The settings are changed and kept.
No page scrolls sideways at 390 px, none logs a console error, and axe-core
finds nothing serious on the new pages.
"""

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from conftest import Api, console_errors, signed_in, signed_in_page
from playwright.sync_api import expect
from test_every_page_layout import outline_problems, problems_on

from push.dispatch import dispatch
from web.database import db
from web.queue import push_settings

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
CATEGORY_PAGE = "/lessons/?category=vendor+%26+procurement"
TITLE = "The hosting supplier held our data at contract end"


@pytest.fixture
def page(browser, app, viewport):
    """The lessons of one category at `viewport`, signed in as a PMO, Pat."""
    with signed_in_page(browser, app, viewport, CATEGORY_PAGE, "Lessons") as page:
        yield page


def checked(page, name: str, width: int) -> list[str]:
    """What the layout test checks, on the page on screen, and its screenshot."""
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    return problems_on(page, Axe(), name) + outline_problems(page, name)


def test_follow_a_category_be_told_in_the_bell_open_it_and_change_the_settings(
        page, app, viewport):
    SHOTS.mkdir(exist_ok=True)
    width = viewport["width"]
    errors = console_errors(page)
    settings = push_settings(app)
    with app.app_context():
        dispatch(db.session, settings)  # the first run only marks where news starts
    # A clock the test moves, so the bell's one-minute poll comes without a minute's wait.
    page.clock.install()
    page.goto(CATEGORY_PAGE)
    bell = page.locator("#bell")
    expect(bell).to_have_accessible_name("Notifications")

    # 1. Follow the category from the list filtered by it: the button changes in place.
    page.get_by_role("button", name="Follow category “Vendor & procurement”").click()
    following = page.get_by_role("button", name="Following category “Vendor & procurement”")
    expect(following).to_have_attribute("aria-pressed", "true")
    expect(following).to_be_focused()
    expect(page.get_by_role("status").filter(has_text="You follow category")).to_have_count(1)
    problems = checked(page, "lessons-category", width)

    # 2. A colleague's lesson in that category, approved by another PMO; the dispatcher runs.
    author, reviewer = signed_in(app, "contributor"), signed_in(app, "pmo")
    lesson = Api(author).lesson(TITLE, "Six weeks of waiting for our own customer records.",
                                category="vendor & procurement")
    assert reviewer.post(f"/api/v1/lessons/{lesson['id']}/approve").status_code == 200
    with app.app_context():
        dispatch(db.session, settings)

    # 3. The poll, a minute on: the bell shows 1, and its live region says so.
    with page.expect_response(lambda r: "/notifications/bell" in r.url):
        page.clock.fast_forward("01:01")
    expect(bell).to_have_accessible_name("Notifications, 1 unread")
    expect(bell.locator(".count-badge")).to_have_text("1")
    expect(page.locator("#bell-status")).to_have_text("1 unread notification")
    page.locator("header.top").screenshot(path=str(SHOTS / f"header-{width}.png"))
    if width < 600:  # as the layout test asks: two short lines, the bell on the first
        height = page.locator("header.top").bounding_box()["height"]
        assert height <= 110, f"the header is {height} px high on a phone"

    # 4. The list: unread in words; the notice says why it came.
    bell.click()
    expect(page.locator("h1")).to_have_text("Notifications")
    item = page.locator("li.notification").first
    expect(item.locator(".unread-badge")).to_have_text("Unread")
    expect(item).to_contain_text("It is in vendor & procurement, a category you follow.")
    problems += checked(page, "notifications", width)

    # 5. Open it: the lesson, and the count is gone.
    item.get_by_role("link", name=f"New lesson: {TITLE}").click()
    expect(page.locator("h1")).to_have_text(TITLE)
    expect(bell).to_have_accessible_name("Notifications")
    expect(bell.locator(".count-badge")).to_have_count(0)
    page.go_back()
    page.reload()
    expect(page.locator("li.notification.read")).to_have_count(1)
    expect(page.get_by_role("button", name="Mark all as read")).to_have_count(0)

    # 6. The settings: email weekly; what is followed, with its Unfollow.
    page.get_by_role("link", name="Settings and what you follow").click()
    expect(page.locator("h1")).to_have_text("Notification settings")
    email = page.get_by_role("group", name="Email")
    expect(email).to_contain_text("Email is off on this server")
    email.get_by_label("Weekly digest").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Notification settings saved.")
           ).to_be_visible()
    expect(email.get_by_label("Weekly digest")).to_be_checked()
    expect(page.get_by_role("group", name="In the app").get_by_label("Immediately")
           ).to_be_checked()
    followed = page.locator(".followed")
    expect(followed.get_by_role("link", name="Vendor & procurement")).to_be_visible()
    expect(followed.get_by_role("button", name="Unfollow Vendor & procurement")).to_be_visible()
    problems += checked(page, "notification-settings", width)

    assert not problems, "\n".join(problems)
    assert not errors, "\n".join(errors)
