"""Process versions for administrators: upload drafts, validate, publish, roll back, compare.

Keyword-only services that flush and never commit; only ``process_admin`` may use them. A version's
files are kept for ever; publishing moves the process's published pointer (new cases start on it,
running cases keep theirs) and is recorded in ``process_publications``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from workflows.infra import safexml
from workflows.infra.clock import Clock, iso_utc
from workflows.infra.errors import Conflict, NotFound, ValidationFailed
from workflows.infra.models import Case, ProcessDefinition, ProcessPublication, ProcessVersion
from workflows.people.access import Actor, require_role
from workflows.processes import compare, registry, validation

ADMIN_ROLE = "process_admin"
MAX_FILES, MAX_FILE_CHARS, MAX_TOTAL_CHARS = 200, 1_000_000, 5_000_000
_PATH = re.compile(r"^(?:[A-Za-z0-9_\-][A-Za-z0-9_.\-]*/){0,3}[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$")


def _admin(actor: Actor, action: str) -> None:
    require_role(actor, ADMIN_ROLE, action=action)


# --- reading --------------------------------------------------------------------------------------
def list_processes(*, session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Every process with versions: its published version and how many versions and running cases it has."""
    _admin(actor, "查看流程版本")
    counts = dict(
        session.execute(select(ProcessVersion.process_key, func.count()).group_by(ProcessVersion.process_key))
        .tuples()
        .all()
    )
    running = dict(
        session.execute(
            select(Case.process_key, func.count()).where(Case.status == "running").group_by(Case.process_key)
        )
        .tuples()
        .all()
    )
    definitions = {d.key: d for d in session.scalars(select(ProcessDefinition))}
    names = dict(
        session.execute(select(ProcessVersion.process_key, ProcessVersion.name).order_by(ProcessVersion.id))
        .tuples()
        .all()
    )
    return [
        {
            "key": key,
            "name": definitions[key].name if key in definitions else names.get(key, key),
            "published_version_id": definitions[key].published_version_id if key in definitions else None,
            "versions": counts[key],
            "running_cases": running.get(key, 0),
        }
        for key in sorted(counts)
    ]


def list_versions(*, session: Session, actor: Actor, process_key: str) -> list[dict[str, Any]]:
    """A process's versions, newest first, with who made them and who published them when."""
    _admin(actor, "查看流程版本")
    versions = list(
        session.scalars(
            select(ProcessVersion)
            .where(ProcessVersion.process_key == process_key)
            .order_by(ProcessVersion.id.desc())
            .options(defer(ProcessVersion.files))  # a list needs no files
        )
    )
    if not versions:
        raise NotFound(f"没有流程 {process_key} 的版本", code="process_not_found")
    publications: dict[int, list[dict[str, Any]]] = {}
    for row in session.scalars(
        select(ProcessPublication)
        .where(ProcessPublication.process_key == process_key)
        .order_by(ProcessPublication.id)
    ):
        publications.setdefault(row.version_id, []).append(
            {"action": row.action, "at": iso_utc(row.published_at), "by": row.published_by, "note": row.note}
        )
    running = dict(
        session.execute(
            select(Case.process_version_id, func.count())
            .where(Case.process_key == process_key, Case.status == "running")
            .group_by(Case.process_version_id)
        )
        .tuples()
        .all()
    )
    return [
        {
            **version_summary(v),
            "publications": publications.get(v.id, []),
            "running_cases": running.get(v.id, 0),
        }
        for v in versions
    ]


def version_summary(version: ProcessVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "process_key": version.process_key,
        "name": version.name,
        "content_hash": version.content_hash,
        "status": version.status,
        "source": version.source,
        "created_by": version.created_by,
        "created_at": iso_utc(version.created_at),
        "note": version.note,
    }


def get_version(
    *, session: Session, actor: Actor, version_id: int, process_key: str | None = None
) -> ProcessVersion:
    """One version with its files (kept for ever); with ``process_key``, only a version of that process."""
    _admin(actor, "查看流程版本")
    version = session.get(ProcessVersion, version_id)
    if version is None or (process_key is not None and version.process_key != process_key):
        raise NotFound("找不到该流程版本", code="version_not_found")
    return version


# --- drafts, validation, publishing ---------------------------------------------------------------
def upload_draft(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    process_key: str,
    files: Mapping[str, str | None],
    note: str = "",
    base_version_id: int | None = None,
) -> tuple[ProcessVersion, list[validation.Problem], bool]:
    """Store the files as a draft version (the same content is the same version); returns its problems.

    With ``base_version_id`` the files are changes to that version: a path with ``None`` is removed.
    """
    _admin(actor, "上传流程版本")
    if not note.strip():
        raise ValidationFailed(
            "请说明本次修改了什么", code="note_required", details={"fields": {"note": "此项为必填项"}}
        )
    merged: dict[str, str | None] = {}
    if base_version_id is not None:
        base = get_version(session=session, actor=actor, version_id=base_version_id)
        if base.process_key != process_key:
            raise ValidationFailed("基础版本属于另一个流程", code="process_mismatch")
        merged.update(base.files)
    merged.update(files)
    clean = _checked_files({k: v for k, v in merged.items() if v is not None})
    calls = []
    for called in registry.called_keys(clean, process_key):
        try:
            calls.append(registry.published_version(session, called).content_hash)
        except NotFound:
            raise ValidationFailed(
                f"被调用的流程 {called} 没有已发布的版本", code="called_process_missing"
            ) from None
    digest = registry.content_hash(clean, calls)
    version = session.scalar(select(ProcessVersion).where(ProcessVersion.content_hash == digest))
    created = version is None
    if version is None:
        version = ProcessVersion(
            process_key=process_key,
            content_hash=digest,
            name=_process_name(clean, process_key),
            files=clean,
            calls=calls,
            source="uploaded",
            status="draft",
            created_at=clock.now(),
            created_by=actor.username,
            note=note.strip(),
        )
        session.add(version)
        session.flush()
    elif version.process_key != process_key:
        raise Conflict(f"相同内容已是流程 {version.process_key} 的版本", code="version_exists")
    return version, _problems(session, version), created


def validate_version(
    *, session: Session, actor: Actor, version_id: int, process_key: str | None = None
) -> list[validation.Problem]:
    """Every problem that keeps a version from being published (empty when it may be published)."""
    return _problems(
        session, get_version(session=session, actor=actor, version_id=version_id, process_key=process_key)
    )


def publish(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    version_id: int,
    note: str = "",
    process_key: str | None = None,
    action: str = "publish",
) -> ProcessVersion:
    """Publish a valid version: new cases start on it, running cases keep theirs (422 with the problems)."""
    version = get_version(session=session, actor=actor, version_id=version_id, process_key=process_key)
    definition = session.get(ProcessDefinition, version.process_key)
    if definition is not None and definition.published_version_id == version.id:
        raise Conflict("该版本已是当前发布的版本", code="already_published")
    problems = _problems(session, version)
    if problems:
        raise ValidationFailed(
            f"流程模型未通过校验，不能发布（共 {len(problems)} 个问题）："
            + "；".join(
                f"{p.element}{f'（第 {p.line} 行）' if p.line else ''}：{p.message}" for p in problems[:5]
            ),
            code="model_invalid",
            details={"problems": [p.as_dict() for p in problems]},
        )
    registry.parsed(session, version)
    registry.publish(session, version, actor=actor.username, now=clock.now(), action=action, note=note)
    return version


def rollback(
    *,
    session: Session,
    clock: Clock,
    actor: Actor,
    process_key: str,
    version_id: int | None = None,
    note: str = "",
) -> ProcessVersion:
    """Publish an earlier published version again (by default the one before the current)."""
    _admin(actor, "回退流程版本")
    if version_id is None:
        last = session.scalar(
            select(ProcessPublication)
            .where(ProcessPublication.process_key == process_key)
            .order_by(ProcessPublication.id.desc())
            .limit(1)
        )
        if last is None or last.previous_version_id is None:
            raise ValidationFailed("该流程没有可以回退到的早先版本", code="nothing_to_roll_back")
        version_id = last.previous_version_id
    was_published = session.scalar(
        select(ProcessPublication.id)
        .where(ProcessPublication.process_key == process_key, ProcessPublication.version_id == version_id)
        .limit(1)
    )
    if was_published is None:
        raise ValidationFailed("只能回退到曾经发布过的版本", code="never_published")
    return publish(
        session=session,
        clock=clock,
        actor=actor,
        version_id=version_id,
        note=note,
        process_key=process_key,
        action="rollback",
    )


def _problems(session: Session, version: ProcessVersion) -> list[validation.Problem]:
    return validation.validate(
        key=version.process_key, files=version.files, extra_files=registry.called_files(session, version)
    )


def _checked_files(files: Mapping[str, Any]) -> dict[str, str]:
    if not files:
        raise ValidationFailed("没有上传任何文件", code="files_required")
    if len(files) > MAX_FILES:
        raise ValidationFailed(f"一个版本最多 {MAX_FILES} 个文件", code="too_many_files")
    for path, text in files.items():
        if not isinstance(path, str) or not _PATH.match(path) or ".." in path.split("/"):
            raise ValidationFailed(f"文件路径不允许：{path}", code="file_path_invalid")
        if not path.endswith((".bpmn", ".dmn", ".json")) and not path.startswith("templates/documents/"):
            raise ValidationFailed(
                f"不能上传这种文件：{path}（只接受 .bpmn、.dmn、.json 和 templates/documents/ 下的文书模板）",
                code="file_type_invalid",
            )
        if not isinstance(text, str) or len(text) > MAX_FILE_CHARS:
            raise ValidationFailed(f"文件 {path} 不是文本或过大", code="file_invalid")
    if sum(len(t) for t in files.values()) > MAX_TOTAL_CHARS:
        raise ValidationFailed("上传的文件总量过大", code="files_too_large")
    return {path: files[path] for path in sorted(files)}


def _process_name(files: Mapping[str, str], key: str) -> str:
    try:
        root = safexml.parse(files.get("process.bpmn", ""))
    except (etree.XMLSyntaxError, safexml.UnsafeXml):
        return key
    found = root.xpath("//*[local-name()='process'][@id=$key]/@name", key=key)
    return str(found[0]) if found else key


def diff(
    *, session: Session, actor: Actor, from_id: int, to_id: int, process_key: str | None = None
) -> dict[str, Any]:
    """Files and model elements added, removed and changed between two versions (by id and attributes)."""
    old = get_version(session=session, actor=actor, version_id=from_id, process_key=process_key)
    new = get_version(session=session, actor=actor, version_id=to_id, process_key=process_key)
    return {
        "from": version_summary(old),
        "to": version_summary(new),
        **compare.compare_files(old.files, new.files),
    }
