"""A separate process for the concurrency tests: complete a task, sweep timers or drain the outbox.

    python -m tests.integration.worker complete|sweep|drain --url URL --at ISO [--start-at EPOCH] ...

Everything slow (imports, connecting, parsing the model) happens before ``--start-at``, so that two
workers started together really act at the same moment. Prints one JSON line; exit 3 on a conflict.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tasks import jobs
from workflows.cases import human_tasks, sweeping
from workflows.infra.clock import FixedClock
from workflows.infra.db import make_engine, make_sessionmaker
from workflows.infra.errors import Conflict
from workflows.infra.models import ProcessVersion
from workflows.ops import wiring
from workflows.outbox.notifications import Webhook
from workflows.people.access import SYSTEM
from workflows.processes import registry


def _warm(sessions: Any) -> None:
    with sessions() as session:
        for version in session.scalars(select(ProcessVersion)):
            registry.parsed(session, version)


def _wait(start_at: float | None) -> None:
    if start_at:
        time.sleep(max(start_at - time.time(), 0))


def complete(sessions: Any, clock: FixedClock, args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    _wait(args.start_at)
    session = sessions()
    try:
        result = human_tasks.complete(
            session=session, clock=clock, actor=SYSTEM, task_id=args.task, data=json.loads(args.data)
        )
        session.commit()
        return 0, {"ok": True, "next": [t["bpmn_id"] for t in result["next_tasks"]]}
    except Conflict as exc:
        session.rollback()
        return 3, {"ok": False, "conflict": exc.code}
    except IntegrityError:
        session.rollback()
        return 3, {"ok": False, "conflict": "concurrent_change"}
    finally:
        session.close()


def sweep(sessions: Any, clock: FixedClock, args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    if args.pause:
        real = sweeping.write

        def slow(session: Any, fired: Any, *, lock: Any = ()) -> Any:
            changed = real(session, fired, lock=lock)
            time.sleep(args.pause)  # inside the batch's transaction: a kill here must roll it back
            return changed

        sweeping.write = slow  # type: ignore[assignment]
    _wait(args.start_at)
    report = jobs.sweep_timers(sessions=sessions, clock=clock, limit=args.limit, batch=args.batch)
    return 0, {"fired": report.fired, "idle": report.idle, "failed": report.failed}


def drain(sessions: Any, clock: FixedClock, args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    _wait(args.start_at)
    hook = Webhook(args.webhook, timeout=5, retries=0, backoff=0) if args.webhook else None
    report = jobs.deliver_notifications(sessions=sessions, clock=clock, webhook=hook, batch=args.batch)
    return 0, {
        "messages": report.messages,
        "inbox_items": report.inbox_items,
        "taken_over": report.taken_over,
        "webhook_failures": report.webhook_failures,
    }


def main() -> int:
    wiring.install()
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["complete", "sweep", "drain"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--at", required=True)
    parser.add_argument("--start-at", type=float)
    parser.add_argument("--task")
    parser.add_argument("--data", default="{}")
    parser.add_argument("--pause", type=float, default=0)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--webhook")
    args = parser.parse_args()
    engine = make_engine(args.url, pool_size=2)
    sessions = make_sessionmaker(engine)
    _warm(sessions)
    clock = FixedClock(datetime.fromisoformat(args.at))
    code, out = {"complete": complete, "sweep": sweep, "drain": drain}[args.command](sessions, clock, args)
    print(json.dumps(out), flush=True)
    engine.dispose()
    return code


if __name__ == "__main__":
    sys.exit(main())
