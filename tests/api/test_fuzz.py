"""Fuzzing the whole OpenAPI with schemathesis and real tokens: no 5xx, every answer inside its declared
schema, every error {code, message, details} in Chinese.

Bounded: a few examples per operation and generation mode, derandomized (the same inputs every run), each
operation's requests rolled back afterwards so a fuzzed sign-out or deactivation does not spill over.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode
from sqlalchemy.orm import Session

from workflows.infra.clock import FixedClock
from workflows.people import accounts
from workflows.people.access import SYSTEM

EXAMPLES = 4  # per operation, per generation mode, per caller
CHINESE = re.compile(r"[\u4e00-\u9fff]")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# who calls what: the role whose work the operation is, so the fuzz reaches past the role check
CALLERS = {"process-models": "modeler", "users": "admin", "children": "director", "auth": "county"}


@pytest.fixture
def modeler(session: Session, clock: FixedClock) -> str:
    accounts.create_user(
        session=session,
        clock=clock,
        actor=SYSTEM,
        username="fuzz_modeler",
        display_name="测试流程管理员",
        roles=["process_admin"],
        jurisdiction_code="500111",
        password="correct-horse-1",
    )
    session.flush()
    return "fuzz_modeler"


def caller_of(path: str) -> str:
    part = path.split("/")[2]
    return CALLERS.get(part, "county")


def check_error_body(response: Any, where: str) -> None:
    if response.status_code < 400 or "json" not in response.headers.get("content-type", ""):
        return
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"code", "message", "details"}, (where, body)
    assert isinstance(body["message"], str) and CHINESE.search(body["message"]), (where, body)


def test_fuzz_every_operation(client: TestClient, login: Any, session: Session, modeler: str) -> None:
    schema = schemathesis.openapi.from_dict(client.app.openapi())  # type: ignore[attr-defined]
    tokens = {name: login(name) for name in ("county", "director", "admin")}
    tokens["modeler"] = login(modeler)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40, "the OpenAPI lost its operations"
    connection = session.connection()
    for operation in operations:
        who = "modeler" if operation.path.startswith("/api/process-models") else caller_of(operation.path)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            savepoint = connection.begin_nested()
            try:
                _fuzz(client, operation, mode, tokens[who], statuses, failures)
            finally:
                savepoint.rollback()
    print(
        f"fuzz: {sum(statuses.values())} requests over {len(operations)} operations; statuses {dict(statuses)}"
    )
    assert not failures, "\n".join(failures[:20])
    assert sum(v for k, v in statuses.items() if k >= 500) == 0
    assert sum(statuses.values()) >= len(operations) * 2


def _fuzz(
    client: TestClient,
    operation: Any,
    mode: GenerationMode,
    headers: dict[str, str],
    statuses: Counter[int],
    failures: list[str],
) -> None:
    try:
        strategy = operation.as_strategy(generation_mode=mode)
    except Exception:  # noqa: BLE001 - an operation with nothing to make negative
        return

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=dict(headers))
        kwargs.pop("base_url", None)
        method, url = kwargs.pop("method"), kwargs.pop("url")
        built = client.build_request(method, url, **_only_httpx(kwargs))
        built.read()  # a multipart body in memory, so a failure report can show it
        response = client.send(built)
        statuses[response.status_code] += 1
        where = f"{case.method} {url} [{mode.value}] → {response.status_code}"
        try:
            case.validate_response(response, checks=CHECKS)
            check_error_body(response, where)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, every operation runs
            failures.append(f"{where}: {str(exc)[:600]}")

    try:
        run()
    except Unsatisfiable:
        return  # nothing invalid can be made for this operation in this mode (no parameters)
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - hypothesis reports the last example
        failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {str(exc)[:600]}")


def _only_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    allowed = {"headers", "params", "json", "content", "data", "files", "cookies"}
    chosen = {k: v for k, v in kwargs.items() if k in allowed and v is not None}
    if chosen.get("files"):  # schemathesis may put numbers in multipart parts: send them as text
        chosen["files"] = [
            (name, (part[0], part[1] if isinstance(part[1], str | bytes) else str(part[1]), *part[2:]))
            for name, part in chosen["files"]
        ]
    if isinstance(chosen.get("data"), bytes):
        chosen["content"] = chosen.pop("data")
    return chosen
