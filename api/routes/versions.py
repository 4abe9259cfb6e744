"""Process models for administrators: versions (upload, validate, publish, roll back, compare), moving
running cases to another version, and the modeler page that uses them.

Only ``process_admin`` may use these. The JSON endpoints accept a bearer token (API clients) or the pages'
session cookie with its CSRF token in the ``X-CSRF-Token`` header (the modeler page).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.deps import ClockDep, SessionDep, SettingsDep, current_user, oauth2
from api.schemas.common import ERRORS, MAX_ROW_ID, RowId
from api.schemas.versions import DraftIn, MigrationIn, PublishIn, RollbackIn
from api.web import session as cookies
from api.web.core import PageDep, WebRoute
from workflows.cases import migration
from workflows.infra.errors import PermissionDenied, Unauthenticated, ValidationFailed
from workflows.infra.models import ProcessVersion, User
from workflows.infra.settings import REPO_ROOT
from workflows.people.access import Actor, require_role
from workflows.people.accounts import actor_for
from workflows.people.directory import person_labels
from workflows.processes import versions

ADMIN_ROLE = versions.ADMIN_ROLE
NODE_MODULES = REPO_ROOT / "web" / "node_modules"
BUILT = NODE_MODULES / ".shouhu-build"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}

router = APIRouter(prefix="/api/process-models", tags=["流程版本 process models"], responses=ERRORS)
pages = APIRouter(route_class=WebRoute, include_in_schema=False)


def install(app: FastAPI) -> None:
    """The API, the modeler page, and bpmn-js / dmn-js as installed from npm (web/node_modules)."""
    app.include_router(router)
    app.include_router(pages)
    for package in ("bpmn-js", "dmn-js"):
        # check_dir=False: without `npm install` the API works; the page says the editor is missing
        app.mount(
            f"/vendor/{package}",
            StaticFiles(directory=NODE_MODULES / package / "dist", check_dir=False),
            name=f"vendor-{package}",
        )
    # dmn-js rebuilt for production by web/build.mjs (its published bundle carries Inferno's development build)
    app.mount("/vendor/build", StaticFiles(directory=BUILT, check_dir=False), name="vendor-build")


def _cookie_user(request: Request, session: SessionDep, clock: ClockDep, settings: SettingsDep) -> User:
    web = cookies.decode(request.cookies.get(cookies.COOKIE), secret=settings.signing_keys, now=clock.now())
    if web is None or web.user_id is None:
        raise Unauthenticated("请先登录", code="not_authenticated")
    if request.method in UNSAFE and not cookies.csrf_matches(web, request.headers.get(cookies.CSRF_HEADER)):
        raise PermissionDenied("页面已过期或来源无法确认，请刷新页面后重试", code="csrf_failed")
    user = session.get(User, web.user_id)
    if user is None or not user.active or user.token_version != web.token_version:
        raise Unauthenticated("登录已失效，请重新登录", code="token_revoked")
    return user


def admin_actor(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2)],
) -> Actor:
    """A process administrator, signed in by bearer token or by the pages' cookie (with CSRF)."""
    user = (
        current_user(session, clock, settings, token)
        if token
        else _cookie_user(request, session, clock, settings)
    )
    actor = actor_for(user)
    require_role(actor, ADMIN_ROLE, action="管理流程模型")
    return actor


AdminDep = Annotated[Actor, Depends(admin_actor)]


async def read_draft(request: Request) -> DraftIn:
    """The upload as JSON ``{files, note, base_version_id}`` or as multipart files (filename = path)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=versions.MAX_FILES)
        files: dict[str, str | None] = {}
        for field, value in form.multi_items():
            if isinstance(value, UploadFile):
                if value.size is not None and value.size > versions.MAX_FILE_CHARS * 4:
                    raise ValidationFailed(f"文件 {value.filename} 过大", code="file_invalid")
                try:
                    files[value.filename or field] = (await value.read()).decode("utf-8")
                except UnicodeDecodeError:
                    raise ValidationFailed(
                        f"文件 {value.filename} 不是 UTF-8 文本", code="file_invalid"
                    ) from None
        base = form.get("base_version_id")
        data: Any = {
            "files": _without_folder(files),
            "note": form.get("note") or "",
            "base_version_id": base or None,
        }
    else:
        try:
            data = await request.json()
        except ValueError:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": "", "input": None}]
            ) from None
    try:
        return DraftIn.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _without_folder(files: dict[str, str | None]) -> dict[str, str | None]:
    """A folder upload names files ``<folder>/process.bpmn`` …: keep the paths inside the folder."""
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) == 1 and all("/" in p for p in files) and f"{next(iter(tops))}/process.bpmn" in files:
        return {path.split("/", 1)[1]: text for path, text in files.items()}
    return files


_UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": DraftIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "文件名即文件在版本中的路径，如 forms/intake.json",
                        },
                        "note": {"type": "string"},
                        "base_version_id": {"type": "integer"},
                    },
                }
            },
        },
    }
}


def _problems(found: list[Any]) -> dict[str, Any]:
    return {"valid": not found, "problems": [p.as_dict() for p in found]}


def _version_out(version: ProcessVersion, *, files: bool = False) -> dict[str, Any]:
    out = versions.version_summary(version)
    if files:
        out.update(files=version.files, calls=version.calls)
    return out


@router.get("")
def list_processes(session: SessionDep, actor: AdminDep) -> list[dict[str, Any]]:
    """有版本的流程：当前发布的版本、版本数和运行中的案件数。"""
    return versions.list_processes(session=session, actor=actor)


@router.get("/{key}/versions")
def list_versions(key: str, session: SessionDep, actor: AdminDep) -> list[dict[str, Any]]:
    """流程的全部版本（新的在前）：谁在何时创建、发布，状态，运行中的案件数；人员附实名与单位（*_label）。"""
    found = versions.list_versions(session=session, actor=actor, process_key=key)
    names = person_labels(
        session,
        [v["created_by"] for v in found] + [p["by"] for v in found for p in v.get("publications", [])],
    )
    for v in found:
        v["created_by_label"] = names.get(v["created_by"], v["created_by"])
        for p in v.get("publications", []):
            p["by_label"] = names.get(p["by"], p["by"])
    return found


@router.post("/{key}/versions", status_code=201, openapi_extra=_UPLOAD_DOC)
def upload(
    key: str,
    body: Annotated[DraftIn, Depends(read_draft)],
    session: SessionDep,
    clock: ClockDep,
    actor: AdminDep,
) -> dict[str, Any]:
    """上传流程文件，保存为草稿版本（相同内容即同一版本），并返回校验结果。"""
    version, found, created = versions.upload_draft(
        session=session,
        clock=clock,
        actor=actor,
        process_key=key,
        files=body.files,
        note=body.note,
        base_version_id=body.base_version_id,
    )
    return {"version": _version_out(version), "created": created, **_problems(found)}


@router.get("/{key}/versions/{version_id}")
def get_version(key: str, version_id: RowId, session: SessionDep, actor: AdminDep) -> dict[str, Any]:
    """一个版本及其全部文件（版本文件永久保留）。"""
    version = versions.get_version(session=session, actor=actor, version_id=version_id, process_key=key)
    return _version_out(version, files=True)


@router.post("/{key}/versions/{version_id}/validate")
def validate(key: str, version_id: RowId, session: SessionDep, actor: AdminDep) -> dict[str, Any]:
    """校验版本：每个问题给出元素、行号和中文说明。"""
    return _problems(
        versions.validate_version(session=session, actor=actor, version_id=version_id, process_key=key)
    )


@router.post("/{key}/versions/{version_id}/publish")
def publish(
    key: str,
    version_id: RowId,
    session: SessionDep,
    clock: ClockDep,
    actor: AdminDep,
    body: PublishIn | None = None,
) -> dict[str, Any]:
    """发布：新案件按该版本开启，运行中的案件保持原版本。未通过校验时返回 422 和问题列表。"""
    version = versions.publish(
        session=session,
        clock=clock,
        actor=actor,
        version_id=version_id,
        process_key=key,
        note=body.note if body else "",
    )
    return _version_out(version)


@router.post("/{key}/rollback")
def rollback(
    key: str, session: SessionDep, clock: ClockDep, actor: AdminDep, body: RollbackIn | None = None
) -> dict[str, Any]:
    """回退：重新发布一个曾发布过的版本（默认上一个）。"""
    body = body or RollbackIn()
    version = versions.rollback(
        session=session, clock=clock, actor=actor, process_key=key, version_id=body.version_id, note=body.note
    )
    return _version_out(version)


@router.get("/{key}/diff")
def diff(
    key: str,
    session: SessionDep,
    actor: AdminDep,
    from_id: Annotated[int, Query(alias="from")],
    to_id: Annotated[int, Query(alias="to")],
) -> dict[str, Any]:
    """两个版本的差异：新增、删除、修改的文件和模型元素（按元素 id 和属性比较）。"""
    return versions.diff(session=session, actor=actor, from_id=from_id, to_id=to_id, process_key=key)


@router.post("/{key}/migrations")
def migrate(
    key: str, body: MigrationIn, session: SessionDep, clock: ClockDep, actor: AdminDep
) -> dict[str, Any]:
    """把运行中的案件迁移到另一个版本（默认只检查）：已完成的环节不变、当前环节在新版本中存在时才迁移；
    待办任务的编号、认领和期限以及计时器保持不变。"""
    results = migration.migrate(
        session=session,
        clock=clock,
        actor=actor,
        process_key=key,
        to_version_id=body.to_version_id,
        case_ids=body.case_ids,
        from_version_id=body.from_version_id,
        dry_run=body.dry_run,
        note=body.note,
    )
    return {
        "dry_run": body.dry_run,
        "results": [r.as_dict() for r in results],
        "migrated": sum(r.migrated for r in results),
        "safe": sum(r.safe for r in results),
    }


@pages.get("/modeler", response_class=HTMLResponse)
def modeler_page(
    page: PageDep, key: str | None = None, version: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None
) -> Response:
    require_role(page.actor, ADMIN_ROLE, action="编辑流程模型")
    ready = (NODE_MODULES / "bpmn-js" / "dist").is_dir()
    return page.render(
        "modeler.html",
        title="流程建模",
        process_key=key or "",
        version_id=version or "",
        editor_ready=ready,
        dmn_built=(BUILT / "dmn-modeler.production.min.js").is_file(),
    )
