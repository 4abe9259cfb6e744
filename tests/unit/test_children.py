"""Children's files: ID numbers, masking and reveal, changes as records, import all-or-nothing, merge, link."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.unit.test_services import DIRECTOR, NEIGHBOUR, POLICE, start
from workflows.children import exchange as child_import
from workflows.children import links
from workflows.children import registry as children
from workflows.infra.clock import FixedClock
from workflows.infra.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from workflows.infra.models import AccessLog, Case, ChildRecord
from workflows.log.events import event_hash
from workflows.people.access import Actor

VILLAGE = "500111101201"
EDUCATION = Actor("edu", frozenset({"education"}), "500111")


def with_check_digit(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


ID_A = with_check_digit("50011120150601123")
ID_B = with_check_digit("50011120120229004")


def child(session: Session, clock: FixedClock, **extra: object) -> children.Child:
    data = {
        "name": "小明",
        "gender": "male",
        "birth_date": "2015-06-01",
        "id_number": ID_A,
        "village_code": VILLAGE,
        "household": "rural",
        **extra,
    }
    return children.register(session=session, clock=clock, actor=DIRECTOR, data=data)


@pytest.mark.parametrize(
    ("number", "birth", "message"),
    [
        (ID_A[:-1] + ("0" if ID_A[-1] != "0" else "1"), None, "校验位"),
        ("50011120151301123X", None, "出生日期无效"),
        (ID_A, "2015-06-02", "不一致"),
        ("1234", None, "18 位"),
    ],
)
def test_id_number_is_checked(number: str, birth: str | None, message: str) -> None:
    assert message in (children.id_number_problem(number, birth) or "")


def test_valid_id_numbers_pass_including_leap_day() -> None:
    assert children.id_number_problem(ID_A, "2015-06-01") is None
    assert children.id_number_problem(ID_B, "2012-02-29") is None


def test_registration_without_id_number_is_allowed(session: Session, clock: FixedClock) -> None:
    made = children.register(
        session=session, clock=clock, actor=DIRECTOR, data={"name": "无证儿童", "village_code": VILLAGE}
    )
    assert made.id_number is None and made.file_no.startswith(f"{VILLAGE}-2026-")


def test_view_masks_and_reveal_is_logged_with_reason(session: Session, clock: FixedClock) -> None:
    made = child(session, clock)
    view = children.file_view(session=session, clock=clock, actor=DIRECTOR, child_id=made.id, endpoint="t")
    assert view.data["id_number"] == f"{ID_A[:4]}**********{ID_A[-4:]}"
    with pytest.raises(ValidationFailed):
        children.reveal_id_number(
            session=session, clock=clock, actor=DIRECTOR, child_id=made.id, reason="", endpoint="t"
        )
    assert (
        children.reveal_id_number(
            session=session,
            clock=clock,
            actor=POLICE,
            child_id=made.id,
            reason="核实身份办理案件",
            endpoint="reveal",
        )
        == ID_A
    )
    log = session.scalars(select(AccessLog).where(AccessLog.child_ref == made.id)).all()
    assert any(r.purpose == "查看身份证号：核实身份办理案件" and r.username == "police" for r in log)


def test_outsiders_do_not_see_the_file(session: Session, clock: FixedClock) -> None:
    made = child(session, clock)
    for actor in (NEIGHBOUR, EDUCATION):
        with pytest.raises(NotFound):
            children.file_view(session=session, clock=clock, actor=actor, child_id=made.id, endpoint="t")
    with pytest.raises(PermissionDenied):
        children.update_file(
            session=session, clock=clock, actor=POLICE, child_id=made.id, changes={"name": "x"}, reason="r"
        )


def test_duplicate_id_number_is_refused(session: Session, clock: FixedClock) -> None:
    child(session, clock)
    with pytest.raises(Conflict, match="重复建档"):
        child(session, clock, name="另一个")


def test_changes_are_records_with_old_values_and_an_intact_chain(session: Session, clock: FixedClock) -> None:
    made = child(session, clock)
    with pytest.raises(ValidationFailed, match="理由"):
        children.update_file(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            child_id=made.id,
            changes={"risk_colour": "yellow"},
            reason=" ",
        )
    children.update_file(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        child_id=made.id,
        changes={"risk_colour": "yellow", "carer": {"name": "祖母", "relation": "祖母"}},
        reason="走访后重新评估",
    )
    children.add_entry(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        child_id=made.id,
        kind="visit",
        text="入户走访，儿童状况良好",
        when="2026-03-02",
    )
    records = session.scalars(
        select(ChildRecord).where(ChildRecord.child_id == made.id).order_by(ChildRecord.seq)
    ).all()
    assert [r.type for r in records] == ["child_registered", "child_updated", "child_visit"]
    assert records[1].payload["previous"] == {"risk_colour": None, "carer": None}
    prev = "0" * 64
    for r in records:
        assert r.prev_hash == prev and r.hash == event_hash(
            case_id=made.id,
            seq=r.seq,
            type=r.type,
            actor=r.actor,
            occurred_at=r.occurred_at,
            payload=r.payload,
            prev_hash=prev,
        )
        prev = r.hash


def test_import_is_all_or_nothing_with_errors_per_row(session: Session, clock: FixedClock) -> None:
    good = (
        f"name,gender,birth_date,id_number,village_code,guardian_name,categories\n"
        f"甲,male,2015-06-01,{ID_A},{VILLAGE},父亲,orphan\n乙,female,2012-02-29,{ID_B},{VILLAGE},,\n"
    )
    bad = good + f"丙,x,2015-13-01,,{VILLAGE},,\n丁,,,,500111101202,,\n,,,{ID_A},{VILLAGE},,\n"
    with pytest.raises(ValidationFailed) as info:
        child_import.import_files(
            session=session, clock=clock, actor=DIRECTOR, filename="a.csv", content=bad.encode()
        )
    rows = info.value.details["rows"]
    assert set(rows) == {"4", "5", "6"}
    assert rows["4"] == {"gender": "应为 male 或 female", "birth_date": "应为日期，格式如 2015-06-01"}
    assert rows["5"] == {"village_code": "不在本人辖区"} and "与第 2 行重复" in rows["6"]["id_number"]
    assert children.list_children(session=session, actor=DIRECTOR)[1] == 0
    made = child_import.import_files(
        session=session, clock=clock, actor=DIRECTOR, filename="a.csv", content=("\ufeff" + good).encode()
    )
    assert [c.name for c in made] == ["甲", "乙"] and made[0].guardians == [
        {"name": "父亲", "relation": "", "phone": ""}
    ]
    exported = child_import.export_csv(
        session=session, clock=clock, actor=DIRECTOR, village_code=VILLAGE, endpoint="e"
    )
    assert ID_A not in exported and ID_A[-4:] in exported and "甲" in exported


def test_import_reads_excel(session: Session, clock: FixedClock, tmp_path: object) -> None:
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["name", "birth_date", "village_code"])
    sheet.append(["表格儿童", "2016-01-02", VILLAGE])
    buffer = io.BytesIO()
    book.save(buffer)
    made = child_import.import_files(
        session=session, clock=clock, actor=DIRECTOR, filename="files.xlsx", content=buffer.getvalue()
    )
    assert [(c.name, c.birth_date) for c in made] == [("表格儿童", "2016-01-02")]


def test_report_about_unregistered_child_is_linked_then_merge_moves_cases(
    session: Session, clock: FixedClock
) -> None:
    case = start(session, clock)
    assert case.child_ref is None
    first = child(session, clock)
    duplicate = children.register(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        data={"name": "小明", "village_code": VILLAGE, "address": "三组"},
    )
    links.link_case(session=session, clock=clock, actor=DIRECTOR, case_id=case.id, child_id=duplicate.id)
    assert session.get(Case, case.id).child_ref == duplicate.id
    kept = links.merge(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        keep_id=first.id,
        merge_id=duplicate.id,
        reason="同一儿童重复建档",
    )
    assert session.get(Case, case.id).child_ref == first.id and kept.address == "三组"
    assert duplicate.status == "merged" and duplicate.merged_into == first.id
    view = children.file_view(session=session, clock=clock, actor=DIRECTOR, child_id=first.id, endpoint="t")
    assert [c.id for c in view.cases] == [case.id]
    assert [r.type for r in view.records][-1] == "child_merged_in"
    from workflows.cases.replay import verify_case

    assert verify_case(session, session.get(Case, case.id)).ok


def test_imports_are_bounded(session: Session, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import zipfile

    monkeypatch.setattr(child_import, "MAX_ROWS", 3)
    rows = "".join(f"儿童{i},{VILLAGE}\n" for i in range(4))
    with pytest.raises(ValidationFailed, match="最多导入 3 行"):
        child_import.import_files(
            session=session,
            clock=clock,
            actor=DIRECTOR,
            filename="a.csv",
            content=("name,village_code\n" + rows).encode(),
        )
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (child_import.MAX_UNPACKED_BYTES + 1))
    with pytest.raises(ValidationFailed, match="解压后过大"):
        child_import.import_files(
            session=session, clock=clock, actor=DIRECTOR, filename="a.xlsx", content=bomb.getvalue()
        )


def test_export_quotes_formulas_and_logs_each_child(session: Session, clock: FixedClock) -> None:
    made = children.register(
        session=session,
        clock=clock,
        actor=DIRECTOR,
        data={"name": "小明", "village_code": VILLAGE, "notes": '=HYPERLINK("x")'},
    )
    text = child_import.export_csv(
        session=session, clock=clock, actor=DIRECTOR, village_code=VILLAGE, endpoint="e"
    )
    assert "'=HYPERLINK" in text
    assert session.scalars(
        select(AccessLog).where(AccessLog.child_ref == made.id, AccessLog.endpoint == "e")
    ).one()
