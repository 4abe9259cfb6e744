"""The compliance officer in Debian's Chromium: open a finished demo case's history, step back through the
replay and see the diagram and the data change, then verify the record."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import ARTIFACTS, PASSWORD, LiveServer


@pytest.fixture
def page(browser_context: Any) -> Any:
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1100, "height": 900})
    yield page
    page.close()


def sign_in_as_auditor(page: Any, server: LiveServer) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#username", "auditor")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit].primary")
    page.wait_for_load_state("load")


def marked(page: Any, marker: str) -> list[str]:
    return page.eval_on_selector_all(
        f"#diagram .djs-element.{marker}", "els => els.map(e => e.dataset.elementId)"
    )


def wait_for_step(page: Any, seq: int) -> None:
    page.wait_for_function(f"document.getElementById('replay').dataset.seq === '{seq}'")


def test_auditor_replays_a_finished_case_and_verifies_it(page: Any, live_server: LiveServer) -> None:
    finished = live_server.seeded["finished_case"]
    last = finished["events"]
    sign_in_as_auditor(page, live_server)
    page.click("nav a:has-text('合规核查')")
    page.wait_for_url(re.compile(r"/compliance$"))
    page.fill("#q", finished["case_no"])
    page.click("form button:has-text('查看')")
    page.wait_for_url(re.compile(rf"/cases/{finished['id']}/history$"))
    assert f"案件 {finished['case_no']} 的历史" in page.locator("h1").inner_text()
    timeline = page.locator(".hist-timeline").inner_text()
    assert "演示center" in timeline and "auditor" not in timeline and "北京时间" in timeline

    # the end: everything ran, nothing open, the case closed
    wait_for_step(page, last)
    assert page.locator("#state-status").inner_text() == "已办结"
    assert "notify_reporter" in marked(page, "hist-done") and marked(page, "hist-open") == []
    data_at_end = page.locator("#state-data").inner_text()
    page.screenshot(path=str(ARTIFACTS / "history-end.png"), full_page=True)

    # back to the first event: the report waits for review, nothing after it has run
    page.click("#step-first")
    wait_for_step(page, 1)
    assert page.locator("#state-status").inner_text() == "办理中"
    # the report went to the police and to the protection center's intake at once (001 §四(三))
    opened = set(marked(page, "hist-open"))
    assert {"emergency_response_police", "review_report", "intake_review_overdue"} <= opened
    assert "notify_reporter" not in marked(page, "hist-done")
    assert "受理核实" in page.locator("#state-open").inner_text()
    assert page.locator("#state-data").inner_text() != data_at_end
    assert "hist-later" in (page.locator(f"#event-{last}").get_attribute("class") or "")
    page.screenshot(path=str(ARTIFACTS / "history-first.png"), full_page=True)

    # one step forward: the review is done, the reporter is to be told
    page.click("#step-forward")
    wait_for_step(page, 2)
    assert "review_report" in marked(page, "hist-done")

    page.click("#verify-button")
    result = page.locator("#verify-result")
    result.locator("p").wait_for()
    assert "核验通过" in result.inner_text() and f"{last} 个事件" in result.inner_text()
