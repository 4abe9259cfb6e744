"""The authorization matrix, generated from the route table: every route (API and pages) × every role ×
the place of what it acts on (the caller's own place, the neighbouring village, the sibling county, the
level above) answers as one table below declares; a route with no entry fails the test.

The expected answer follows the access rule (docs/architecture.md): outside the caller's jurisdiction a
thing does not exist (404); inside it with the wrong role, 403; otherwise the route's success. Each call
runs in a savepoint rolled back afterwards. Every body the matrix receives is also checked: no reporter
identity for roles that may not see it, and no unmasked ID number anywhere but the reveal answers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.support.people import PASSWORD, PEOPLE
from workflows.cases import lifecycle as cases
from workflows.cases.compliance import OVERSEERS
from workflows.cases.lifecycle import CASE_READERS, CORRECTORS
from workflows.cases.replay import VERIFIERS
from workflows.cases.worklist import OVERVIEW_ROLES
from workflows.children import registry
from workflows.children.access_report import REVIEWERS
from workflows.children.registry import KEEPERS, READERS, REVEALERS
from workflows.infra.clock import FixedClock
from workflows.infra.models import HumanTask, InboxItem, OutboxMessage, Place, User
from workflows.ops.export import EXPORTERS
from workflows.papers import documents
from workflows.papers.documents import ISSUERS
from workflows.people import accounts
from workflows.people.access import SYSTEM
from workflows.people.roles import CASEWORK_ROLES, REPORT_HANDLERS

V1, V2, SIBV, UP = "500111101201", "500111101202", "500112101201", "500111"
PLACES = {"V1": V1, "V2": V2, "SIB": SIBV, "UP": UP}
REPORTER = "举报人甄某某"
ID_NUMBER = "500111201001011232"
ANY = frozenset({"*"})
LANE = frozenset({"village_director"})  # the first task of review_demo is the village director's
LANES = frozenset({"village_director", "police", "protection_center", "county_civil_affairs"})
ADMIN = frozenset({"user_admin"})
MODELER = frozenset({"process_admin"})
# certified, active people of every role (the training gate has its own tests), and a process administrator
CALLERS = [u for u, (_roles, _code, certified) in PEOPLE.items() if certified] + ["modeler"]


@dataclass(frozen=True)
class Rule:
    """``kind``: what the path names (None: nothing; a place-less route); ``roles``: who may; ``ok``:
    the success status; ``places``: which places the thing is tried at; ``body``: the request body."""

    kind: str | None
    roles: frozenset[str]
    ok: int = 200
    places: tuple[str, ...] = ("V1", "V2", "SIB", "UP")
    body: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    role_first: bool = False  # the role is checked before the place (403 even outside)
    hidden: frozenset[str] = frozenset()  # roles outside this set do not see the thing at all (404)
    query: str = ""  # added to the address
    outside: int = 404


def j(payload: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda ctx: {"json": payload}


F = frozenset
CASE = F(CASE_READERS)  # departments outside these see only the cases they act on
# --- the table ------------------------------------------------------------------------------------
API: dict[tuple[str, str], Rule] = {
    ("POST", "/api/auth/token"): Rule(
        None, ANY, body=lambda c: {"data": {"username": c["me"], "password": PASSWORD}}
    ),
    ("POST", "/api/auth/logout"): Rule(None, ANY, ok=204),
    ("GET", "/api/auth/me"): Rule(None, ANY),
    ("GET", "/api/health"): Rule(None, ANY),
    ("GET", "/api/processes"): Rule(None, ANY),
    ("POST", "/api/cases"): Rule(
        "place",
        LANE
        | {
            "township_supervisor",
            "county_civil_affairs",
            "police",
            "protection_center",
            "village_committee",
            "education",
            "court",
        },
        ok=201,
        places=("V1", "V2", "SIB"),
        body=lambda c: {
            "json": {
                "process_key": "review_demo",
                "jurisdiction_code": c["place"],
                "data": {"child_name": "小明"},
            }
        },
    ),
    ("GET", "/api/cases"): Rule(None, ANY),  # filtered: departments see the cases they act on
    ("GET", "/api/cases/{case_id}"): Rule("case", F(CASE_READERS), hidden=CASE),
    ("GET", "/api/cases/{case_id}/history"): Rule("case", F(CASE_READERS), hidden=CASE),
    ("POST", "/api/cases/{case_id}/corrections"): Rule(
        "case", F(CORRECTORS), body=j({"changes": {"child_name": "小刚"}, "reason": "姓名写错"}), hidden=CASE
    ),
    ("POST", "/api/cases/{case_id}/messages"): Rule(
        "case", LANES, ok=422, body=j({"name": "无此消息", "payload": None}), hidden=CASE
    ),
    ("POST", "/api/cases/{case_id}/verify"): Rule("case", F(VERIFIERS), role_first=True),
    ("GET", "/api/cases/{case_id}/export"): Rule("case", F(EXPORTERS), role_first=True),
    ("GET", "/api/cases/{case_id}/papers"): Rule("case", F(CASE_READERS), hidden=CASE),
    ("POST", "/api/cases/{case_id}/documents"): Rule(
        "case", F(ISSUERS), ok=201, body=j({"kind": "report_receipt"}), role_first=True
    ),
    ("POST", "/api/cases/{case_id}/attachments"): Rule(
        "case",
        F(ISSUERS) | {"police", "court"},
        ok=201,
        body=lambda c: {
            "data": {"kind": "signed_agreement"},
            "files": {"file": ("a.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")},
        },
        role_first=True,
    ),
    ("GET", "/api/tasks"): Rule(None, ANY),
    ("GET", "/api/tasks/{task_id}"): Rule("task", LANE),
    ("POST", "/api/tasks/{task_id}/claim"): Rule("task", LANE),
    ("POST", "/api/tasks/{task_id}/unclaim"): Rule("task", LANE),  # not claimed: nothing to do
    ("POST", "/api/tasks/{task_id}/complete"): Rule("task", LANE, body=j({"data": {"score": 20}})),
    ("GET", "/api/users"): Rule(None, ADMIN),
    ("POST", "/api/users"): Rule(
        "place",
        ADMIN,
        ok=201,
        body=lambda c: {
            "json": {
                "username": f"new_{c['me']}",
                "display_name": "新人",
                "roles": ["village_director"],
                "jurisdiction_code": c["place"],
                "password": "a-long-password-1",
            }
        },
        role_first=True,
        outside=403,  # creating an account for a place outside one's own is refused as such
    ),
    ("GET", "/api/users/{user_id}"): Rule("user", ADMIN, role_first=True),
    ("PATCH", "/api/users/{user_id}"): Rule("user", ADMIN, body=j({"display_name": "改名"}), role_first=True),
    ("POST", "/api/users/{user_id}/deactivate"): Rule("user", ADMIN, role_first=True),
    ("POST", "/api/users/{user_id}/handover"): Rule("user", ADMIN, body=j({}), role_first=True),
    ("GET", "/api/notifications"): Rule(None, ANY),
    ("POST", "/api/notifications/read-all"): Rule(None, ANY),
    ("POST", "/api/notifications/{item_id}/read"): Rule("inbox", ANY),
    ("GET", "/api/children"): Rule(None, F(READERS)),
    ("POST", "/api/children"): Rule(
        "place",
        F(KEEPERS),
        ok=201,
        places=("V1", "V2", "SIB"),
        body=lambda c: {
            "json": {"name": "小华", "gender": "male", "birth_date": "2015-01-01", "village_code": c["place"]}
        },
        role_first=True,
    ),
    ("POST", "/api/children/import"): Rule(
        None, F(KEEPERS), ok=422, body=lambda c: {"files": {"file": ("a.csv", b"name,gender\n", "text/csv")}}
    ),
    ("GET", "/api/children/export"): Rule(None, F(READERS)),
    ("POST", "/api/children/merge"): Rule(
        "child",
        F(KEEPERS),
        ok=200,
        places=("V1", "V2", "SIB"),
        body=lambda c: {"json": {"keep_id": c["id"], "merge_id": c["twin"], "reason": "重复"}},
        role_first=True,
    ),
    ("GET", "/api/children/{child_id}"): Rule(
        "child", F(READERS), places=("V1", "V2", "SIB"), hidden=F(READERS)
    ),
    ("PATCH", "/api/children/{child_id}"): Rule(
        "child",
        F(KEEPERS),
        places=("V1", "V2", "SIB"),
        body=j({"changes": {"notes": "补充"}, "reason": "走访"}),
        role_first=True,
    ),
    ("POST", "/api/children/{child_id}/entries"): Rule(
        "child",
        F(KEEPERS),
        ok=201,
        places=("V1", "V2", "SIB"),
        body=j({"kind": "visit", "text": "入户走访"}),
        role_first=True,
    ),
    ("POST", "/api/children/{child_id}/reveal-id"): Rule(
        "child", F(REVEALERS), places=("V1", "V2", "SIB"), body=j({"reason": "办理户籍"}), role_first=True
    ),
    ("POST", "/api/children/{child_id}/cases"): Rule(
        "child",
        F(KEEPERS),
        places=("V1", "V2", "SIB"),
        body=lambda c: {"json": {"case_id": c["case_here"]}},
        role_first=True,
    ),
    ("GET", "/api/documents/kinds"): Rule(None, ANY),
    ("GET", "/api/documents/{document_id}"): Rule("document", F(CASE_READERS), hidden=CASE),
    ("GET", "/api/documents/{document_id}/pdf"): Rule("document", F(CASE_READERS), hidden=CASE),
    ("GET", "/api/attachments/{attachment_id}"): Rule("attachment", F(CASE_READERS), hidden=CASE),
    ("POST", "/api/checkpoints"): Rule(None, F({"auditor"}), ok=201),
    ("GET", "/api/checkpoints/latest"): Rule(None, F(VERIFIERS)),
    ("GET", "/api/process-models"): Rule(None, MODELER),
    ("GET", "/api/process-models/{key}/versions"): Rule("model", MODELER),
    ("POST", "/api/process-models/{key}/versions"): Rule(
        "model", MODELER, ok=422, body=j({"files": {}, "note": "空"})
    ),
    ("GET", "/api/process-models/{key}/versions/{version_id}"): Rule("version", MODELER),
    ("POST", "/api/process-models/{key}/versions/{version_id}/validate"): Rule("version", MODELER),
    ("POST", "/api/process-models/{key}/versions/{version_id}/publish"): Rule(
        "version", MODELER, ok=409, body=j({"note": "x"})
    ),
    ("POST", "/api/process-models/{key}/rollback"): Rule("model", MODELER, ok=422, body=j({"note": "x"})),
    ("GET", "/api/process-models/{key}/diff"): Rule("model", MODELER, ok=422),
    ("POST", "/api/process-models/{key}/migrations"): Rule(
        "model", MODELER, ok=422, body=j({"to_version_id": 1})
    ),
}
SKIPPED_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}  # FastAPI's own documentation


@dataclass
class Tally:
    cells: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)


def api_routes(client: TestClient) -> set[tuple[str, str]]:
    found = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                walk(inner.routes)
            elif isinstance(route, APIRoute) and route.path not in SKIPPED_ROUTES:
                found.update((m, route.path) for m in route.methods - {"HEAD"})
            elif getattr(route, "methods", None) and route.path not in SKIPPED_ROUTES:
                found.update((m, route.path) for m in route.methods - {"HEAD"})

    walk(client.app.router.routes)  # type: ignore[attr-defined]
    return found


def test_every_route_has_an_entry(client: TestClient) -> None:
    routes = api_routes(client)
    api = {r for r in routes if r[1].startswith("/api")}
    pages = routes - api
    assert api - set(API) == set(), "API routes without an entry in the matrix"
    assert set(API) - api == set(), "entries for routes that no longer exist"
    assert pages - set(PAGES) == set(), "page routes without an entry in the matrix"
    assert set(PAGES) - pages == set(), "page entries for routes that no longer exist"


# --- the world the matrix acts on ------------------------------------------------------------------
def build_world(session: Session, clock: FixedClock) -> dict[str, Any]:
    for code, name, level, parent in [
        ("500112101", "另县一镇", "township", "500112"),
        (SIBV, "另县一村", "village", "500112101"),
    ]:
        session.merge(Place(code=code, name=name, level=level, parent_code=parent))
    accounts.create_user(
        session=session,
        clock=clock,
        actor=SYSTEM,
        username="modeler",
        display_name="测试流程管理员",
        roles=["process_admin"],
        jurisdiction_code="500111",
        password=PASSWORD,
    )
    world: dict[str, dict[str, Any]] = {}
    for label, code in PLACES.items():
        case = cases.start_case(
            session=session,
            clock=clock,
            actor=SYSTEM,
            process_key="review_demo",
            data={"child_name": "小明", "reporter_name": REPORTER},
            jurisdiction_code=code,
        ).case
        task = session.scalars(select(HumanTask).where(HumanTask.case_id == case.id)).one()
        document = documents.issue(
            session=session, clock=clock, actor=SYSTEM, case_id=case.id, kind="report_receipt"
        )
        attachment = documents.add_attachment(
            session=session,
            clock=clock,
            actor=SYSTEM,
            case_id=case.id,
            kind="signed_agreement",
            filename="a.pdf",
            content_type="application/pdf",
            content=b"%PDF-1.4\n%%EOF\n",
        )
        person = accounts.create_user(
            session=session,
            clock=clock,
            actor=SYSTEM,
            username=f"target_{label}",
            display_name="被管理的人",
            roles=["village_director"],
            jurisdiction_code=code,
            password=PASSWORD,
            certified=True,
        )
        entry: dict[str, Any] = {
            "case": case.id,
            "task": task.id,
            "document": document.id,
            "attachment": attachment.id,
            "user": person.id,
            "place": code,
        }
        if label != "UP":
            child = registry.register(
                session=session,
                clock=clock,
                actor=SYSTEM,
                data={
                    "name": "小林",
                    "gender": "male",
                    "birth_date": {"V1": "2010-01-01", "V2": "2010-02-02", "SIB": "2010-03-03"}[label],
                    "id_number": ID_NUMBER if label == "V1" else _other_id(label),
                    "village_code": code,
                },
            )
            entry["child"] = child.id
            entry["twin"] = registry.register(
                session=session,
                clock=clock,
                actor=SYSTEM,
                data={"name": "小林", "gender": "male", "birth_date": "2010-01-01", "village_code": code},
            ).id
        world[label] = entry
    session.flush()
    return world


def _other_id(label: str) -> str:
    from workflows.infra.idnumbers import _CHECK, _WEIGHTS

    body = {"V2": "50011120100202123", "SIB": "50011220100303123"}[label]
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def inbox_item(session: Session, clock: FixedClock, username: str) -> int:
    message = OutboxMessage(
        kind="escalation",
        dedupe_key=f"matrix:{username}",
        title="测试",
        body="",
        created_at=clock.now(),
        username=username,
    )
    session.add(message)
    session.flush()
    item = InboxItem(
        outbox_id=message.id, username=username, kind="escalation", title="测试", created_at=clock.now()
    )
    session.add(item)
    session.flush()
    return item.id


def expected(rule: Rule, user: User, place: str | None) -> int:
    allowed = rule.roles is ANY or bool(rule.roles & set(user.roles))
    if rule.role_first and not allowed:
        return 403
    if place is not None and not place.startswith(user.jurisdiction_code):
        return rule.outside
    if rule.hidden and not set(user.roles) & rule.hidden:
        return 404
    return rule.ok if allowed else 403


def check_body(text: str, user: User, route: str, tally: Tally) -> None:
    if REPORTER in text and not (set(user.roles) & REPORT_HANDLERS):
        tally.wrong.append(f"{route} as {user.username}: the reporter's name is shown")
    if ID_NUMBER in text and "reveal" not in route:
        tally.wrong.append(f"{route} as {user.username}: an unmasked ID number is shown")


def test_api_matrix(client: TestClient, login: Any, session: Session, clock: FixedClock) -> None:
    world = build_world(session, clock)
    connection = session.connection()
    tally = Tally()
    users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(CALLERS)))}
    for (method, path), rule in sorted(API.items()):
        for username in CALLERS:
            user = users[username]
            headers = login(username) if path != "/api/auth/token" else {}
            places = rule.places if rule.kind not in (None, "model", "version", "inbox") else (None,)
            for label in places:
                savepoint = connection.begin_nested()
                try:
                    ctx = {"me": username, "case_v1": world["V1"]["case"]}
                    url, place = path, None
                    if label is not None:
                        thing = world[label]
                        place = thing["place"]
                        ctx.update(
                            place=place,
                            id=thing.get(rule.kind or "", ""),
                            case_here=thing["case"],
                            twin=thing.get("twin"),
                        )
                        for name in (
                            "case_id",
                            "task_id",
                            "child_id",
                            "document_id",
                            "attachment_id",
                            "user_id",
                        ):
                            url = url.replace("{" + name + "}", str(thing.get(name[:-3], "")))
                    if rule.kind == "inbox":
                        url = url.replace("{item_id}", str(inbox_item(session, clock, username)))
                    url = url.replace("{key}", "review_demo").replace(
                        "{version_id}", str(_version_id(session))
                    )
                    response = client.request(
                        method, url, headers=headers, **(rule.body(ctx) if rule.body else {})
                    )
                    want = expected(rule, user, place)
                    tally.cells += 1
                    tally.statuses[response.status_code] += 1
                    if response.status_code != want:
                        tally.wrong.append(
                            f"{method} {path} as {username} at {label}: {response.status_code} (want {want}) {response.text[:160]}"
                        )
                    check_body(response.text, user, f"{method} {path}", tally)
                finally:
                    savepoint.rollback()
    print(
        f"API matrix: {len(API)} routes, {len(CALLERS)} callers, {tally.cells} cells, statuses {dict(tally.statuses)}"
    )
    assert not tally.wrong, f"{len(tally.wrong)} cells differ:\n" + "\n".join(tally.wrong[:80])


def _version_hash(session: Session) -> str:
    from workflows.infra.models import ProcessVersion

    version = session.get(ProcessVersion, _version_id(session))
    assert version is not None
    return version.content_hash


def _version_id(session: Session) -> int:
    from workflows.infra.models import ProcessDefinition

    definition = session.get(ProcessDefinition, "review_demo")
    assert definition is not None and definition.published_version_id is not None
    return definition.published_version_id


# --- pages ------------------------------------------------------------------------------------------
def form(fields: dict[str, str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda ctx: {"data": {**fields, "csrf_token": ctx["csrf"]}}


def csrf_only(ctx: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"csrf_token": ctx["csrf"]}}


PAGES = {
    ("GET", "/login"): Rule(None, ANY, ok=303),  # signed in already: on to the work
    ("POST", "/login"): Rule(
        None,
        ANY,
        ok=303,
        body=lambda c: {
            "data": {"username": c["me"], "password": PASSWORD, "next": "/", "csrf_token": c["csrf"]}
        },
    ),
    ("POST", "/logout"): Rule(None, ANY, ok=303, body=csrf_only),
    ("GET", "/"): Rule(None, ANY, ok=303),
    ("GET", "/modeler"): Rule(None, MODELER),
    ("GET", "/tasks"): Rule(None, ANY),
    ("GET", "/tasks/{task_id}"): Rule("task", LANE),
    ("POST", "/tasks/{task_id}/claim"): Rule("task", LANE, ok=303, body=csrf_only),
    ("POST", "/tasks/{task_id}/unclaim"): Rule("task", LANE, ok=303, body=csrf_only),
    ("POST", "/tasks/{task_id}/draft"): Rule("task", LANE, body=form({"score": "20"})),
    ("POST", "/tasks/{task_id}/complete"): Rule(
        "task", LANE, ok=303, body=form({"score": "20", "idempotency_key": "k1"})
    ),
    ("GET", "/tasks/{task_id}/done"): Rule("task", LANE, ok=303),  # not done yet: back to the task
    ("GET", "/cases/{case_id}"): Rule("case", CASE, hidden=CASE),
    ("GET", "/reports/new"): Rule(None, F(CASEWORK_ROLES)),
    ("POST", "/reports"): Rule(None, F(CASEWORK_ROLES), ok=422, body=form({})),
    ("GET", "/reports/{case_id}"): Rule(
        "case", ANY, ok=404
    ),  # a receipt is only its reporter's (here: the system)
    ("GET", "/children"): Rule(None, ANY),  # the list is filtered to what the caller may read
    ("GET", "/children/{child_ref}"): Rule(
        "child", F(READERS), places=("V1", "V2", "SIB"), hidden=F(READERS)
    ),
    ("POST", "/children/{child_ref}/reveal"): Rule(
        "child",
        F(REVEALERS),
        ok=303,
        places=("V1", "V2", "SIB"),
        hidden=F(READERS),
        body=form({"reason": "办理户籍"}),
    ),
    ("GET", "/documents/{document_id}"): Rule("document", CASE, hidden=CASE),
    ("GET", "/documents/{document_id}/pdf"): Rule("document", CASE, hidden=CASE),
    ("GET", "/attachments/{attachment_id}"): Rule("attachment", CASE, hidden=CASE),
    ("GET", "/overview"): Rule(None, F(OVERVIEW_ROLES)),
    ("GET", "/users"): Rule(None, ADMIN),
    ("GET", "/users/new"): Rule(None, ADMIN),
    ("POST", "/users"): Rule(None, ADMIN, ok=422, body=form({})),
    ("GET", "/users/{user_id}"): Rule("user", ADMIN, role_first=True),
    ("POST", "/users/{user_id}"): Rule(
        "user",
        ADMIN,
        role_first=True,
        ok=303,
        body=form({"display_name": "改名", "roles": "village_director"}),
    ),
    ("POST", "/users/{user_id}/active"): Rule(
        "user", ADMIN, role_first=True, ok=303, body=form({"active": "false"})
    ),
    ("GET", "/notifications"): Rule(None, ANY),
    ("POST", "/notifications/read-all"): Rule(None, ANY, ok=303, body=csrf_only),
    ("POST", "/notifications/{item_id}/open"): Rule("inbox", ANY, ok=303, body=csrf_only),
    ("GET", "/cases/{case_id}/history"): Rule("case", CASE, hidden=CASE),
    ("GET", "/cases/{case_id}/history/state"): Rule("case", CASE, hidden=CASE, query="seq=1"),
    ("GET", "/cases/{case_id}/history/diagram/{version}"): Rule("case", CASE, hidden=CASE),
    ("POST", "/cases/{case_id}/history/verify"): Rule("case", F(VERIFIERS), role_first=True, body=csrf_only),
    ("GET", "/cases/{case_id}/history/export"): Rule("case", F(EXPORTERS), role_first=True),
    ("GET", "/compliance"): Rule(None, F(OVERSEERS)),
    ("GET", "/compliance/cases"): Rule("place", F(OVERSEERS), role_first=True, query="metric=cases_overdue"),
    ("GET", "/compliance/access"): Rule(None, F(REVIEWERS)),
    ("GET", "/favicon.ico"): Rule(None, ANY),
    ("GET", "/cases"): Rule(None, ANY),  # 我的案件: filtered to what the caller may read
    ("GET", "/overview/overdue"): Rule(None, F(OVERVIEW_ROLES)),
    ("GET", "/children/new"): Rule(None, F(KEEPERS)),
    ("POST", "/children/new"): Rule(None, F(KEEPERS), ok=422, body=form({})),
    ("GET", "/children/{child_id}/edit"): Rule(
        "child", F(KEEPERS), places=("V1", "V2", "SIB"), role_first=True
    ),
    ("POST", "/children/{child_id}/edit"): Rule(
        "child",
        F(KEEPERS),
        ok=422,
        places=("V1", "V2", "SIB"),
        role_first=True,
        body=form({"notes": "补充", "reason": "走访"}),
    ),
}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in_page(client: TestClient, username: str) -> str:
    client.cookies.clear()
    token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
    answer = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/", "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return CSRF.search(client.get("/notifications").text).group(1)  # type: ignore[union-attr]


def test_page_matrix(client: TestClient, session: Session, clock: FixedClock) -> None:
    world = build_world(session, clock)
    connection = session.connection()
    tally = Tally()
    users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(CALLERS)))}
    for username in CALLERS:
        user = users[username]
        csrf = sign_in_page(client, username)
        for (method, path), rule in sorted(PAGES.items()):
            places = rule.places if rule.kind not in (None, "inbox") else (None,)
            for label in places:
                savepoint = connection.begin_nested()
                try:
                    ctx: dict[str, Any] = {"me": username, "csrf": csrf}
                    url, place = path, None
                    if label is not None:
                        thing = world[label]
                        place = thing["place"]
                        for name in (
                            "case_id",
                            "task_id",
                            "child_ref",
                            "child_id",
                            "document_id",
                            "attachment_id",
                            "user_id",
                        ):
                            key = {"child_ref": "child"}.get(name, name[:-3])
                            url = url.replace("{" + name + "}", str(thing.get(key, "")))
                    if rule.kind == "inbox":
                        url = url.replace("{item_id}", str(inbox_item(session, clock, username)))
                    url = url.replace("{version}", _version_hash(session))
                    query = [q for q in (rule.query, f"place={place}" if rule.kind == "place" else "") if q]
                    url += "?" + "&".join(query) if query else ""
                    response = client.request(
                        method, url, follow_redirects=False, **(rule.body(ctx) if rule.body else {})
                    )
                    want = expected(rule, user, place)
                    tally.cells += 1
                    tally.statuses[response.status_code] += 1
                    if response.status_code != want:
                        tally.wrong.append(
                            f"{method} {path} as {username} at {label}: {response.status_code} (want {want}) {response.text[:160]!r}"
                        )
                    check_body(response.text, user, f"{method} {path}", tally)
                finally:
                    savepoint.rollback()
                    if method == "POST" and path in ("/logout", "/login"):
                        csrf = sign_in_page(client, username)
    print(
        f"page matrix: {len(PAGES)} routes, {len(CALLERS)} callers, {tally.cells} cells, statuses {dict(tally.statuses)}"
    )
    assert not tally.wrong, f"{len(tally.wrong)} cells differ:\n" + "\n".join(tally.wrong[:80])
