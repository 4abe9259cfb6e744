"""The evaluator refuses escapes and bounds work; a refused expression leaves the case usable."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import START
from tests.support.models import guarded_model
from workflows.engine import CaseRun, check_expressions, parse_process
from workflows.infra.errors import ModelError
from workflows.sandbox import Sandbox, SandboxError

ESCAPES = {
    "import": "__import__('os').system('echo pwned')",
    "subclasses": "().__class__.__base__.__subclasses__()",
    "huge_power": "9**9**9",
    "format_escape": "'{0.__class__}'.format(1)",
    "getattr": "getattr(1, 'real')",
    "eval": "eval('1')",
    "lambda": "(lambda: 1)()",
    "dunder_name": "__builtins__",
    "percent_format": "'%s' % 1",
}


@pytest.mark.parametrize("source", ESCAPES.values(), ids=ESCAPES.keys())
def test_escape_attempts_are_refused_with_a_message(source: str) -> None:
    with pytest.raises(SandboxError) as info:
        Sandbox().evaluate(source, {"__builtins__": __builtins__, "x": 1})
    assert info.value.message  # a sentence a person can read
    assert any("\u4e00" <= ch <= "\u9fff" for ch in info.value.message)


def test_endless_loop_is_stopped() -> None:
    with pytest.raises(SandboxError, match="计算步骤超过上限"):
        Sandbox().execute("while True:\n    pass", {})


def test_growing_numbers_and_sequences_are_stopped() -> None:
    with pytest.raises(SandboxError, match="数值过大"):
        Sandbox().execute("x = 3\nwhile True:\n    x = x * x", {})
    with pytest.raises(SandboxError, match="过长"):
        Sandbox().evaluate("'a' * 10 ** 7", {})
    with pytest.raises(SandboxError, match="range"):
        Sandbox().evaluate("range(10 ** 6)", {})


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(SandboxError):
        Sandbox().evaluate("(" * 300 + "1" + ")" * 300, {})
    with pytest.raises(SandboxError, match="嵌套过深"):
        Sandbox().evaluate("+".join(["1"] * 200), {})


def test_data_key_builtins_is_just_data() -> None:
    data = {"__builtins__": {"__import__": __import__}, "score": 3}
    assert Sandbox().evaluate("score + 1", data) == 4
    with pytest.raises(SandboxError):
        Sandbox().evaluate("__builtins__['__import__']('os')", data)


def test_ordinary_scripts_work() -> None:
    data = {"items": [1, 2, 3], "name": "Ab"}
    Sandbox().execute(
        "total = 0\nfor i in items:\n    total += i\nlabel = name.lower()\n"
        "big = [i for i in items if i > 1]\nd = {'k': 1}\nd['k'] += 1",
        data,
    )
    assert data["total"] == 6 and data["label"] == "ab" and data["big"] == [2, 3] and data["d"] == {"k": 2}
    assert "i" not in data  # loop variables do not leak into case data


def test_functions_cannot_be_stored_in_case_data() -> None:
    with pytest.raises(SandboxError):
        Sandbox().execute("f = len", {})


@pytest.mark.parametrize("condition", [ESCAPES["import"], ESCAPES["subclasses"]])
def test_model_with_escape_is_reported_by_the_checker(condition: str) -> None:
    process = parse_process("guarded", guarded_model(condition=condition), f"chk-{uuid.uuid4()}")
    problems = check_expressions(process)
    assert [element for element, _ in problems] == ["gw"]


def test_runtime_refusal_leaves_case_usable() -> None:
    """A script whose work explodes on submitted data fails the action; the stored state still runs."""
    files = guarded_model(script="result = 2 ** power", condition="choice == 'a'")
    process = parse_process("guarded", files, f"rt-{uuid.uuid4()}")
    case_id = str(uuid.uuid4())
    run = CaseRun.start(process, case_id=case_id, data={}, now=START)
    saved = run.dump()
    task = run.open_tasks()[0]
    with pytest.raises(ModelError) as info:
        run.complete(task.id, {"choice": "a", "power": 10**6}, now=START)
    assert info.value.code == "model_expression_rejected"
    assert "calc" in info.value.message and "幂运算" in info.value.message
    again = CaseRun.restore(process, saved, case_id=case_id)  # the action's changes are never stored
    again.complete(task.id, {"choice": "a", "power": 8}, now=START)
    assert again.data()["result"] == 256
    assert [t.bpmn_id for t in again.open_tasks()] == ["again"]


def test_gateway_condition_reaching_for_builtins_fails_at_run_time_too() -> None:
    process = parse_process("guarded", guarded_model(condition="__builtins__"), f"gw-{uuid.uuid4()}")
    run = CaseRun.start(process, case_id=str(uuid.uuid4()), data={}, now=START)
    with pytest.raises(ModelError, match="下划线"):
        run.complete(run.open_tasks()[0].id, {"choice": "a"}, now=START)


def test_defined_tells_whether_data_holds_a_name() -> None:
    assert Sandbox().evaluate("defined('note') and note != ''", {"note": "x"}) is True
    assert Sandbox().evaluate("defined('note')", {}) is False
    data: dict = {}
    Sandbox().execute("if not defined('count'):\n    count = 0", data)
    assert data == {"count": 0}


@pytest.mark.parametrize(
    "condition",
    [
        ESCAPES["import"],
        ESCAPES["subclasses"],
        ESCAPES["huge_power"],
        "__builtins__",
        "[x for x in range(10000) for y in range(10000)]",
    ],
)
def test_a_refused_condition_fails_the_action_and_the_stored_case_still_runs(condition: str) -> None:
    """The case is not stuck: its stored state restores, and the same step works once the model is fixed."""
    bad = parse_process("guarded", guarded_model(condition=condition), f"bad-{uuid.uuid4()}")
    good = parse_process("guarded", guarded_model(condition="choice == 'a'"), f"good-{uuid.uuid4()}")
    case_id = str(uuid.uuid4())
    run = CaseRun.start(bad, case_id=case_id, data={}, now=START)
    saved = run.dump()
    task = run.open_tasks()[0]
    with pytest.raises(ModelError):
        run.complete(task.id, {"choice": "a", "__builtins__": {"open": "x"}}, now=START)
    again = CaseRun.restore(bad, saved, case_id=case_id)
    assert [t.id for t in again.open_tasks()] == [task.id]
    fixed = CaseRun.restore(good, {**saved, "spec_ref": good.content_hash}, case_id=case_id)
    fixed.complete(task.id, {"choice": "a"}, now=START)
    assert [t.bpmn_id for t in fixed.open_tasks()] == ["again"]


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("a = [0] * 100000\nb = [a] * 100000", "数据量过大"),
        ("s = 'a' * 100000\nt = s.replace('a', s)", "文本过长"),
        ("s = 'ab' * 1000\nt = s.join([s] * 10000)", "过"),
        ("x = float('nan')", "非有限"),
        ("d = {}\nd[(1, 2)] = 3", "键只能是文本"),
        ("x = {'typename': 'timedelta', 'days': 1}", "保留的键名"),
        ("l = []\nl.append({'typename': 'x'})", "保留的键名"),
    ],
)
def test_work_and_values_that_could_exhaust_or_poison_are_refused(script: str, message: str) -> None:
    with pytest.raises(SandboxError, match=message):
        Sandbox().execute(script, {})


def test_sets_put_into_case_data_become_lists() -> None:
    data: dict = {"l": []}
    Sandbox().execute("l.append({2, 1})", data)
    assert data == {"l": [[1, 2]]}


def test_outside_data_with_a_reserved_key_is_refused_before_it_reaches_the_state() -> None:
    from workflows.infra.errors import ValidationFailed

    process = parse_process("guarded", guarded_model(), f"plain-{uuid.uuid4()}")
    with pytest.raises(ValidationFailed, match="typename"):
        CaseRun.start(process, case_id=str(uuid.uuid4()), data={"note": {"typename": "timedelta"}}, now=START)
    run = CaseRun.start(process, case_id=str(uuid.uuid4()), data={}, now=START)
    with pytest.raises(ValidationFailed, match="typename"):
        run.receive("anything", {"x": {"typename": "timedelta", "bogus": 1}}, now=START)
