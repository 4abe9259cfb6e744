"""Bodies of the process-version and migration endpoints."""

from __future__ import annotations

from pydantic import BaseModel, Field


class DraftIn(BaseModel):
    files: dict[str, str | None] = Field(
        description="文件路径 → 内容（process.bpmn、*.dmn、*.examples.json、forms/<任务>.json、"
        "templates/documents/…）；给出 base_version_id 时只需列出改动的文件，内容为 null 表示删除该文件"
    )
    note: str = Field(description="本次修改了什么（必填）", max_length=2000)
    base_version_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="在哪个版本的基础上修改"
    )


class PublishIn(BaseModel):
    note: str = Field(default="", max_length=2000, description="发布说明")


class RollbackIn(BaseModel):
    version_id: int | None = Field(
        default=None, description="回退到哪个曾发布过的版本（默认：上一个发布的版本）"
    )
    note: str = Field(default="", max_length=2000)


class MigrationIn(BaseModel):
    to_version_id: int = Field(ge=1, le=2**63 - 1, description="迁入的版本")
    case_ids: list[str] | None = Field(default=None, description="要迁移的案件（全部安全才迁移）")
    from_version_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="或：迁移该版本上所有安全的运行中案件"
    )
    dry_run: bool = Field(default=True, description="只检查、不迁移（默认）")
    note: str = Field(default="", max_length=2000)
