"""Request and response bodies of the API (responses are documented, requests are validated)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, Field

# Numbers reaching the database stay within its 64-bit integers (a larger one is a 422, not a 500).
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="编号（正整数）")]
OFFSET_MAX = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=OFFSET_MAX, description="跳过的条数")]


class ErrorBody(BaseModel):
    code: str
    message: str = Field(description="给办事人员看的中文说明")
    details: Any = None


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: str
    user: dict[str, Any]


class CaseStart(BaseModel):
    process_key: str = Field(examples=["guardianship_intervention"])
    jurisdiction_code: str = Field(
        description="案件所在地的行政区划代码（村/居 12 位）",
        examples=["500111101201"],
        pattern=r"^\d{2,12}$",
    )
    child_ref: str | None = Field(
        default=None, max_length=64, description="儿童档案编号（未登记的儿童可不填）"
    )
    data: dict[str, Any] = Field(default_factory=dict, description="开始表单的数据")


class TaskComplete(BaseModel):
    data: dict[str, Any] = Field(default_factory=dict, description="任务表单的数据")


class Correction(BaseModel):
    changes: dict[str, Any] = Field(description="要更正的字段与新值")
    reason: str = Field(description="更正理由（必填）")


class MessageIn(BaseModel):
    name: str
    payload: Any = None


class UserCreate(BaseModel):
    username: str = Field(min_length=2, max_length=64)
    display_name: str = Field(min_length=1, max_length=100, description="真实姓名")
    roles: list[str]
    jurisdiction_code: str
    password: str
    certified: bool = False
    phone: str | None = None


class UserPatch(BaseModel):
    display_name: str | None = None
    roles: list[str] | None = None
    jurisdiction_code: str | None = None
    active: bool | None = None
    password: str | None = None
    phone: str | None = None


class HandOver(BaseModel):
    successor: str | None = Field(default=None, description="接替人的用户名；不填则退回待办池")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "请求格式有误（无法解析）"},
    401: {"model": ErrorBody, "description": "未登录或登录失效"},
    403: {"model": ErrorBody, "description": "角色无权操作"},
    404: {"model": ErrorBody, "description": "不存在或不在本人辖区"},
    409: {"model": ErrorBody, "description": "冲突（已被他人办理、已认领等）"},
    413: {"model": ErrorBody, "description": "提交的内容过大"},
    422: {"model": ErrorBody, "description": "填写有误（逐项中文说明）"},
}


def _text_answer(description: str, *media: str) -> dict[str, Any]:
    return {"description": description, "content": {m: {"schema": {"type": "string"}} for m in media}}


CSV_ANSWER = _text_answer("CSV 文件（UTF-8，带 BOM）", "text/csv")
HTML_ANSWER = _text_answer("可打印的 HTML", "text/html")
FILE_ANSWER = _text_answer("附件原文件", "application/pdf", "image/png", "image/jpeg")


def only_declared_media(openapi: dict[str, Any]) -> dict[str, Any]:
    """A success answer that declares a file type (CSV, HTML, PDF …) is not also JSON."""
    for path in openapi.get("paths", {}).values():
        for operation in path.values():
            for answer in operation.get("responses", {}).values():
                content = answer.get("content", {})
                if "application/json" in content and len(content) > 1:
                    content.pop("application/json")
    return openapi
