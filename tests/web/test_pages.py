"""The caseworkers' pages over HTTP: sign-in, CSRF, worklist, task forms, drafts, reports, files, accounts."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from api.web.session import COOKIE
from tests.web.conftest import VILLAGE, csrf_of
from workflows.children import registry as children
from workflows.infra.clock import FixedClock
from workflows.infra.models import AccessLog, Case, CaseEvent, HumanTask, TaskDraft, User
from workflows.infra.settings import Settings
from workflows.people import accounts
from workflows.people.access import SYSTEM

Login = Callable[[str], str]
TASK_LINK = re.compile(r'href="/tasks/([0-9a-f-]{36})"')


def task_ids(html: str) -> list[str]:
    return TASK_LINK.findall(html)


def main_of(html: str) -> str:
    return html.split('<main class="main">', 1)[1].split("</main>", 1)[0]


# ----------------------------------------------------------------------------- sign-in, session, CSRF


def test_sign_in_sets_a_protected_cookie_and_sign_out_clears_it(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200 and "登录" in page.text
    cookie = page.headers["set-cookie"]
    assert COOKIE in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    response = client.post(
        "/login",
        data={
            "username": "director",
            "password": "correct-horse-1",
            "next": "/tasks",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/tasks"
    tasks = client.get("/tasks")
    assert tasks.status_code == 200 and "我的待办" in tasks.text and "测试director" in tasks.text
    out = client.post("/logout", data={"csrf_token": csrf_of(tasks.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/tasks", follow_redirects=False).status_code == 303


def test_cookie_is_secure_outside_demo_mode(
    session: Session, clock: FixedClock, people: dict[str, int]
) -> None:
    settings = Settings(demo=False, database_url="sqlite://", secret_key="x" * 40)
    sessions = sessionmaker(bind=session.connection(), join_transaction_mode="create_savepoint")
    app = create_app(settings, sessions=sessions, clock=clock, prepare=False)
    with TestClient(app, base_url="https://testserver") as secure_client:
        assert "Secure" in secure_client.get("/login").headers["set-cookie"]


def test_wrong_password_and_unknown_user_get_the_same_chinese_message(client: TestClient) -> None:
    csrf = csrf_of(client.get("/login").text)
    for username in ("director", "nobody"):
        response = client.post(
            "/login", data={"username": username, "password": "wrong-password-x", "csrf_token": csrf}
        )
        assert response.status_code == 401 and "用户名或密码不正确" in response.text


def test_every_post_needs_the_session_csrf_token(client: TestClient, web_login: Login) -> None:
    refused = client.post("/login", data={"username": "director", "password": "correct-horse-1"})
    assert refused.status_code == 403 and "页面已过期" in refused.text
    csrf = web_login("director")
    assert client.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.post("/logout", data={}).status_code == 403
    headers = {"X-CSRF-Token": csrf}  # what htmx sends
    assert client.post("/logout", headers=headers, follow_redirects=False).status_code == 303


def test_pages_send_strangers_to_sign_in_and_back(client: TestClient) -> None:
    response = client.get("/tasks?colour=red", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/tasks%3Fcolour%3Dred"
    page = client.get(response.headers["location"])
    assert 'name="next" value="/tasks?colour=red"' in page.text
    assert 'value="//evil.example"' not in client.get("/login?next=//evil.example").text


def test_a_change_of_the_account_revokes_the_session(
    client: TestClient,
    web_login: Login,
    session: Session,
    clock: FixedClock,
    people: dict[str, int],
    actor_of: Callable[[str], object],
) -> None:
    web_login("neighbour")
    assert client.get("/tasks").status_code == 200
    accounts.update_user(
        session=session,
        clock=clock,
        actor=actor_of("admin"),
        user_id=people["neighbour"],
        change=accounts.UserChange(roles=["village_director", "village_committee"]),
    )
    session.flush()
    response = client.get("/tasks", follow_redirects=False)
    assert response.status_code == 303 and "expired=1" in response.headers["location"]
    assert "登录已失效" in client.get(response.headers["location"]).text


def test_an_expired_session_asks_to_sign_in_again(
    client: TestClient, web_login: Login, clock: FixedClock, demo_case: Callable[..., str]
) -> None:
    demo_case()
    csrf = web_login("director")
    task_id = _first_task(client)
    clock.advance(hours=9)
    autosave = client.post(
        f"/tasks/{task_id}/draft", data={"csrf_token": csrf, "score": "1"}, headers={"HX-Request": "true"}
    )
    assert autosave.status_code == 200 and "登录已失效" in autosave.text  # the typed text stays on the page
    response = client.get("/tasks", follow_redirects=False)
    assert response.status_code == 303 and "expired=1" in response.headers["location"]
    assert "登录已失效" in client.get(response.headers["location"]).text


# ----------------------------------------------------------------------------- my tasks


def test_worklist_by_due_time_with_overdue_mark_colour_filter_and_paging(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], session: Session, clock: FixedClock
) -> None:
    first = demo_case("甲")
    clock.advance(hours=1)
    second = demo_case("乙")
    session.execute(
        Case.__table__.update()
        .where(Case.id == second)
        .values(data={"risk_colour": "red"}, risk_colour="red")
    )
    clock.advance(days=3, minutes=30)  # the first task (due in 3 days) is now overdue, the second not
    web_login("director")
    page = client.get("/tasks")
    body = main_of(page.text)
    ids = [session.get(HumanTask, t).case_id for t in task_ids(body)]
    assert ids[:2] == [first, second]
    first_item = body.split('<li class="task', 2)[1]
    assert "overdue" in first_item and "已超期 1 小时" in first_item and "未分级" in first_item
    assert '<span class="child">*</span> · 一村' in first_item and "大足-2026-" in first_item  # name masked
    second_item = body.split('<li class="task', 3)[2]
    assert "已超期 30 分钟" in second_item and "2026年3月5日 10:00" in second_item  # relative and absolute
    assert "badge-red" in body and ">红<" in body
    red = main_of(client.get("/tasks?colour=red").text)
    assert [session.get(HumanTask, t).case_id for t in task_ids(red)] == [second]
    paged = client.get("/tasks?p=2").text
    assert task_ids(main_of(paged)) == [] and "暂无待办" in paged


def test_an_uncertified_worker_is_told_to_pass_training_first(
    client: TestClient, web_login: Login, demo_case: Callable[..., str]
) -> None:
    demo_case()
    web_login("trainee")
    page = client.get("/tasks")
    assert "尚未通过岗前培训考核" in page.text and task_ids(main_of(page.text)) == []


def test_training_gate_001_2_2_on_the_pages(
    client: TestClient, web_login: Login, demo_case: Callable[..., str]
) -> None:
    """001 §二(二): the case and task pages refuse an uncertified worker with the reason, in Chinese."""
    case_id = demo_case()
    web_login("director")
    task_id = _first_task(client)
    web_login("trainee")
    for path in (f"/cases/{case_id}", f"/tasks/{task_id}"):
        page = client.get(path)
        assert page.status_code == 403 and "尚未通过岗前培训考核" in page.text, path


# ----------------------------------------------------------------------------- a task and its form


def _first_task(client: TestClient) -> str:
    return task_ids(main_of(client.get("/tasks").text))[0]


def test_task_page_shows_form_context_and_logs_the_read(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], session: Session
) -> None:
    case_id = demo_case("小红", child_ref="C-1")
    web_login("director")
    task_id = _first_task(client)
    page = client.get(f"/tasks/{task_id}")
    assert page.status_code == 200
    assert 'for="in-score">评分<span class="req"' in page.text and 'type="number"' in page.text
    assert "填写评分。" in page.text and "小红" in page.text and "/children/C-1" in page.text
    assert 'name="idempotency_key"' in page.text and 'hx-post="/tasks/' in page.text
    log = session.scalars(select(AccessLog).where(AccessLog.case_id == case_id)).all()
    assert [row.endpoint for row in log] == [f"GET /tasks/{task_id}"]


def test_submit_with_error_then_correct_it_completes_once(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], session: Session
) -> None:
    case_id = demo_case()
    csrf = web_login("director")
    task_id = _first_task(client)
    bad = client.post(
        f"/tasks/{task_id}/complete",
        data={"csrf_token": csrf, "score": "一百", "note": "先写的备注", "idempotency_key": "key-1"},
    )
    assert bad.status_code == 422
    assert '<p class="error" role="alert">应填写整数</p>' in bad.text and "先写的备注" in bad.text
    assert 'value="key-1"' in bad.text
    missing = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": csrf, "idempotency_key": "key-1"})
    assert missing.status_code == 422 and "此项为必填项" in missing.text
    form = {"csrf_token": csrf, "score": "88", "note": "已核实", "idempotency_key": "key-1"}
    done = client.post(f"/tasks/{task_id}/complete", data=form)
    assert done.status_code == 200 and "已办结" in done.text and "下一步" in done.text
    again = client.post(f"/tasks/{task_id}/complete", data=form)  # a double tap, a retry on a weak line
    assert again.status_code == 200 and "已办结" in again.text
    completed = session.scalar(
        select(func.count())
        .select_from(CaseEvent)
        .where(CaseEvent.case_id == case_id, CaseEvent.type == "task_completed")
    )
    assert completed == 1
    assert (
        session.scalar(select(func.count()).select_from(TaskDraft).where(TaskDraft.task_id == task_id)) == 0
    )


def test_a_half_filled_form_is_kept_and_restored(
    client: TestClient, web_login: Login, demo_case: Callable[..., str]
) -> None:
    demo_case()
    csrf = web_login("director")
    task_id = _first_task(client)
    saved = client.post(
        f"/tasks/{task_id}/draft",
        data={"csrf_token": csrf, "score": "4", "note": "写了一半"},
        headers={"HX-Request": "true"},
    )
    assert saved.status_code == 200 and "草稿已自动保存" in saved.text
    page = client.get(f"/tasks/{task_id}")
    assert "已恢复您" in page.text and 'value="4"' in page.text and "写了一半" in page.text
    web_login("supervisor")  # nobody else sees another person's draft
    assert client.get(f"/tasks/{task_id}").status_code == 403


def test_claim_and_give_back(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], session: Session
) -> None:
    demo_case()
    csrf = web_login("director")
    task_id = _first_task(client)
    assert (
        client.post(f"/tasks/{task_id}/claim", data={"csrf_token": csrf}, follow_redirects=False).status_code
        == 303
    )
    assert session.get(HumanTask, task_id).assignee == "director"
    assert "退回认领" in client.get(f"/tasks/{task_id}").text
    client.post(f"/tasks/{task_id}/unclaim", data={"csrf_token": csrf})
    session.expire_all()
    assert session.get(HumanTask, task_id).assignee is None


def test_errors_are_chinese_pages(
    client: TestClient, web_login: Login, demo_case: Callable[..., str]
) -> None:
    demo_case()
    web_login("director")
    task_id = _first_task(client)
    web_login("county")  # another role: 403
    response = client.get(f"/tasks/{task_id}")
    assert response.status_code == 403 and "您的角色无权办理" in response.text
    web_login("other_police")  # another county: the task does not exist for them
    response = client.get(f"/tasks/{task_id}")
    assert response.status_code == 404 and "找不到该任务" in response.text
    assert "text/html" in response.headers["content-type"]


def test_case_page_with_timeline(client: TestClient, web_login: Login, demo_case: Callable[..., str]) -> None:
    case_id = demo_case("小刚")
    web_login("director")
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and "接报登记，案件开始" in page.text and "登记" in page.text
    assert "小刚" in page.text and "打印" in page.text


# ----------------------------------------------------------------------------- a new report


REPORT = {
    "situation": "living_alone",
    "immediate_danger": "false",
    "without_guardian": "true",
    "child_known": "true",
    "child_name": "小军",
    "location_description": "一村三组",
    "description": "儿童独自在家多日。",
    "reporter_type": "village_director",
    "reporter_name": "王老师",
}


def test_report_form_has_the_quick_fields_first(client: TestClient, web_login: Login) -> None:
    web_login("director")
    page = client.get("/reports/new")
    assert page.status_code == 200
    quick, more = page.text.split('<details class="more"', 1)
    assert "报告情形" in quick and "情况描述" in quick and "报告人姓名" in more and "儿童公民身份号码" in more
    assert '<p id="in-village" class="fixed">一村</p>' in page.text  # a director files in their own village
    assert '<option value="village_director" selected>' in page.text


def test_report_errors_then_receipt_then_the_right_role_sees_it(
    client: TestClient, web_login: Login, session: Session
) -> None:
    csrf = web_login("supervisor")
    form = client.get("/reports/new").text
    assert (
        '<option value="500111101201">一村</option>' in form
        and '<option value="500111101202">二村</option>' in form
    )
    case_id = re.search(r'name="case_id" value="([0-9a-f-]{36})"', form).group(1)
    bad = client.post("/reports", data={"csrf_token": csrf, "case_id": case_id, "child_known": "true"})
    assert bad.status_code == 422
    assert "请选择儿童所在的村（社区）" in bad.text
    bad = client.post(
        "/reports",
        data={
            "csrf_token": csrf,
            "case_id": case_id,
            "village": VILLAGE,
            "child_known": "true",
            "description": "描述",
        },
    )
    assert bad.status_code == 422 and bad.text.count("此项为必填项") >= 5 and 'value="描述"' not in bad.text
    assert "描述</textarea>" in bad.text
    data = {**REPORT, "csrf_token": csrf, "case_id": case_id, "village": VILLAGE, "reporter_type": "public"}
    receipt = client.post("/reports", data=data)
    assert receipt.status_code == 200 and "报告已登记" in receipt.text
    case = session.get(Case, case_id)
    assert case is not None and case.case_no in receipt.text and case.jurisdiction_code == VILLAGE
    assert "未成年人救助保护机构将进行“受理核实”" in receipt.text
    assert (
        "小军" not in receipt.text and "王老师" not in receipt.text
    )  # no child or reporter data on a receipt
    again = client.post("/reports", data=data)  # a repeated submit shows the same receipt
    assert again.status_code == 200 and case.case_no in again.text
    assert session.scalar(select(func.count()).select_from(Case).where(Case.created_by == "supervisor")) == 1
    web_login("center")
    tasks = client.get("/tasks").text
    assert case.case_no in tasks and "受理核实" in tasks


def test_report_receipt_never_carries_labels(client: TestClient, web_login: Login) -> None:
    csrf = web_login("director")
    case_id = re.search(r'name="case_id" value="([0-9a-f-]{36})"', client.get("/reports/new").text).group(1)
    data = {
        **REPORT,
        "description": "该儿童为留守儿童，也属困境儿童。",
        "csrf_token": csrf,
        "case_id": case_id,
        "village": VILLAGE,
    }
    receipt = client.post("/reports", data=data)
    assert receipt.status_code == 200
    assert "留守儿童" not in receipt.text and "困境儿童" not in receipt.text


# ----------------------------------------------------------------------------- a child's file


def test_child_file_masks_the_id_number_until_a_reason_is_given(
    client: TestClient,
    web_login: Login,
    session: Session,
    clock: FixedClock,
    actor_of: Callable[[str], object],
) -> None:
    from workflows.cases import lifecycle as cases

    data = {
        "reporter_type": "public",
        "situation": "violence",
        "without_guardian": False,
        "immediate_danger": False,
        "child_known": True,
        "child_name": "小林",
        "child_id_number": "500111201001011232",
        "location_description": "一村",
        "description": "疑似被打。",
        "reporter_name": "秘密的人",
    }
    cases.start_case(
        session=session,
        clock=clock,
        actor=actor_of("director"),
        process_key="guardianship_intervention",
        data=data,
        jurisdiction_code=VILLAGE,
        child_ref="CHILD-9",
    )
    session.flush()
    csrf = web_login("director")
    page = client.get("/children/CHILD-9")
    assert page.status_code == 200 and "小林" in page.text and "5001**********1232" in page.text
    assert "500111201001011232" not in page.text and "秘密的人" not in page.text
    assert "受理核实" in page.text and "接报登记，案件开始" in page.text
    refused = client.post("/children/CHILD-9/reveal", data={"csrf_token": csrf, "reason": " "})
    assert (
        refused.status_code == 422
        and "500111201001011232" not in refused.text
        and "须说明理由" in refused.text
    )
    shown = client.post("/children/CHILD-9/reveal", data={"csrf_token": csrf, "reason": "核对医保登记"})
    assert shown.status_code == 200 and "500111201001011232" in shown.text
    purposes = session.scalars(select(AccessLog.purpose).where(AccessLog.child_ref == "CHILD-9")).all()
    assert "查看完整身份证号：核对医保登记" in purposes
    assert client.get("/children").text.count("CHILD-9") >= 1
    web_login("other_police")
    assert client.get("/children/CHILD-9").status_code == 404


# ----------------------------------------------------------------------------- overview and accounts


def test_supervisor_overview_puts_villages_behind_first(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], clock: FixedClock
) -> None:
    demo_case()
    clock.advance(days=4)
    web_login("supervisor")
    page = main_of(client.get("/overview").text)
    assert page.index("一村") < page.index("二村")
    first = page.split('<li class="place', 2)[1]
    assert "behind" in first and "逾期待办 1" in first and "在办案件 1" in first
    web_login("director")
    response = client.get("/overview")
    assert response.status_code == 403 and "查看辖区概览" in response.text


def test_overview_flags_a_village_over_30_children_in_care_003_5_5_16(
    client: TestClient, web_login: Login, session: Session, clock: FixedClock, actor_of: Callable[[str], Any]
) -> None:
    """003 §五(五)16: a village with more than 30 left-behind and difficulty children adds a director; the
    supervisor's overview counts the registry per village and flags it (30 exactly is not over)."""
    county = actor_of("county")
    for village, count in (("500111101201", 30), ("500111101202", 31)):
        for i in range(count):
            children.register(
                session=session,
                clock=clock,
                actor=county,
                data={"name": f"儿童{i}", "village_code": village, "categories": ["left_behind"]},
            )
    children.register(
        session=session, clock=clock, actor=county, data={"name": "无类别", "village_code": "500111101202"}
    )
    session.flush()
    web_login("supervisor")
    page = main_of(client.get("/overview").text)
    places = {
        part.split("<strong>", 1)[1].split("</strong>", 1)[0]: part
        for part in page.split('<li class="place')[1:]
    }
    assert "需关爱服务儿童 31 人" in places["二村"] and "儿童主任 1 名" in places["二村"]
    assert "应增配儿童主任" in places["二村"] and "五(五)16" in places["二村"]
    assert "需关爱服务儿童 30 人" in places["一村"] and "应增配儿童主任" not in places["一村"]
    assert page.index("二村") < page.index("一村")  # the village short of a director comes first


def test_user_admin_creates_changes_and_deactivates_accounts(
    client: TestClient, web_login: Login, session: Session
) -> None:
    csrf = web_login("admin")
    listing = client.get("/users")
    assert listing.status_code == 200 and "测试director" in listing.text
    bad = client.post(
        "/users",
        data={
            "csrf_token": csrf,
            "username": "new_one",
            "display_name": "",
            "roles": "village_director",
            "jurisdiction_code": VILLAGE,
            "password": "short",
        },
    )
    assert bad.status_code == 422 and "请填写真实姓名" in bad.text
    made = client.post(
        "/users",
        data={
            "csrf_token": csrf,
            "username": "new_one",
            "display_name": "新主任",
            "roles": "village_director",
            "jurisdiction_code": VILLAGE,
            "password": "long-enough-pw",
            "certified": "on",
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    user = session.scalars(select(User).where(User.username == "new_one")).one()
    assert user.roles == ["village_director"] and user.certified
    assert "新主任" in client.get(f"/users/{user.id}").text
    changed = client.post(
        f"/users/{user.id}",
        data={
            "csrf_token": csrf,
            "display_name": "新主任",
            "roles": ["village_director", "village_committee"],
            "jurisdiction_code": "500111101202",
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    session.refresh(user)
    assert (
        user.roles == ["village_committee", "village_director"] and user.jurisdiction_code == "500111101202"
    )
    client.post(f"/users/{user.id}/active", data={"csrf_token": csrf, "active": "false"})
    session.refresh(user)
    assert user.active is False and "已停用" in client.get("/users").text
    web_login("director")
    assert client.get("/users").status_code == 403


def test_notifications_page(client: TestClient, web_login: Login) -> None:
    web_login("director")
    page = client.get("/notifications")
    assert page.status_code == 200 and "通知" in page.text


def test_static_files_and_htmx_from_npm_are_served(client: TestClient) -> None:
    from api.web.core import HTMX_DIR

    assert client.get("/static/app.css").status_code == 200
    if (HTMX_DIR / "htmx.min.js").is_file():  # installed by ./run (npm install in web/)
        assert client.get("/vendor/htmx/htmx.min.js").status_code == 200


# ----------------------------------------------------------------------------- no labels on any page


LABELS = ("留守儿童", "困境儿童")
TITLE_PARTS = re.compile(
    r"<title>.*?</title>|<nav.*?</nav>|<h1.*?</h1>|<h2.*?</h2>|<summary.*?</summary>", re.S
)


def test_no_page_title_or_navigation_carries_a_label(
    client: TestClient,
    web_login: Login,
    session: Session,
    clock: FixedClock,
    demo_case: Callable[..., str],
    people: dict[str, int],
) -> None:
    case_id = demo_case("留守儿童小张", child_ref="留守儿童")  # data may say anything; titles must not
    accounts.set_certified(session=session, clock=clock, username="supervisor", certified=True, actor=SYSTEM)
    session.flush()
    visited = 0
    for username, paths in {
        "director": [
            "/tasks",
            "/tasks?colour=red",
            "/reports/new",
            "/children",
            f"/cases/{case_id}",
            "/notifications",
            "/children/%E7%95%99%E5%AE%88%E5%84%BF%E7%AB%A5",
        ],
        "supervisor": ["/overview", "/reports/new"],
        "admin": ["/users", "/users/new", f"/users/{people['director']}"],
        "trainee": ["/tasks"],
    }.items():
        web_login(username)
        task = next(iter(task_ids(main_of(client.get("/tasks").text))), None)
        for path in paths + ([f"/tasks/{task}"] if task else []):
            page = client.get(path)
            assert page.status_code == 200, (username, path, page.status_code)
            for part in TITLE_PARTS.findall(page.text):
                assert not any(label in part for label in LABELS), (username, path, part)
            visited += 1
    client.cookies.clear()
    for path in ("/login", "/tasks/no-such-task"):
        page = client.get(path)
        assert not any(label in page.text for label in LABELS)
    assert visited >= 14


# ----------------------------------------------------------------------------- the child registry and papers


def _valid_id(prefix17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return prefix17 + "10X98765432"[sum(int(d) * w for d, w in zip(prefix17, weights, strict=True)) % 11]


def test_registered_child_file_with_cases_papers_and_a_reason_to_reveal(
    client: TestClient,
    web_login: Login,
    session: Session,
    clock: FixedClock,
    actor_of: Callable[[str], object],
) -> None:
    from workflows.cases import lifecycle as cases
    from workflows.children import registry as children
    from workflows.papers import documents

    number = _valid_id("50011120140101123")
    child = children.register(
        session=session,
        clock=clock,
        actor=actor_of("director"),
        data={
            "name": "小蓝",
            "gender": "female",
            "birth_date": "2014-01-01",
            "id_number": number,
            "village_code": VILLAGE,
            "categories": ["孤儿"],
            "guardians": [{"name": "蓝奶奶", "relation": "祖母", "phone": "13800000000"}],
            "risk_colour": "blue",
        },
    )
    children.add_entry(
        session=session,
        clock=clock,
        actor=actor_of("director"),
        child_id=child.id,
        kind="visit",
        text="入户走访，生活正常。",
    )
    data = {
        "reporter_type": "public",
        "situation": "orphan",
        "without_guardian": False,
        "immediate_danger": False,
        "child_known": True,
        "child_name": "小蓝",
        "location_description": "一村",
        "description": "需要关注。",
    }
    outcome = cases.start_case(
        session=session,
        clock=clock,
        actor=actor_of("director"),
        process_key="guardianship_intervention",
        data=data,
        jurisdiction_code=VILLAGE,
        child_ref=child.id,
    )
    document = documents.issue(
        session=session,
        clock=clock,
        actor=actor_of("director"),
        case_id=outcome.case.id,
        kind="report_receipt",
    )
    session.flush()
    csrf = web_login("director")
    page = client.get(f"/children/{child.id}")
    assert page.status_code == 200
    text = page.text
    assert child.file_no in text and "小蓝" in text and "蓝奶奶（祖母）" in text and "孤儿" in text
    assert number not in text and number[:4] + "*" * 10 + number[-4:] in text
    assert "走访：入户走访，生活正常。" in text and outcome.case.case_no in text and "badge-blue" in text
    assert f'href="/documents/{document.id}"' in text and "强制报告受理回执" in text
    shown = client.post(f"/children/{child.id}/reveal", data={"csrf_token": csrf, "reason": "核对户籍信息"})
    assert shown.status_code == 200 and number in shown.text
    printed = client.get(f"/documents/{document.id}")
    assert printed.status_code == 200 and outcome.case.case_no in printed.text
    assert "出具文书：强制报告受理回执" in client.get(f"/cases/{outcome.case.id}").text
    listing = client.get("/children").text
    assert child.file_no in listing


def test_overview_counts_overdue_visits_when_there_are_visit_tasks(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], session: Session, clock: FixedClock
) -> None:
    case_id = demo_case()
    session.add(
        HumanTask(
            id="00000000-0000-5000-8000-00000000visit"[:36],
            case_id=case_id,
            process_key="risk_visits",
            bpmn_id="home_visit",
            name="入户走访",
            role="village_director",
            jurisdiction_code=VILLAGE,
            status="ready",
            due_at=clock.now() + timedelta(days=1),
            created_at=clock.now(),
        )
    )
    session.flush()
    clock.advance(days=5)
    web_login("supervisor")
    first = main_of(client.get("/overview").text).split('<li class="place', 2)[1]
    assert "逾期走访 1" in first and "逾期待办 1" in first


def test_unread_notifications_are_counted_listed_and_open_their_task(
    client: TestClient, web_login: Login, demo_case: Callable[..., str], session: Session, clock: FixedClock
) -> None:
    from workflows.infra.models import InboxItem, OutboxMessage

    case_id = demo_case()
    task = session.scalars(select(HumanTask).where(HumanTask.case_id == case_id)).one()
    outbox = OutboxMessage(
        kind="task_assigned",
        dedupe_key=f"web-test:{task.id}",
        title="新待办：登记",
        body="案件有一项新待办“登记”。",
        case_id=case_id,
        task_id=task.id,
        created_at=clock.now(),
    )
    session.add(outbox)
    session.flush()
    session.add(
        InboxItem(
            outbox_id=outbox.id,
            username="director",
            kind="task_assigned",
            title="新待办：登记",
            body="案件有一项新待办“登记”。",
            case_id=case_id,
            task_id=task.id,
            created_at=clock.now(),
        )
    )
    session.flush()
    csrf = web_login("director")
    tasks = client.get("/tasks").text
    assert 'title="未读通知">1</span>' in tasks and "新待办：登记" in main_of(tasks)
    listing = client.get("/notifications").text
    item_id = re.search(r'action="/notifications/(\d+)/open"', listing).group(1)
    opened = client.post(f"/notifications/{item_id}/open", data={"csrf_token": csrf}, follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == f"/tasks/{task.id}"
    assert 'title="未读通知"' not in client.get("/tasks").text
