"""Crashes under load on PostgreSQL: 16 clients race on shared tasks through two API worker processes
while the workers and the scheduler (sweep + outbox drain) are killed with SIGKILL at random points and
restarted. Afterwards every case verifies, no completion is lost or doubled, every 409 is a real
conflict and every notification reached each of its recipients exactly once.

Bounded: a fixed number of completions per client, a deadline for the whole run, loopback only; the
random choices come from a fixed seed (the kill instants still depend on timing, which is the point).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.security import issue_token
from tasks import jobs
from tests.conftest import START
from tests.integration.conftest import REPO
from tests.integration.crash_app import FastClock
from tests.tasks.conftest import VILLAGE, add_places_and_people
from workflows.cases import lifecycle as cases
from workflows.cases.replay import verify_case
from workflows.infra.db import make_sessionmaker
from workflows.infra.models import Case, CaseEvent, HumanTask, InboxItem, OutboxMessage, User
from workflows.outbox.notifications import recipients
from workflows.people.access import SYSTEM

SEED = 15
CLIENTS = 16
COMPLETIONS_PER_CLIENT = 5
CASES = 12
DEADLINE = 45.0  # seconds for the clients (then they stop, however far they got)
SECRET = "crash-test-secret-key-0123456789abcdef"
USERS = ("gz_director", "gz_police", "gz_center", "gz_county")  # four clients each
DATA = {
    "intake": lambda rng: {"score": rng.choice([95, 95, 40])},
    "police_check": lambda rng: {"police_check_result": "已核实"},
    "center_check": lambda rng: {"center_check_result": "已核实"},
    "escalate": lambda rng: {"escalate_result": "已督办"},
    "close": lambda rng: {"close_result": "结案"},
}


@dataclass
class Attempt:
    user: str
    task_id: str
    key: str
    status: int = 0
    code: str = ""


@dataclass
class Fleet:
    """The API workers and the scheduler, each restartable after a kill."""

    env: dict[str, str]
    ports: list[int]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    log: Any = None

    def start(self, name: str) -> None:
        if name == "scheduler":
            argv = [sys.executable, "-m", "tests.integration.crash_app"]
        else:
            port = self.ports[int(name[-1])]
            argv = [sys.executable, "-m", "uvicorn", "tests.integration.crash_app:api", "--factory"]
            argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        self.procs[name] = subprocess.Popen(
            argv, cwd=REPO, env=self.env, stdout=subprocess.DEVNULL, stderr=self.log
        )

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            self.kills[name] += 1
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(port: int, timeout: float = 40) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"API worker on port {port} did not start")


def setup_cases(engine: Engine, clock: FastClock) -> list[str]:
    with Session(engine) as session:
        add_places_and_people(session, START)
        session.commit()
        ids = [
            cases.start_case(
                session=session,
                clock=clock,
                actor=SYSTEM,
                process_key="review_demo",
                data={"child_name": f"儿童{n}"},
                jurisdiction_code=VILLAGE,
            ).case.id
            for n in range(CASES)
        ]
        session.commit()
    return ids


def tokens(engine: Engine, clock: FastClock) -> dict[str, str]:
    with Session(engine) as session:
        users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(USERS)))}
    return {
        name: issue_token(
            user_id=user.id, token_version=user.token_version, secret=SECRET, now=clock.now(), minutes=10**6
        )[0]
        for name, user in users.items()
    }


def send(ports: list[int], rng: random.Random, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request, retried on another worker while workers are down (same body, same key)."""
    end = time.monotonic() + 30
    last = ""
    while True:
        port = rng.choice(ports)
        try:
            response = httpx.request(method, f"http://127.0.0.1:{port}{path}", timeout=15, **kwargs)
            if response.status_code < 500 or response.status_code == 503 and "busy" not in response.text:
                return response
            last = f"{response.status_code} {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        if time.monotonic() > end:
            raise AssertionError(f"{method} {path}: no worker answered for 30 s (last: {last})")
        time.sleep(0.1)


def client(n: int, user: str, token: str, ports: list[int], attempts: list[Attempt], stop_at: float) -> None:
    rng = random.Random(SEED * 100 + n)
    headers = {"Authorization": f"Bearer {token}"}
    done = 0
    while done < COMPLETIONS_PER_CLIENT and time.monotonic() < stop_at:
        listing = send(ports, rng, "GET", "/api/tasks", headers=headers, params={"limit": 10})
        assert listing.status_code == 200, listing.text
        items = [t for t in listing.json()["items"] if t["bpmn_id"] in DATA]
        if not items:
            time.sleep(0.2)
            continue
        task = rng.choice(items[:4])  # the same few tasks for everyone with this role: real races
        attempt = Attempt(user, task["id"], str(uuid.uuid4()))
        answer = send(
            ports,
            rng,
            "POST",
            f"/api/tasks/{task['id']}/complete",
            headers={**headers, "Idempotency-Key": attempt.key},
            json={"data": DATA[task["bpmn_id"]](rng)},
        )
        attempt.status, attempt.code = answer.status_code, answer.json().get("code", "")
        attempts.append(attempt)
        done += 1


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def killer(fleet: Fleet, stop: threading.Event) -> None:
    """Kill a random process every one to three seconds; an API worker only while both serve (so requests
    keep flowing: a worker takes a few seconds to start again)."""
    rng = random.Random(SEED)
    while not stop.wait(rng.uniform(1.0, 3.0)):
        both_up = all(healthy(port) for port in fleet.ports)
        victim = rng.choice(["api0", "api1", "scheduler"] if both_up else ["scheduler"])
        fleet.kill(victim)
        fleet.start(victim)


def test_kills_under_load_lose_and_double_nothing(pg: Engine) -> None:
    from tests.integration.test_concurrency import url

    epoch = time.time()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "CRASH_DB": url(pg),
        "CRASH_SECRET": SECRET,
        "CRASH_T0": START.isoformat(),
        "CRASH_EPOCH": str(epoch),
    }
    os.environ.update({"CRASH_T0": START.isoformat(), "CRASH_EPOCH": str(epoch)})
    clock = FastClock()
    case_ids = setup_cases(pg, clock)
    keys = tokens(pg, clock)
    fleet = Fleet(env, [free_port(), free_port()], log=open("/tmp/crash_workers.log", "ab"))
    attempts: list[Attempt] = []
    stop = threading.Event()
    try:
        for name in ("api0", "api1", "scheduler"):
            fleet.start(name)
        for port in fleet.ports:
            wait_healthy(port)
        chaos = threading.Thread(target=killer, args=(fleet, stop), daemon=True)
        chaos.start()
        stop_at = time.monotonic() + DEADLINE
        threads = [
            threading.Thread(
                target=client, args=(n, USERS[n % 4], keys[USERS[n % 4]], fleet.ports, attempts, stop_at)
            )
            for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=DEADLINE + 40)
        stop.set()
        chaos.join(timeout=15)
    finally:
        stop.set()
        fleet.stop_all()
    statuses = Counter(a.status for a in attempts)
    print(f"crash test: {len(attempts)} completions tried {dict(statuses)}, kills {dict(fleet.kills)}")
    assert sum(fleet.kills.values()) >= 5, "too few kills to mean anything"
    assert len(attempts) >= CLIENTS * 2

    sessions = make_sessionmaker(pg)
    for _ in range(20):  # the notices staged before the last kill, delivered now
        if jobs.deliver_notifications(sessions=sessions, clock=clock, webhook=None, batch=50).messages == 0:
            break
    with Session(pg) as session:
        check_cases(session, case_ids)
        check_answers(session, attempts)
        check_notifications(session)


def check_cases(session: Session, case_ids: list[str]) -> None:
    for case_id in case_ids:
        case = session.get(Case, case_id)
        report = verify_case(session, case)
        assert report.ok, (case_id, report)
        seqs = session.scalars(select(CaseEvent.seq).where(CaseEvent.case_id == case_id)).all()
        assert sorted(seqs) == list(range(1, case.last_event_seq + 1))


def check_answers(session: Session, attempts: list[Attempt]) -> None:
    completed = Counter(
        e.payload["task_id"]
        for e in session.scalars(select(CaseEvent).where(CaseEvent.type == "task_completed"))
    )
    assert all(n == 1 for n in completed.values()), "a task completed twice"
    wins: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        assert attempt.status in (200, 409), (attempt, "only a win or a conflict is expected")
        if attempt.status == 200:
            wins[attempt.task_id].append(attempt)
            assert completed[attempt.task_id] == 1, ("a 200 whose completion is not in the log", attempt)
    assert all(len(w) == 1 for w in wins.values()), "two clients told they completed the same task"
    for attempt in attempts:
        if attempt.status == 409:
            row = session.get(HumanTask, attempt.task_id)
            assert row is not None and row.status != "ready", ("a 409 on a task still open", attempt)
            if row.status == "completed":  # someone else's request completed it, not this one
                assert attempt.task_id not in wins or wins[attempt.task_id][0].key != attempt.key
    assert wins, "no completion succeeded"


def check_notifications(session: Session) -> None:
    pending = session.scalar(select(func.count()).where(OutboxMessage.inbox_at.is_(None)))
    assert pending == 0, "a notice was never delivered"
    messages = session.scalars(select(OutboxMessage)).all()
    assert messages, "the run staged no notices"
    for message in messages:
        got = Counter(session.scalars(select(InboxItem.username).where(InboxItem.outbox_id == message.id)))
        assert all(n == 1 for n in got.values())
        assert set(got) == set(recipients(session, message)), (message.kind, message.role, set(got))


@pytest.fixture(autouse=True)
def _restore_environment() -> Any:
    saved = {k: os.environ.get(k) for k in ("CRASH_T0", "CRASH_EPOCH")}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
