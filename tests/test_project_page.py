"""The kickoff briefing on the project page: there without a click, in rank order, explained
briefly, and never losing a lesson the team decided on when it is computed again."""

import html
import re

import pytest

from lessons.models import Briefing
from lessons.services import (
    create_lesson,
    create_project,
    delete_lesson,
    update_project,
)
from lessons.services import (
    decide as record_decision,
)
from lessons.services.briefings import (
    RARE_FLOOR,
    RARE_SHARE,
    PlannedItem,
    distinctive_terms,
    store_briefing,
    term_frequencies,
)
from web.database import db

# Two kinds of project, so that changing the description changes the ranking: with more past
# lessons than a briefing holds (15), the lessons of the other kind drop out of it.
ERP = {
    "vendor": ("Locked into the integrator's proprietary configuration",
               "The integrator kept the configuration design and charged for every change; with "
               "no exit clause we could not move to another supplier.", "vendor & procurement"),
    "testing": ("Acceptance testing squeezed before go-live",
                "Development overran and user acceptance testing shrank from six weeks to eight "
                "days; defects reached production.", "quality & testing"),
    "migration": ("Legacy data far dirtier than assumed",
                  "A third of the customer records were duplicates, so the data migration took "
                  "three extra cycles.", "technical"),
    "cutover": ("Finance cutover collided with the quarter-end close",
                "The ledger cutover was planned for the last weekend of the quarter; accountants "
                "could not reconcile both systems at once.", "schedule"),
    "training": ("Accountants trained months before go-live",
                 "By the time the new finance system went live, users had forgotten the training "
                 "and raised hundreds of how-to tickets.", "change management"),
    "interfaces": ("Bank interfaces specified late",
                   "The payment file formats for three banks were only specified during testing, "
                   "delaying the payment run.", "requirements"),
    "licences": ("Cloud licences counted per named user",
                 "The subscription charged for every named user, including occasional approvers, "
                 "which doubled the licence cost.", "cost"),
    "reports": ("Management reports rebuilt from scratch",
                "None of the old ledger reports carried over; the controllers had to rebuild "
                "forty reports after go-live.", "scope"),
    "sso": ("Single sign-on forgotten in the ERP design",
            "Staff needed a separate password for the cloud ERP until identity integration was "
            "added in a second release.", "technical"),
    "master-data": ("Supplier master data without an owner",
                    "Nobody owned vendor records after migration, so duplicate suppliers came "
                    "back within months.", "governance"),
}
ROADS = {
    "permits": ("Road closure permits requested too late",
                "The council needed eight weeks for street works permits; crews stood idle.",
                "schedule"),
    "utilities": ("Unmapped gas main found under the carriageway",
                  "Excavation hit a gas pipe missing from the utility drawings; the dig stopped "
                  "for two weeks while the gas company diverted it.", "risk"),
    "shops": ("Shopkeepers not told about the lane closures",
              "Businesses on the high street learned of the works from the barriers and "
              "complained to the council about lost trade.", "stakeholders"),
    "buses": ("Bus diversions agreed too late",
              "The bus operator needed six weeks' notice to divert routes; the traffic plan had "
              "to be redrawn.", "communication"),
    "night-work": ("Night work stopped by noise complaints",
                   "Residents complained about breakers at night and the council limited "
                   "working hours, adding a month to the resurfacing.", "stakeholders"),
    "asphalt": ("Asphalt laid in the rain failed",
                "The surface course was laid in wet weather and started to ravel within a "
                "winter; the contractor had to plane and relay it.", "quality & testing"),
    "traffic": ("Traffic management design approved late",
                "The temporary traffic lights and signs plan waited for police approval, "
                "holding up the start on site.", "governance"),
    "water-mains": ("Water mains replacement out of step with resurfacing",
                    "The water company dug up the new road surface three months after it was "
                    "laid to replace its mains.", "schedule"),
    "kerbs": ("Drop kerbs missed at crossings",
              "Accessibility audits found missing dropped kerbs at pedestrian crossings after "
              "the road reopened.", "requirements"),
    "contractor": ("Civil contractor's subcontractors changed mid-job",
                   "The main civil contractor replaced its drainage subcontractor, whose "
                   "successor lacked the street works accreditation.", "vendor & procurement"),
}
ERP_CHARTER = (
    "We will replace the finance system with a cloud ERP delivered by an external integrator "
    "under a fixed-price contract.\n\n"
    "Customer and supplier master data must be migrated from legacy systems, and the "
    "cutover is planned for the quarter-end close.\n\n"
    "User acceptance testing with the finance team is scheduled for the last month before "
    "go-live."
)
ROAD_CHARTER = (
    "We will resurface the high street and replace the water mains under it, with lane "
    "closures and some night work.\n\n"
    "The civil contractor must get street works permits from the council and keep the shops "
    "open and reachable.\n\n"
    "Bus diversions and traffic management must be agreed with the police and the bus company."
)
RANK = re.compile(r'<span class="rank">(\d+)\.</span>')


def post(client, url, body):
    response = client.post(url, json=body)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json()


@pytest.fixture
def past(client):
    return add_past_lessons(client)


def add_past_lessons(client) -> dict[str, int]:
    """Twenty approved lessons of two old projects (an ERP, a road scheme): their ids by key."""
    ids = {}
    for name, topic in (("Old finance system", ERP), ("Old high street works", ROADS)):
        old = post(client, "/api/v1/projects", {"name": name})
        for key, (title, body, category) in topic.items():
            ids[key] = post(client, "/api/v1/lessons", {
                "title": title, "what_happened": body, "project_id": old["id"],
                "category": category, "status": "approved",
                "recommendation": f"What we would do next time about {key}."})["id"]
    return ids


def create_through_the_form(client, name: str, description: str) -> tuple[int, str]:
    """Create a project as a person does, following the redirect: its id and the page shown."""
    response = client.post("/projects/new", data={"name": name, "description": description,
                                                  "status": "active", "phase": "initiation"},
                           follow_redirects=True)
    assert response.status_code == 200
    project_id = int(response.request.path.rsplit("/", 1)[1])
    return project_id, response.get_data(as_text=True)


def articles(page: str) -> list[str]:
    """The briefing's lessons on a page, top to bottom, as HTML."""
    return page.split('<article class="briefing-item')[1:]


def ranks(page: str) -> list[int]:
    return [int(RANK.search(article).group(1)) for article in articles(page)]


def lesson_ids(page: str) -> list[int]:
    return [int(re.search(r'id="briefing-lesson-(\d+)"', a).group(1)) for a in articles(page)]


def count_line(page: str) -> str:
    found = re.search(r'(?:id="briefing-count"|:#briefing-count")[^>]*>(.*?)</(p|div)>', page,
                      re.S)
    assert found, "no count line"
    return html.unescape(" ".join(found.group(1).split()))


def flash(page: str) -> str:
    return html.unescape(" ".join(re.search(r'<p class="flash" role="status"[^>]*>(.*?)</p>', page,
                                            re.S).group(1).split()))


def titles(past: dict[str, int]) -> dict[int, str]:
    return {past[key]: title for key, (title, _, _) in {**ERP, **ROADS}.items()}


def decide(client, project_id: int, lesson_id: int, decision: str, note: str) -> str:
    """Decide as the page does (htmx): the fragment that comes back."""
    response = client.post(f"/projects/{project_id}/briefing/decisions", data={
        "lesson_id": lesson_id, "decision": decision, "note": note,
        "next": f"/projects/{project_id}"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_creating_a_project_shows_its_briefing_first_without_a_click(client, past):
    project_id, page = create_through_the_form(client, "Cloud ERP", ERP_CHARTER)
    # Under the title come the ranked lessons with their decision forms, before the charter.
    title = page.index("<h1>Cloud ERP</h1>")
    briefing = page.index('id="briefing"')
    charter = page.index('<details class="charter-details"')
    assert title < briefing < page.index('<article class="briefing-item') < charter
    assert "Open the briefing" not in page
    shown = articles(page)
    assert len(shown) == 15  # BRIEFING_SIZE: more past lessons than that exist
    assert all('class="decision"' in a and ">Not applicable</button>" in a and
               ">Raised as a risk</button>" in a and 'name="note"' in a for a in shown)
    assert count_line(page) == (
        "15 past approved lessons match this project's description. "
        "Decide on each: applied, not applicable, or raised as a risk.")
    erp = {past[key] for key in ERP}
    assert set(lesson_ids(page)[:3]) <= erp  # the ranking itself is test_briefings' business
    # Deciding swaps the lesson's form and refreshes the count line out of band.
    fragment = decide(client, project_id, lesson_ids(page)[2], "applied", "In the plan.")
    assert fragment.lstrip().startswith('<form class="decision"')
    assert 'hx-swap-oob="innerHTML:#briefing-count"' in fragment
    assert count_line(fragment).endswith("The team has decided on 1 of the 15.")
    assert count_line(client.get(f"/projects/{project_id}").get_data(as_text=True)) == (
        "15 past approved lessons match this project's description. "
        "The team has decided on 1 of the 15.")
    # Without JavaScript the decision form posts and comes back to the page it was on.
    plain = client.post(f"/projects/{project_id}/briefing/decisions", data={
        "lesson_id": lesson_ids(page)[3], "decision": "risk", "next": f"/projects/{project_id}"})
    assert plain.status_code == 303 and plain.location.endswith(f"/projects/{project_id}")
    # The briefing page still answers at its URL, with the same lessons in the same order.
    alone = client.get(f"/projects/{project_id}/briefing").get_data(as_text=True)
    assert "Kickoff briefing: Cloud ERP" in alone and lesson_ids(alone) == lesson_ids(page)


def test_ranks_read_in_order_and_a_category_filter_never_reorders_them(client, past):
    project_id, page = create_through_the_form(client, "Cloud ERP", ERP_CHARTER)
    everything = ranks(page)
    assert everything == list(range(1, 16))
    by_id = dict(zip(lesson_ids(page), everything, strict=True))
    filtered = client.get(f"/projects/{project_id}", query_string={"category": "technical"})
    body = filtered.get_data(as_text=True)
    shown = ranks(body)
    technical = [by_id[i] for i in lesson_ids(body)]
    assert shown == technical == sorted(shown) and len(shown) == len(set(shown)) >= 2
    assert {past["migration"], past["sso"]} <= set(lesson_ids(body))
    assert f"Showing the {len(shown)} Technical lessons of 15" in " ".join(body.split())
    # The count line still counts the whole briefing; an unknown category shows everything.
    assert count_line(body).startswith("15 past approved lessons match")
    unknown = client.get(f"/projects/{project_id}", query_string={"category": "<b>nope</b>"})
    assert ranks(unknown.get_data(as_text=True)) == everything


def test_why_names_two_aspects_at_most_and_only_distinctive_words(client, past):
    project = post(client, "/api/v1/projects", {
        "name": "Cloud ERP", "description": ERP_CHARTER,
        "objectives": "Close the books in three days with one ledger.",
        "vendors": "An external integrator and a cloud ERP supplier.",
        "technologies": "Cloud ERP, single sign-on, bank payment interfaces.",
        "constraints": "Go-live cannot move past the quarter-end close."})
    stored = client.get(f"/api/v1/projects/{project['id']}/briefing").get_json()["items"]
    page = client.get(f"/projects/{project['id']}").get_data(as_text=True)
    assert max(len(item["aspects"]) for item in stored) > 2  # the case the line must shorten
    with client.application.app_context():
        words = {t for item in stored for t in item["terms"]}
        rare = distinctive_terms(db.session, words)
        frequency = term_frequencies(db.session, words)
    dropped = set()
    for item, article in zip(stored, articles(page), strict=True):
        why = re.search(r'<p class="why">(.*?)</p>', article, re.S).group(1)
        named = re.findall(r"<strong>(.*?)</strong>", why)
        assert named == item["aspects"][:2]  # best first, two at most
        assert "<q>" in why  # the best aspect's text, quoted
        quote = re.search(r"<q>(.*?)</q>", why, re.S).group(1)
        assert len(re.sub(r"<[^>]+>", "", quote)) <= 145
        words = re.findall(r"<mark>(.*?)</mark>", why.split("</q>")[1])
        assert words == [t for t in item["terms"] if t in rare]
        dropped |= set(item["terms"]) - set(words)
    # Words many lessons share ("cloud", "finance") explain nothing, and are left out.
    limit = max(RARE_SHARE * frequency[""], RARE_FLOOR)
    assert dropped and all(frequency[word] > limit or not frequency[word] for word in dropped)


def test_a_word_in_more_than_five_percent_of_live_lessons_is_not_distinctive(session):
    def lesson(text):
        return create_lesson(session, {"title": text, "what_happened": text}, actor="test")

    for i in range(53):
        lesson(f"Routine lesson {i} about scheduling")
    for i in range(3):
        lesson(f"Escrow agreement for the source code, case {i}")
    for i in range(4):
        lesson(f"Crane booked for the wrong week, case {i}")
    delete_lesson(session, lesson("Crane and escrow, deleted").id)  # deleted: not counted
    # 60 live lessons: a word in 3 of them (5%) is distinctive, one in 4 is not.
    assert distinctive_terms(session, ["escrow", "crane", "scheduling", "zzyzx"]) == {"escrow"}
    assert distinctive_terms(session, []) == set()


def test_storing_a_new_ranking_keeps_every_decided_lesson(session):
    def lesson(title):
        return create_lesson(session, {"title": title, "what_happened": title}, actor="test")

    project = create_project(session, {"name": "Kept"})
    first, second, third, fourth = (lesson(f"Lesson {n}") for n in range(4))
    session.flush()
    decisions = ((third, "not_applicable", "We have no legacy data."), (second, "risk", ""))

    def store(*lessons):
        return store_briefing(session, project, text_hash="h", model="m", vector=b"",
                              aspects=[], items=[PlannedItem(x.id, 1.0, ["Description"], "text",
                                                             ["word"]) for x in lessons])

    store(first, second, third)
    for lesson_, decision, note in decisions:
        record_decision(session, project.id, {"lesson_id": lesson_.id, "decision": decision,
                                              "note": note}, actor="ana")
    briefing = store(fourth, first)
    items = [(i.lesson_id, i.rank, i.kept) for i in briefing.items]
    # Ranked first, then the decided lessons the ranking dropped, in the order last shown.
    assert items == [(fourth.id, 1, False), (first.id, 2, False),
                     (second.id, 3, True), (third.id, 4, True)]
    assert briefing.items[3].aspects == [] and briefing.items[3].terms == []
    # Ranked again, it is an ordinary item again.
    again = store(third, fourth)
    assert [(i.lesson_id, i.kept) for i in again.items] == [
        (third.id, False), (fourth.id, False), (second.id, True)]
    assert session.query(Briefing).count() == 1


def test_a_new_description_keeps_decided_lessons_and_says_what_changed(client, past):
    project_id, page = create_through_the_form(client, "High street", ERP_CHARTER)
    decided = {past["migration"]: ("not_applicable", "Our data is clean: audited last year."),
               past["testing"]: ("risk", "Book the finance team now."),
               past["vendor"]: ("applied", "Exit clause in the contract.")}
    for lesson_id, (decision, note) in decided.items():
        decide(client, project_id, lesson_id, decision, note)
    before = set(lesson_ids(client.get(f"/projects/{project_id}").get_data(as_text=True)))

    response = client.post(f"/projects/{project_id}/edit", data={
        "name": "High street", "description": ROAD_CHARTER, "status": "active",
        "phase": "initiation"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    shown = lesson_ids(page)
    added, dropped = set(shown) - before, before - set(shown)
    assert added and dropped and past["permits"] in added
    message = flash(page)
    assert message.startswith("Changes saved. The briefing was computed again from the new text.")
    assert f"{len(added)} new lesson" in message and f"{len(dropped)} dropped lesson" in message
    first_new = next(i for i in shown if i in added)  # named in rank order
    assert titles(past)[first_new] in message
    assert "the 3 lessons the team decided on are kept" in message
    assert_decided_lessons_are_kept(page, decided)


def test_regenerate_asks_first_then_keeps_decisions_and_says_what_changed(app, client, past):
    project_id, page = create_through_the_form(client, "High street", ERP_CHARTER)
    decided = {past["migration"]: ("not_applicable", "Our data is clean: audited last year."),
               past["cutover"]: ("risk", "Move the cutover a week later.")}
    for lesson_id, (decision, note) in decided.items():
        decide(client, project_id, lesson_id, decision, note)
    before = lesson_ids(client.get(f"/projects/{project_id}").get_data(as_text=True))
    link = re.search(r'href="([^"]*/briefing/regenerate[^"]*)"', page).group(1)

    # The project page only links to a confirmation; following it changes nothing yet.
    confirm = client.get(link.replace("&amp;", "&"))
    body = " ".join(confirm.get_data(as_text=True).split())
    assert confirm.status_code == 200 and "Regenerate the kickoff briefing?" in body
    assert "The 2 lessons the team decided on stay in the briefing" in body
    assert '<button type="submit" class="primary">Regenerate now</button>' in body
    assert lesson_ids(client.get(f"/projects/{project_id}").get_data(as_text=True)) == before

    # The description changed where no page saw it (an import, a script): regenerating now
    # reports what that did to the briefing.
    with app.app_context():
        update_project(db.session, project_id, {"description": ROAD_CHARTER})
        db.session.commit()
    response = client.post(f"/projects/{project_id}/briefing/regenerate",
                           data={"next": f"/projects/{project_id}"}, follow_redirects=True)
    assert response.request.path == f"/projects/{project_id}"
    page = response.get_data(as_text=True)
    shown = lesson_ids(page)
    added, dropped = set(shown) - set(before), set(before) - set(shown)
    message = flash(page)
    assert added and dropped and message.startswith(f"Briefing regenerated. {len(added)} new")
    assert f"{len(dropped)} dropped" in message
    assert "the 2 lessons the team decided on are kept" in message
    assert_decided_lessons_are_kept(page, decided)

    # Once more with nothing new: the message says so.
    again = client.post(f"/projects/{project_id}/briefing/regenerate", follow_redirects=True)
    assert flash(again.get_data(as_text=True)) == (
        "Briefing regenerated. The same lessons as before; "
        "the 2 lessons the team decided on are kept.")


def assert_decided_lessons_are_kept(page: str, decided: dict[int, tuple[str, str]]) -> None:
    """Every decided lesson is on the page with its note, some pinned as kept, ranks in order,
    and the count line agrees with the lessons shown."""
    shown = dict(zip(lesson_ids(page), articles(page), strict=True))
    labels = {"applied": "Applied", "not_applicable": "Not applicable", "risk": "Raised as a risk"}
    for lesson_id, (decision, note) in decided.items():
        assert lesson_id in shown, f"decided lesson {lesson_id} was dropped"
        assert f"{labels[decision]}: {note}" in shown[lesson_id]
    kept = [i for i, article in shown.items() if article.startswith(' kept"')]
    assert kept and set(kept) <= set(decided)  # the new ranking left some out: pinned
    order = ranks(page)
    assert order == list(range(1, len(order) + 1))
    assert lesson_ids(page)[-len(kept):] == kept  # pinned after the ranked ones
    ranked = len(order) - len(kept)
    more = f"{len(kept)} more are kept because the team decided on them" if len(kept) > 1 else \
        "1 more is kept because the team decided on it"
    assert count_line(page) == (
        f"{ranked} past approved lessons match this project's description, and {more}. "
        f"The team has decided on {len(decided)} of the {len(order)}.")


def test_a_project_without_a_description_asks_for_one(client):
    project_id, page = create_through_the_form(client, "Empty", "")
    assert "Add a description (the charter" in page and "briefing-item" not in page
    assert "Regenerate…" not in page
    response = client.post(f"/projects/{project_id}/briefing/regenerate", follow_redirects=True)
    assert flash(response.get_data(as_text=True)) == (
        "There is nothing to rank yet: add a description to the project first.")
