"""Children's files over HTTP: register, masked read, reveal with reason, import per-row errors, export."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.unit.test_children import ID_A, ID_B

Login = Callable[[str], dict[str, str]]
VILLAGE = "500111101201"


def test_file_over_http(client: TestClient, login: Login) -> None:
    director = login("director")
    made = client.post(
        "/api/children",
        headers=director,
        json={"name": "小明", "birth_date": "2015-06-01", "id_number": ID_A, "village_code": VILLAGE},
    )
    assert made.status_code == 201, made.text
    child_id = made.json()["id"]
    assert made.json()["id_number"].count("*") == 10
    assert client.get(f"/api/children/{child_id}", headers=login("neighbour")).status_code == 404
    refused = client.post(f"/api/children/{child_id}/reveal-id", headers=director, json={"reason": "看"})
    assert refused.status_code == 422 and "理由" in refused.json()["message"]
    shown = client.post(
        f"/api/children/{child_id}/reveal-id", headers=director, json={"reason": "办理入学资助"}
    )
    assert shown.json() == {"id_number": ID_A}
    bad = client.post(
        "/api/children",
        headers=director,
        json={"name": "x", "village_code": VILLAGE, "id_number": ID_A[:-1] + "0"},
    )
    assert bad.status_code in (409, 422)


def test_import_reports_rows_and_imports_nothing(client: TestClient, login: Login) -> None:
    director = login("director")
    content = (
        f"name,birth_date,id_number,village_code\n甲,2015-06-01,{ID_A},{VILLAGE}\n乙,2012-02-30,,{VILLAGE}\n"
    )
    response = client.post(
        "/api/children/import", headers=director, files={"file": ("files.csv", content.encode(), "text/csv")}
    )
    assert response.status_code == 422 and response.json()["details"]["rows"] == {
        "3": {"birth_date": "应为日期，格式如 2015-06-01"}
    }
    assert client.get("/api/children", headers=director).json()["total"] == 0
    content = content.replace("2012-02-30,", f"2012-02-29,{ID_B}")
    response = client.post(
        "/api/children/import", headers=director, files={"file": ("files.csv", content.encode(), "text/csv")}
    )
    assert response.status_code == 200 and response.json()["imported"] == 2
    exported = client.get("/api/children/export", headers=director, params={"village_code": VILLAGE})
    assert exported.status_code == 200 and ID_A not in exported.text and "乙" in exported.text


def test_records_never_carry_the_full_id_number(client: TestClient, login: Login) -> None:
    made = client.post(
        "/api/children",
        headers=login("director"),
        json={"name": "小明", "birth_date": "2015-06-01", "id_number": ID_A, "village_code": VILLAGE},
    )
    child_id = made.json()["id"]
    client.patch(
        f"/api/children/{child_id}",
        headers=login("director"),
        json={"changes": {"id_number": ID_A, "notes": "核对"}, "reason": "核对身份证号"},
    )
    seen = client.get(f"/api/children/{child_id}", headers=login("committee")).json()
    assert ID_A not in str(seen) and seen["records"][0]["payload"]["id_number"].count("*") == 10
    refused = client.post(
        f"/api/children/{child_id}/reveal-id", headers=login("committee"), json={"reason": "需要核对"}
    )
    assert refused.status_code == 403


def test_id_numbers_in_case_data_are_masked(client: TestClient, login: Login) -> None:
    response = client.post(
        "/api/cases",
        headers=login("director"),
        json={
            "process_key": "guardianship_intervention",
            "jurisdiction_code": VILLAGE,
            "data": {
                "reporter_type": "public",
                "situation": "abuse",
                "without_guardian": False,
                "immediate_danger": False,
                "child_known": True,
                "child_name": "小明",
                "child_id_number": ID_A,
                "location_description": "三组",
                "description": "疑似被打",
            },
        },
    )
    assert response.status_code == 201, response.text
    case_id = response.json()["id"]
    for path in (f"/api/cases/{case_id}", f"/api/cases/{case_id}/history"):
        assert ID_A not in client.get(path, headers=login("county")).text
