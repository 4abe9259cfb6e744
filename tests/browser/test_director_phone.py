"""The caseworkers' pages as a village director on a phone needs them (360 px), point by point: readable case
numbers, task cards, post/redirect/get, 我的案件, children's files, real names, forms, the overview, the
modeler, the account form, tap targets and the favicon. Screenshots go to test-artifacts/browser/ (360 px, and
1366 px where the layout changes)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, PASSWORD, LiveServer
from tests.browser.test_caseworker_pages import PHONE_WIDTH, check_page, sign_out

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": PHONE_WIDTH, "height": 780}
CASE_NO = re.compile(r"大足-20\d\d-\d{6}")
TAP = 44


@pytest.fixture
def page(browser_context: Any) -> Any:
    page = browser_context.new_page()
    page.set_viewport_size(PHONE)
    yield page
    page.close()


def sign_in(page: Any, server: LiveServer, username: str) -> None:
    page.context.clear_cookies()  # whoever was signed in before (a failed test does not sign out)
    page.goto(f"{server.url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit].primary")
    page.wait_for_load_state("load")
    assert "/login" not in page.url


def desktop_shot(page: Any, name: str) -> None:
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(ARTIFACTS / f"{name}-1366.png"), full_page=True)
    page.set_viewport_size(PHONE)


def too_small(page: Any, selector: str) -> list[str]:
    """Visible links and buttons under ``selector`` that are less than 44 px high."""
    return page.evaluate(
        """([selector, tap]) => Array.from(document.querySelectorAll(selector))
            .filter(el => el.offsetParent !== null)
            .map(el => [el.textContent.trim().slice(0, 12), el.getBoundingClientRect().height])
            .filter(([, h]) => h < tap).map(([t, h]) => t + ':' + h)""",
        [selector, TAP],
    )


def test_1_2_6_cards_with_child_village_due_and_readable_numbers(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, "director")
    card = page.locator("li.task", has_text=live_server.seeded["my_case_no"])
    text = card.inner_text()
    assert CASE_NO.search(text) and "GI-" not in text  # point 1: the number people say on the phone
    assert "演***庚" in text and "演示儿童庚" not in text  # point 2: the child, name masked in a list
    assert "演***庚 · 龙水镇金龙村 · （疑似）遭受暴力伤害" in text
    assert re.search(r"(剩余|已超期) \d+ (天|小时|分钟)", text) and re.search(
        r"\d+年\d+月\d+日 \d\d:\d\d", text
    )
    check_page(page, "30-task-cards")
    desktop_shot(page, "30-task-cards")
    card.locator("a").click()
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}$"))
    facts = page.locator("aside.facts")
    assert live_server.seeded["my_case_no"] in facts.inner_text()
    assert "此前的办理步骤" in facts.inner_text()
    steps = facts.locator("ol.steps").inner_text()  # point 6: people by real name and unit, never login names
    assert "演示center（大足区" in steps and "演示police（大足区" in steps
    assert (
        re.search(r"\bcenter\b|\bpolice\b", steps.replace("演示center", "").replace("演示police", "")) is None
    )
    # point 7: the facts come first on a phone, beside the form on a wide screen
    assert facts.bounding_box()["y"] < page.locator("#task-form").bounding_box()["y"]
    check_page(page, "31-task-facts-first")
    page.set_viewport_size(DESKTOP)
    assert facts.bounding_box()["x"] > page.locator("#task-form").bounding_box()["x"] + 200
    page.screenshot(path=str(ARTIFACTS / "31-task-facts-beside-1366.png"), full_page=True)
    page.set_viewport_size(PHONE)
    sign_out(page)


def test_3_7_every_form_reloads_and_the_first_error_is_in_view(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, "director")
    page.locator("li.task", has_text=live_server.seeded["my_case_no"]).locator("a").click()
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}$"))
    task_url = page.url
    # point 7: the claim is explained and happens with the first autosave
    assert "开始填写并自动保存草稿时，此任务即由您认领" in page.locator(".claim").inner_text()
    date = page.locator("#in-home_visit_date")
    assert date.get_attribute("lang") == "zh-CN" and "年-月-日" in date.get_attribute("placeholder")
    assert page.locator("#field-home_visit_date .date-button").is_visible()  # the phone's calendar, one tap
    date.fill("2026年12月2日")  # typed the Chinese way: understood as 2026-12-02
    date.dispatch_event("change")
    assert page.locator("#field-home_visit_date .date-hint").inner_text() == "即 2026年12月2日"
    date.fill("2026-12-02")
    date.dispatch_event("change")
    assert page.locator("#field-home_visit_date .date-hint").inner_text() == "即 2026年12月2日"
    page.locator("#draft-status .ok").wait_for(timeout=10_000)
    page.reload()  # the first autosave claimed it; the restored draft keeps the date
    assert "此任务由您办理" in page.locator(".claim").inner_text()
    assert page.input_value("#in-home_visit_date") == "2026-12-02"
    # a refused submit: the first field to correct is focused and on screen, not the page top
    page.click("#submit")
    page.wait_for_load_state("load")
    first = page.locator(".field.has-error").first
    assert page.evaluate("document.activeElement.closest('.field.has-error') !== null")
    box = first.bounding_box()
    assert 0 <= box["y"] < PHONE["height"]
    assert page.evaluate("window.scrollY") > 200
    check_page(page, "32-first-error-in-view")
    page.reload()  # reloading the refused form: the form again, never raw JSON
    assert "Method Not Allowed" not in page.content() and page.locator("#task-form").count() == 1
    # the address of the form opened directly leads back to the task
    page.goto(task_url + "/complete")
    assert page.url == task_url and "detail" not in page.locator("body").inner_text()
    # correct and complete: post/redirect/get, the page reopens
    page.check("#field-child_file_status input[value=existing]")
    page.check("#field-guardian_capacity input[value=severely_insufficient]")
    page.fill("#in-assessment_summary", "监护人履职能力明显不足。")
    page.click("#submit")
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}/done$"))
    page.reload()
    assert page.locator("h1").inner_text() == "已办结：监护评估"
    assert "办理人 演示director（龙水镇金龙村 · " in page.locator("main").inner_text()
    check_page(page, "33-done-after-reload")
    page.goto(f"{live_server.url}/no-such-page")
    assert page.locator("h1").inner_text() == "找不到页面" and "{" not in page.locator("main").inner_text()


def test_4_a_director_finds_a_case_by_number_and_by_child_name(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, "director")
    page.click("nav >> text=我的案件")
    page.wait_for_url(re.compile(r"/cases$"))
    check_page(page, "34-my-cases")
    desktop_shot(page, "34-my-cases")
    number = live_server.seeded["other_case_no"]
    page.fill("input[name=q]", number[-6:])  # the tail said on the phone is enough
    page.click("form.search button[type=submit]")
    page.wait_for_load_state("load")
    rows = page.locator("ul.cases li.task")
    assert rows.count() == 1 and number in rows.inner_text()
    page.fill("input[name=q]", "演示儿童己")
    page.click("form.search button[type=submit]")
    page.wait_for_load_state("load")
    assert rows.count() == 1 and number in rows.inner_text() and "演***己" in rows.inner_text()
    check_page(page, "35-my-cases-by-name")
    page.select_option("select[name=status]", "running")
    page.select_option("select[name=colour]", "red")
    page.click("form.search button[type=submit]")
    page.wait_for_load_state("load")
    assert rows.count() == 0  # that report was not graded red
    page.goto(f"{live_server.url}/cases?scope=reported")
    assert page.locator("ul.cases li.task").count() >= 3
    page.locator("ul.cases li.task", has_text=number).locator("a").click()
    page.wait_for_url(re.compile(r"/cases/[0-9a-f-]{36}$"))
    assert number in page.locator("h1").inner_text()
    timeline = page.locator("ol.timeline").inner_text()
    assert "演示director（龙水镇金龙村 · " in timeline and "（director）" not in timeline
    check_page(page, "36-case-record")
    sign_out(page)


def test_5_child_files_created_listed_searched_and_edited(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, "director")
    page.click("nav >> text=儿童档案")
    page.wait_for_url(re.compile(r"/children$"))
    listed = page.locator("ul.children").inner_text()
    assert listed.index("演示儿童庚") >= 0 and live_server.seeded["file_no"] in listed
    check_page(page, "37-children")
    desktop_shot(page, "37-children")
    page.click("text=新建档案")
    page.wait_for_url(re.compile(r"/children/new$"))
    page.fill("#in-name", "演示儿童辛")
    page.check("#field-gender input[value=female]")
    page.fill("#in-birth_date", "2015-04-12")
    page.fill("#in-id_number", "500111201504121229")  # a wrong check digit
    page.select_option("#in-village_code", "500111100201")
    page.fill("#in-guardian_name", "演示祖母")
    page.fill("#in-guardian_relation", "祖母")
    page.click("main button[type=submit].primary")
    page.wait_for_load_state("load")
    assert page.locator("#field-id_number .error").inner_text() == "身份证号校验位不正确，请核对"
    assert page.evaluate("document.activeElement.id") == "in-id_number"
    check_page(page, "38-child-form-error")
    page.reload()  # the refused form reloads as a form
    assert page.locator("form.form").count() == 1 and "Method Not Allowed" not in page.content()
    page.goto(f"{live_server.url}/children/new")
    page.fill("#in-name", "演示儿童辛")
    page.fill("#in-birth_date", "2015-04-12")
    page.fill("#in-id_number", valid_id("50011120150412122"))
    page.select_option("#in-village_code", "500111100201")
    page.click("main button[type=submit].primary")
    page.wait_for_url(re.compile(r"/children/[0-9a-f-]{36}\?saved=1$"))
    assert "档案已保存" in page.locator("main").inner_text()
    page.reload()
    assert page.locator("h1").count() == 1
    page.click("text=修改档案")
    page.fill("#in-address", "金龙村六组")
    page.fill("#in-reason", "走访核实住址")
    page.click("main button[type=submit].primary")
    page.wait_for_url(re.compile(r"\?saved=1$"))
    assert "金龙村六组" in page.locator("main").inner_text()
    assert "修改档案（理由：走访核实住址）" in page.locator("ol.timeline").inner_text()
    check_page(page, "39-child-file-edited")
    page.goto(f"{live_server.url}/children")
    page.fill("input[name=q]", "儿童辛")
    page.click("form.search button[type=submit]")
    page.wait_for_url(re.compile(r"/children/[0-9a-f-]{36}$"))  # one match opens the file
    sign_out(page)


def valid_id(body: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def test_7_conditional_fields_show_only_when_they_apply(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, "director")
    page.goto(f"{live_server.url}/reports/new")
    name = page.locator("#field-child_name")
    page.check("#field-child_known input[value=false]")
    assert name.is_hidden()
    page.check("#field-child_known input[value=true]")
    assert name.is_visible()
    check_page(page, "40-report-conditional")
    sign_out(page)
    sign_in(page, live_server, "center")
    page.locator("li.task", has_text=live_server.seeded["other_case_no"]).locator("a").click()
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}$"))
    duplicate, reason = page.locator("#field-duplicate_of_case"), page.locator("#field-close_reason")
    assert duplicate.is_hidden() and reason.is_hidden()
    page.check("#field-intake_decision input[value=unfounded]")
    assert reason.is_visible() and duplicate.is_hidden()
    page.check("#field-intake_decision input[value=duplicate]")
    assert reason.is_visible() and duplicate.is_visible()
    check_page(page, "41-decision-conditional")
    sign_out(page)


def test_8_overview_numbers_lead_to_their_lists(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, "supervisor")
    page.goto(f"{live_server.url}/overview")
    village = page.locator("li.place", has_text="龙水镇金龙村")
    links = village.locator(".place-stats a")
    numbers = [int(re.search(r"(\d+)\s*$", links.nth(i).inner_text()).group(1)) for i in range(6)]
    running, colours = numbers[0], numbers[1:]
    assert running == sum(colours) and running >= 3  # 红黄蓝绿 + 未分级 add up to the open cases
    check_page(page, "42-overview-links")
    desktop_shot(page, "42-overview-links")
    links.nth(5).click()  # 未分级
    page.wait_for_url(re.compile(r"colour=none"))
    assert page.locator("ul.cases li.task").count() == colours[4]
    assert "龙水镇金龙村" in page.locator("h1").inner_text()
    check_page(page, "43-overview-unrated-list")
    page.go_back()
    village.locator("a", has_text="逾期待办").click()
    page.wait_for_url(re.compile(r"/overview/overdue\?village="))
    assert page.locator("h1").inner_text().endswith("逾期待办")
    sign_out(page)


def test_10_account_form_and_tap_targets(page: Any, live_server: LiveServer) -> None:
    assert page.request.get(f"{live_server.url}/favicon.ico").status == 200
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server.url}/users/new")
    page.select_option("#in-jurisdiction_code", "")
    page.click("main button[type=submit].primary")
    page.wait_for_load_state("load")
    errors = {
        field: page.locator(f"#field-{field} .error").inner_text()
        for field in ("username", "display_name", "roles", "jurisdiction_code", "password")
    }
    assert len(set(errors.values())) == 5 and all(e for e in errors.values())
    assert "格式不正确" not in "".join(errors.values())
    assert page.evaluate("document.activeElement.id") == "in-username"
    check_page(page, "44-account-form-errors")
    sign_out(page)
    sign_in(page, live_server, "director")
    seeded = live_server.seeded
    for path in (
        "/tasks",
        "/cases",
        f"/cases/{seeded['case_id']}",
        "/children",
        f"/children/{seeded['child_id']}",
    ):
        page.goto(f"{live_server.url}{path}")
        small = too_small(page, "header a, header button, .crumbs a, main a, main button, main summary")
        assert small == [], f"{path}: {small}"
    check_page(page, "45-tap-targets")
    sign_out(page)


def test_9_modeler_labels_palette_files_time_and_console(
    browser_context: Any, live_server: LiveServer
) -> None:
    page = browser_context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    try:
        page.set_viewport_size(DESKTOP)
        sign_in(page, live_server, "modeler")
        page.goto(f"{live_server.url}/modeler?key=guardianship_intervention")
        page.locator('#bpmn-canvas .djs-element[data-element-id="lane_village_director"]').wait_for()
        lanes = page.locator("#bpmn-canvas .djs-element[data-element-id^=lane_] .djs-visual text")
        labels = [lanes.nth(i).text_content() for i in range(lanes.count())]
        assert labels and "village_director" not in labels and any("儿童主任" in x for x in labels)
        palette = page.locator("#bpmn-canvas .djs-palette").bounding_box()
        shapes = page.evaluate(
            """() => Array.from(document.querySelectorAll('#bpmn-canvas .djs-element.djs-shape'))
                .map(el => el.getBoundingClientRect().left)"""
        )
        assert shapes and min(shapes) >= palette["x"] + palette["width"] - 1
        tabs = page.locator("#file-tabs button[data-file]")
        assert tabs.count() >= 20 and page.locator(".mod-count").inner_text().startswith("本版本共")
        assert all(tabs.nth(i).is_visible() for i in range(tabs.count()))
        page.locator("#versions tr").first.wait_for()
        assert re.search(r"\d{4}年\d+月\d+日 \d\d:\d\d", page.locator("#versions").inner_text())
        page.screenshot(path=str(ARTIFACTS / "46-modeler-1366.png"), full_page=True)
        page.locator('#file-tabs button[data-file$=".dmn"]').first.click()
        page.locator("#dmn-canvas .tjs-table, #dmn-canvas table").first.wait_for()
        assert not [m for m in console if "Inferno" in m], console
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(ARTIFACTS / "46-modeler-360.png"), full_page=True)
    finally:
        page.close()
