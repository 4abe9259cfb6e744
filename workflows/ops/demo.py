"""Demo data, created through the services: places, one account per role, cases at several steps."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.cases import human_tasks
from workflows.cases import lifecycle as cases
from workflows.infra.clock import SystemClock
from workflows.infra.errors import DomainError
from workflows.infra.models import Case, HumanTask, Place, User
from workflows.infra.settings import Settings
from workflows.people import accounts
from workflows.people.access import SYSTEM
from workflows.people.roles import ROLES

PLACES = [
    ("50", "重庆市", "province", None),
    ("5001", "重庆市市辖区", "city", "50"),
    ("500111", "大足区", "county", "5001"),
    ("500111100", "龙水镇", "township", "500111"),
    ("500111100201", "龙水镇金龙村", "village", "500111100"),
    ("500111100202", "龙水镇湖光村", "village", "500111100"),
    ("500111101", "宝顶镇", "township", "500111"),
    ("500111101201", "宝顶镇慈航村", "village", "500111101"),
    ("500111101202", "宝顶镇香山村", "village", "500111101"),
    ("500112", "渝北区", "county", "5001"),
    ("500112100", "统景镇", "township", "500112"),
    ("500112100201", "统景镇温泉村", "village", "500112100"),
]
VILLAGE, OTHER_VILLAGE, TOWNSHIP, COUNTY = "500111100201", "500111100202", "500111100", "500111"
_JURISDICTION = {
    "village_director": VILLAGE,
    "village_committee": VILLAGE,
    "township_supervisor": TOWNSHIP,
    "city_civil_affairs": "5001",
    "province_civil_affairs": "50",
    "auditor": "50",
}
EXTRA_USERS = [
    ("demo_director2", "演示儿童主任（湖光村）", ["village_director"], OTHER_VILLAGE, True),
    ("demo_trainee", "演示新任儿童主任（未培训）", ["village_director"], VILLAGE, False),
    ("demo_police_yubei", "演示渝北区公安", ["police"], "500112", True),
]


def demo_username(role: str) -> str:
    return f"demo_{role}"


def ensure(session: Session, *, settings: Settings) -> dict[str, str]:
    """Create the demo set once (places, accounts, cases); return the demo password per account."""
    password_file = settings.data_dir / "demo-password.txt"
    if session.scalar(select(User.id).where(User.username == demo_username("village_director"))) is not None:
        password = password_file.read_text().strip() if password_file.exists() else "（见首次启动时的输出）"
        return {
            u.username: password for u in session.scalars(select(User).where(User.username.like("demo_%")))
        }
    password = f"demo-{secrets.token_urlsafe(9)}"
    Path(password_file).parent.mkdir(parents=True, exist_ok=True)
    password_file.write_text(password + "\n")
    clock = SystemClock()
    for code, name, level, parent in PLACES:
        if session.get(Place, code) is None:
            session.add(Place(code=code, name=name, level=level, parent_code=parent))
    session.flush()
    created = {}
    for role, label in ROLES.items():
        user = accounts.create_user(
            session=session,
            clock=clock,
            actor=SYSTEM,
            username=demo_username(role),
            display_name=f"演示{label}",
            roles=[role],
            jurisdiction_code=_JURISDICTION.get(role, COUNTY),
            password=password,
            certified=True,
        )
        created[user.username] = password
    for username, name, roles, code, certified in EXTRA_USERS:
        accounts.create_user(
            session=session,
            clock=clock,
            actor=SYSTEM,
            username=username,
            display_name=name,
            roles=roles,
            jurisdiction_code=code,
            password=password,
            certified=certified,
        )
        created[username] = password
    demo_cases(session)
    return created


def scripted_stories() -> list[dict[str, Any]]:
    from workflows.ops import demo_cases as scripted

    return scripted.STORIES


def demo_children(session: Session) -> dict[str, str]:
    """The demo children's files, opened by the demo village director; name → file id."""
    from workflows.children import registry
    from workflows.ops import demo_cases as scripted

    director = accounts.actor_for(
        session.scalars(select(User).where(User.username == demo_username("village_director"))).one()
    )
    files = {}
    for data in scripted.CHILDREN:
        try:
            with session.begin_nested():
                child = registry.register(
                    session=session,
                    clock=SystemClock(),
                    actor=director,
                    data={**data, "village_code": VILLAGE},
                )
                files[child.name] = child.id
        except DomainError as exc:
            print(f"演示儿童档案“{data['name']}”未能建立：{exc.message}")
    return files


def demo_cases(session: Session) -> list[Case]:
    """A few guardianship-intervention cases at different steps, walked by the right demo users."""
    made = []
    files = demo_children(session)
    for story in scripted_stories():
        try:
            with session.begin_nested():  # a story that fails leaves nothing behind
                made.append(_walk(session, story, files.get(story["start"].get("child_name", ""))))
        except DomainError as exc:  # a demo that no longer fits the model must not stop the server
            print(f"演示案件“{story['title']}”未能创建：{exc.message}")
    return made


def _walk(session: Session, story: dict[str, Any], child_ref: str | None = None) -> Case:
    clock = SystemClock()
    director = accounts.actor_for(
        session.scalars(select(User).where(User.username == demo_username("village_director"))).one()
    )
    outcome = cases.start_case(
        session=session,
        clock=clock,
        actor=director,
        process_key=story["process_key"],
        data=story["start"],
        jurisdiction_code=story.get("jurisdiction", VILLAGE),
        child_ref=child_ref,
    )
    for bpmn_id, data in story["steps"]:
        # this case's ready task, looked up directly: a worklist page holds only the first tasks of many
        task = session.scalars(
            select(HumanTask).where(
                HumanTask.case_id == outcome.case.id,
                HumanTask.bpmn_id == bpmn_id,
                HumanTask.status == "ready",
            )
        ).first()
        if task is None:
            raise DomainError(f"演示步骤 {bpmn_id} 没有待办任务", code="demo_step_missing")
        user = session.scalars(select(User).where(User.username == demo_username(task.role))).one()
        human_tasks.complete(
            session=session, clock=clock, actor=accounts.actor_for(user), task_id=task.id, data=data
        )
    return outcome.case


def print_accounts(passwords: dict[str, str]) -> None:
    """Print the demo accounts (demo mode only)."""
    if not passwords:
        return
    password = next(iter(passwords.values()))
    print("演示账号（仅演示模式）：密码均为", password)
    for username in sorted(passwords):
        print(f"  {username}")
