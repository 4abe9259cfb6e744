"""Checkpoints on demand and a case's export file over HTTP: auditors only, the export verifies offline."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.test_happy_path import Login, start_case
from workflows.infra.keys import SigningKeys
from workflows.ops.export_check import check_export


def test_checkpoint_and_export_over_http(client: TestClient, login: Login) -> None:
    keys = SigningKeys.generate()
    client.app.state.signing_keys = keys  # type: ignore[attr-defined]
    case = start_case(client, login)
    assert client.post("/api/checkpoints", headers=login("director")).status_code == 403
    made = client.post("/api/checkpoints", headers=login("auditor"))
    assert made.status_code == 201 and made.json()["key_id"] == keys.key_id
    latest = client.get("/api/checkpoints/latest", headers=login("county")).json()
    assert latest["id"] == made.json()["id"] and latest["cases"] >= 1
    assert client.get(f"/api/cases/{case['id']}/export", headers=login("director")).status_code == 403
    response = client.get(f"/api/cases/{case['id']}/export", headers=login("auditor"))
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    result = check_export(response.content, [keys.public_key])
    assert result.ok, result.problems
    assert any("检查点" in n and "已签名固定" in n for n in result.notes)
