"""Expressions that once ran without bound: work inside built-ins and copies is counted, each evaluation
has a wall-clock bound, values may not nest deeply, and the whole case data is bounded after each step."""

from __future__ import annotations

import pytest

from workflows.sandbox import Sandbox, SandboxError, interpreter
from workflows.sandbox.limits import MAX_CASE_DATA_CHARS
from workflows.sandbox.values import case_data_problem

BOX = Sandbox()


def refused(source: str, data: dict | None = None, word: str = "") -> str:
    with pytest.raises(SandboxError) as info:
        BOX.execute(source, dict(data or {}))
    assert word in info.value.message, info.value.message
    return info.value.message


@pytest.mark.parametrize("digits", ["-10**7", "-10**8", "10**7", "1.5"])
def test_round_with_huge_digit_counts_is_refused(digits: str) -> None:
    refused(f"x = round(1, {digits})", word="round()")
    assert BOX.evaluate("round(1234.5678, -2)", {}) == 1200.0
    assert BOX.evaluate("round(2.675, 2)", {}) == round(2.675, 2)


def test_copying_a_big_list_again_and_again_is_stopped() -> None:
    refused("L = list(range(9000)) * 10\nfor i in range(1000):\n    y = L", word="计算量")


def test_walking_a_big_list_in_built_ins_again_and_again_is_stopped() -> None:
    refused(
        "L = list(range(9000)) * 10\nfor i in range(1000):\n    t = sum(L) + len(sorted(L))", word="计算量"
    )


def test_a_comprehension_of_big_texts_is_stopped() -> None:
    refused('s = "x" * 90000\nbig = [s + str(i) for i in range(10000)]')


def test_appending_big_texts_is_stopped() -> None:
    refused('s = "x" * 1000000\nL = []\nfor i in range(100):\n    L.append(s)')


def test_deep_nesting_is_refused() -> None:
    refused("x = []\nfor i in range(40):\n    x = [x]", word="嵌套")
    data: dict = {}
    BOX.execute("x = []\nfor i in range(10):\n    x = [x]", data)
    assert isinstance(data["x"], list)


def test_each_evaluation_has_a_wall_clock_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interpreter, "MAX_SECONDS", 0.0)
    refused("t = 0\nfor i in range(5000):\n    t = t + i", word="时间")


def test_ordinary_scripts_still_run() -> None:
    data: dict = {"scores": [3, 1, 2], "name": "小明"}
    BOX.execute("total = sum(scores)\nordered = sorted(scores)\nlabel = name + '：' + str(total)", data)
    assert data["total"] == 6 and data["ordered"] == [1, 2, 3] and data["label"] == "小明：6"


def test_the_whole_case_data_is_bounded() -> None:
    assert case_data_problem({"note": "x" * 1000}) is None
    problem = case_data_problem({f"k{i}": "x" * 900_000 for i in range(3)})
    assert problem and "案件数据过大" in problem and str(MAX_CASE_DATA_CHARS // 1000) in problem
    deep: list = []
    for _ in range(2000):
        deep = [deep]
    assert "无法保存" in (case_data_problem({"deep": deep}) or "")
