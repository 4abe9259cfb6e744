"""The modeler in Debian's Chromium: rename a task with bpmn-js's own direct editing, save a draft, see the
validation error on the element, fix it, publish — against a real uvicorn and a temporary SQLite file."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.browser.conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PASSWORD, require_chromium, serve_app
from tests.support.models import DATA
from workflows.infra.clock import SystemClock
from workflows.infra.db import create_all, make_engine
from workflows.infra.models import ProcessDefinition, ProcessVersion
from workflows.infra.settings import REPO_ROOT, Settings
from workflows.people import accounts
from workflows.people.access import SYSTEM
from workflows.processes import registry

BPMN_JS = REPO_ROOT / "web" / "node_modules" / "bpmn-js" / "dist" / "bpmn-modeler.production.min.js"
TASK = '#bpmn-canvas .djs-element.djs-shape[data-element-id="notify_family"]'


@dataclass
class Modeler:
    url: str
    engine: Engine


def _require_editor() -> None:
    if not BPMN_JS.is_file():
        problem = "web/node_modules 中没有 bpmn-js：请运行 ./run install（npm install）"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"浏览器测试无法运行：{problem}", pytrace=False)
        pytest.skip(f"浏览器测试跳过：{problem}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def modeler_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Modeler]:
    """uvicorn on 127.0.0.1 with one small model (with a diagram) and a process administrator."""
    require_chromium()
    _require_editor()

    from api.main import create_app

    folder = tmp_path_factory.mktemp("modeler")
    shutil.copytree(DATA / "modeler_demo", folder / "bpmn" / "modeler_demo")
    settings = Settings(
        demo=True, database_url=f"sqlite:///{folder / 'shouhu.db'}", data_dir=folder, bpmn_dir=folder / "bpmn"
    )
    engine = make_engine(settings.database_url)
    create_all(engine)
    with Session(engine) as session:
        registry.sync_bundled(session, bpmn_dir=settings.bpmn_dir, now=SystemClock().now())
        accounts.create_user(
            session=session,
            clock=SystemClock(),
            actor=SYSTEM,
            username="modeler",
            display_name="流程管理员",
            roles=["process_admin"],
            jurisdiction_code="50",
            password=PASSWORD,
        )
        session.commit()
    try:
        with serve_app(create_app(settings, prepare=False), "shouhu-modeler-server") as url:
            yield Modeler(url, engine)
    finally:
        engine.dispose()


def in_browser(steps: Callable[[Any], None]) -> None:
    """Run ``steps(page)`` in a desktop-sized Chromium page, in a thread of its own: Playwright's sync API
    refuses to start in a thread where another browser test's Playwright is still running."""
    from playwright.sync_api import sync_playwright

    def run() -> None:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            context = browser.new_context(
                viewport={"width": 1400, "height": 1000}, locale="zh-CN", timezone_id="Asia/Shanghai"
            )
            context.set_default_timeout(15_000)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            try:
                steps(page)
            finally:
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "modeler-last.png"), full_page=True)
                browser.close()
            assert errors == [], errors

    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(run).result(timeout=300)


def rename_task(page: Any, name: str) -> None:
    """Double-click the task and type its new name in bpmn-js's direct editing box, then click away."""
    page.locator(TASK).dblclick()
    box = page.locator(".djs-direct-editing-parent")
    box.wait_for(state="visible")
    page.keyboard.press("Control+A")
    page.keyboard.type(name)
    page.locator("#bpmn-canvas").click(position={"x": 40, "y": 40})  # clicking the canvas ends the editing
    box.wait_for(state="hidden")
    assert page.locator(TASK).text_content().replace("\n", "") == name


def save_draft(page: Any, note: str) -> None:
    page.fill("#note", note)
    page.click("#save-draft")
    page.wait_for_function(
        "document.getElementById('status').textContent.includes('草稿') || "
        "document.getElementById('status').textContent.includes('相同')"
    )


def test_rename_save_see_the_problem_fix_and_publish(modeler_server: Modeler) -> None:
    in_browser(lambda page: _rename_save_fix_publish(page, modeler_server))


def _rename_save_fix_publish(page: Any, modeler_server: Modeler) -> None:
    from playwright.sync_api import expect

    page.goto(f"{modeler_server.url}/modeler?key=modeler_demo")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#username", "modeler")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit].primary")
    page.wait_for_url(re.compile(r"/modeler\?key=modeler_demo$"))
    page.wait_for_selector("#modeler[data-ready='1']")
    expect(page.locator("#editing-label")).to_contain_text("已发布")

    rename_task(page, "告知留守儿童家庭")
    page.click("#publish")
    expect(page.locator("#status")).to_contain_text("未保存的修改")
    save_draft(page, "告知环节改名")
    problem = page.locator('#problem-list li.problem[data-element="notify_family"]')
    expect(problem).to_contain_text("标签化称谓")
    expect(page.locator(TASK)).to_have_class(re.compile(r"\bshouhu-problem\b"))
    expect(page.locator("#bpmn-canvas .mod-badge")).to_have_count(1)
    page.click("#publish")
    expect(page.locator("#status")).to_contain_text("不能发布")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "modeler-problem.png"))

    rename_task(page, "告知家庭处理结果")
    save_draft(page, "去掉标签化称谓")
    expect(page.locator("#problem-list")).to_contain_text("未发现问题")
    expect(page.locator(TASK)).not_to_have_class(re.compile(r"\bshouhu-problem\b"))
    page.click("#publish")
    expect(page.locator("#status")).to_contain_text("已发布版本")
    expect(page.locator("#versions tr").first).to_contain_text("已发布")

    with Session(modeler_server.engine) as session:
        definition = session.get(ProcessDefinition, "modeler_demo")
        version = session.get(ProcessVersion, definition.published_version_id)
        assert (version.source, version.created_by, version.note) == ("uploaded", "modeler", "去掉标签化称谓")
        assert 'name="告知家庭处理结果"' in version.files["process.bpmn"]
        assert set(version.files) == {
            "process.bpmn",
            "forms/start.json",
            "forms/intake.json",
            "forms/notify_family.json",
        }

    # the visual diff between the bundled version and the published one marks the renamed task
    page.select_option(
        "#diff-from",
        value=str(
            min(
                int(v)
                for v in page.eval_on_selector_all(
                    "#diff-from option", "options => options.map(o => o.value)"
                )
            )
        ),
    )
    page.select_option("#diff-to", value=str(version.id))
    page.click("#diff-show")
    expect(
        page.locator('#diff-to-canvas .djs-element.diff-changed[data-element-id="notify_family"]')
    ).to_have_count(1)
    expect(page.locator("#diff-list")).to_contain_text("notify_family")
    page.screenshot(path=str(ARTIFACTS / "modeler-diff.png"), full_page=True)


def test_the_form_editor_previews_as_you_type(modeler_server: Modeler) -> None:
    in_browser(lambda page: _form_preview(page, modeler_server))


def _form_preview(page: Any, modeler_server: Modeler) -> None:
    from playwright.sync_api import expect

    page.goto(f"{modeler_server.url}/login?next=/modeler%3Fkey%3Dmodeler_demo")
    page.fill("#username", "modeler")
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit].primary")
    page.wait_for_selector("#modeler[data-ready='1']")
    page.click('#file-tabs button[data-file="forms/intake.json"]')
    expect(page.locator("#form-preview")).to_contain_text("报告渠道")
    text = page.locator("#text-area")
    text.fill(text.input_value().replace("情况说明", "家访情况"))
    expect(page.locator("#form-preview")).to_contain_text("家访情况")
    text.fill("{ not json")
    expect(page.locator("#form-preview .alert")).to_contain_text("不是有效的 JSON")
