"""Process versions: load bundled folders, hash, register, publish, and parse once per version.

The rule between bundled folders and uploaded versions (docs/architecture.md):
- a version is the sha256 of its files and of the versions it calls; the same content is one version;
- on start-up each folder under ``bpmn/`` is registered; it is published when its process has no
  published version yet or when the published one is itself bundled (a code release updates it);
- a version an administrator uploaded and published is never replaced by a restart: a changed bundled
  folder is then registered as a draft and waits for an administrator to publish it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from workflows.engine import ParsedProcess, parse_process
from workflows.infra.errors import Conflict, ModelError, NotFound
from workflows.infra.models import ProcessDefinition, ProcessPublication, ProcessVersion
from workflows.processes import validation

_CALLED = re.compile(r'calledElement="([A-Za-z0-9_\-]+)"')
_MODEL_SUFFIXES = (".bpmn", ".dmn", ".json")
_TEMPLATE_DIR = "templates/"  # documents a version ships (templates/documents/…), any suffix


@dataclass
class SyncResult:
    key: str
    version_id: int
    action: str  # unchanged | published | drafted


def read_folder(folder: Path) -> dict[str, str]:
    """The model files of one bundled folder, keyed by their path inside it."""
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and (p.suffix in _MODEL_SUFFIXES or p.relative_to(folder).as_posix().startswith(_TEMPLATE_DIR))
    }


def called_keys(files: Mapping[str, str], own_key: str) -> list[str]:
    """Process keys that call activities in these files refer to (other than its own processes)."""
    keys = {m for name, text in files.items() if name.endswith(".bpmn") for m in _CALLED.findall(text)}
    own = {
        m
        for name, text in files.items()
        if name.endswith(".bpmn")
        for m in re.findall(r'<bpmn:process id="([^"]+)"', text)
    }
    return sorted(keys - own - {own_key})


def content_hash(files: Mapping[str, str], called_hashes: list[str]) -> str:
    """sha256 over each file's path and content hash, then over the called versions' hashes."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{hashlib.sha256(files[name].encode('utf-8')).hexdigest()}\n".encode())
    for called in called_hashes:
        h.update(f"calls\0{called}\n".encode())
    return h.hexdigest()


def published_version(session: Session, key: str) -> ProcessVersion:
    """The version new cases of ``key`` start on."""
    definition = session.get(ProcessDefinition, key)
    if definition is None or definition.published_version_id is None:
        raise NotFound(f"没有已发布的流程：{key}", code="process_not_found")
    version = session.get(ProcessVersion, definition.published_version_id)
    assert version is not None
    return version


def _called_versions(session: Session, files: Mapping[str, str], key: str) -> list[ProcessVersion]:
    return [published_version(session, called) for called in called_keys(files, key)]


def called_files(session: Session, version: ProcessVersion) -> dict[str, str]:
    """The BPMN, DMN and form files of the versions ``version`` calls (and they call), as ``<key>/<path>``."""
    extra: dict[str, str] = {}
    for called_hash in version.calls or []:
        called = session.scalar(select(ProcessVersion).where(ProcessVersion.content_hash == called_hash))
        if called is None:
            raise ModelError(f"被调用的流程版本 {called_hash[:12]} 不存在", code="called_version_missing")
        extra.update(called_files(session, called))
        extra.update(
            {
                f"{called.process_key}/{n}": t
                for n, t in called.files.items()
                if n.endswith((".bpmn", ".dmn")) or (n.startswith("forms/") and n != "forms/start.json")
            }
        )
    return extra


def parsed(session: Session, version: ProcessVersion) -> ParsedProcess:
    """The parsed form of a version (parsed once per process, cached by content hash)."""
    extra = called_files(session, version)
    return parse_process(version.process_key, version.files, version.content_hash, extra)


def register(
    session: Session,
    *,
    key: str,
    files: Mapping[str, str],
    source: str,
    actor: str,
    now: datetime,
    note: str = "",
) -> ProcessVersion:
    """Store a version (or return the existing one with the same content); parse-checks it first."""
    calls = [v.content_hash for v in _called_versions(session, files, key)]
    digest = content_hash(files, calls)
    existing = session.scalar(select(ProcessVersion).where(ProcessVersion.content_hash == digest))
    if existing is not None and existing.status != "draft":
        return existing
    version = existing or ProcessVersion(
        process_key=key,
        content_hash=digest,
        name=key,
        files=dict(files),
        calls=calls,
        source=source,
        status="draft",
        created_at=now,
        created_by=actor,
        note=note,
    )
    process = parsed(session, version)  # an uploaded draft may never have passed the checks
    problems = validation.check(process)
    if problems:
        raise ModelError(
            "流程模型未通过校验：" + "；".join(f"{p.element}：{p.message}" for p in problems),
            code="model_invalid",
            details={"problems": [p.__dict__ for p in problems]},
        )
    version.name = process.name
    session.add(version)
    session.flush()
    return version


def publish(
    session: Session,
    version: ProcessVersion,
    *,
    actor: str,
    now: datetime,
    action: str = "publish",
    note: str = "",
) -> None:
    """Point the process at ``version``: new cases start on it; running cases keep theirs."""
    definition = session.get(ProcessDefinition, version.process_key)
    previous_id = definition.published_version_id if definition is not None else None
    session.add(
        ProcessPublication(
            process_key=version.process_key,
            version_id=version.id,
            action=action,
            previous_version_id=previous_id,
            published_at=now,
            published_by=actor,
            note=note,
        )
    )
    values = {
        "name": version.name,
        "published_version_id": version.id,
        "published_at": now,
        "published_by": actor,
    }
    if definition is None:
        session.add(
            ProcessDefinition(key=version.process_key, **values)
        )  # a racing first publish: unique key
    else:
        # compare-and-set on the pointer: of two administrators publishing at once, the second is told
        current = ProcessDefinition.published_version_id
        result = session.execute(
            update(ProcessDefinition)
            .where(ProcessDefinition.key == version.process_key)
            .where(current.is_(None) if previous_id is None else current == previous_id)
            .values(**values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise Conflict("另一位管理员刚刚发布了该流程的其他版本，请刷新后再操作", code="publish_conflict")
        for key, value in values.items():
            set_committed_value(definition, key, value)
        previous = session.get(ProcessVersion, previous_id) if previous_id is not None else None
        if previous is not None and previous.id != version.id:
            previous.status = "retired"
    version.status = "published"
    session.flush()


def sync_bundled(session: Session, *, bpmn_dir: Path, now: datetime) -> list[SyncResult]:
    """Register every bundled folder; publish it unless an administrator's upload is published."""
    results = []
    folders = (
        sorted(p for p in bpmn_dir.iterdir() if (p / "process.bpmn").is_file()) if bpmn_dir.is_dir() else []
    )
    for folder in _in_call_order(folders):
        key = folder.name
        version = register(
            session, key=key, files=read_folder(folder), source="bundled", actor="system", now=now
        )
        definition = session.get(ProcessDefinition, key)
        current = (
            session.get(ProcessVersion, definition.published_version_id)
            if definition and definition.published_version_id
            else None
        )
        if current is not None and current.id == version.id:
            results.append(SyncResult(key, version.id, "unchanged"))
        elif current is None or current.source == "bundled":
            publish(session, version, actor="system", now=now, action="bundled")
            results.append(SyncResult(key, version.id, "published"))
        else:
            results.append(SyncResult(key, version.id, "drafted"))
    return results


def _in_call_order(folders: list[Path]) -> list[Path]:
    """Called processes first, so that a caller's hash can include theirs."""
    by_key = {f.name: f for f in folders}
    ordered: list[Path] = []

    def visit(folder: Path, trail: tuple[str, ...]) -> None:
        if folder in ordered:
            return
        if folder.name in trail:
            raise ModelError(f"流程之间存在循环调用：{' → '.join((*trail, folder.name))}", code="call_cycle")
        for called in called_keys(read_folder(folder), folder.name):
            if called in by_key:
                visit(by_key[called], (*trail, folder.name))
        ordered.append(folder)

    for folder in folders:
        visit(folder, ())
    return ordered
