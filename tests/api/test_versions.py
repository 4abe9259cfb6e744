"""Process versions over HTTP: drafts, validation, publishing, rollback, comparing, and migrating cases."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.conftest import PASSWORD
from tests.conftest import START
from tests.support.model_edits import (
    BROKEN,
    renamed,
    review_demo,
    with_report_after_escalation,
    without_police_check,
)
from workflows.infra.clock import FixedClock
from workflows.infra.models import Case, HumanTask, ProcessDefinition, ProcessVersion
from workflows.people import accounts
from workflows.people.access import SYSTEM
from workflows.processes import registry

VILLAGE = "500111101201"
API = "/api/process-models/review_demo"
Login = Callable[[str], dict[str, str]]


@pytest.fixture
def login(client: TestClient, clock: FixedClock) -> Login:
    """Signed-in headers, signing in again before a token runs out (these tests move the clock by days)."""
    issued: dict[str, tuple[dict[str, str], datetime]] = {}

    def headers(username: str) -> dict[str, str]:
        if username not in issued or clock.now() - issued[username][1] > timedelta(hours=4):
            response = client.post("/api/auth/token", data={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            issued[username] = ({"Authorization": f"Bearer {response.json()['access_token']}"}, clock.now())
        return issued[username][0]

    return headers


@pytest.fixture
def admin(session: Session, clock: FixedClock, login: Login) -> dict[str, str]:
    """A process administrator (created inside the test's transaction), signed in."""
    accounts.create_user(
        session=session,
        clock=clock,
        actor=SYSTEM,
        username="modeler",
        display_name="流程管理员",
        roles=["process_admin"],
        jurisdiction_code="50",
        password=PASSWORD,
    )
    session.flush()
    return login("modeler")


def upload(client: TestClient, admin: dict[str, str], files: dict[str, str], note: str = "修改") -> dict:
    response = client.post(f"{API}/versions", headers=admin, json={"files": files, "note": note})
    assert response.status_code == 201, response.text
    return response.json()


def publish(client: TestClient, admin: dict[str, str], version_id: int) -> dict:
    """Publish through the API (``admin`` is a header set signed in before the clock moved)."""
    response = client.post(f"{API}/versions/{version_id}/publish", headers=admin, json={"note": "上线"})
    assert response.status_code == 200, response.text
    return response.json()


def start_case(client: TestClient, login: Login) -> dict:
    response = client.post(
        "/api/cases",
        headers=login("director"),
        json={"process_key": "review_demo", "jurisdiction_code": VILLAGE, "data": {"child_name": "小明"}},
    )
    assert response.status_code == 201, response.text
    return response.json()


def complete(client: TestClient, login: Login, who: str, bpmn_id: str, data: dict, case_id: str = "") -> None:
    [task] = [
        t
        for t in client.get("/api/tasks", headers=login(who)).json()["items"]
        if t["bpmn_id"] == bpmn_id and case_id in ("", t["case_id"])
    ]
    response = client.post(f"/api/tasks/{task['id']}/complete", headers=login(who), json={"data": data})
    assert response.status_code == 200, response.text


def published_id(session: Session) -> int:
    session.expire_all()
    definition = session.get(ProcessDefinition, "review_demo")
    assert definition is not None and definition.published_version_id is not None
    return definition.published_version_id


# --- drafts and permissions -----------------------------------------------------------------------
def test_only_process_administrators_manage_versions(client: TestClient, login: Login) -> None:
    for path in ("/api/process-models", f"{API}/versions"):
        response = client.get(path, headers=login("director"))
        assert response.status_code == 403 and "流程管理员" in response.json()["message"]
    response = client.post(
        f"{API}/versions", headers=login("admin"), json={"files": review_demo(), "note": "x"}
    )
    assert response.status_code == 403
    assert client.get(f"{API}/versions").status_code == 401


def test_a_valid_upload_is_a_draft_with_who_when_and_what(client: TestClient, admin: dict[str, str]) -> None:
    files = renamed(review_demo(), "intake", "登记核实")
    body = upload(client, admin, files, note="登记改名为登记核实")
    version = body["version"]
    assert body["created"] is True and body["valid"] is True and body["problems"] == []
    assert (version["status"], version["source"], version["created_by"], version["note"]) == (
        "draft",
        "uploaded",
        "modeler",
        "登记改名为登记核实",
    )
    assert version["created_at"] == "2026-03-02T01:00:00.000000Z"
    listed = client.get(f"{API}/versions", headers=admin).json()
    assert listed[0]["id"] == version["id"] and {v["status"] for v in listed} >= {"draft", "published"}
    stored = client.get(f"{API}/versions/{version['id']}", headers=admin).json()
    assert stored["files"] == files
    again = upload(client, admin, files, note="再传一次")
    assert again["created"] is False and again["version"]["id"] == version["id"]
    processes = client.get("/api/process-models", headers=admin).json()
    assert any(p["key"] == "review_demo" and p["versions"] >= 2 for p in processes)


def test_multipart_folder_upload_and_changes_on_a_base_version(
    client: TestClient, admin: dict[str, str]
) -> None:
    files = review_demo()
    parts = [("files", (f"review_demo/{path}", text.encode(), "text/plain")) for path, text in files.items()]
    response = client.post(f"{API}/versions", headers=admin, files=parts, data={"note": "整包上传"})
    assert response.status_code == 201, response.text
    base = response.json()["version"]
    assert response.json()["created"] is False  # the same content as the published version
    changed = renamed(files, "close", "结案归档")
    response = client.post(
        f"{API}/versions",
        headers=admin,
        json={
            "files": {"process.bpmn": changed["process.bpmn"]},
            "note": "只改流程图",
            "base_version_id": base["id"],
        },
    )
    assert response.status_code == 201, response.text
    stored = client.get(f"{API}/versions/{response.json()['version']['id']}", headers=admin).json()
    assert stored["files"] == changed


@pytest.mark.parametrize("path", ["../etc/passwd", "/abs.bpmn", "forms/x.exe", "a/b/c/d/e.json"])
def test_unsafe_paths_are_refused(client: TestClient, admin: dict[str, str], path: str) -> None:
    response = client.post(
        f"{API}/versions", headers=admin, json={"files": {**review_demo(), path: "x"}, "note": "x"}
    )
    assert response.status_code == 422 and response.json()["code"] in (
        "file_path_invalid",
        "file_type_invalid",
    )


def test_a_note_is_required(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(f"{API}/versions", headers=admin, json={"files": review_demo(), "note": " "})
    assert response.status_code == 422 and response.json()["code"] == "note_required"


# --- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", sorted(BROKEN))
def test_each_rule_keeps_a_model_from_being_published(
    client: TestClient, admin: dict[str, str], rule: str
) -> None:
    edit, element, word = BROKEN[rule]
    body = upload(client, admin, edit(review_demo()), note=rule)
    assert body["valid"] is False
    assert any(p["element"] == element and word in p["message"] for p in body["problems"]), body["problems"]
    version_id = body["version"]["id"]
    checked = client.post(f"{API}/versions/{version_id}/validate", headers=admin).json()
    assert checked["problems"] == body["problems"]
    response = client.post(f"{API}/versions/{version_id}/publish", headers=admin)
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "model_invalid" and "不能发布" in error["message"]
    assert all(set(p) == {"element", "line", "message", "file"} for p in error["details"]["problems"])
    assert any(p["element"] == element for p in error["details"]["problems"])


# --- publishing and rolling back ------------------------------------------------------------------
def test_publishing_moves_new_cases_and_leaves_running_ones(
    client: TestClient, admin: dict[str, str], login: Login, session: Session
) -> None:
    old_case = start_case(client, login)
    old_version = published_id(session)
    version = upload(client, admin, renamed(review_demo(), "intake", "登记核实"))["version"]
    assert publish(client, admin, version["id"])["status"] == "published"
    new_case = start_case(client, login)
    assert new_case["open_tasks"][0]["name"] == "登记核实"
    assert session.get(Case, old_case["id"]).process_version_id == old_version
    assert session.get(Case, new_case["id"]).process_version_id == version["id"]
    listed = {v["id"]: v for v in client.get(f"{API}/versions", headers=admin).json()}
    assert listed[old_version]["status"] == "retired"
    assert listed[version["id"]]["publications"][-1]["by"] == "modeler"
    assert listed[version["id"]]["running_cases"] == 1 and listed[old_version]["running_cases"] == 1
    complete(client, login, "director", "intake", {"score": 60}, old_case["id"])  # the old case runs on
    again = client.post(f"{API}/versions/{version['id']}/publish", headers=admin)
    assert again.status_code == 409


def test_rollback_publishes_an_earlier_version_again(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    first = published_id(session)
    second = upload(client, admin, renamed(review_demo(), "close", "结案归档"))["version"]["id"]
    publish(client, admin, second)
    response = client.post(f"{API}/rollback", headers=admin, json={"note": "新版本有误"})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == first and published_id(session) == first
    history = {v["id"]: v for v in client.get(f"{API}/versions", headers=admin).json()}
    assert history[first]["publications"][-1]["action"] == "rollback"
    draft = upload(client, admin, renamed(review_demo(), "close", "从未发布"))["version"]["id"]
    response = client.post(f"{API}/rollback", headers=admin, json={"version_id": draft})
    assert response.status_code == 422 and response.json()["code"] == "never_published"


def test_a_restart_never_replaces_a_published_upload(
    client: TestClient, admin: dict[str, str], session: Session, tmp_path: Path
) -> None:
    uploaded = upload(client, admin, renamed(review_demo(), "close", "管理员改的"))["version"]["id"]
    publish(client, admin, uploaded)
    folder = tmp_path / "review_demo"
    for path, text in renamed(review_demo(), "close", "新代码里的").items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
    [result] = registry.sync_bundled(session, bpmn_dir=tmp_path, now=START + timedelta(days=1))
    assert result.action == "drafted" and published_id(session) == uploaded
    bundled = session.get(ProcessVersion, result.version_id)
    assert (bundled.source, bundled.status) == ("bundled", "draft")


def test_a_restart_updates_a_bundled_publication(session: Session, tmp_path: Path) -> None:
    folder = tmp_path / "review_demo"
    for path, text in renamed(review_demo(), "close", "新代码里的").items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(text, encoding="utf-8")
    [result] = registry.sync_bundled(session, bpmn_dir=tmp_path, now=START)
    assert result.action == "published" and published_id(session) == result.version_id


# --- comparing ------------------------------------------------------------------------------------
def test_diff_marks_added_removed_and_changed_elements(
    client: TestClient, admin: dict[str, str], session: Session
) -> None:
    old = published_id(session)
    files = with_report_after_escalation(renamed(review_demo(), "police_check", "公安核实"))
    new = upload(client, admin, files)["version"]["id"]
    body = client.get(f"{API}/diff", headers=admin, params={"from": old, "to": new}).json()
    changes = {e["id"]: (e["change"], e["details"]) for e in body["elements"]}
    assert changes["report_back"][0] == "added" and changes["f_report_end"][0] == "added"
    assert changes["police_check"] == ("changed", ["name"])
    assert changes["f_escalate_end"] == ("changed", ["targetRef"])
    assert changes["end_escalated"] == ("changed", ["content"]) and "escalate" not in changes
    assert body["files"]["added"] == ["forms/report_back.json"] and body["files"]["changed"] == [
        "process.bpmn"
    ]
    back = client.get(f"{API}/diff", headers=admin, params={"from": new, "to": old}).json()
    assert {e["id"] for e in back["elements"] if e["change"] == "removed"} >= {"report_back", "f_report_end"}


# --- migrating running cases ----------------------------------------------------------------------
def _case_at_checks(client: TestClient, login: Login, clock: FixedClock) -> dict:
    """A case waiting at the police and centre checks, the police check claimed, its 24-hour timer running."""
    case = start_case(client, login)
    complete(client, login, "director", "intake", {"score": 95})
    [police] = client.get("/api/tasks", headers=login("police")).json()["items"]
    assert client.post(f"/api/tasks/{police['id']}/claim", headers=login("police")).status_code == 200
    clock.advance(hours=5)
    return case


def _rows(session: Session, case_id: str) -> dict[str, tuple]:
    session.expire_all()
    rows = session.scalars(select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.status == "ready"))
    return {r.id: (r.bpmn_id, r.assignee, r.claimed_at, r.due_at, r.role) for r in rows}


def _migrate(client: TestClient, admin: dict[str, str], to: int, **body: object) -> dict:
    response = client.post(f"{API}/migrations", headers=admin, json={"to_version_id": to, **body})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("edit", "police_name"),
    [
        (lambda f: renamed(f, "police_check", "公安核实"), "公安核实"),
        (with_report_after_escalation, "公安核查"),
    ],
    ids=["renamed_task", "task_after_timer"],
)
def test_a_running_case_moves_and_keeps_its_deadline_tasks_and_claims(
    client: TestClient,
    admin: dict[str, str],
    login: Login,
    clock: FixedClock,
    session: Session,
    edit: Callable[[dict[str, str]], dict[str, str]],
    police_name: str,
) -> None:
    case = _case_at_checks(client, login, clock)
    old = published_id(session)
    stored = session.get(Case, case["id"])
    due, rows = stored.next_due_at, _rows(session, case["id"])
    assert due == START + timedelta(hours=24)
    new = upload(client, admin, edit(review_demo()))["version"]["id"]
    publish(client, admin, new)
    [dry] = _migrate(client, admin, new, case_ids=[case["id"]])["results"]
    assert dry["safe"] is True and dry["migrated"] is False and dry["reasons"] == []
    assert session.get(Case, case["id"]).process_version_id == old
    body = _migrate(client, admin, new, case_ids=[case["id"]], dry_run=False, note="改名")
    assert body["migrated"] == 1 and body["results"][0]["from_version_id"] == old
    session.expire_all()
    migrated = session.get(Case, case["id"])
    assert migrated.process_version_id == new and migrated.next_due_at == due
    after = _rows(session, case["id"])
    assert after == rows  # the same ids, claims, due times and roles
    names = {
        r.bpmn_id: r.name for r in session.scalars(select(HumanTask).where(HumanTask.case_id == case["id"]))
    }
    assert names["police_check"] == police_name
    history = client.get(f"/api/cases/{case['id']}/history", headers=login("director")).json()
    event = history[-1]
    assert event["type"] == "case_migrated" and event["actor"] == "modeler"
    assert event["payload"]["from_version"] == session.get(ProcessVersion, old).content_hash
    assert event["payload"]["to_version"] == session.get(ProcessVersion, new).content_hash
    assert client.post(f"/api/cases/{case['id']}/verify", headers=login("auditor")).json()["ok"] is True
    clock.set(START + timedelta(hours=25))  # the deadline set before the move still fires on time
    client.get(f"/api/cases/{case['id']}", headers=login("director"))
    complete(client, login, "county", "escalate", {"escalate_result": "已督办"})
    if "report_back" in session.get(ProcessVersion, new).files["process.bpmn"]:
        complete(client, login, "county", "report_back", {"escalate_result": "已回报"})  # the new step
    for who, step in (("police", "police_check"), ("center", "center_check"), ("director", "close")):
        complete(client, login, who, step, {f"{step}_result": "完成"})
    report = client.post(f"/api/cases/{case['id']}/verify", headers=login("auditor")).json()
    assert report["ok"] is True, report
    assert client.get(f"/api/cases/{case['id']}", headers=login("director")).json()["status"] == "completed"


def test_an_unsafe_migration_is_refused_with_the_reason(
    client: TestClient, admin: dict[str, str], login: Login, clock: FixedClock, session: Session
) -> None:
    case = _case_at_checks(client, login, clock)
    old = published_id(session)
    new = upload(client, admin, without_police_check(review_demo()))["version"]["id"]
    [dry] = _migrate(client, admin, new, case_ids=[case["id"]])["results"]
    assert dry["safe"] is False and any("当前环节" in r and "police_check" in r for r in dry["reasons"])
    response = client.post(
        f"{API}/migrations",
        headers=admin,
        json={"to_version_id": new, "case_ids": [case["id"]], "dry_run": False},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "migration_unsafe" and "公安核查" in response.json()["message"]
    session.expire_all()
    assert session.get(Case, case["id"]).process_version_id == old
    history = client.get(f"/api/cases/{case['id']}/history", headers=login("director")).json()
    assert "case_migrated" not in {e["type"] for e in history}


def test_a_filter_moves_every_safe_case_and_reports_the_rest(
    client: TestClient, admin: dict[str, str], login: Login, clock: FixedClock, session: Session
) -> None:
    old = published_id(session)
    at_checks = _case_at_checks(client, login, clock)
    at_intake = start_case(client, login)
    new = upload(client, admin, without_police_check(review_demo()))["version"]["id"]
    body = _migrate(client, admin, new, from_version_id=old, dry_run=False)
    outcome = {r["case_id"]: r for r in body["results"]}
    assert outcome[at_intake["id"]]["migrated"] is True
    assert outcome[at_checks["id"]]["migrated"] is False and outcome[at_checks["id"]]["reasons"]
    for case_id in (at_intake["id"], at_checks["id"]):
        assert client.post(f"/api/cases/{case_id}/verify", headers=login("auditor")).json()["ok"] is True


def test_migrating_needs_a_valid_target(client: TestClient, admin: dict[str, str], login: Login) -> None:
    case = start_case(client, login)
    broken = upload(client, admin, BROKEN["form_missing"][0](review_demo()))["version"]["id"]
    response = client.post(
        f"{API}/migrations", headers=admin, json={"to_version_id": broken, "case_ids": [case["id"]]}
    )
    assert response.status_code == 422 and response.json()["code"] == "model_invalid"
    response = client.post(f"{API}/migrations", headers=login("director"), json={"to_version_id": broken})
    assert response.status_code == 403


# --- the modeler page and its cookie sign-in ------------------------------------------------------
def _web_sign_in(client: TestClient, username: str) -> str:
    """Sign in through the pages' form; returns the session's CSRF token."""
    client.cookies.clear()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/modeler", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/modeler?key=review_demo")
    assert page.status_code == 200, page.text
    return re.search(r'data-csrf="([^"]+)"', page.text).group(1)


def test_the_modeler_page_uses_the_session_cookie_and_csrf(client: TestClient, admin: dict[str, str]) -> None:
    csrf = _web_sign_in(client, "modeler")
    page = client.get("/modeler?key=review_demo").text
    assert "流程建模" in page and 'data-process="review_demo"' in page and "/vendor/bpmn-js/" in page
    assert client.get(f"{API}/versions").status_code == 200  # the cookie signs the JSON API in
    body = {"files": renamed(review_demo(), "close", "结案归档"), "note": "在页面上改"}
    assert client.post(f"{API}/versions", json=body).status_code == 403  # no CSRF header
    response = client.post(f"{API}/versions", json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201 and response.json()["version"]["created_by"] == "modeler"


def test_the_modeler_page_is_for_process_administrators(client: TestClient) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post(
        "/login", data={"username": "director", "password": PASSWORD, "next": "/", "csrf_token": token}
    )
    response = client.get("/modeler")
    assert response.status_code == 403 and "流程管理员" in response.text
    client.cookies.clear()
    assert client.get("/modeler", follow_redirects=False).status_code == 303  # to the sign-in page
