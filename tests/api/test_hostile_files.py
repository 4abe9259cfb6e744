"""Hostile models and files: each is refused with a Chinese message (4xx), never a 500, never a read of a
local file or a fetch of a URL, never a pattern that freezes the server."""

from __future__ import annotations

import inspect
import io
import json
import re
import threading
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.main import create_app
from tests.support.model_edits import review_demo
from tests.support.people import PASSWORD
from workflows.forms.validator import FormSet
from workflows.infra.clock import FixedClock
from workflows.infra.errors import ModelError
from workflows.infra.settings import Settings
from workflows.papers.documents import clean_filename
from workflows.people import accounts
from workflows.people.access import SYSTEM

API = "/api/process-models/review_demo"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
VILLAGE = "500111101201"
XXE = '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    + "]>\n"
)


@pytest.fixture
def admin(session: Session, clock: FixedClock, login: Callable[[str], dict[str, str]]) -> dict[str, str]:
    accounts.create_user(
        session=session,
        clock=clock,
        actor=SYSTEM,
        username="hostile_modeler",
        display_name="流程管理员",
        roles=["process_admin"],
        jurisdiction_code="50",
        password=PASSWORD,
    )
    session.flush()
    return login("hostile_modeler")


def with_prologue(prologue: str, entity: str) -> dict[str, str]:
    files = review_demo()
    bpmn = files["process.bpmn"]
    body = bpmn[bpmn.index("?>") + 2 :] if bpmn.startswith("<?xml") else bpmn
    body = body.replace('name="登记"', f'name="登记{entity}"', 1)
    return {**files, "process.bpmn": prologue + body}


def refused_model(client: TestClient, admin: dict[str, str], files: dict[str, str], word: str) -> None:
    response = client.post(f"{API}/versions", headers=admin, json={"files": files, "note": "恶意"})
    assert response.status_code in (201, 413, 422), response.text
    body = response.json()
    assert CHINESE.search(body.get("message", "") + json.dumps(body, ensure_ascii=False))
    if response.status_code == 201:
        assert body["valid"] is False and any(word in p["message"] for p in body["problems"]), body[
            "problems"
        ]
        checked = client.post(
            f"{API}/versions/{body['version']['id']}/publish", headers=admin, json={"note": "x"}
        )
        assert checked.status_code == 422, checked.text
    else:
        assert word in json.dumps(body, ensure_ascii=False)
    assert "root:" not in response.text  # nothing of /etc/passwd


@pytest.mark.parametrize(
    ("files", "word"),
    [
        (with_prologue(XXE, "&xxe;"), "DOCTYPE"),
        (with_prologue(LAUGHS, "&lol9;"), "DOCTYPE"),
        ({**review_demo(), "grade.dmn": XXE + "<definitions>&xxe;</definitions>"}, "DOCTYPE"),
        ({**review_demo(), "process.bpmn": "<a>" * 5000 + "</a>" * 5000}, "XML"),
    ],
    ids=["external-entity", "billion-laughs", "dmn-entity", "nested-5000"],
)
def test_hostile_xml_is_refused(
    client: TestClient, admin: dict[str, str], files: dict[str, str], word: str
) -> None:
    refused_model(client, admin, files, word)


def test_a_50_mb_model_is_refused_before_it_is_read(client: TestClient, admin: dict[str, str]) -> None:
    big = {**review_demo(), "process.bpmn": "<a>" + "x" * (50 * 1024 * 1024) + "</a>"}
    response = client.post(f"{API}/versions", headers=admin, json={"files": big, "note": "大"})
    assert response.status_code == 413 and CHINESE.search(response.json()["message"])


def _form(**extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"child_name": {"type": "string", **extra}},
        "required": ["child_name"],
    }


@pytest.mark.parametrize(
    "ref",
    [
        "http://127.0.0.1:9/s.json",
        "file:///etc/passwd",
        "file:///etc/hostname#/x",
        "../../etc/passwd",
        "other.json",
    ],
)
def test_form_references_outside_the_version_are_refused_and_never_fetched(ref: str) -> None:
    schema = {"type": "object", "properties": {"child_name": {"$ref": ref}}}
    with pytest.raises(ModelError) as info:
        FormSet.from_files({"forms/start.json": json.dumps(schema)})
    assert info.value.code == "form_ref_outside" and "只能引用本版本" in info.value.message


def test_references_inside_the_version_still_work() -> None:
    common = {"$defs": {"name": {"type": "string", "maxLength": 5}}}
    schema = {"type": "object", "properties": {"child_name": {"$ref": "common.json#/$defs/name"}}}
    forms = FormSet.from_files(
        {"forms/start.json": json.dumps(schema), "forms/common.json": json.dumps(common)}
    )
    assert forms.require("start").validate({"child_name": "小明"}) == {"child_name": "小明"}
    with pytest.raises(Exception, match="不能超过 5 个字"):
        forms.require("start").validate({"child_name": "很长很长的名字"})


def test_a_catastrophic_pattern_runs_in_linear_time() -> None:
    form = FormSet.from_files({"forms/start.json": json.dumps(_form(pattern="^(a+)+$"))}).require("start")
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            form.validate({"child_name": "a" * 100_000 + "!"})
        except Exception as exc:  # noqa: BLE001 - the refusal is the expected outcome
            outcome["error"] = exc

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=60)  # backtracking would need longer than the age of the universe
    assert not worker.is_alive() and "格式不正确" in str(outcome["error"].details)
    assert form.validate({"child_name": "aaaa"}) == {"child_name": "aaaa"}


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=a)a", r"(?<=a)b"])
def test_patterns_a_linear_engine_cannot_run_are_refused_at_validation(pattern: str) -> None:
    with pytest.raises(ModelError) as info:
        FormSet.from_files({"forms/start.json": json.dumps(_form(pattern=pattern))})
    assert info.value.code == "form_pattern_invalid"


def test_no_fastapi_route_does_blocking_work_on_the_event_loop() -> None:
    """FastAPI's routes never block the event loop. (The hot lane, api/hot.py, runs the task routes' work on
    the loop on purpose, with bounded waits: tests/api/test_hot_lane.py, tests/integration/test_lock_waits.py.)"""
    from fastapi.routing import APIRoute

    app = create_app(Settings(demo=True, database_url="sqlite://"), prepare=False)
    routes = [r for r in _routes(app.router.routes) if isinstance(r, APIRoute)]
    assert len(routes) > 60
    coroutines = [r for r in routes if inspect.iscoroutinefunction(r.endpoint)]
    # a coroutine endpoint is allowed only as a wrapper whose one await hands all its work to the thread
    # pool (``as_signed_in``: sign-in check, service and commit in one hand-off)
    blocking = [
        f"{sorted(r.methods)} {r.path}"
        for r in coroutines
        if inspect.getsource(r.endpoint).count("await ") != 1
        or "return await as_signed_in(" not in inspect.getsource(r.endpoint)
    ]
    assert blocking == []
    assert {r.path for r in coroutines} == {
        "/api/tasks",
        "/api/tasks/{task_id}/claim",
        "/api/tasks/{task_id}/unclaim",
        "/api/tasks/{task_id}/complete",
    }


def _routes(routes: list[Any]) -> list[Any]:
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        found.extend(_routes(inner.routes) if inner is not None else [route])
    return found


# --- imports ---------------------------------------------------------------------------------------
def _import(client: TestClient, login: Callable[[str], dict[str, str]], name: str, content: bytes) -> Any:
    return client.post(
        "/api/children/import",
        headers=login("director"),
        files={"file": (name, content, "application/octet-stream")},
    )


def _xlsx(sheet_xml: bytes, *, corrupt: bool = False) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["name", "gender"])
    out = io.BytesIO()
    book.save(out)
    src = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    dst_buffer = io.BytesIO()
    with zipfile.ZipFile(dst_buffer, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet_xml
            dst.writestr(item, data)
    raw = dst_buffer.getvalue()
    if corrupt:  # flip a byte inside the compressed sheet: the CRC no longer matches
        at = raw.index(b"xl/worksheets/sheet1.xml") + 40
        raw = raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1 :]
    return raw


SHEET = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'


@pytest.mark.parametrize(
    ("name", "content"),
    [
        (
            "bad-crc.xlsx",
            _xlsx(
                SHEET
                + b'<row r="1"><c r="A1" t="inlineStr"><is><t>name</t></is></c></row>' * 50
                + b"</sheetData></worksheet>",
                corrupt=True,
            ),
        ),
        (
            "laughs.xlsx",
            _xlsx(
                LAUGHS.encode()
                + SHEET
                + b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
            ),
        ),
        ("notzip.xlsx", b"PK\x03\x04 this is not a workbook"),
        ("rows.csv", ("name,gender\n" + "小明,男\n" * 100_001).encode()),
        ("quote.csv", b'name,gender\n"unterminated,\xe7\x94\xb7\n\n'),
        ("latin.csv", "name\nMüller".encode("latin-1")),
    ],
    ids=["bad-crc", "entity-expansion", "not-a-zip", "100k-rows", "broken-quote", "not-utf8"],
)
def test_hostile_imports_are_4xx(
    client: TestClient, login: Callable[[str], dict[str, str]], name: str, content: bytes
) -> None:
    response = _import(client, login, name, content)
    assert 400 <= response.status_code < 500, response.text
    assert CHINESE.search(response.json()["message"])


def test_a_zip_bomb_is_refused_before_it_is_unpacked(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("xl/worksheets/sheet1.xml", b"\0" * (60 * 1024 * 1024))
    response = _import(client, login, "bomb.xlsx", buffer.getvalue())
    assert response.status_code == 422 and "过大" in response.json()["message"]


def test_formula_cells_are_not_exported_as_formulas(
    client: TestClient, login: Callable[[str], dict[str, str]]
) -> None:
    csv = 'name,gender,birth_date,village_code,notes\n小明,male,2015-01-01,500111101201,=HYPERLINK("http://x")\n'
    response = _import(client, login, "formula.csv", csv.encode())
    assert response.status_code == 200, response.text
    exported = client.get("/api/children/export", headers=login("director")).text
    assert "'=HYPERLINK" in exported and ",=HYPERLINK" not in exported


# --- attachments ------------------------------------------------------------------------------------
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32 + b"IEND\xaeB`\x82"


@pytest.fixture
def case_id(client: TestClient, login: Callable[[str], dict[str, str]]) -> str:
    response = client.post(
        "/api/cases",
        headers=login("director"),
        json={"process_key": "review_demo", "jurisdiction_code": VILLAGE, "data": {"child_name": "小明"}},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _attach(
    client: TestClient, login: Callable[[str], dict[str, str]], case: str, name: str, data: bytes, kind: str
) -> Any:
    return client.post(
        f"/api/cases/{case}/attachments",
        headers=login("director"),
        data={"kind": "signed_agreement"},
        files={"file": (name, data, kind)},
    )


@pytest.mark.parametrize(
    ("name", "data", "kind"),
    [
        ("a.pdf", PDF[:-6] + b"<html><script>alert(1)</script></html>\n%%EOF\n", "application/pdf"),
        ("a.png", PNG[:-12] + b"<script>alert(1)</script>" + PNG[-12:], "image/png"),
        ("a.pdf", PNG, "application/pdf"),
        ("a.png", b"\x89PNG\r\n\x1a\n<!doctype html><p>hi", "image/png"),
        ("a.html", b"<html><body>hi</body></html>", "text/html"),
        ("a.pdf", b"%PDF-1.4 truncated", "application/pdf"),
    ],
    ids=[
        "pdf-html-polyglot",
        "png-script-polyglot",
        "png-called-pdf",
        "png-magic-then-html",
        "html",
        "truncated-pdf",
    ],
)
def test_lying_and_polyglot_attachments_are_refused(
    client: TestClient,
    login: Callable[[str], dict[str, str]],
    case_id: str,
    name: str,
    data: bytes,
    kind: str,
) -> None:
    response = _attach(client, login, case_id, name, data, kind)
    assert response.status_code == 422 and "PDF" in response.json()["message"], response.text


def test_attachments_are_served_with_nosniff_and_a_clean_name(
    client: TestClient, login: Callable[[str], dict[str, str]], case_id: str
) -> None:
    made = _attach(client, login, case_id, "../../etc/passwd.pdf", PDF, "application/pdf")
    assert made.status_code == 201, made.text
    assert made.json()["filename"] == "passwd.pdf"
    served = client.get(f"/api/attachments/{made.json()['id']}", headers=login("director"))
    assert served.status_code == 200 and served.content == PDF
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("C:\\Users\\x\\报告.pdf", "报告.pdf"),
        ("....pdf", "pdf"),
        ("a/b/<c>.png", "c.png"),
        ("", "附件"),
        ("/", "附件"),
    ],
)
def test_file_names_lose_their_paths(given: str, kept: str) -> None:
    assert clean_filename(given) == kept
