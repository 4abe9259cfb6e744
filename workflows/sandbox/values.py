"""Values crossing the sandbox's edge: sizes checked before and after work, and only JSON-like data stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from workflows.sandbox.limits import (
    MAX_CASE_DATA_CHARS,
    MAX_INT_BITS,
    MAX_NESTING,
    MAX_RANGE,
    MAX_ROUND_DIGITS,
    MAX_SEQUENCE,
    MAX_STRING,
    MAX_WEIGHT,
    RESERVED_KEYS,
    SandboxError,
)


def check_size(value: Any) -> Any:
    """Refuse a value that is too big, counting nested containers (shared parts count each time)."""
    measure(value)
    return value


def measure(value: Any) -> int:
    """The weight of a value (what walking or copying it costs); refused when too big or too deep."""
    budget = MAX_WEIGHT
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, bool) or item is None:
            budget -= 1
        elif isinstance(item, int):
            if item.bit_length() > MAX_INT_BITS:
                raise SandboxError("数值过大")
            budget -= 1
        elif isinstance(item, str):
            if len(item) > MAX_STRING:
                raise SandboxError("文本过长")
            budget -= 1 + len(item) // 64
        elif isinstance(item, list | tuple | dict | set):
            if len(item) > MAX_SEQUENCE:
                raise SandboxError("列表过长")
            if depth >= MAX_NESTING and not isinstance(item, tuple):
                raise SandboxError(f"数据嵌套层数过多（上限 {MAX_NESTING} 层）")
            budget -= 1 + len(item)
            inner = depth + (0 if isinstance(item, tuple) else 1)  # a dict's (key, value) pairs
            pending.extend((v, inner) for v in (item.items() if isinstance(item, dict) else item))
        else:
            budget -= 1
        if budget < 0:
            raise SandboxError("数据量过大（嵌套的列表或文本太多）")
    return MAX_WEIGHT - budget


def case_data_problem(data: Any) -> str | None:
    """Why the whole case data may not be stored after a step (too large or too deep), or None."""
    try:
        size = len(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    except (RecursionError, ValueError, TypeError):
        return "案件数据无法保存（嵌套过深或含有不能保存的值）"
    if size > MAX_CASE_DATA_CHARS:
        return f"案件数据过大（{size // 1000} 千字符，上限 {MAX_CASE_DATA_CHARS // 1000} 千字符），本次办理未生效"
    return None


def result_length(receiver: str, method: str, args: list[Any]) -> int:
    """The length a text method would produce, computed before running it."""
    if method == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        old, new = args[0], args[1]
        hits = receiver.count(old) if old else len(receiver) + 1
        return len(receiver) + hits * (len(new) - len(old))
    if method == "join" and args and isinstance(args[0], list | tuple):
        parts = args[0]
        return sum(len(p) if isinstance(p, str) else 0 for p in parts) + len(receiver) * max(
            len(parts) - 1, 0
        )
    return 0


def plain(value: Any) -> Any:
    """Only JSON-like values may be stored in case data: finite numbers, text keys, no reserved keys."""
    check_size(value)
    return _plain_copy(value)


def _plain_copy(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SandboxError("不能保存非有限的数值（NaN 或无穷大）")
        return value
    if isinstance(value, list | tuple):
        return [_plain_copy(v) for v in value]
    if isinstance(value, set):
        return sorted((_plain_copy(v) for v in value), key=repr)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise SandboxError("字典的键只能是文本")
            if key in RESERVED_KEYS:
                raise SandboxError(f"数据中不能使用保留的键名：{key}")
        return {k: _plain_copy(v) for k, v in value.items()}
    raise SandboxError(f"不能保存这种类型的值：{type(value).__name__}")


def shallow_cost(values: Any) -> int:
    """What a built-in pays to walk its arguments once: their lengths (text by 64 characters)."""
    cost = 0
    for value in values:
        if isinstance(value, str):
            cost += 1 + len(value) // 64
        elif isinstance(value, list | tuple | dict | set):
            cost += 1 + len(value)
        else:
            cost += 1
    return cost


def bounded_round(number: Any, ndigits: Any = None) -> Any:
    """round(), refusing the digit counts that make it compute enormous powers of ten."""
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > MAX_ROUND_DIGITS):
        raise SandboxError(f"round() 的位数应为 -{MAX_ROUND_DIGITS} 到 {MAX_ROUND_DIGITS} 之间的整数")
    return round(number, ndigits)


SAFE_BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "sum": sum,
    "abs": abs,
    "round": bounded_round,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "sorted": sorted,
    "any": any,
    "all": all,
    "list": list,
    "dict": dict,
    "set": set,
}


def bounded_range(*args: int) -> list[int]:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise SandboxError(f"range() 最多 {MAX_RANGE} 个元素")
    return list(values)
