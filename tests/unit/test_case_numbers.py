"""Case numbers (案件编号): county short name, Beijing year, a sequence per county and year; the backfill."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session

from tests.conftest import START
from tests.tasks.conftest import OTHER_COUNTY, VILLAGE, add_places_and_people, start_village_cases
from workflows.cases import lifecycle as cases
from workflows.cases.numbers import next_case_no, short_name
from workflows.infra.clock import FixedClock
from workflows.infra.db import make_engine
from workflows.infra.models import Case, Place
from workflows.ops.bootstrap import MIGRATIONS
from workflows.people.access import SYSTEM


def test_short_names() -> None:
    assert short_name("大足区") == "大足"
    assert short_name("酉阳土家族苗族自治县") == "酉阳土家族苗族"
    assert short_name("城区") == "城区"  # two characters keep their suffix
    assert short_name("綦江县") == "綦江"


def test_numbers_count_per_county_and_beijing_year(session: Session) -> None:
    add_places_and_people(session, START)
    first = cases.start_case(
        session=session,
        clock=FixedClock(START),
        actor=SYSTEM,
        process_key="review_demo",
        data={"child_name": "小明"},
        jurisdiction_code=VILLAGE,
    ).case
    second = cases.start_case(
        session=session,
        clock=FixedClock(START),
        actor=SYSTEM,
        process_key="review_demo",
        data={"child_name": "小红"},
        jurisdiction_code=VILLAGE,
    ).case
    year = START.astimezone(UTC).year
    assert first.case_no.startswith(f"荔湾-{year}-")
    assert int(second.case_no[-6:]) == int(first.case_no[-6:]) + 1
    assert (
        cases.history(session=session, actor=SYSTEM, case_id=first.id)[0].payload["case_no"] == first.case_no
    )
    # another county counts on its own; 31 Dec 16:30 UTC is already the next year in Beijing
    new_year = datetime(year, 12, 31, 16, 30, tzinfo=UTC)
    assert next_case_no(session, jurisdiction_code=OTHER_COUNTY, now=new_year) == f"越秀-{year + 1}-000001"
    assert next_case_no(session, jurisdiction_code=OTHER_COUNTY, now=new_year) == f"越秀-{year + 1}-000002"


def test_a_shared_short_name_gets_its_city_in_front(session: Session) -> None:
    session.add_all(
        [
            Place(code="3201", name="南京市", level="city", parent_code="32"),
            Place(code="320106", name="鼓楼区", level="county", parent_code="3201"),
            Place(code="3203", name="徐州市", level="city", parent_code="32"),
            Place(code="320302", name="鼓楼区", level="county", parent_code="3203"),
        ]
    )
    session.flush()
    assert next_case_no(session, jurisdiction_code="320106001001", now=START).startswith("南京鼓楼-")
    assert next_case_no(session, jurisdiction_code="320302001001", now=START).startswith("徐州鼓楼-")


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def test_the_migration_numbers_existing_cases_in_order(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        config = _config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    insert = sa.text(
        "INSERT INTO cases (id, business_key, process_key, process_version_id, status, jurisdiction_code,"
        " state, data, version, last_event_seq, last_event_hash, created_at, created_by, updated_at)"
        " VALUES (:id, :key, 'p', 1, 'running', :code, '{}', '{}', 1, 0, '-', :at, 'x', :at)"
    )
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO process_versions (id, process_key, content_hash, name, files, calls, source,"
                " status, created_at, created_by, note) VALUES (1, 'p', 'h', 'p', '{}', '[]', 'bundled',"
                " 'published', '2025-01-01 00:00:00.000000', 'x', '')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO places (code, name, level, core_district) VALUES ('500111', '大足区', 'county', 0)"
            )
        )
        for i, (code, at) in enumerate(
            [
                ("500111100201", "2026-03-01 08:00:00.000000"),
                ("500111100202", "2026-01-01 02:00:00.000000"),
                ("500111100201", "2025-12-31 17:00:00.000000"),  # 2026 in Beijing
                ("500111100201", "2025-06-01 00:00:00.000000"),
                ("500112100201", "2026-02-01 00:00:00.000000"),
            ]
        ):
            connection.execute(insert, {"id": f"c{i}", "key": f"K{i}", "code": code, "at": at})
    with engine.begin() as connection:
        config = _config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    with Session(engine) as session:
        numbers = {c.id: c.case_no for c in session.scalars(sa.select(Case))}
        assert numbers == {
            "c3": "大足-2025-000001",
            "c2": "大足-2026-000001",
            "c1": "大足-2026-000002",
            "c0": "大足-2026-000003",
            "c4": "500112-2026-000001",  # no place row: the code stands in
        }
        # the next case continues after the backfilled ones
        after = datetime(2026, 5, 1, tzinfo=UTC)
        assert next_case_no(session, jurisdiction_code="500111100201", now=after) == "大足-2026-000004"
    engine.dispose()


def test_concurrent_starts_on_a_sqlite_file_get_distinct_consecutive_numbers(tmp_path: Path) -> None:
    """Writers on SQLite take the lock up front (BEGIN IMMEDIATE): the counter is never read stale."""
    import threading

    from tests.support.models import DATA, publish_folder
    from workflows.infra.db import create_all

    engine = make_engine(f"sqlite:///{tmp_path / 'numbers.db'}")
    create_all(engine)
    with Session(engine) as session:
        publish_folder(session, DATA / "review_demo", now=START)
        add_places_and_people(session, START)
        session.commit()
    failures: list[Exception] = []
    barrier = threading.Barrier(4)

    def start_some() -> None:
        barrier.wait(timeout=30)
        try:
            for _ in range(5):
                with Session(engine) as session:
                    start_village_cases(session, START, 1)
                    session.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=start_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    with Session(engine) as session:
        numbers = sorted(session.scalars(sa.select(Case.case_no)))
    assert numbers == [f"荔湾-{START.year}-{n:06d}" for n in range(1, 21)]
    engine.dispose()
