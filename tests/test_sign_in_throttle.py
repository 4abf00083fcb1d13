"""The sign-in throttle (issue 18, item 6): parallel guesses cannot get more than the limit
evaluated, and behind trusted proxies one client's lockout is not everyone's."""

import re
import threading

import requests
from conftest import TEST_PASSWORD, audit_rows, make_user, served

from lessons.services import users

GUESSES = 20


def csrf_of(client) -> str:
    page = client.get("/sign-in").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_parallel_wrong_passwords_get_at_most_the_limit_evaluated(app):
    make_user(app, "contributor", "ana@example.org")
    with served(app, threads=GUESSES) as url:
        with requests.Session() as browser:  # closed, so the server can stop
            token = re.search(r'name="csrf_token" value="([^"]+)"',
                              browser.get(f"{url}/sign-in", timeout=30).text).group(1)
            cookies = browser.cookies.get_dict()
        start = threading.Barrier(GUESSES)
        statuses: list[int] = []

        def guess(n: int) -> None:
            start.wait()
            with requests.post(f"{url}/sign-in", cookies=cookies, timeout=60,
                               allow_redirects=False, headers={"Connection": "close"},
                               data={"email": "ana@example.org", "password": f"guess {n}",
                                     "csrf_token": token}) as answer:
                statuses.append(answer.status_code)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(GUESSES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert set(statuses) <= {401, 429} and len(statuses) == GUESSES, statuses
    # On two busy cores every guess can be counted before any is evaluated: then none is,
    # which is also at most the limit (the sequential test below sees the limit reached).
    evaluated = statuses.count(401)
    assert evaluated <= users.MAX_FAILURES, statuses
    # Each evaluated guess left one failure in the audit log; refused ones left none.
    assert len(audit_rows(app, "sign_in_failed")) == evaluated


def test_the_right_password_after_the_limit_is_refused_and_a_success_is_no_failure(app):
    make_user(app, "contributor", "ana@example.org")
    laptop = app.test_client()
    assert laptop.post("/sign-in", data={"email": "ana@example.org", "password": TEST_PASSWORD,
                                         "csrf_token": csrf_of(laptop)}).status_code == 303
    browser = app.test_client()
    sign_in = {"email": "ana@example.org", "csrf_token": csrf_of(browser)}
    for _ in range(users.MAX_FAILURES):
        assert browser.post("/sign-in", data={**sign_in, "password": "x"}).status_code == 401
    assert browser.post("/sign-in", data={**sign_in, "password": TEST_PASSWORD}).status_code == 429
    assert [(e.actor) for e in audit_rows(app, "sign_in")] == ["ana@example.org"]
    assert len(audit_rows(app, "sign_in_failed")) == users.MAX_FAILURES


def sign_in_from(client, address: str, email: str, password: str, token: str):
    # The proxy appends the address it saw; a client may send anything before it.
    return client.post("/sign-in", headers={"X-Forwarded-For": f"10.9.9.9, {address}"},
                       data={"email": email, "password": password, "csrf_token": token})


def test_behind_a_trusted_proxy_one_address_locked_out_is_not_everyone(make_app, backend,
                                                                       monkeypatch):
    monkeypatch.setattr(users, "MAX_FAILURES_FROM_ADDRESS", 3)
    app = make_app(DATABASE_URL=backend.url, TRUSTED_PROXIES=1)
    make_user(app, "contributor", "ben@example.org")
    browser = app.test_client()
    token = csrf_of(browser)
    for n in range(3):  # different emails: only the address limit applies
        assert sign_in_from(browser, "203.0.113.7", f"nobody{n}@example.org", "x",
                            token).status_code == 401
    assert sign_in_from(browser, "203.0.113.7", "ben@example.org", TEST_PASSWORD,
                        token).status_code == 429
    # Everyone else behind the same proxy (the same socket address) goes on.
    assert sign_in_from(browser, "198.51.100.2", "ben@example.org", TEST_PASSWORD,
                        token).status_code == 303
    assert [e.ip for e in audit_rows(app, "sign_in_failed")] == ["203.0.113.7"] * 3
    assert [e.ip for e in audit_rows(app, "sign_in")] == ["198.51.100.2"]


def test_without_trusted_proxies_a_forwarded_header_is_not_believed(app, monkeypatch):
    monkeypatch.setattr(users, "MAX_FAILURES_FROM_ADDRESS", 2)
    make_user(app, "contributor", "ben@example.org")
    browser = app.test_client()
    token = csrf_of(browser)
    for n, address in enumerate(("203.0.113.7", "203.0.113.8")):
        assert sign_in_from(browser, address, f"nobody{n}@example.org", "x",
                            token).status_code == 401
    # A forged header cannot dodge the limit of the address the request really came from.
    assert sign_in_from(browser, "198.51.100.2", "ben@example.org", TEST_PASSWORD,
                        token).status_code == 429
    assert {e.ip for e in audit_rows(app, "sign_in_failed")} == {"127.0.0.1"}
