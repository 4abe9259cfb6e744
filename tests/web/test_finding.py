"""Finding and keeping things: 我的案件 by number and child's name, children's files created and edited from
the pages, overview numbers that lead to their lists, the account form's own messages, conditional fields."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.web.conftest import csrf_of
from workflows.infra.models import AccessLog, Case, Child, HumanTask

Login = Callable[[str], str]
GOOD_ID = "500111201401011231"  # the check digit holds


def test_my_cases_found_by_number_tail_and_child_name(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], session: Session
) -> None:
    first = session.get(Case, demo_case("王小明"))
    second = session.get(Case, demo_case("李红"))
    assert first and second
    web_login("director")
    area = client.get("/cases").text
    assert first.case_no in area and second.case_no in area and "王*明" in area and "王小明" not in area
    by_number = client.get("/cases", params={"q": first.case_no}).text
    assert first.case_no in by_number and second.case_no not in by_number
    by_tail = client.get("/cases", params={"q": first.case_no[-6:]}).text
    assert first.case_no in by_tail and second.case_no not in by_tail
    logged = select(func.count()).select_from(AccessLog).where(AccessLog.purpose == "按儿童姓名查找案件")
    before = session.scalar(logged)
    by_name = client.get("/cases", params={"q": "李红"}).text
    assert second.case_no in by_name and first.case_no not in by_name and "李*" in by_name
    assert session.scalar(logged) == before + 1  # a search by name is a logged read
    reported = client.get("/cases", params={"scope": "reported"}).text
    assert first.case_no in reported
    worked = client.get("/cases", params={"scope": "worked"}).text
    assert "没有符合条件的案件" in worked
    unrated = client.get("/cases", params={"colour": "none", "status": "running"}).text
    assert first.case_no in unrated
    assert first.case_no not in client.get("/cases", params={"colour": "red"}).text


def test_a_child_file_is_opened_and_changed_from_the_pages(
    client: TestClient, web_login: Login, session: Session
) -> None:
    csrf = web_login("director")
    assert "新建档案" in client.get("/children").text
    form = {
        "csrf_token": csrf,
        "name": "",
        "gender": "male",
        "birth_date": "2014-01-01",
        "id_number": "500111201401011234",
        "village_code": "",
    }
    refused = client.post("/children/new", data=form)
    assert refused.status_code == 422
    assert "身份证号校验位不正确" in refused.text and "此项为必填项" in refused.text
    form.update(name="张小明", id_number=GOOD_ID, village_code="500111101201")
    form["guardian_name"], form["guardian_relation"] = "张大山", "父亲"
    made = client.post("/children/new", data=form, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].endswith("?saved=1")
    child = session.scalars(select(Child).where(Child.name == "张小明")).one()
    page = client.get(made.headers["location"]).text
    assert "档案已保存" in page and "张大山（父亲）" in page and "5001**********1231" in page
    listed = client.get("/children").text
    assert "张小明" in listed and child.file_no in listed
    found = client.get("/children", params={"q": "小明"}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/children/{child.id}"
    assert client.get("/children", params={"q": GOOD_ID}, follow_redirects=False).status_code == 303
    edit = client.get(f"/children/{child.id}/edit").text
    assert GOOD_ID not in edit and 'value="张小明"' in edit
    change = {
        "csrf_token": csrf,
        "name": "张晓明",
        "gender": "male",
        "birth_date": "2014-01-01",
        "id_number": "",
    }
    change |= {"village_code": "500111101201", "guardian_name": "张大山", "guardian_relation": "父亲"}
    no_reason = client.post(f"/children/{child.id}/edit", data=change)
    assert no_reason.status_code == 422 and "此项为必填项" in no_reason.text
    done = client.post(
        f"/children/{child.id}/edit", data=change | {"reason": "户籍登记更名"}, follow_redirects=False
    )
    assert done.status_code == 303
    session.refresh(child)
    assert child.name == "张晓明" and child.id_number == GOOD_ID  # an empty number field keeps the number
    assert "修改档案" in client.get(f"/children/{child.id}").text


def test_overview_numbers_link_to_their_lists_and_colours_add_up(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], session: Session, clock
) -> None:
    red = demo_case("甲")
    demo_case("乙")
    session.execute(
        Case.__table__.update().where(Case.id == red).values(data={"risk_colour": "red"}, risk_colour="red")
    )
    clock.advance(days=4)
    web_login("supervisor")
    board = client.get("/overview").text
    village = board.split("一村", 1)[1].split("</li>", 1)[0]
    assert 'href="/cases?scope=area&amp;status=running&amp;village=500111101201">在办案件 2<' in village
    assert "未分级 1 件" in village and "红色 1 件" in village
    listed = client.get("/cases?scope=area&status=running&colour=none&village=500111101201").text
    assert listed.count('<li class="task">') == 1
    overdue = client.get("/overview/overdue?village=500111101201")
    assert overdue.status_code == 200 and overdue.text.count('class="task overdue"') == 2
    assert "已超期 1 天" in overdue.text


def test_the_account_form_names_each_missing_field(client: TestClient, web_login: Login) -> None:
    csrf = web_login("admin")
    empty = {"csrf_token": csrf, "username": "", "display_name": "", "password": "", "jurisdiction_code": ""}
    page = client.post("/users", data=empty | {"phone": "abc"})
    assert page.status_code == 422
    errors = dict(
        re.findall(r'id="field-(\w+)".*?<p class="error" role="alert">([^<]+)</p>', page.text, re.S)
    )
    assert errors == {
        "username": "请填写用户名（登录时使用）",
        "display_name": "请填写真实姓名（实名制）",
        "roles": "请至少选择一个角色",
        "jurisdiction_code": "请选择辖区",
        "phone": "联系电话应为手机号或带区号的座机号（7–15 位数字）",
        "password": "请设置初始密码",
    }
    assert "格式不正确" not in page.text


def test_hidden_conditional_fields_are_not_stored_and_the_first_save_claims(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], session: Session
) -> None:
    from api.web.formfields import applies, fields_of, show_conditions, to_data

    schema = {
        "type": "object",
        "properties": {
            "decision": {"type": "string", "enum": ["accept", "duplicate"]},
            "duplicate_of": {"type": "string"},
            "contact": {"type": "string"},
            "phone": {"type": "string"},
        },
        "required": ["decision"],
        "allOf": [
            {
                "if": {"properties": {"decision": {"const": "duplicate"}}, "required": ["decision"]},
                "then": {"required": ["duplicate_of"]},
            }
        ],
        "dependentRequired": {"contact": ["phone"]},
    }
    conditions = show_conditions(schema)
    assert set(conditions) == {"duplicate_of", "phone"}
    shown = {f.name: f for f in fields_of(schema)}
    assert shown["duplicate_of"].show_if and shown["duplicate_of"].required  # required whenever it is shown
    assert not shown["contact"].show_if and not shown["contact"].required
    raw = {"decision": "accept", "duplicate_of": "大足-2026-000001", "contact": "", "phone": "139"}
    assert not applies(conditions, "duplicate_of", raw)
    assert to_data(schema, raw) == {"decision": "accept"}  # what the page hid is not stored
    raw |= {"decision": "duplicate", "contact": "母亲"}
    assert to_data(schema, raw) == {
        "decision": "duplicate",
        "duplicate_of": "大足-2026-000001",
        "contact": "母亲",
        "phone": "139",
    }
    demo_case()
    csrf = web_login("director")
    task_id = re.search(r'href="/tasks/([0-9a-f-]{36})"', client.get("/tasks").text).group(1)  # type: ignore[union-attr]
    assert "开始填写并自动保存草稿时，此任务即由您认领" in client.get(f"/tasks/{task_id}").text
    saved = client.post(f"/tasks/{task_id}/draft", data={"csrf_token": csrf, "note": "先记下"})
    assert "此任务已由您认领" in saved.text
    assert session.get(HumanTask, task_id).assignee == "director"  # type: ignore[union-attr]
    again = client.post(f"/tasks/{task_id}/draft", data={"csrf_token": csrf, "note": "再记"})
    assert "认领" not in again.text


def test_favicon_and_csrf_of_pages(client: TestClient) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert csrf_of(client.get("/login").text)


def test_the_account_change_form_names_each_wrong_field(client: TestClient, web_login: Login) -> None:
    csrf = web_login("admin")
    user_id = re.search(r'href="/users/(\d+)"', client.get("/users").text).group(1)  # type: ignore[union-attr]
    form = {
        "csrf_token": csrf,
        "display_name": "",
        "phone": "12",
        "password": "short",
        "jurisdiction_code": "500111",
    }
    page = client.post(f"/users/{user_id}", data=form)
    assert page.status_code == 422
    assert "请填写真实姓名（实名制）" in page.text and "请至少选择一个角色" in page.text
    assert "联系电话应为手机号" in page.text and "密码至少 10 个字符" in page.text
    assert client.get(f"/users/{user_id}").status_code == 200  # the form's address reopens as the form
