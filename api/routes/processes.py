"""Published processes and their start forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ActorDep, SessionDep
from api.schemas.common import ERRORS
from workflows.cases import views

router = APIRouter(prefix="/api/processes", tags=["流程 processes"])


@router.get("", responses=ERRORS)
def list_processes(session: SessionDep, actor: ActorDep) -> list[dict[str, Any]]:
    """已发布的流程及其开始表单。"""
    return views.processes_view(session=session)
