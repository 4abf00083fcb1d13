"""Bad input through the JSON API and the HTML form: a clear 4xx or stored as typed, never a 500.

Every case runs beside a sentinel lesson (in a project) and a target lesson
that PATCH and the edit form aim at. A `Guard` notes the JSON of every lesson
and project and the row counts before the case; afterwards rejected input
must have changed nothing at all (not even the change log), and accepted
input must have added exactly one lesson, one revision and one change.
"""

import re
from html.parser import HTMLParser

import pytest
from conftest import Api
from sqlalchemy import func, select

from lessons.models import Change, Lesson, Project, Revision

API = "/api/v1/lessons"
REQUIRED = "This field is required."
VALID = {"title": "A valid title", "what_happened": "A valid account."}
# A browser always sends the two selects that have defaults; an empty one is refused.
VALID_FORM = {**VALID, "kind": "went_wrong", "severity": "medium"}
BLANKS = ["", "   ", "\t\r\n "]
METHODS = pytest.mark.parametrize("method", ["POST", "PATCH"])
SCRIPT = "<script>alert(1)</script>"


# --- helpers -----------------------------------------------------------------


class Guard:
    """The JSON of every lesson and project, and the row counts, to compare after a case."""

    MODELS = {"lessons": Lesson, "projects": Project, "revisions": Revision, "changes": Change}

    def __init__(self, client, backend):
        self.client, self.backend = client, backend
        self.take()

    def take(self) -> None:
        self.rows = self.snapshot()
        self.counts = self.count()

    def count(self) -> dict[str, int]:
        # Straight from the database, not through the app under test.
        with self.backend.engine.connect() as connection:
            return {
                name: connection.scalar(select(func.count()).select_from(model))
                for name, model in self.MODELS.items()
            }

    def snapshot(self) -> dict[str, dict]:
        with self.backend.engine.connect() as connection:
            lesson_ids = connection.scalars(select(Lesson.id)).all()
            project_ids = connection.scalars(select(Project.id)).all()
        urls = [f"{API}/{i}" for i in lesson_ids] + [f"/api/v1/projects/{i}" for i in project_ids]
        return {url: self.client.get(url).get_json() for url in urls}

    def assert_untouched(self, added: int = 0) -> None:
        """No existing row changed; `added` new lessons, each with its revision and change."""
        for url, before in self.rows.items():
            assert self.client.get(url).get_json() == before, f"{url} was changed by the case"
        expected = {name: n + added for name, n in self.counts.items()}
        expected["projects"] = self.counts["projects"]
        assert self.count() == expected


def api_write(client, method: str, target_id: int, values: dict):
    """POST a new lesson with `values` over valid ones, or PATCH the target with just `values`."""
    if method == "POST":
        return client.post(API, json={**VALID, **values})
    return client.patch(f"{API}/{target_id}", json=values)


def raw_write(client, method: str, target_id: int, body: bytes, content_type: str):
    url = API if method == "POST" else f"{API}/{target_id}"
    return client.open(url, method=method, data=body, content_type=content_type)


def assert_json_error(response, status: int, field: str | None = None) -> dict:
    """`status` with the `{"error", "fields"}` body; `field` is the only field named."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert isinstance(body["error"], str) and body["error"]
    assert set(body["fields"]) == ({field} if field else set()), body
    return body


class ShownForm(HTMLParser):
    """What a rendered form shows: each field's value and each `<name>-error` message."""

    def __init__(self, html: str):
        super().__init__()
        self.values: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self._textarea = self._select = self._error = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and "name" in a and a["name"] != "csrf_token":  # not a field
            self.values[a["name"]] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a["name"]
            self.values[self._textarea] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select:
            # A browser shows the first option unless another one is selected.
            if "selected" in a or self._select not in self.values:
                self.values[self._select] = a.get("value", "")
        elif (a.get("id") or "").endswith("-error"):
            self._error = a["id"].removesuffix("-error")
            self.errors[self._error] = ""

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None
        elif tag == "p":
            self._error = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data
        if self._error:
            self.errors[self._error] += data


def assert_form_error(response, field: str, contains: str = "") -> ShownForm:
    """A 422 re-rendered form with a message in `#<field>-error`."""
    assert response.status_code == 422, response.get_data(as_text=True)[:500]
    shown = ShownForm(response.get_data(as_text=True))
    assert field in shown.errors, f"no #{field}-error in the form; errors: {shown.errors}"
    assert contains in shown.errors[field]
    return shown


def new_lesson_id(response) -> int:
    """The id in the redirect that follows a saved form."""
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return int(re.fullmatch(r".*/lessons/(\d+)", response.headers["Location"]).group(1))


# --- fixtures ----------------------------------------------------------------


@pytest.fixture
def project(client):
    return Api(client).post("projects", name="ERP rollout", tags=["erp"])


@pytest.fixture
def sentinel(client, project):
    """A lesson with most fields set, that no case may touch."""
    return Api(client).post(
        "lessons", title="Sentinel: keep me", what_happened="Nothing may change me.",
        project_id=project["id"], severity="high", tags=["keep", "sentinel"],
        impact_days=3, impact_cost=12.5, occurred_on="2023-04-05", external_id="S-1",
    )


@pytest.fixture
def target(client):
    """The lesson PATCH and the edit form aim at."""
    return Api(client).post("lessons", title="Target", what_happened="Edits aim here.")


@pytest.fixture
def guard(client, backend, sentinel, target):
    return Guard(client, backend)


# --- required fields ---------------------------------------------------------


@METHODS
@pytest.mark.parametrize("field", ["title", "what_happened"])
@pytest.mark.parametrize("blank", [*BLANKS, None])
def test_api_refuses_a_blank_required_field(client, guard, target, method, field, blank):
    response = api_write(client, method, target["id"], {field: blank})
    body = assert_json_error(response, 422, field)
    assert body["fields"] == {field: REQUIRED}
    guard.assert_untouched()


@pytest.mark.parametrize("field", ["title", "what_happened"])
@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_form_refuses_a_blank_required_field_and_keeps_what_was_typed(
    client, guard, project, field, blank, htmx
):
    typed = {
        "title": "Vendor shipped late",
        "project_id": str(project["id"]),
        "what_happened": "The module came six weeks late.\nTwice.",
        "root_cause": "No milestones & no penalty clause",
        "impact": "Go-live moved.",
        "impact_cost": "1,250.50",
        "impact_days": "42",
        "recommendation": "Put <milestones> in the contract.",
        "category": "vendor & procurement",
        "phase": "execution",
        "kind": "risk",
        "severity": "high",
        "tags": "vendor, Late delivery",
        "author": "Ann O'Neil",
        "occurred_on": "2024-03-05",
        "external_id": "LL-42",
        "visibility": "organisation",
    }
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post("/lessons/new", data={**typed, field: blank}, headers=headers)
    shown = assert_form_error(response, field, REQUIRED)
    assert set(shown.errors) == {field}
    # Everything else comes back as typed, so nothing has to be typed twice.
    assert {k: v for k, v in shown.values.items() if k != field} == {
        k: v for k, v in typed.items() if k != field
    }
    # htmx swaps just the form; a plain POST gets the whole page.
    assert ("<html" in response.get_data(as_text=True)) is not htmx
    guard.assert_untouched()


def test_form_edit_with_an_empty_title_changes_nothing(client, guard, target):
    response = client.post(f"/lessons/{target['id']}/edit", data={**VALID_FORM, "title": ""})
    assert_form_error(response, "title", REQUIRED)
    guard.assert_untouched()


# --- size limits -------------------------------------------------------------


@METHODS
def test_api_refuses_a_megabyte_of_text_naming_the_limit(client, guard, target, method):
    response = api_write(client, method, target["id"], {"what_happened": "x" * 1_000_000})
    body = assert_json_error(response, 422, "what_happened")
    assert "100,000" in body["fields"]["what_happened"]
    guard.assert_untouched()


def test_form_refuses_a_megabyte_of_text_naming_the_limit(client, guard):
    data = {**VALID_FORM, "what_happened": "x" * 1_000_000}
    assert_form_error(client.post("/lessons/new", data=data), "what_happened", "100,000")
    guard.assert_untouched()


@METHODS
def test_api_refuses_a_body_over_the_request_limit(client, guard, target, method):
    # 3 MB, over the 2 MiB MAX_CONTENT_LENGTH: refused before it is parsed.
    body = b'{"title": "t", "what_happened": "' + b"x" * 3_000_000 + b'"}'
    response = raw_write(client, method, target["id"], body, "application/json")
    assert_json_error(response, 413)
    guard.assert_untouched()


def test_form_refuses_a_body_over_the_request_limit(client, guard):
    response = client.post("/lessons/new", data={**VALID_FORM, "what_happened": "x" * 3_000_000})
    assert response.status_code == 413
    guard.assert_untouched()


# --- characters no database can store ----------------------------------------


@METHODS
@pytest.mark.parametrize("field, value", [
    ("title", "Before\x00after"),
    ("what_happened", "\x00"),
    ("tags", ["ok", "n\x00l"]),
    ("author", "Ann\x00"),
], ids=["title", "text", "tag", "author"])
def test_api_refuses_nul_bytes(client, guard, target, method, field, value):
    response = api_write(client, method, target["id"], {field: value})
    assert_json_error(response, 422, field)
    guard.assert_untouched()


@pytest.mark.parametrize("field", ["title", "what_happened"])
def test_form_refuses_nul_bytes(client, guard, field):
    response = client.post("/lessons/new", data={**VALID_FORM, field: "Before\x00after"})
    assert_form_error(response, field, "NUL")
    guard.assert_untouched()


# A JSON escape can name half of a UTF-16 pair ("\ud800"), which no UTF-8 database can
# store; the test client writes such strings as exactly that escape.
@METHODS
@pytest.mark.parametrize("field, values", [
    ("title", {"title": "\ud800"}),
    ("what_happened", {"what_happened": "a \udfff b"}),
    ("tags", {"tags": ["ok", "\ud83d"]}),
    ("\ud800", {"\ud800": 1}),
], ids=["title", "text", "tag", "key"])
def test_api_refuses_a_lone_surrogate(client, guard, target, method, field, values):
    assert_json_error(api_write(client, method, target["id"], values), 422, field)
    guard.assert_untouched()


INVALID_UTF8 = pytest.mark.parametrize("raw", [
    b"\xff\xfe",  # never valid in UTF-8
    b"\xed\xa0\x80",  # an encoded surrogate (CESU-8)
    b"\xc0\xaf",  # an overlong slash
    b"ok\xc3",  # cut off inside a character
], ids=["ff-fe", "surrogate", "overlong", "truncated"])


@METHODS
@INVALID_UTF8
def test_api_refuses_invalid_utf8(client, guard, target, method, raw):
    body = b'{"title": "' + raw + b'", "what_happened": "x"}'
    response = raw_write(client, method, target["id"], body, "application/json")
    assert_json_error(response, 400)
    guard.assert_untouched()


@pytest.mark.parametrize("page", ["new", "edit"])
@INVALID_UTF8
def test_form_refuses_invalid_utf8(client, guard, target, page, raw):
    url = "/lessons/new" if page == "new" else f"/lessons/{target['id']}/edit"
    escaped = "".join(f"%{byte:02X}" for byte in raw).encode()
    body = b"title=" + escaped + b"&what_happened=x&kind=risk&severity=low"
    response = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "UTF-8" in response.get_data(as_text=True)
    guard.assert_untouched()


def test_multipart_form_refuses_invalid_utf8(client, guard):
    # The same rule must hold when a client sends the form as multipart/form-data.
    body = (
        b"--B\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n\xff\xfe\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"what_happened\"\r\n\r\nx\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nrisk\r\n"
        b"--B\r\nContent-Disposition: form-data; name=\"severity\"\r\n\r\nlow\r\n--B--\r\n"
    )
    multipart = "multipart/form-data; boundary=B"
    response = client.post("/lessons/new", data=body, content_type=multipart)
    assert response.status_code == 400, (
        f"APP BUG: a multipart form with invalid UTF-8 got {response.status_code}, not 400; "
        "web/security.py reject_undecodable_form only checks url-encoded forms, so the bytes "
        "were stored as U+FFFD replacement characters"
    )
    guard.assert_untouched()


# --- stored exactly as typed -------------------------------------------------


def test_script_is_stored_as_typed_and_shown_escaped(client, guard):
    lesson = Api(client).post("lessons", title=SCRIPT, what_happened="<img src=x onerror=alert(1)>")
    assert client.get(f"{API}/{lesson['id']}").get_json()["title"] == SCRIPT
    for url in (f"/lessons/{lesson['id']}", "/lessons/"):
        html = client.get(url).get_data(as_text=True)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, url
        assert SCRIPT not in html, url
    show = client.get(f"/lessons/{lesson['id']}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in show and "<img src=x" not in show
    guard.assert_untouched(added=1)


def test_script_typed_into_the_form_is_escaped_in_the_saved_message(client, guard):
    response = client.post("/lessons/new", data={**VALID_FORM, "title": SCRIPT})
    lesson_id = new_lesson_id(response)
    assert client.get(f"{API}/{lesson_id}").get_json()["title"] == SCRIPT
    # The "saved" flash message quotes the title on the next page.
    html = client.get(f"/lessons/{lesson_id}").get_data(as_text=True)
    assert "Lesson “&lt;script&gt;alert(1)&lt;/script&gt;” saved and sent for review." in html
    assert SCRIPT not in html
    guard.assert_untouched(added=1)


SQL_LIKE = ["'; DROP TABLE lessons; --", '" OR 1=1 --', "Robert'); DELETE FROM projects;--"]


@pytest.mark.parametrize("text", SQL_LIKE)
def test_sql_like_text_is_stored_as_typed(client, guard, text):
    lesson = Api(client).post("lessons", title=text, what_happened=text, author=text,
                              external_id=text, tags=[text])
    stored = client.get(f"{API}/{lesson['id']}").get_json()
    assert [stored[k] for k in ("title", "what_happened", "author", "external_id")] == [text] * 4
    assert stored["tags"] == [text.lower()]  # tags are kept lowercase by design
    # The tables still work, and the text also works as a filter value.
    found = client.get(API, query_string={"tag": text}).get_json()
    assert [item["id"] for item in found["items"]] == [lesson["id"]]
    assert client.get(API).get_json()["total"] == 3
    assert client.get("/api/v1/projects").get_json()["total"] == 1
    assert client.get("/lessons/", query_string={"tag": text}).status_code == 200
    guard.assert_untouched(added=1)


WORLD_TEXT = {
    "title": "🚀 Launch slipped — تأخر الإطلاق — השקה נדחתה",
    "what_happened": (
        "👩‍💻 (a ZWJ sequence) and 👨‍👩‍👧‍👦 wrote:\n"
        "\u202bמימין לשמאל\u202c, e\u0301 (combining) next to é (precomposed), 🇳🇴, 中文."
    ),
    "author": "Zoë Ŋ. Ødegård",
}


def test_emoji_and_right_to_left_text_are_stored_as_typed_through_the_api(client, guard):
    lesson = Api(client).post("lessons", **WORLD_TEXT)
    stored = client.get(f"{API}/{lesson['id']}").get_json()
    assert {k: stored[k] for k in WORLD_TEXT} == WORLD_TEXT
    guard.assert_untouched(added=1)


def test_emoji_and_right_to_left_text_are_stored_as_typed_through_the_form(client, guard):
    lesson_id = new_lesson_id(client.post("/lessons/new", data={**VALID_FORM, **WORLD_TEXT}))
    stored = client.get(f"{API}/{lesson_id}").get_json()
    assert {k: stored[k] for k in WORLD_TEXT} == WORLD_TEXT
    assert WORLD_TEXT["title"] in client.get(f"/lessons/{lesson_id}").get_data(as_text=True)
    guard.assert_untouched(added=1)


# --- wrong types, unknown fields, bad dates ----------------------------------


@METHODS
@pytest.mark.parametrize("field, value", [
    ("title", 123),
    ("title", ["a"]),
    ("what_happened", {"x": 1}),
    ("tags", {"a": 1}),
    ("impact_days", "ten"),
    ("impact_days", True),
    ("impact_days", 2.5),
    ("impact_cost", "abc"),
    ("impact_cost", [1]),
    ("project_id", "abc"),
    ("project_id", 999_999),
    ("occurred_on", 20200101),
    ("severity", "extreme"),
    pytest.param("title", "x" * 501, id="title-too-long"),
])
def test_api_refuses_a_wrong_type_naming_the_field(client, guard, target, method, field, value):
    response = api_write(client, method, target["id"], {field: value})
    assert_json_error(response, 422, field)
    guard.assert_untouched()


@METHODS
@pytest.mark.parametrize("value", ["1e30", 1e30, 1e308],
                         ids=["text-1e30", "number-1e30", "number-1e308"])
def test_api_refuses_a_huge_cost(client, guard, target, method, value):
    response = api_write(client, method, target["id"], {"impact_cost": value})
    assert response.status_code != 500, (
        f"APP BUG: impact_cost={value!r} gives a 500: lessons/validation.py clean_money calls "
        "amount.quantize(Decimal('0.01')) outside its try, and decimal.InvalidOperation escapes "
        "for amounts with more than 26 digits before the point"
    )
    assert_json_error(response, 422, "impact_cost")
    guard.assert_untouched()


@METHODS
@pytest.mark.parametrize("value", [1e12, "1000000000000", "999999999999.995", 999999999999.995,
                                   "999999999999.01"])
def test_api_refuses_a_cost_its_column_cannot_hold(client, guard, target, method, value):
    """impact_cost is Numeric(14, 2): 12 digits before the point, once rounded to cents."""
    response = api_write(client, method, target["id"], {"impact_cost": value})
    body = assert_json_error(response, 422, "impact_cost")
    assert body["fields"]["impact_cost"] == "Must be at most 999,999,999,999."
    guard.assert_untouched()


def test_the_largest_cost_allowed_is_stored_on_every_database(client, guard):
    created = client.post(API, json={**VALID, "impact_cost": "999,999,999,999"})
    assert created.status_code == 201, created.get_json()
    stored = client.get(f"{API}/{created.get_json()['id']}").get_json()
    assert stored["impact_cost"] == 999_999_999_999
    guard.assert_untouched(added=1)


def test_form_refuses_a_huge_cost(client, guard):
    response = client.post("/lessons/new", data={**VALID_FORM, "impact_cost": "1e30"})
    assert response.status_code != 500, (
        "APP BUG: impact_cost=1e30 in the form gives a 500 (decimal.InvalidOperation from "
        "quantize in lessons/validation.py clean_money)"
    )
    assert_form_error(response, "impact_cost")
    guard.assert_untouched()


@METHODS
def test_api_refuses_unknown_fields(client, guard, target, method):
    response = api_write(client, method, target["id"], {"colour": "red"})
    body = assert_json_error(response, 422, "colour")
    assert body["fields"]["colour"] == "Unknown field."
    guard.assert_untouched()


BAD_DATES = ["1899-12-31", "2101-01-01", "2020-02-30", "yesterday"]


@METHODS
@pytest.mark.parametrize("day", BAD_DATES)
def test_api_refuses_a_date_out_of_range(client, guard, target, method, day):
    assert_json_error(api_write(client, method, target["id"], {"occurred_on": day}), 422,
                      "occurred_on")
    guard.assert_untouched()


@pytest.mark.parametrize("field, value", [
    *[("occurred_on", day) for day in BAD_DATES],
    ("impact_days", "ten"),
    ("impact_cost", "abc"),
    ("impact_cost", "1000000000000"),
    ("project_id", "abc"),
    ("severity", "extreme"),
])
def test_form_refuses_a_value_it_cannot_store(client, guard, field, value):
    response = client.post("/lessons/new", data={**VALID_FORM, field: value})
    shown = assert_form_error(response, field)
    assert shown.values["title"] == VALID["title"]
    guard.assert_untouched()


# --- bodies that are not a lesson, and rows that cannot be edited ------------


@METHODS
@pytest.mark.parametrize("body", [b"[]", b'"str"', b"42", b"null", b'{"title": ', b"[" * 100_000],
                         ids=["list", "string", "number", "null", "cut-off", "deep"])
def test_api_refuses_a_body_that_is_not_an_object(client, guard, target, method, body):
    assert_json_error(raw_write(client, method, target["id"], body, "application/json"), 400)
    guard.assert_untouched()


HUGE = "9" * 5000  # Python refuses to read an integer of more than 4,300 digits


@pytest.mark.parametrize("method, url, body", [
    ("POST", API, f'{{"title": "t", "what_happened": "w", "impact_days": {HUGE}}}'),
    ("PATCH", "{lesson}", f'{{"impact_cost": {HUGE}}}'),
    ("POST", "/api/v1/projects", f'{{"name": "n", "team_size": {HUGE}}}'),
    ("POST", "/api/v1/actions", f'{{"lesson_id": {HUGE}, "description": "d"}}'),
    ("POST", "{lesson}/occurrences", f'{{"project_id": {HUGE}}}'),
    ("POST", "/api/v1/projects/{project}/briefing/decisions", f'{{"lesson_id": {HUGE}}}'),
    ("POST", "/api/v1/themes/recompute", f'{{"themes": {HUGE}}}'),
], ids=["lesson-create", "lesson-update", "project", "action", "occurrence", "decision",
        "themes"])
def test_every_json_endpoint_refuses_a_number_too_long_to_read(client, guard, target, project,
                                                               method, url, body):
    url = url.format(lesson=f"{API}/{target['id']}", project=project["id"])
    response = client.open(url, method=method, data=body, content_type="application/json")
    error = assert_json_error(response, 400)["error"]
    assert error == "The body is not valid JSON: it holds a number with more digits than " \
                    "any field takes."
    guard.assert_untouched()


@METHODS
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_api_refuses_a_body_that_is_not_json(client, guard, target, method, content_type):
    body = b'{"title": "t", "what_happened": "w"}'
    assert_json_error(raw_write(client, method, target["id"], body, content_type), 415)
    guard.assert_untouched()


@pytest.mark.parametrize("lesson_id", [999_999, 0, 2**40])
def test_patch_of_an_unknown_lesson_is_404(client, guard, lesson_id):
    assert_json_error(client.patch(f"{API}/{lesson_id}", json={"title": "x"}), 404)
    guard.assert_untouched()


def test_a_deleted_lesson_cannot_be_edited(client, guard, target):
    assert client.delete(f"{API}/{target['id']}").status_code == 200
    guard.take()  # the delete itself is the only change allowed
    assert_json_error(client.patch(f"{API}/{target['id']}", json={"title": "x"}), 409)
    response = client.post(f"/lessons/{target['id']}/edit", data={**VALID_FORM, "title": "x"})
    assert response.status_code == 409
    guard.assert_untouched()


# --- projects ----------------------------------------------------------------


def test_project_end_before_start_is_refused(client, guard, project):
    dates = {"start_date": "2024-05-01", "end_date": "2024-04-30"}
    assert_json_error(client.post("/api/v1/projects", json={"name": "Late", **dates}), 422,
                      "end_date")
    assert_json_error(client.patch(f"/api/v1/projects/{project['id']}", json=dates), 422,
                      "end_date")
    guard.assert_untouched()
