"""The caseworkers' pages in Debian's Chromium at phone width: sign in, work a task, file a report.

Every page visited is checked for sideways overflow at 360 px and photographed under test-artifacts/browser/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, PASSWORD, LiveServer

PHONE_WIDTH = 360


def check_page(page: Any, name: str) -> None:
    """No horizontal scrolling at phone width; a full-page screenshot for people to look at."""
    page.wait_for_load_state("load")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE_WIDTH, f"{name}: 页面宽 {width}px，超出 {PHONE_WIDTH}px"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit].primary")
    page.wait_for_url(re.compile(r"/(tasks|users)$"))


def sign_out(page: Any) -> None:
    page.click("form.logout button")
    page.wait_for_url(re.compile(r"/login$"))


@pytest.fixture
def page(browser_context: Any) -> Any:
    page = browser_context.new_page()
    yield page
    page.close()


def test_director_works_a_task_and_files_a_report_that_reaches_the_center(
    page: Any, live_server: LiveServer
) -> None:
    page.goto(f"{live_server.url}/tasks")
    page.wait_for_url(re.compile(r"/login\?next="))
    check_page(page, "01-login")
    sign_in(page, live_server, "director")

    # my tasks: the assessment of the seeded red case
    assert page.locator("h1").inner_text() == "我的待办"
    item = page.locator("li.task", has_text=live_server.seeded["case_no"])
    assert item.locator(".badge-red").inner_text() == "红"
    assert "监护评估" in item.inner_text()
    check_page(page, "02-tasks")
    item.locator("a").click()
    page.wait_for_url(re.compile(r"/tasks/[0-9a-f-]{36}$"))
    assert page.locator("h1").inner_text() == "监护评估"
    assert "请入户核查" in page.locator(".instructions").inner_text()
    check_page(page, "03-task-form")

    # half-filled: autosaved as a draft, restored after a reload
    page.fill("#in-assessment_summary", "监护人履职能力明显不足，需要人身安全保护。")
    page.locator("#draft-status .ok").wait_for(timeout=10_000)
    page.reload()
    assert "已恢复您" in page.locator("#draft-status").inner_text()
    assert page.input_value("#in-assessment_summary").startswith("监护人履职能力明显不足")

    # submit with errors: Chinese messages beside the fields
    page.fill("#in-home_visit_date", "2026-03-02")
    page.click("#submit")
    page.wait_for_load_state("load")
    assert "表单填写有误" in page.locator("p.alert").inner_text()
    assert page.locator("#field-guardian_capacity .error").inner_text() == "此项为必填项"
    assert page.input_value("#in-home_visit_date") == "2026-03-02"  # nothing typed is lost
    check_page(page, "04-task-errors")

    # correct it and complete
    page.check("#field-child_file_status input[value=existing]")
    page.check("#field-guardian_capacity input[value=severely_insufficient]")
    page.check("#field-child_needs input[value=safety]")
    page.click("#submit")
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "已办结：监护评估"
    assert (
        "处置决定" not in page.locator("main").inner_text()
    )  # the village committee's part is still awaited
    check_page(page, "05-task-done")
    page.goto(f"{live_server.url}/tasks")
    assert page.locator("li.task", has_text=live_server.seeded["case_no"]).count() == 0

    # the case page and the child's file (ID number masked)
    page.goto(f"{live_server.url}/cases/{live_server.seeded['case_id']}")
    assert "办结：监护评估" in page.locator("ol.timeline").inner_text()
    check_page(page, "06-case")
    page.goto(f"{live_server.url}/children/CHILD-BROWSER-1")
    assert "5001**********1231" in page.locator("main").inner_text()
    check_page(page, "07-child-file")

    # a new report: the quick form, the receipt
    page.click("nav >> text=新报告")
    page.wait_for_url(re.compile(r"/reports/new$"))
    check_page(page, "08-report-form")
    page.select_option("#in-situation", "living_alone")
    page.check("#field-immediate_danger input[value=false]")
    page.check("#field-without_guardian input[value=true]")
    page.check("#field-child_known input[value=true]")
    page.fill("#in-child_name", "演示儿童戊")
    page.fill("#in-location_description", "金龙村五组")
    page.fill("#in-description", "儿童独自在家多日，无人照料。")
    page.click("main button[type=submit].primary")
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == "报告已登记"
    business_key = page.locator("dd.key").inner_text()
    assert re.fullmatch(r"大足-20\d\d-\d{6}", business_key)
    assert re.search(r"/reports/[0-9a-f-]{36}$", page.url)  # post/redirect/get: the receipt reopens
    page.reload()
    assert page.locator("dd.key").inner_text() == business_key
    receipt = page.locator("main").inner_text()
    assert "未成年人救助保护机构将进行“受理核实”" in receipt
    assert "演示儿童戊" not in receipt and "留守儿童" not in receipt and "困境儿童" not in receipt
    check_page(page, "09-report-receipt")
    sign_out(page)

    # the protection center receives it in its list
    sign_in(page, live_server, "center")
    new = page.locator("li.task", has_text=business_key)
    assert "受理核实" in new.inner_text()
    check_page(page, "10-center-tasks")
    sign_out(page)


def test_supervisor_and_account_pages_fit_a_phone(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, "supervisor")
    page.click("nav >> text=辖区概览")
    page.wait_for_url(re.compile(r"/overview$"))
    assert "龙水镇金龙村" in page.locator("ul.places").inner_text()
    check_page(page, "11-overview")
    page.goto(f"{live_server.url}/notifications")
    check_page(page, "12-notifications")
    sign_out(page)
    sign_in(page, live_server, "admin")
    assert page.locator("h1").inner_text() == "账号管理"
    check_page(page, "13-users")
    page.click("text=新建账号")
    page.fill("#in-username", "new_director")
    page.fill("#in-display_name", "新任主任")
    page.check("input[value=village_director]")
    page.select_option("#in-jurisdiction_code", "500111100202")
    page.fill("#in-password", "short")
    page.click("main button[type=submit].primary")
    page.wait_for_load_state("load")
    assert (
        "至少 10 个字符" in page.locator("#in-password + .error, .field.has-error .error").first.inner_text()
    )
    check_page(page, "14-user-form-error")
    page.fill("#in-password", "long-enough-password")
    page.click("main button[type=submit].primary")
    page.wait_for_url(re.compile(r"/users\?created=new_director$"))
    assert "新任主任" in page.locator("ul.users").inner_text()
    sign_out(page)


def test_desktop_width_reads_well(browser_context: Any, live_server: LiveServer) -> None:
    page = browser_context.new_page()
    try:
        page.set_viewport_size({"width": 1280, "height": 900})
        sign_in(page, live_server, "police")
        assert page.locator("h1").inner_text() == "我的待办"
        page.screenshot(path=str(ARTIFACTS / "20-desktop-tasks.png"), full_page=True)
        sign_out(page)
    finally:
        page.close()
