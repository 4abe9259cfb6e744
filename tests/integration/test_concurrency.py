"""Correctness under concurrency on PostgreSQL, with real processes (bounded, loopback only)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from tasks import jobs
from tests.conftest import START
from tests.integration.conftest import REPO
from tests.tasks.conftest import VILLAGE, add_places_and_people
from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.cases.replay import verify_case
from workflows.infra.clock import FixedClock
from workflows.infra.db import make_sessionmaker
from workflows.infra.models import Case, CaseEvent, HumanTask, InboxItem, OutboxMessage
from workflows.outbox import notifications
from workflows.people.access import SYSTEM, Actor

LATER = START + timedelta(hours=25)
TIMEOUT = 120


def url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def people(engine: Engine) -> None:
    with Session(engine) as session:
        add_places_and_people(session, START)
        session.commit()


def red_cases(engine: Engine, n: int, *, advance: bool = True) -> list[str]:
    """n review_demo cases; with ``advance`` each is at the police check with its 24-hour timer running."""
    ids = []
    clock = FixedClock(START)
    with Session(engine) as session:
        for _ in range(n):
            case = cases.start_case(
                session=session,
                clock=clock,
                actor=SYSTEM,
                process_key="review_demo",
                data={"child_name": "小明"},
                jurisdiction_code=VILLAGE,
            ).case
            if advance:
                task = session.scalar(select(HumanTask).where(HumanTask.case_id == case.id))
                human_tasks.complete(
                    session=session, clock=clock, actor=SYSTEM, task_id=task.id, data={"score": 95}
                )
            ids.append(case.id)
        session.commit()
    return ids


def spawn(
    engine: Engine, command: str, *args: str, at: datetime = LATER, start_at: float | None = None
) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "tests.integration.worker",
        command,
        "--url",
        url(engine),
        "--at",
        at.isoformat(),
    ]
    if start_at:
        argv += ["--start-at", str(start_at)]
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    return subprocess.Popen(
        [*argv, *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def together(engine: Engine, command: str, *args: str, n: int = 2) -> list[tuple[int, dict]]:
    start_at = time.time() + 6  # every worker is imported, connected and warmed up by then
    procs = [spawn(engine, command, *args, start_at=start_at) for _ in range(n)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode in (0, 3), err
        results.append((proc.returncode, json.loads(out.strip().splitlines()[-1])))
    return results


def count_events(session: Session, kind: str, case_id: str | None = None) -> int:
    cond = CaseEvent.type == kind
    if case_id:
        cond &= CaseEvent.case_id == case_id
    return int(session.scalar(select(func.count()).select_from(CaseEvent).where(cond)) or 0)


def all_verify(session: Session) -> None:
    for case in session.scalars(select(Case)):
        report = verify_case(session, case)
        assert report.ok, (case.id, report.problem)


def test_two_processes_completing_the_same_task_one_wins(pg: Engine) -> None:
    [case_id] = red_cases(pg, 1, advance=False)
    with Session(pg) as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.case_id == case_id))
    results = together(pg, "complete", "--task", task_id, "--data", json.dumps({"score": 95}))
    assert sorted(code for code, _ in results) == [0, 3]
    loser = next(out for code, out in results if code == 3)
    assert loser["conflict"] in ("task_not_ready", "case_busy", "concurrent_change")
    with Session(pg) as session:
        assert count_events(session, "task_completed", case_id) == 1
        assert session.get(HumanTask, task_id).status == "completed"
        assert (
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.case_id == case_id)
            )
            == 3
        )  # intake, then the two checks
        all_verify(session)


def test_two_sweeps_at_once_fire_each_timer_once(pg: Engine) -> None:
    ids = red_cases(pg, 12)
    results = together(pg, "sweep")
    assert sum(out["fired"] for _, out in results) == 12
    with Session(pg) as session:
        assert all(count_events(session, "timer_fired", cid) == 1 for cid in ids)
        escalations = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "escalation")
        )
        assert escalations == 12
        all_verify(session)


def test_a_sweep_killed_halfway_leaves_each_case_fired_or_untouched(pg: Engine) -> None:
    ids = red_cases(pg, 16)
    proc = spawn(pg, "sweep", "--pause", "0.4")
    deadline = time.monotonic() + TIMEOUT
    with Session(pg) as session:
        while count_events(session, "timer_fired") < 4:
            assert time.monotonic() < deadline and proc.poll() is None, (
                proc.stderr.read() if proc.stderr else ""
            )
            time.sleep(0.05)
            session.rollback()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    time.sleep(0.5)  # the server notices the dropped connection and rolls its transaction back
    with Session(pg) as session:
        fired = {cid: count_events(session, "timer_fired", cid) for cid in ids}
        assert set(fired.values()) <= {0, 1} and 4 <= sum(fired.values()) < 16
        for cid, n in fired.items():
            case = session.get(Case, cid)
            escalated = session.scalar(
                select(func.count())
                .select_from(HumanTask)
                .where(HumanTask.case_id == cid, HumanTask.bpmn_id == "escalate")
            )
            assert (case.next_due_at is None, escalated) == ((True, 1) if n else (False, 0))
        all_verify(session)
    report = jobs.sweep_timers(sessions=make_sessionmaker(pg), clock=FixedClock(LATER))
    assert report.fired == 16 - sum(fired.values()) and report.failed == []
    with Session(pg) as session:
        assert all(count_events(session, "timer_fired", cid) == 1 for cid in ids)
        all_verify(session)


class _Hook(BaseHTTPRequestHandler):
    seen: Counter[int] = Counter()
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - the http.server name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.seen[body["id"]] += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, Counter[int]]]:
    _Hook.seen = Counter()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook.seen
    server.shutdown()
    server.server_close()


def test_two_drainers_deliver_each_notice_once(pg: Engine, webhook: tuple[str, Counter[int]]) -> None:
    hook_url, posted = webhook
    people(pg)
    red_cases(pg, 15, advance=False)  # 15 notices, each for the director and the township supervisor
    results = together(pg, "drain", "--webhook", hook_url, "--batch", "2")
    assert sum(out["messages"] for _, out in results) == 15
    with Session(pg) as session:
        ids = list(session.scalars(select(OutboxMessage.id)))
        assert (
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.delivered_at.is_(None))
            )
            == 0
        )
        per_row = Counter(session.scalars(select(InboxItem.outbox_id)))
        assert len(ids) == 15 and all(per_row[i] == 2 for i in ids)
    assert sorted(posted) == sorted(ids) and set(posted.values()) == {1}


def test_due_scan_twice_at_once_stages_each_notice_once(pg: Engine) -> None:
    red_cases(pg, 3, advance=False)
    sessions = make_sessionmaker(pg)
    soon = FixedClock(START + timedelta(days=2, hours=1))
    assert jobs.scan_due_tasks(sessions=sessions, clock=soon) == 3
    assert jobs.scan_due_tasks(sessions=sessions, clock=soon) == 0
    clock = FixedClock(START + timedelta(days=4))
    threads = [
        threading.Thread(target=jobs.scan_due_tasks, kwargs={"sessions": sessions, "clock": clock})
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    with Session(pg) as session:
        kinds = Counter(session.scalars(select(OutboxMessage.kind)))
    assert kinds["task_overdue"] == 3 and kinds["task_due_soon"] == 3


def _escalation_notices(session: Session) -> list[tuple[str, str]]:
    return [
        (u, t)
        for u, t in session.execute(
            select(InboxItem.username, InboxItem.title).where(InboxItem.kind == "escalation")
        )
    ]


def test_red_review_demo_case_escalates_once_and_county_is_told_once(pg: Engine) -> None:
    people(pg)
    [case_id] = red_cases(pg, 1)
    sessions = make_sessionmaker(pg)
    for hours in (25, 30, 80):
        clock = FixedClock(START + timedelta(hours=hours))
        jobs.sweep_timers(sessions=sessions, clock=clock)
        jobs.deliver_notifications(sessions=sessions, clock=clock, webhook=None)
    with Session(pg) as session:
        assert count_events(session, "timer_fired", case_id) == 1
        assert _escalation_notices(session) == [("gz_county", "督办提醒：督办")]


def test_red_guardianship_case_escalates_once_and_county_is_told_once(pg: Engine) -> None:
    from tests.engine.guardianship_scenarios import SCENARIOS

    with Session(pg) as session:
        if not notifications_published(session, "guardianship_intervention"):
            pytest.skip("bpmn/guardianship_intervention is not there (or does not validate) yet")
    people(pg)
    story = SCENARIOS["red_abuse_escalated_then_admonished"]
    clock = FixedClock(START)
    with Session(pg) as session:
        case = cases.start_case(
            session=session,
            clock=clock,
            actor=SYSTEM,
            process_key="guardianship_intervention",
            data=story["start"],
            jurisdiction_code=VILLAGE,
        ).case
        review = session.scalar(select(HumanTask).where(HumanTask.case_id == case.id))
        human_tasks.complete(
            session=session, clock=clock, actor=SYSTEM, task_id=review.id, data=story["steps"][0][1]
        )
        case_id = case.id
        session.commit()
    sessions = make_sessionmaker(pg)
    for hours in (23, 25, 30, 80):
        later = FixedClock(START + timedelta(hours=hours))
        jobs.sweep_timers(sessions=sessions, clock=later)
        jobs.deliver_notifications(sessions=sessions, clock=later, webhook=None)
    with Session(pg) as session:
        assert count_events(session, "timer_fired", case_id) == 1
        assert _escalation_notices(session) == [("gz_county", "督办提醒：县级民政督办")]
        assert verify_case(session, session.get(Case, case_id)).ok


def notifications_published(session: Session, key: str) -> bool:
    from tasks.rounds import is_published

    return is_published(session, key)


def test_claim_skips_rows_locked_by_another_drainer(pg: Engine) -> None:
    red_cases(pg, 4, advance=False)
    clock = FixedClock(START)
    with Session(pg) as first, Session(pg) as second:
        mine = notifications.claim(session=first, clock=clock, worker="a", limit=2)  # locked until commit
        theirs = notifications.claim(session=second, clock=clock, worker="b", limit=10)
        assert len(mine) == 2 and len(theirs) == 2 and not {m.id for m in mine} & {t.id for t in theirs}
        first.commit()
        second.commit()


def _meddler(pg: Engine, case_id: str, task_id: str, prefix: str, at: datetime, raced: list[int]):  # type: ignore[no-untyped-def]
    """Before the first statement starting with ``prefix``, another transaction logs an event on the case at
    ``at`` (later than the action's own reading of the clock) and commits."""
    from sqlalchemy import update

    from workflows.log.events import NewEvent, chain

    def meddle(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if raced or not statement.startswith(prefix):
            return
        raced.append(1)
        with pg.connect() as other:
            head = other.execute(
                select(Case.last_event_seq, Case.last_event_hash, Case.version).where(Case.id == case_id)
            ).one()
            [row] = chain(
                case_id,
                last_seq=head[0],
                last_hash=head[1],
                now=at,
                items=[NewEvent("task_unclaimed", "system", {"task_id": task_id, "bpmn_id": "intake"})],
            )
            other.execute(
                update(Case)
                .where(Case.id == case_id)
                .values(version=head[2] + 1, last_event_seq=row.seq, last_event_hash=row.hash, updated_at=at)
            )
            columns = ("case_id", "seq", "type", "actor", "occurred_at", "payload", "prev_hash", "hash")
            other.execute(CaseEvent.__table__.insert(), {k: getattr(row, k) for k in columns})
            other.commit()

    return meddle


@pytest.mark.parametrize("action", ["claim", "complete"])
def test_an_action_that_loses_the_case_version_race_follows_the_winner_in_time(
    pg: Engine, action: str
) -> None:
    """A claim (logged without the workflow) and a completion (the workflow rewritten) each read the clock
    before their transaction. When another action on the case commits, at a later instant, between that
    reading and their compare-and-set, they re-read the case and are logged after it, not earlier: the log's
    time never goes backwards and the case verifies (it failed verify before: 时间不能倒退)."""
    from sqlalchemy import event

    people(pg)
    case_id = red_cases(pg, 1, advance=False)[0]
    director = Actor("gz_director", frozenset({"village_director"}), VILLAGE, True, "测试")
    sessions = make_sessionmaker(pg)
    with sessions() as session:
        task = session.scalar(select(HumanTask).where(HumanTask.case_id == case_id))
        assert task is not None
        task_id = task.id
    later = START + timedelta(seconds=3)
    raced: list[int] = []
    prefix = "UPDATE cases SET version" if action == "claim" else "UPDATE cases SET status"
    meddle = _meddler(pg, case_id, task_id, prefix, later, raced)
    event.listen(pg, "before_cursor_execute", meddle)
    try:
        with sessions() as session:
            clock = FixedClock(START)
            if action == "claim":
                human_tasks.claim(session=session, clock=clock, actor=director, task_id=task_id)
            else:
                done = human_tasks.complete(
                    session=session, clock=clock, actor=director, task_id=task_id, data={"score": 60}
                )
                assert done["completed_at"].startswith("2026-03-02T01:00:03")
            session.commit()
    finally:
        event.remove(pg, "before_cursor_execute", meddle)
    assert raced == [1]
    with Session(pg) as session:
        rows = session.execute(
            select(CaseEvent.type, CaseEvent.occurred_at)
            .where(CaseEvent.case_id == case_id)
            .order_by(CaseEvent.seq)
        ).all()
        kinds = [kind for kind, _ in rows]
        expected = "task_claimed" if action == "claim" else "task_completed"
        assert kinds[:3] == ["case_started", "task_unclaimed", expected]
        assert rows[2][1] == later  # logged at the winner's instant, not at its own earlier reading
        row = session.get(HumanTask, task_id)
        assert row is not None
        if action == "claim":
            assert row.assignee == "gz_director" and row.claimed_at == later
        else:
            assert row.status == "completed" and row.completed_at == later
        all_verify(session)
