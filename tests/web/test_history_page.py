"""The compliance officer's history page: timeline in Chinese with real names, replay to any event, verify."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.unit.test_verify import finished_case
from tests.web.conftest import csrf_of
from workflows.infra.clock import FixedClock
from workflows.infra.keys import SigningKeys
from workflows.infra.models import AccessLog, CaseEvent
from workflows.ops.export_check import check_export

Login = Callable[[str], str]


def sign_in(client: TestClient, username: str) -> None:
    from tests.support.people import PASSWORD

    client.cookies.clear()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/", "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def test_history_shows_who_what_when_data_corrections_and_deadlines(
    client: TestClient, session: Session, clock: FixedClock
) -> None:
    case = finished_case(session, clock)
    sign_in(client, "auditor")
    page = client.get(f"/cases/{case.id}/history")
    assert page.status_code == 200, page.text
    html = page.text
    assert "测试director（一村 · 儿童主任）" in html and "测试police（大足区 · 公安机关）" in html
    assert "（director）" not in html  # never a bare login name
    assert "更正理由：姓名有误" in html and "更正前" in html and "小刚" in html
    assert "北京时间" in html and "时限" in html
    assert re.search(r"(按时完成|超过时限)", html)
    assert 'id="verify-button"' in html and "下载核验文件" in html
    assert session.scalar(
        select(AccessLog).where(AccessLog.case_id == case.id, AccessLog.endpoint.like("%/history"))
    )


def test_replay_to_any_event_shows_the_case_as_it_was(
    client: TestClient, session: Session, clock: FixedClock
) -> None:
    case = finished_case(session, clock)
    sign_in(client, "auditor")
    first = client.get(f"/cases/{case.id}/history/state", params={"seq": 1}).json()
    final = client.get(f"/cases/{case.id}/history/state", params={"seq": case.last_event_seq}).json()
    assert first["status_label"] == "办理中" and [t["name"] for t in first["open_tasks"]] == ["登记"]
    assert "intake" in first["open"] and "intake" not in first["done"]
    assert final["status_label"] == "已办结" and final["open_tasks"] == [] and "intake" in final["done"]
    assert first["data"] != final["data"]
    assert client.get(f"/cases/{case.id}/history/state", params={"seq": 999}).status_code == 404
    xml = client.get(f"/cases/{case.id}/history/diagram/{first['version']}")
    assert xml.status_code == 200 and "<bpmn:definitions" in xml.text or "definitions" in xml.text
    assert client.get(f"/cases/{case.id}/history/diagram/{'0' * 64}").status_code == 404
    reads = session.scalars(select(AccessLog.purpose).where(AccessLog.case_id == case.id)).all()
    assert "回放至事件 #1" in reads


def test_verify_button_names_the_first_diverging_event(
    client: TestClient, session: Session, clock: FixedClock
) -> None:
    case = finished_case(session, clock)
    sign_in(client, "auditor")
    csrf = csrf_of(client.get(f"/cases/{case.id}/history").text)
    ok = client.post(f"/cases/{case.id}/history/verify", headers={"X-CSRF-Token": csrf})
    assert "核验通过" in ok.text
    event = session.scalar(select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.seq == 3))
    session.execute(update(CaseEvent).where(CaseEvent.id == event.id).values(actor="someone_else"))
    bad = client.post(f"/cases/{case.id}/history/verify", headers={"X-CSRF-Token": csrf})
    assert "核验未通过" in bad.text and "#3" in bad.text
    assert client.post(f"/cases/{case.id}/history/verify").status_code == 403  # no CSRF token


def test_who_may_see_the_history_verify_and_export(
    client: TestClient, session: Session, clock: FixedClock
) -> None:
    case = finished_case(session, clock)
    client.app.state.signing_keys = keys = SigningKeys.generate()  # type: ignore[attr-defined]
    sign_in(client, "director")
    page = client.get(f"/cases/{case.id}/history")
    assert page.status_code == 200 and "verify-button" not in page.text and "下载核验文件" not in page.text
    assert client.get(f"/cases/{case.id}/history/export").status_code == 403
    sign_in(client, "neighbour")
    assert client.get(f"/cases/{case.id}/history").status_code == 404
    assert client.get(f"/cases/{case.id}/history/state", params={"seq": 1}).status_code == 404
    sign_in(client, "county")
    exported = client.get(f"/cases/{case.id}/history/export")
    assert exported.status_code == 200 and check_export(exported.content, [keys.public_key]).ok


def test_auditor_navigation_overview_and_access_pages(
    client: TestClient, session: Session, clock: FixedClock
) -> None:
    case = finished_case(session, clock)
    sign_in(client, "auditor")
    page = client.get("/compliance")
    assert page.status_code == 200 and 'href="/compliance"' in page.text and "合规核查" in page.text
    assert "24小时应急处置" in page.text and "超过预期办理时长" in page.text
    found = client.get("/compliance", params={"q": case.case_no}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/cases/{case.id}/history"
    client.get(f"/cases/{case.id}/history")
    report = client.get("/compliance/access", params={"case": case.id})
    assert report.status_code == 200 and "测试auditor" in report.text and "监督检查/合规" in report.text
    assert client.get("/compliance/cases", params={"place": "500111", "metric": "visits"}).status_code == 200
    assert client.get("/compliance/cases", params={"place": "500111", "metric": "nope"}).status_code == 422
    sign_in(client, "director")
    assert "合规核查" not in client.get("/tasks").text
    assert client.get("/compliance").status_code == 403
    assert client.get("/compliance/access", params={"case": case.id}).status_code == 403
