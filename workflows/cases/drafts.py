"""Task-form drafts: what a person has typed so far, kept per person and task (keyword-only, no commit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from workflows.cases import human_tasks
from workflows.infra.clock import Clock
from workflows.infra.errors import Conflict, ValidationFailed
from workflows.infra.models import TaskDraft
from workflows.people.access import Actor

MAX_FIELDS = 200
MAX_TEXT = 20_000


def _clean(values: dict[str, Any]) -> dict[str, str | list[str]]:
    """Only short texts and lists of texts: a draft is raw form input, never validated data."""
    if len(values) > MAX_FIELDS:
        raise ValidationFailed("草稿内容过多，未能保存", code="draft_too_large")
    clean: dict[str, str | list[str]] = {}
    for name, value in values.items():
        if isinstance(value, list):
            clean[str(name)] = [str(v)[:MAX_TEXT] for v in value][:MAX_FIELDS]
        elif value is not None:
            clean[str(name)] = str(value)[:MAX_TEXT]
    return clean


def save_draft(
    *, session: Session, clock: Clock, actor: Actor, task_id: str, values: dict[str, Any]
) -> TaskDraft:
    """Keep the actor's unfinished input for a task they may work on (replacing the previous draft)."""
    task = human_tasks.get_task(session=session, actor=actor, task_id=task_id)
    if task.status != "ready":
        raise Conflict("该任务已办结或已取消，草稿不再保存", code="task_not_ready")
    draft = session.scalar(
        select(TaskDraft).where(TaskDraft.task_id == task.id, TaskDraft.username == actor.username)
    )
    if draft is None:
        draft = TaskDraft(task_id=task.id, username=actor.username, form_values={}, updated_at=clock.now())
        session.add(draft)
    draft.form_values = _clean(values)
    draft.updated_at = clock.now()
    session.flush()
    return draft


def get_draft(*, session: Session, actor: Actor, task_id: str) -> TaskDraft | None:
    """The actor's own draft for a task, if any (nobody else's drafts are ever shown)."""
    return session.scalar(
        select(TaskDraft).where(TaskDraft.task_id == task_id, TaskDraft.username == actor.username)
    )


def discard_drafts(*, session: Session, task_id: str) -> None:
    """Drop every draft of a finished task: what was typed is in the log now, or no longer needed."""
    session.execute(delete(TaskDraft).where(TaskDraft.task_id == task_id))
