"""Domain errors mapped to HTTP once: {code, message, details} with a Chinese message."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from workflows.errors import (
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


def status_of(exc: DomainError) -> int:
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 400)


def body(code: str, message: str, details: object = None) -> dict[str, object]:
    return {"code": code, "message": message, "details": details}


def install(app: FastAPI) -> None:
    """Register the handlers on an app."""

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
        return JSONResponse(
            body(exc.code, exc.message, exc.details), status_code=status_of(exc), headers=headers
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A unique key (an event sequence number, an idempotency key) was taken by a concurrent request.
        return JSONResponse(
            body("concurrent_change", "数据已被他人同时修改，本次操作未生效，请刷新后重试"), status_code=409
        )

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields: dict[str, str] = {}
        for error in exc.errors():
            loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
            fields[".".join(loc) or "请求"] = _explain(error.get("type", ""))
        message = "请求内容有误：" + "；".join(f"{k}：{v}" for k, v in fields.items())
        return JSONResponse(body("request_invalid", message, {"fields": fields}), status_code=422)


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
    }.get(kind, "填写有误")
