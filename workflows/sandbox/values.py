"""Values crossing the sandbox's edge: sizes checked before and after work, and only JSON-like data stored."""

from __future__ import annotations

from typing import Any

from workflows.sandbox.limits import (
    MAX_INT_BITS,
    MAX_SEQUENCE,
    MAX_STRING,
    MAX_WEIGHT,
    RESERVED_KEYS,
    SandboxError,
)


def check_size(value: Any) -> Any:
    """Refuse a value that is too big, counting nested containers (shared parts count each time)."""
    budget = MAX_WEIGHT
    pending = [value]
    while pending:
        item = pending.pop()
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
            budget -= 1 + len(item)
            pending.extend(item.items() if isinstance(item, dict) else item)
        else:
            budget -= 1
        if budget < 0:
            raise SandboxError("数据量过大（嵌套的列表或文本太多）")
    return value


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
