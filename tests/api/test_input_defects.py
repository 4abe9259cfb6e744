"""Inputs that once answered 500 or were wrongly accepted (found by fuzzing): each is now a Chinese 4xx."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from workflows.forms.validator import FormSet
from workflows.infra.errors import ModelError, ValidationFailed

HUGE = 2**63
CHINESE = re.compile(r"[\u4e00-\u9fff]")
VILLAGE = "500111101201"
REPORT = {
    "reporter_type": "village_director",
    "situation": "abuse",
    "without_guardian": False,
    "immediate_danger": False,
    "child_known": True,
    "child_name": "小林",
    "location_description": "一村",
    "description": "邻居反映孩子常被打。",
}


def refused(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "details"} and CHINESE.search(body["message"]), body
    return body


@pytest.mark.parametrize(
    "path", ["/api/cases", "/api/tasks", "/api/children", "/api/notifications", "/api/users"]
)
def test_offsets_beyond_the_database_integers_are_refused(client: TestClient, login: Any, path: str) -> None:
    refused(client.get(path, params={"offset": HUGE}, headers=login("county")))
    assert client.get(path, params={"offset": 5}, headers=login("county")).status_code in (200, 403)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/documents/{n}"),
        ("GET", "/api/documents/{n}/pdf"),
        ("GET", "/api/attachments/{n}"),
        ("POST", "/api/notifications/{n}/read"),
        ("GET", "/api/users/{n}"),
    ],
)
def test_ids_beyond_the_database_integers_are_refused(
    client: TestClient, login: Any, method: str, path: str
) -> None:
    response = client.request(method, path.format(n=HUGE), headers=login("admin"))
    assert response.status_code == 422, response.text
    assert client.request(method, path.format(n=HUGE - 1), headers=login("admin")).status_code in (
        401,
        403,
        404,
    )


def test_deeply_nested_form_values_are_refused_not_a_recursion_error(client: TestClient, login: Any) -> None:
    for depth in (40, 900):
        nested: Any = "x"
        for _ in range(depth):
            nested = [nested]
        body = {"process_key": "review_demo", "jurisdiction_code": VILLAGE, "data": {"child_name": nested}}
        answer = refused(client.post("/api/cases", json=body, headers=login("director")))
        assert "嵌套" in answer["message"]
    shallow = {"process_key": "review_demo", "jurisdiction_code": VILLAGE, "data": {"child_name": [["x"]]}}
    assert (
        "嵌套" not in refused(client.post("/api/cases", json=shallow, headers=login("director")))["message"]
    )


def test_a_lone_surrogate_is_refused_anywhere_in_a_json_body(client: TestClient, login: Any) -> None:
    body = {"process_key": "review_demo", "jurisdiction_code": VILLAGE, "data": {"child_name": "SURROGATE"}}
    raw = json.dumps(body).replace("SURROGATE", "\\ud800")
    answer = refused(
        client.post(
            "/api/cases", content=raw, headers={**login("director"), "Content-Type": "application/json"}
        )
    )
    assert answer["code"] == "text_invalid"
    paired = raw.replace("\\ud800", "\\ud83d\\ude00")  # a proper pair (an emoji) is fine
    response = client.post(
        "/api/cases", content=paired, headers={**login("director"), "Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text


def test_a_wrong_id_check_digit_is_refused_at_case_start(client: TestClient, login: Any) -> None:
    body = {"process_key": "guardianship_intervention", "jurisdiction_code": VILLAGE}
    wrong = {**REPORT, "child_id_number": "500111201001011234"}
    answer = refused(client.post("/api/cases", json={**body, "data": wrong}, headers=login("director")))
    assert answer["details"]["fields"]["child_id_number"] == "身份证号校验位不正确，请核对"
    right = {**REPORT, "child_id_number": "500111201001011232"}
    assert (
        client.post("/api/cases", json={**body, "data": right}, headers=login("director")).status_code == 201
    )


def test_the_openapi_declares_400_and_the_file_types(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()["paths"]
    assert "400" in spec["/api/cases"]["post"]["responses"]
    assert set(spec["/api/children/export"]["get"]["responses"]["200"]["content"]) == {"text/csv"}
    assert set(spec["/api/documents/{document_id}"]["get"]["responses"]["200"]["content"]) == {"text/html"}
    assert spec["/api/documents/{document_id}"]["get"]["responses"]["404"]["content"].keys() == {
        "application/json"
    }


def _forms(**schemas: Any) -> FormSet:
    return FormSet.from_files({f"forms/{k}.json": json.dumps(v) for k, v in schemas.items()})


TIMED = {
    "type": "object",
    "properties": {
        "at": {"type": "string", "format": "date-time", "title": "时间"},
        "grounds": {"type": "string", "title": "理由"},
        "apply": {"type": "boolean"},
    },
    "allOf": [
        {
            "if": {"properties": {"apply": {"const": True}}, "required": ["apply"]},
            "then": {"required": ["grounds"]},
        }
    ],
}


def test_date_times_a_person_types_are_accepted_as_beijing_time_and_others_say_the_format() -> None:
    form = _forms(start=TIMED).require("start")
    assert form.validate({"at": "2026-12-02 06:30"})["at"] == "2026-12-02T06:30:00+08:00"
    assert form.validate({"at": "2026-12-02T06:30"})["at"] == "2026-12-02T06:30:00+08:00"
    assert form.validate({"at": "2026-12-01T22:30:00Z"})["at"] == "2026-12-01T22:30:00Z"
    for wrong in ("02/12/2026 06:30", "2026-13-02 06:30", "明天早上"):
        with pytest.raises(ValidationFailed) as info:
            form.validate({"at": wrong})
        assert "格式如 2026-01-31 08:30" in info.value.details["fields"]["at"]


def test_text_of_only_spaces_does_not_fill_a_required_field() -> None:
    form = _forms(start=TIMED).require("start")
    with pytest.raises(ValidationFailed) as info:
        form.validate({"apply": True, "grounds": "   "})
    assert info.value.details["fields"] == {"grounds": "此项为必填项（不能只填空格）"}
    assert form.validate({"apply": True, "grounds": " 有理由 "})["grounds"] == " 有理由 "
    assert form.validate({"apply": False, "grounds": "  "})["grounds"] == "  "  # not required: kept as typed


def test_openapi_error_bodies_are_json_even_where_the_answer_is_a_file(
    client: TestClient, login: Any
) -> None:
    response = client.get("/api/documents/1", headers=login("county"))
    assert response.headers["content-type"].startswith("application/json")
    refused(response, 404)


def test_form_schemas_that_are_not_json_schema_are_a_model_error() -> None:
    with pytest.raises(ModelError):
        _forms(start={"type": "object", "properties": {"a": {"type": 5}}})
