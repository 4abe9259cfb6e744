"""Backup and restore of the SQLite database (online: consistent while the server runs).

SQLite's online backup API copies a consistent snapshot page by page while other connections keep
reading and writing (WAL). PostgreSQL is backed up with pg_dump / pg_restore (docs/operations.md).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from workflows.cases.replay import Report, verify_case
from workflows.infra.errors import ValidationFailed
from workflows.infra.models import Case

PG_HINT = "PostgreSQL 数据库请使用 pg_dump / pg_restore 备份与恢复（见 docs/operations.md）。"


@dataclass
class BackupResult:
    path: Path
    bytes: int
    cases: int


def sqlite_path(database_url: str) -> Path:
    """The file of a SQLite URL; other databases are refused with the pg_dump hint."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise ValidationFailed(f"当前数据库不是 SQLite。{PG_HINT}", code="backup_not_sqlite")
    if not url.database or url.database == ":memory:":
        raise ValidationFailed("内存数据库无法备份", code="backup_memory_db")
    return Path(url.database)


def _copy(source: sqlite3.Connection, target_path: Path) -> None:
    target = sqlite3.connect(target_path)
    try:
        source.backup(target, pages=1024)
        target.execute("PRAGMA journal_mode=DELETE")  # a self-contained file: no -wal beside it
    finally:
        target.close()


def _check(path: Path) -> int:
    """Integrity-check a database file; the number of cases in it."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise ValidationFailed(f"{path} 未通过完整性检查，不是可用的备份", code="backup_corrupt")
        try:
            return int(conn.execute("SELECT count(*) FROM cases").fetchone()[0])
        except sqlite3.DatabaseError:
            raise ValidationFailed(
                f"{path} 不是守护 Shouhu 的数据库（没有案件表）", code="backup_foreign"
            ) from None
    finally:
        conn.close()


def backup(*, database_url: str, target: Path) -> BackupResult:
    """Write a consistent copy of the live database to ``target`` (refuses to overwrite a file)."""
    source_path = sqlite_path(database_url)
    if not source_path.is_file():
        raise ValidationFailed(f"数据库文件 {source_path} 不存在", code="backup_source_missing")
    if target.exists():
        raise ValidationFailed(
            f"{target} 已存在；为防止覆盖已有备份，请换一个文件名", code="backup_target_exists"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(source_path, timeout=30)
    try:
        _copy(source, partial)
    finally:
        source.close()
    cases = _check(partial)
    os.replace(partial, target)
    return BackupResult(target, target.stat().st_size, cases)


def restore(*, source: Path, database_url: str) -> BackupResult:
    """Replace the configured database with a checked backup (stop the server first)."""
    if not source.is_file():
        raise ValidationFailed(f"备份文件 {source} 不存在", code="backup_missing")
    cases = _check(source)
    target_path = sqlite_path(database_url)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        _copy(conn, target_path)
    finally:
        conn.close()
    return BackupResult(target_path, target_path.stat().st_size, cases)


def verify_all(session: Session) -> list[Report]:
    """Verify every case of a database (chain and replay); the failed reports."""
    return [
        report
        for case in session.scalars(select(Case).order_by(Case.created_at))
        if not (report := verify_case(session, case)).ok
    ]
