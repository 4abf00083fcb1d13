"""The README's relevance promises, on the demo data, and the ranking's signals on their own.

The promises are the examples a new user tries first: a short keyword search,
a paraphrase that shares no word with its lessons, an acronym typed in
lowercase, and a kickoff charter whose most needed lesson must lead the
briefing. Each must put its target lessons in the top 3. The demo is loaded
once per database, so the four share one test.
"""

from sqlalchemy import select

from lessons.demo import load_demo
from lessons.models import Lesson, Project
from search.briefing import generate
from search.ranking import Candidate, phrase_of, rank, signals
from search.retrieve import search
from web.engine import engine, feeds

LOCK_IN = {  # the demo's vendor lock-in lessons: a supplier holds the data, formats or protocol
    "Raw trip data only available through TrakSure's portal",
    "Every workflow is trapped inside FlowMatic",
    "The old vendor charged us to export our own data",
    "120 ingestion pipelines live in StreamForge's closed connector format",
    "The BMS speaks a closed protocol, so one controls firm owns us for 20 years",
    "Meters, hubs and head-end all tied to one manufacturer's protocol",
}
ERP_KICKOFF = (  # the scenario: a charter whose data paragraph needs one lesson most
    "We are replacing the purchasing and finance systems of our three operating companies "
    "with one cloud ERP, covering ledger, payables, receivables and procurement. An "
    "implementation partner configures the platform under a fixed-fee contract.\n\n"
    "Master data is the worry: 9,000 suppliers with known duplicates across the three "
    "companies, customer records in two formats, and five years of open items to migrate.\n\n"
    "Go-live is planned for the start of the next financial year. The core team is mostly "
    "part-time finance staff, and the old systems' support contracts end two months later."
)
SUPPLIER_MASTER = "Supplier master: 4,200 records, of which about 1,100 were duplicates"


def test_the_readme_examples_put_their_lessons_in_the_top_3(app, session):
    load_demo(session)
    session.commit()
    search_engine = engine().ready()
    titles = lambda text: [hit.lesson.title for hit in search(  # noqa: E731
        search_engine, session, text, limit=3).hits]

    # Tagged with the very phrase: first. (The model itself puts "vendor lock-in" far from
    # the other lock-in lessons; bench/README.md says so.)
    assert titles("vendor lock-in")[0] == "Every workflow is trapped inside FlowMatic"
    top = titles("the supplier held our data hostage")  # landed: its lessons 7th and 12th
    assert set(top) & LOCK_IN, top
    # An acronym typed in lowercase is searched for what a demo lesson spells it out as.
    found = search(search_engine, session, "uat", limit=3)
    assert found.meant == "uat (user acceptance testing)"
    assert "UAT shrank from six weeks to eight working days" in [
        hit.lesson.title for hit in found.hits]

    project = Project(name="Cloud ERP for three companies", description=ERP_KICKOFF,
                      status="proposed")
    session.add(project)
    session.flush()
    briefing = generate(search_engine, session, project, feeds())
    first = sorted(briefing.items, key=lambda item: item.rank)[:3]
    lessons = session.scalars(select(Lesson).where(
        Lesson.id.in_([item.lesson_id for item in first]))).all()
    assert SUPPLIER_MASTER in [lesson.title for lesson in lessons]


def test_a_lesson_titled_or_tagged_with_the_query_outranks_partial_matches():
    pool = {
        1: Candidate(dense=0.40, words=9.0, title="Lock date for the ledger moved twice"),
        2: Candidate(dense=0.45, words=4.0, title="Vendor lock-in through a closed format"),
        3: Candidate(dense=0.42, words=2.0, tags=1.0, title="Exit costs",
                     tag_names=["vendor lock-in"]),
        4: Candidate(dense=0.50, words=6.0, tags=0.3, title="Vendor invoices paid late",
                     tag_names=["vendor management"]),
    }
    ranked = list(rank(pool, ["vendor", "lock"], phrase_of("vendor lock-in")))
    assert set(ranked[:2]) == {2, 3}


def test_a_weak_keyword_hit_keeps_its_share_of_the_credit():
    pool = {1: Candidate(dense=0.3, words=10.0), 2: Candidate(dense=0.3, words=5.0),
            3: Candidate(dense=0.3, words=0.0)}
    values = signals(pool, ["valve"], "valve")
    assert values[2][2] == 0.5 and values[3][2] == 0.0  # words: score over the best score
    assert list(rank(pool, ["valve"], "valve"))[:2] == [1, 2]
