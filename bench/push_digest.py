"""A day of push at scale: 1,000 accounts following 5,000 projects and searches over
100,000 lessons; the dispatch of a day's approvals, then the daily digests.

Builds (once, cached in /tmp/lessons-push-bench) a database with 100,000
approved lessons on 2,500 projects (each with a kickoff briefing vector and a
team of three), 1,000 accounts (20 of them PMO) and 5,000 subscriptions:
3,000 followed projects and 2,000 followed searches with their vectors. Then
it approves --approvals lessons "today" (their passage vectors stored, a
share of the followed searches and projects made to match them) and times:

  dispatch   the audit rows of those approvals into notifications (who follows
             what, visibility, keys), as the worker runs it
  periodic   reminders, review backlog and the daily email digests for every
             account (SMTP configured, so digests are written; nothing is sent)

printing wall time, notifications and deliveries written, peak memory
(ru_maxrss) and the slowest single SQL statement of each phase. Goal (issue
16): under 60 s for the daily run, no single query over 1 s.

Vectors are random unit vectors (the model is not what is measured); the text
of each lesson is short filler. Run:
    .venv/bin/python bench/push_digest.py [--database-url URL] [--approvals 200]
"""

import argparse
import resource
import shutil
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from lessons.db import make_engine, upgrade
from lessons.models import (
    AuditEvent,
    Briefing,
    Delivery,
    Lesson,
    Notification,
    PassageVector,
    Preference,
    Project,
    ProjectMember,
    PushCursor,
    Subscription,
    User,
    utcnow,
)
from push import periodic
from push.config import PushSettings
from push.dispatch import dispatch

CACHE = Path("/tmp/lessons-push-bench")
MODEL, DIM = "all-MiniLM-L6-v2", 384
ACCOUNTS, PMO, PROJECTS, LESSONS = 1_000, 20, 2_500, 100_000
FOLLOWS_PER_ACCOUNT = 5  # 3 projects and 2 searches each: 5,000 in all
SETTINGS = PushSettings(base_url="http://lessons.test", secret_key="bench",
                        smtp_url="smtp://127.0.0.1:25", model=MODEL)
rng = np.random.default_rng(16)


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)).astype(np.float32)


def build(sessions: sessionmaker[Session]) -> None:
    """The accounts, projects, briefings, lessons and subscriptions, in bulk."""
    now = utcnow()
    with sessions() as session:
        session.execute(insert(User), [
            {"id": i, "email": f"user{i}@example.org", "name": f"User {i}",
             "role": "pmo" if i <= PMO else "contributor", "password_hash": "x",
             "created_at": now} for i in range(1, ACCOUNTS + 1)])
        session.execute(insert(Project), [
            {"id": p, "name": f"Project {p}", "status": "active" if p % 2 else "completed",
             "created_at": now, "updated_at": now} for p in range(1, PROJECTS + 1)])
        session.execute(insert(ProjectMember), [
            {"project_id": p, "user_id": (p * 7 + k * 131) % ACCOUNTS + 1}
            for p in range(1, PROJECTS + 1) for k in range(3)])
        briefs = unit(rng.standard_normal((PROJECTS, DIM)))
        session.execute(insert(Briefing), [
            {"project_id": p, "text_hash": "x", "model": MODEL, "vector": briefs[p - 1].tobytes(),
             "aspects": [], "generated_at": now} for p in range(1, PROJECTS + 1)])
        for start in range(1, LESSONS + 1, 10_000):
            session.execute(insert(Lesson), [
                {"id": i, "title": f"Lesson {i} on supplier data", "what_happened": "Filler.",
                 "kind": "went_wrong", "severity": "medium", "status": "approved",
                 "visibility": "project" if i % 20 == 0 else "organisation",
                 "project_id": i % PROJECTS + 1, "category": "technical",
                 "created_at": now - timedelta(days=30), "updated_at": now,
                 "status_since": now - timedelta(days=30)}
                for i in range(start, min(start + 10_000, LESSONS + 1))])
        searches = unit(rng.standard_normal((ACCOUNTS * FOLLOWS_PER_ACCOUNT // 2, DIM)))
        rows: list[dict[str, Any]] = []
        for user in range(1, ACCOUNTS + 1):
            for k in range(FOLLOWS_PER_ACCOUNT):
                n = (user - 1) * FOLLOWS_PER_ACCOUNT + k
                if k % 2 == 0:
                    rows.append({"user_id": user, "kind": "project",
                                 "target": str(n // 2 % PROJECTS + 1), "created_at": now})
                else:
                    rows.append({"user_id": user, "kind": "search", "target": f"search {n}",
                                 "vector": searches[n // 2].tobytes(), "model": MODEL,
                                 "created_at": now})
        session.execute(insert(Subscription), rows)
        session.commit()


def approve_today(sessions: sessionmaker[Session], count: int) -> None:
    """`count` lessons approved now: their vectors stored, one in ten followed searches and
    one in a hundred live projects moved close to one of them."""
    now = utcnow()
    with sessions() as session:
        ids = list(range(LESSONS - count + 1, LESSONS + 1))
        session.execute(update(Lesson).where(Lesson.id.in_(ids))
                        .values(status="approved", status_since=now))
        vectors = unit(rng.standard_normal((count, 2, DIM)))
        session.execute(insert(PassageVector), [
            {"lesson_id": i, "model": MODEL, "position": p, "dim": DIM, "text_hash": "x",
             "vector": vectors[n, p].tobytes(), "seq": 0}
            for n, i in enumerate(ids) for p in range(2)])
        searches = list(session.scalars(select(Subscription).where(
            Subscription.kind == "search")))
        for k, sub in enumerate(searches[::10]):
            near = vectors[k % count, 0] + 0.3 * unit(rng.standard_normal(DIM))
            sub.vector = unit(near).tobytes()
        for k, brief in enumerate(session.scalars(select(Briefing)).all()[::100]):
            brief.vector = unit(vectors[k % count, 1] + 0.3 * unit(rng.standard_normal(DIM))
                                ).tobytes()
        session.merge(PushCursor(id=1, audit_id=session.scalar(
            select(func.max(AuditEvent.id))) or 0))
        session.execute(insert(AuditEvent), [
            {"actor": "user1@example.org", "action": "lesson_approve", "target": f"lesson {i}",
             "at": now} for i in ids])
        session.commit()


@contextmanager
def measured(name: str, engine: Any):
    """Time a phase and keep its slowest statement."""
    slowest = [0.0, ""]

    def before(conn, cursor, statement, params, context, many):
        context._bench_start = time.perf_counter()

    def after(conn, cursor, statement, params, context, many):
        took = time.perf_counter() - context._bench_start
        if took > slowest[0]:
            slowest[:] = [took, " ".join(statement.split())[:120]]

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    start = time.perf_counter()
    yield
    took = time.perf_counter() - start
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name:9} {took:7.2f} s   peak memory {peak:6.0f} MB   slowest query "
          f"{slowest[0] * 1000:6.1f} ms: {slowest[1]}")


def count(sessions: sessionmaker[Session], model: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="")
    parser.add_argument("--approvals", type=int, default=200)
    args = parser.parse_args()
    url = args.database_url
    if not url:
        base = CACHE / "base.db"
        if not base.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            engine = make_engine(f"sqlite:///{base}")
            upgrade(engine)
            print("Building the bench database (once)...")
            build(sessionmaker(engine))
            engine.dispose()
        shutil.copy(base, CACHE / "run.db")
        url = f"sqlite:///{CACHE / 'run.db'}"
    else:
        engine = make_engine(url)
        upgrade(engine)
        if not count(sessionmaker(engine), User):
            build(sessionmaker(engine))
    engine = make_engine(url)
    sessions = sessionmaker(engine)
    with sessions() as session:  # everyone takes the daily digest (the default)
        session.execute(Preference.__table__.delete())
        session.commit()
    approve_today(sessions, args.approvals)
    print(f"{ACCOUNTS:,} accounts, {count(sessions, Subscription):,} subscriptions, "
          f"{count(sessions, Lesson):,} lessons, {args.approvals} approved today")
    with measured("dispatch", engine), sessions() as session:
        while dispatch(session, SETTINGS):
            pass
    told = count(sessions, Notification)
    with sessions() as session:  # the digests pick up what was told before today
        session.execute(update(Notification).values(
            created_at=utcnow() - timedelta(days=1)))
        session.commit()
    with measured("periodic", engine):
        periodic.run(sessions, SETTINGS, utcnow())
    print(f"notifications {told:,}, deliveries {count(sessions, Delivery):,}")


if __name__ == "__main__":
    main()
