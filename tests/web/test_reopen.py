"""Post/redirect/get: every form answers with a 303 to a page that can be reopened; a form's address opened
directly leads to its page, never to raw JSON; HTTP errors of the pages are Chinese pages; people by name."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

Login = Callable[[str], str]


def _first_task(client: TestClient) -> str:
    found = re.search(r'href="/tasks/([0-9a-f-]{36})"', client.get("/tasks").text)
    assert found
    return found.group(1)


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every route of the app, also those of included routers (prefixes: none on the pages)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)


def test_every_form_address_opened_directly_leads_to_a_page(
    client: TestClient, web_login: Login, demo_case: Callable[..., str]
) -> None:
    demo_case()
    web_login("director")
    task_id = _first_task(client)
    app_routes = list(_routes(client.app.routes))  # type: ignore[attr-defined]
    gets = {r.path for r in app_routes if "GET" in r.methods}
    posts = [  # every page form of the app (other modules' pages too), not the JSON API
        r.path
        for r in app_routes
        if "POST" in r.methods and not r.path.startswith("/api") and r.path not in gets
    ]
    assert len(posts) >= 10
    for path in posts:
        url = (
            path.replace("{task_id}", task_id)
            .replace("{child_ref}", "CHILD-1")
            .replace("{user_id}", "1")
            .replace("{item_id}", "1")
        )
        url = re.sub(r"\{[a-z_]+\}", "1", url)  # any other page's parameter
        opened = client.get(url, follow_redirects=False)
        assert opened.status_code in (200, 303, 403, 404), (url, opened.status_code)  # never 405
        if opened.status_code != 303:
            assert "text/html" in opened.headers["content-type"], url
        assert "Method Not Allowed" not in opened.text


def test_unknown_page_is_a_chinese_page_and_the_api_keeps_json(client: TestClient) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "找不到页面" in page.text and "detail" not in page.text
    api = client.get("/api/no-such-thing")
    assert api.status_code == 404 and api.json()["code"] == "http_error"


def test_completion_redirects_to_a_done_page_that_reopens(
    client: TestClient, web_login: Login, demo_case: Callable[..., str]
) -> None:
    demo_case()
    csrf = web_login("director")
    task_id = _first_task(client)
    form = {"csrf_token": csrf, "score": "88", "note": "已核实", "idempotency_key": "k-prg"}
    done = client.post(f"/tasks/{task_id}/complete", data=form, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/tasks/{task_id}/done"
    for _ in range(2):  # a reload shows the same page and changes nothing
        page = client.get(done.headers["location"])
        assert page.status_code == 200 and "已办结" in page.text and "下一步" in page.text
        assert "测试director" in page.text and ">director<" not in page.text
    case_page = client.get(re.search(r'href="(/cases/[0-9a-f-]{36})"', page.text).group(1))  # type: ignore[union-attr]
    timeline = case_page.text.split("办理记录", 1)[1]
    assert "测试director（" in timeline and "儿童主任" in timeline
    assert "（director）" not in timeline


def test_claimed_by_is_a_real_name_with_unit(
    client: TestClient, web_login: Login, demo_case: Callable[..., str]
) -> None:
    demo_case()
    csrf = web_login("director")
    task_id = _first_task(client)
    client.post(f"/tasks/{task_id}/claim", data={"csrf_token": csrf})
    page = client.get(f"/tasks/{task_id}").text
    assert "认领人" in page and "测试director" in page
    assert "认领人 director" not in page
