"""A real server and Debian's Chromium for the browser tests.

The server is uvicorn on 127.0.0.1 (a free port) in a thread, against a temporary SQLite file filled with
demo-like data through the services. Chromium is Debian's (/usr/bin/chromium, never a downloaded build): in CI
(CI=true) a missing browser fails the run; elsewhere the tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.orm import Session

from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.children import registry as children_registry
from workflows.infra.clock import SystemClock
from workflows.infra.db import create_all, make_engine
from workflows.infra.models import Place
from workflows.infra.settings import REPO_ROOT, Settings
from workflows.ops import demo
from workflows.people import accounts
from workflows.people.access import SYSTEM
from workflows.processes import registry

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
PASSWORD = "browser-test-pw-1"
VILLAGE, OTHER_VILLAGE, TOWNSHIP, COUNTY = demo.VILLAGE, demo.OTHER_VILLAGE, demo.TOWNSHIP, demo.COUNTY
PLACES = demo.PLACES
PEOPLE = {
    "director": (["village_director"], VILLAGE),
    "center": (["protection_center"], COUNTY),
    "police": (["police"], COUNTY),
    "supervisor": (["township_supervisor"], TOWNSHIP),
    "admin": (["user_admin"], COUNTY),
    "auditor": (["auditor"], "50"),
    "modeler": (["process_admin"], "50"),
}
CHILD = {  # a registered file (fictitious; the ID number's check digit holds)
    "name": "演示儿童庚",
    "gender": "male",
    "birth_date": "2014-01-01",
    "id_number": "500111201401011231",
    "household": "rural",
    "village_code": VILLAGE,
    "guardians": [{"name": "演示母亲", "relation": "母亲"}],
}
REPORT = {
    "reporter_type": "village_director",
    "situation": "violence",
    "without_guardian": False,
    "immediate_danger": True,
    "child_known": True,
    "child_name": "演示儿童丙",
    "child_id_number": "500111201401011231",
    "location_description": "金龙村三组",
    "description": "父亲酒后打骂儿童。",
    "reporter_name": "演示报告人",
}
COORDINATE = {"coordinated_on": "2026-03-02", "assessment_focus": "监护人履职能力与儿童安全需求"}
REVIEW = {
    "intake_decision": "accept",
    "situation": "violence",
    "without_guardian": False,
    "immediate_danger": True,
}
POLICE = {
    "police_arrived_at": "2026-03-02T09:40:00+08:00",
    "child_located": True,
    "child_safe": True,
    "police_measures": ["stop_harm"],
    "criminal_case_filed": False,
    "police_note": "到达现场后制止侵害。",
}


def require_chromium() -> None:
    """Fail in CI, skip elsewhere, when the browser or Playwright is missing."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} 不存在：请安装 Debian 的 chromium（apt-get install chromium chromium-driver）"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "未安装 playwright（pip install -e '.[test]'）"
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"浏览器测试无法运行：{problem}", pytrace=False)
        pytest.skip(f"浏览器测试跳过：{problem}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_app(app: Any, name: str) -> Iterator[str]:
    """Run an app under uvicorn on a free loopback port in a thread; yields its URL; stops it after."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            pytest.fail("测试服务器未能在 30 秒内启动", pytrace=False)
        time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def seed(url: str, bpmn_dir: Path) -> dict[str, Any]:
    """Places, one account per role needed, and a case waiting for the director's assessment."""
    engine = make_engine(url)
    create_all(engine)
    clock = SystemClock()
    with Session(engine) as session:
        registry.sync_bundled(session, bpmn_dir=bpmn_dir, now=clock.now())
        for code, name, level, parent in PLACES:
            session.add(Place(code=code, name=name, level=level, parent_code=parent))
        session.flush()
        actors = {}
        for username, (roles, code) in PEOPLE.items():
            user = accounts.create_user(
                session=session,
                clock=clock,
                actor=SYSTEM,
                username=username,
                display_name=f"演示{username}",
                roles=roles,
                jurisdiction_code=code,
                password=PASSWORD,
                certified=True,
            )
            actors[username] = accounts.actor_for(user)
        child = children_registry.register(session=session, clock=clock, actor=actors["director"], data=CHILD)

        def to_assessment(data: dict[str, Any], child_ref: str) -> Any:
            """A report walked to the director's assessment (intake accepted, police attended)."""
            outcome = cases.start_case(
                session=session,
                clock=clock,
                actor=actors["director"],
                process_key="guardianship_intervention",
                data=data,
                jurisdiction_code=VILLAGE,
                child_ref=child_ref,
            )
            for who, bpmn_id, step in (
                ("center", "review_report", REVIEW),
                ("police", "emergency_response_police", POLICE),
                ("center", "coordinate_assessment", COORDINATE),
            ):
                page = human_tasks.list_tasks(session=session, actor=actors[who], limit=200)
                task = next(t for t in page.items if t.case_id == outcome.case.id and t.bpmn_id == bpmn_id)
                human_tasks.complete(
                    session=session, clock=clock, actor=actors[who], task_id=task.id, data=step
                )
            return outcome

        outcome = to_assessment(REPORT, "CHILD-BROWSER-1")
        mine = to_assessment({**REPORT, "child_name": CHILD["name"]}, child.id)
        other = cases.start_case(  # a second report, waiting at intake: another card, another number
            session=session,
            clock=clock,
            actor=actors["director"],
            process_key="guardianship_intervention",
            data={
                **REPORT,
                "child_name": "演示儿童己",
                "immediate_danger": False,
                "situation": "living_alone",
            },
            jurisdiction_code=VILLAGE,
        )
        finished = _finished_demo_case(session, clock, actors)
        session.commit()
        case_no = outcome.case.case_no
        seeded = {
            "case_id": outcome.case.id,
            "case_no": case_no,
            "other_case_no": other.case.case_no,
            "my_case_id": mine.case.id,
            "my_case_no": mine.case.case_no,
            "child_id": child.id,
            "file_no": child.file_no,
            "finished_case": finished,
        }
    engine.dispose()
    return seeded


def _finished_demo_case(session: Session, clock: SystemClock, actors: dict[str, Any]) -> dict[str, Any]:
    """The demo's closed case (a duplicate report), walked step by step by the people of each lane."""
    from workflows.ops.demo_cases import STORIES

    story = next(s for s in STORIES if s["title"] == "重复报告，已结案")
    by_role = {next(iter(a.roles)): a for a in actors.values()}
    case = cases.start_case(
        session=session,
        clock=clock,
        actor=actors["director"],
        process_key=story["process_key"],
        data=story["start"],
        jurisdiction_code=VILLAGE,
    ).case
    for bpmn_id, data in story["steps"]:
        tasks = human_tasks.list_tasks(session=session, actor=SYSTEM, limit=200).items
        task = next(t for t in tasks if t.case_id == case.id and t.bpmn_id == bpmn_id)
        human_tasks.complete(
            session=session, clock=clock, actor=by_role[task.role], task_id=task.id, data=data
        )
    assert case.status == "completed"
    return {"id": case.id, "case_no": case.case_no, "events": case.last_event_seq}


@dataclass
class LiveServer:
    url: str
    seeded: dict[str, Any]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    require_chromium()

    from api.main import create_app

    database = tmp_path_factory.mktemp("browser-db") / "shouhu.db"
    settings = Settings(
        demo=True,
        database_url=f"sqlite:///{database}",
        data_dir=database.parent,
        bpmn_dir=Path(os.environ.get("SHOUHU_BPMN_DIR") or REPO_ROOT / "bpmn"),
    )
    seeded = seed(settings.database_url, settings.bpmn_dir)
    app = create_app(settings, prepare=False)  # the schema and models are ready: seeded above
    with serve_app(app, "shouhu-browser-server") as url:
        yield LiveServer(url, seeded)


@pytest.fixture(scope="session")
def browser_context(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium with a fresh profile, a phone-sized window, bounded waits."""
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 360, "height": 780},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        context.set_default_timeout(15_000)
        context.set_default_navigation_timeout(20_000)
        try:
            yield context
        finally:
            context.close()


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%H%M%S")
