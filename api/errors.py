"""Domain errors mapped to HTTP once: {code, message, details} with a Chinese message."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from workflows.infra.errors import (
    Conflict,
    DomainError,
    ModelError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)

STATUS = [
    (NotFound, 404),
    (PermissionDenied, 403),
    (Unauthenticated, 401),
    (Conflict, 409),
    (ValidationFailed, 422),
    (ModelError, 422),
]


HTTP_MESSAGES = {400: "请求格式有误", 404: "找不到该地址", 405: "不支持该请求方法", 413: "提交的内容过大"}


def status_of(exc: DomainError) -> int:
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 400)


def body(code: str, message: str, details: object = None) -> dict[str, object]:
    return {"code": code, "message": message, "details": details}


def install(app: FastAPI) -> None:
    """Register the handlers on an app."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return response_for(exc)

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        return response_for(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not request.url.path.startswith("/api"):
            return await http_exception_handler(request, exc)
        return http_error_json(exc)

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> JSONResponse:
        return response_for(exc)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields: dict[str, str] = {}
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
            fields[".".join(loc) or "请求"] = _explain(error.get("type", ""))
        message = "请求内容有误：" + "；".join(f"{k}：{v}" for k, v in fields.items())
        return JSONResponse(body("request_invalid", message, {"fields": fields}), status_code=422)


def response_for(exc: DomainError | IntegrityError | OperationalError) -> JSONResponse:
    """The answer to a refused action: the FastAPI routes' handlers and ``api.hot`` both give this."""
    if isinstance(exc, IntegrityError):
        # A unique key (an event sequence number, an idempotency key) was taken by a concurrent request.
        return JSONResponse(
            body("concurrent_change", "数据已被他人同时修改，本次操作未生效，请刷新后重试"), status_code=409
        )
    if isinstance(exc, OperationalError):
        # SQLite waits up to 30 s for the write lock; past that the request is refused, nothing written.
        return JSONResponse(body("database_busy", "系统繁忙，本次操作未生效，请稍后重试"), status_code=503)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return JSONResponse(body(exc.code, exc.message, exc.details), status_code=status_of(exc), headers=headers)


def http_error_json(exc: StarletteHTTPException) -> JSONResponse:
    """An HTTP-level failure (404, 405, 413 …) as the API's {code, message, details} in Chinese."""
    message = HTTP_MESSAGES.get(exc.status_code, "请求无法处理")
    return JSONResponse(
        body("http_error", message, {"status": exc.status_code}),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _explain(kind: str) -> str:
    return {
        "missing": "此项为必填项",
        "string_type": "应填写文本",
        "int_parsing": "应填写整数",
        "dict_type": "应为表单对象",
        "list_type": "应为列表",
        "bool_parsing": "应为是/否",
        "json_invalid": "不是有效的 JSON",
        "string_too_long": "内容过长",
        "string_too_short": "内容过短",
        "string_pattern_mismatch": "格式不正确",
    }.get(kind, "填写有误")
