"""The caseworkers' web pages (Chinese, server-rendered Jinja2, htmx for autosave), beside the JSON API.

The pages call the same services as the API (``workflows.*``), in the same one-commit unit of work, with the
same role × jurisdiction rules and access log; they never call the API over HTTP.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.web import admin, auth, childforms, children, compliance, mycases, papers, reports, tasks
from api.web.core import HTMX_DIR, STATIC_DIR, http_error


def install(app: FastAPI) -> None:
    """Mount the pages, the stylesheet and the htmx file installed from npm (web/node_modules)."""
    for module in (auth, tasks, mycases, reports, childforms, children, papers, admin, compliance):
        app.include_router(module.router)
    # pages answer HTTP-level failures in Chinese HTML (the API keeps its JSON body)
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    # check_dir=False: without `npm install` the pages still work, only the autosave is missing
    app.mount("/vendor/htmx", StaticFiles(directory=HTMX_DIR, check_dir=False), name="htmx")
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:  # browsers ask for it on every site, whatever the page links
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")
