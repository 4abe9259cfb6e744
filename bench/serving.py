"""A real API server for the benchmarks: the documented set-up in a subprocess on loopback, seeded first.

``seed`` prepares a database (migrations, bundled models, the test process ``review_demo``), one village
and one certified village director per client, and cases waiting at their first task. ``Server`` runs
``shouhu serve --no-scheduler`` (the same command operators run) on 127.0.0.1 and stops it afterwards.
``pg_database`` gives a PostgreSQL URL in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import NullPool, make_url, text
from sqlalchemy.orm import Session

from workflows.infra.clock import SystemClock
from workflows.infra.db import make_engine
from workflows.infra.models import Place
from workflows.infra.settings import REPO_ROOT

MODEL = REPO_ROOT / "tests" / "data" / "review_demo"
TOWNSHIP = "500111101"
PASSWORD = "bench-password-1"
SECRET = "bench-secret-" + "x" * 32
PG_ENV = REPO_ROOT / ".ci" / "pg.env"


@functools.cache
def no_bundled_models() -> Path:
    """An empty folder given as the bundled-model folder: the benchmarks need only ``review_demo``, and
    registering every bundled process on each fresh database would cost more than the runs themselves."""
    return Path(tempfile.mkdtemp(prefix="shouhu-bench-bpmn-"))


def client_name(index: int) -> str:
    return f"bench{index:02d}"


def village_of(index: int) -> str:
    return f"{TOWNSHIP}{index + 201:03d}"


def seed(url: str, *, clients: int, cases_per_client: int) -> None:
    """Schema, models, places, one director per client and their cases (committed in batches)."""
    from workflows.cases import lifecycle as cases
    from workflows.ops import bootstrap, wiring
    from workflows.people import accounts
    from workflows.people.access import SYSTEM, Actor
    from workflows.processes import registry

    wiring.install()
    engine = make_engine(url)
    clock = SystemClock()
    bootstrap.prepare(engine, bpmn_dir=no_bundled_models(), clock=clock)
    with Session(engine, expire_on_commit=False, autoflush=False) as session:
        version = registry.register(
            session,
            key="review_demo",
            files=registry.read_folder(MODEL),
            source="bundled",
            actor="system",
            now=clock.now(),
        )
        registry.publish(session, version, actor="system", now=clock.now())
        session.add(Place(code=TOWNSHIP, name="镇", level="township", parent_code=None))
        for index in range(clients):
            session.add(
                Place(code=village_of(index), name=f"村{index}", level="village", parent_code=TOWNSHIP)
            )
        session.flush()
        for index in range(clients):
            accounts.create_user(
                session=session,
                clock=clock,
                actor=SYSTEM,
                username=client_name(index),
                display_name=f"基准{index}",
                roles=["village_director"],
                jurisdiction_code=village_of(index),
                password=PASSWORD,
                certified=True,
            )
        session.commit()
        for index in range(clients):
            director = Actor(client_name(index), frozenset({"village_director"}), village_of(index))
            for _ in range(cases_per_client):
                cases.start_case(
                    session=session,
                    clock=clock,
                    actor=director,
                    process_key="review_demo",
                    data={"child_name": "甲"},
                    jurisdiction_code=village_of(index),
                )
            session.commit()
    engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``shouhu serve --no-scheduler`` with ``workers`` API processes, on loopback, until stopped."""

    def __init__(self, url: str, *, workers: int = 1, log: Path | None = None) -> None:
        self.url, self.workers, self.port = url, workers, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = {
            **os.environ,
            "SHOUHU_DATABASE_URL": self.url,
            "SHOUHU_SECRET_KEY": SECRET,
            "SHOUHU_DEMO": "false",
            "SHOUHU_BPMN_DIR": str(no_bundled_models()),
            "PYTHONPATH": str(REPO_ROOT),
        }
        out: Any = open(self.log, "wb") if self.log else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workflows.ops.cli",
                "serve",
                "--no-scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.base}/api/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            self.__exit__()
            raise RuntimeError("the server did not answer within 120 s")
        return self

    def worker_pids(self) -> list[int]:
        """The processes that serve requests (the children of the supervisor, and theirs)."""
        assert self.process is not None
        pids, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            for child in _children(pid):
                pids.append(child)
                todo.append(child)
        return pids

    def __exit__(self, *_: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (Linux /proc)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pg_base_url() -> str | None:
    """SHOUHU_BENCH_PG_URL, else the test server's URL from .ci/pg.env (or SHOUHU_TEST_PG_URL)."""
    for name in ("SHOUHU_BENCH_PG_URL", "SHOUHU_TEST_PG_URL"):
        if os.environ.get(name):
            return os.environ[name]
    if PG_ENV.is_file():
        for line in PG_ENV.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "SHOUHU_TEST_PG_URL" and value.strip():
                return value.strip()
    return None


@contextmanager
def pg_database() -> Iterator[str | None]:
    """A PostgreSQL URL whose search_path is a fresh schema (dropped afterwards); None without a server."""
    base = pg_base_url()
    if not base:
        yield None
        return
    admin = make_engine(base, poolclass=NullPool, connect_args={"connect_timeout": 5})
    schema = f"bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except Exception:  # noqa: BLE001 - no reachable server: the part reports it and skips PostgreSQL
        admin.dispose()
        yield None
        return
    url = (
        make_url(base)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
