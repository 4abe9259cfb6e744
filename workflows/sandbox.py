"""The one evaluator for every expression and script in a process model.

Process models are data edited by administrators, yet their conditions, scripts, decision-table
cells and timer expressions run on children's data. Python's ``eval`` cannot be made safe, so this
module interprets an allowlisted subset of Python's syntax tree itself: no imports, no names or
attributes that start with ``_``, a short list of functions, and a budget on steps and sizes.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping, MutableMapping
from functools import lru_cache
from typing import Any

MAX_SOURCE_CHARS = 10_000
MAX_DEPTH = 60
MAX_STEPS = 100_000
MAX_INT_BITS = 4_096
MAX_SEQUENCE = 100_000
MAX_STRING = 1_000_000
MAX_RANGE = 10_000
MAX_WEIGHT = 200_000
# SpiffWorkflow's serializer turns any dict holding "typename" back into one of its own objects.
RESERVED_KEYS = frozenset({"typename"})


class SandboxError(Exception):
    """An expression or script was refused or stopped; ``message`` is for a person (Chinese)."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
# Methods a model may call, per receiver type. Anything that formats, reflects or allocates
# without bound (str.format, str.center, …) is left out on purpose.
_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        "lower upper strip lstrip rstrip startswith endswith split join replace isdigit count".split()
    ),
    dict: frozenset("get keys values items".split()),
    list: frozenset("append extend count index".split()),
    set: frozenset("add".split()),
}

_MUTATORS = frozenset({"append", "extend", "add"})

_EXPR_NODES = (
    ast.Expression,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.Compare,
    ast.IfExp,
    ast.Call,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.Set,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.keyword,
    *_BINOPS,
    *_CMPOPS,
    *_UNARY,
)
_STMT_NODES = (
    ast.Module,
    ast.Assign,
    ast.AugAssign,
    ast.If,
    ast.For,
    ast.While,
    ast.Break,
    ast.Continue,
    ast.Pass,
    ast.Expr,
)

_SAFE_BUILTINS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "sum": sum,
    "abs": abs,
    "round": round,
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


def _bounded_range(*args: int) -> list[int]:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise SandboxError(f"range() 最多 {MAX_RANGE} 个元素")
    return list(values)


def _check_tree(tree: ast.AST, allowed: tuple[type, ...], source: str) -> None:
    def visit(node: ast.AST, depth: int) -> None:
        line = getattr(node, "lineno", None)
        if depth > MAX_DEPTH:
            raise SandboxError("表达式嵌套过深", source=source, line=line)
        if not isinstance(node, allowed):
            raise SandboxError(f"不允许的语法：{type(node).__name__}", source=source, line=line)
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise SandboxError(f"不允许以下划线开头的名称：{node.id}", source=source, line=line)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise SandboxError(f"不允许以下划线开头的属性：{node.attr}", source=source, line=line)
        if isinstance(node, ast.keyword) and node.arg is None:
            raise SandboxError("不允许 ** 展开参数", source=source, line=line)
        for child in ast.iter_child_nodes(node):
            visit(child, depth + 1)

    visit(tree, 0)


def _parse(source: str, mode: str) -> ast.AST:
    if not isinstance(source, str):
        raise SandboxError("表达式必须是文本")
    if len(source) > MAX_SOURCE_CHARS:
        raise SandboxError(f"表达式超过 {MAX_SOURCE_CHARS} 个字符")
    try:
        return ast.parse(source.strip() if mode == "eval" else source, mode=mode)
    except SyntaxError as exc:
        raise SandboxError(f"语法错误：{exc.msg}", source=source, line=exc.lineno) from None
    except (RecursionError, MemoryError, ValueError):
        raise SandboxError("表达式无法解析（过长或嵌套过深）", source=source) from None


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> ast.Expression:
    """Parse and check an expression once; raise SandboxError when it uses anything not allowed."""
    tree = _parse(source, "eval")
    _check_tree(tree, _EXPR_NODES, source)
    return tree  # type: ignore[return-value]


@lru_cache(maxsize=1024)
def compile_script(source: str) -> ast.Module:
    """Parse and check a script once; raise SandboxError when it uses anything not allowed."""
    tree = _parse(source, "exec")
    _check_tree(tree, _EXPR_NODES + _STMT_NODES, source)
    return tree  # type: ignore[return-value]


def _check_size(value: Any) -> Any:
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


def _result_length(receiver: str, method: str, args: list[Any]) -> int:
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


class _Interpreter:
    """Walks one checked tree with a step budget."""

    def __init__(
        self,
        names: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]],
        source: str,
        writable: MutableMapping[str, Any] | None = None,
    ) -> None:
        self.names = names
        self.functions = functions
        self.source = source
        self.writable = writable
        self.locals: dict[str, Any] = {}
        self.steps = 0

    def tick(self, node: ast.AST) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise SandboxError(
                f"计算步骤超过上限 {MAX_STEPS}（可能是死循环）",
                source=self.source,
                line=getattr(node, "lineno", None),
            )

    # -- statements -------------------------------------------------------------------------------
    def run(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self.tick(stmt)
            self.stmt(stmt)

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Expr):
            self.eval(node.value)
        elif isinstance(node, ast.Assign):
            value = self.eval(node.value)
            for target in node.targets:
                self.assign(target, value)
        elif isinstance(node, ast.AugAssign):
            current = self.read_target(node.target)
            self.assign(node.target, self.binop(node.op, current, self.eval(node.value)))
        elif isinstance(node, ast.If):
            self.run(node.body if self.eval(node.test) else node.orelse)
        elif isinstance(node, ast.For):
            self.loop_for(node)
        elif isinstance(node, ast.While):
            while self.eval(node.test):
                self.tick(node)
                try:
                    self.run(node.body)
                except _Break:
                    break
                except _Continue:
                    continue
        elif isinstance(node, ast.Break):
            raise _Break
        elif isinstance(node, ast.Continue):
            raise _Continue

    def loop_for(self, node: ast.For) -> None:
        for item in list(self.eval(node.iter)):
            self.tick(node)
            self._bind_local(node.target, item)  # loop variables stay out of case data
            try:
                self.run(node.body)
            except _Break:
                break
            except _Continue:
                continue
        else:
            self.run(node.orelse)

    def read_target(self, target: ast.expr) -> Any:
        if isinstance(target, ast.Name):
            return self.lookup(target)
        if isinstance(target, ast.Subscript):
            return self.eval(target.value)[self.eval(target.slice)]
        raise SandboxError("不支持的赋值目标", source=self.source)

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            if self.writable is None:
                self.locals[target.id] = value
            else:
                self.writable[target.id] = _plain(value)
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            if not isinstance(container, list | dict):
                raise SandboxError("只能给列表或字典的元素赋值", source=self.source)
            key = self.eval(target.slice)
            if isinstance(container, dict) and not isinstance(key, str):
                raise SandboxError("字典的键只能是文本", source=self.source)
            container[key] = _plain(value)
        elif isinstance(target, ast.Tuple | ast.List):
            values = list(value)
            if len(values) != len(target.elts):
                raise SandboxError("解包的个数不一致", source=self.source)
            for elt, item in zip(target.elts, values, strict=True):
                self.assign(elt, item)
        else:
            raise SandboxError("不支持的赋值目标", source=self.source)

    # -- expressions ------------------------------------------------------------------------------
    def eval(self, node: ast.AST) -> Any:  # noqa: C901 - a dispatcher reads best as one block
        self.tick(node)
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.lookup(node)
        if isinstance(node, ast.BinOp):
            return self.binop(node.op, self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](self.eval(node.operand))
        if isinstance(node, ast.BoolOp):
            return self.boolop(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.IfExp):
            return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Attribute):
            raise SandboxError(f"属性 {node.attr} 只能作为允许的方法调用", source=self.source)
        if isinstance(node, ast.Subscript):
            return _check_size(self.eval(node.value)[self.eval(node.slice)])
        if isinstance(node, ast.Slice):
            return slice(
                *(self.eval(p) if p is not None else None for p in (node.lower, node.upper, node.step))
            )
        if isinstance(node, ast.List):
            return _check_size([self.eval(e) for e in node.elts])
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(e) for e in node.elts)
        if isinstance(node, ast.Set):
            return _check_size({self.eval(e) for e in node.elts})
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise SandboxError("不允许 ** 展开字典", source=self.source)
            entries = zip(node.keys, node.values, strict=True)
            return _check_size({self.eval(k): self.eval(v) for k, v in entries})  # type: ignore[arg-type]
        if isinstance(node, ast.ListComp | ast.GeneratorExp):
            return _check_size([value for value in self.comprehension(node.generators, node.elt)])
        if isinstance(node, ast.SetComp):
            return _check_size(set(self.comprehension(node.generators, node.elt)))
        if isinstance(node, ast.DictComp):
            pairs = self.comprehension(
                node.generators, ast.Tuple(elts=[node.key, node.value], ctx=ast.Load())
            )
            return _check_size(dict(pairs))
        raise SandboxError(f"不允许的语法：{type(node).__name__}", source=self.source)

    def lookup(self, node: ast.Name) -> Any:
        name = node.id
        if name in self.locals:
            return self.locals[name]
        if name in self.names:
            return self.names[name]
        if name in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[name]
        if name in self.functions:
            raise SandboxError(f"函数 {name} 只能被调用", source=self.source)
        raise SandboxError(f"未定义的变量：{name}", source=self.source, line=getattr(node, "lineno", None))

    def binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        if isinstance(op, ast.Pow):
            if isinstance(right, int | float) and abs(right) > 128:
                raise SandboxError("幂运算的指数过大", source=self.source)
            if isinstance(left, int) and left.bit_length() * max(int(abs(right)), 1) > MAX_INT_BITS:
                raise SandboxError("幂运算的结果过大", source=self.source)
        if isinstance(op, ast.Mod) and isinstance(left, str):
            raise SandboxError("不允许用 % 格式化文本", source=self.source)
        if isinstance(op, ast.Mult):
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    if len(seq) * count > MAX_SEQUENCE:
                        raise SandboxError("重复后的内容过长", source=self.source)
        try:
            return _check_size(_BINOPS[type(op)](left, right))
        except SandboxError:
            raise
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise SandboxError(f"运算错误：{exc}", source=self.source) from None

    def boolop(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.eval(operand)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator)
            try:
                if not _CMPOPS[type(op)](left, right):
                    return False
            except TypeError as exc:
                raise SandboxError(f"无法比较：{exc}", source=self.source) from None
            left = right
        return True

    def call(self, node: ast.Call) -> Any:
        args = [self.eval(a) for a in node.args if not isinstance(a, ast.Starred)]
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise SandboxError("不允许 * 展开参数", source=self.source)
        kwargs = {kw.arg: self.eval(kw.value) for kw in node.keywords}
        if isinstance(node.func, ast.Name) and node.func.id == "defined":
            # defined("name"): whether case data holds the name (optional form fields)
            if len(args) != 1 or not isinstance(args[0], str):
                raise SandboxError("defined() 需要一个变量名文本", source=self.source)
            return args[0] in self.locals or args[0] in self.names
        if isinstance(node.func, ast.Name):
            func = self.functions.get(node.func.id)
            if func is None:
                raise SandboxError(f"不允许调用函数：{node.func.id}", source=self.source)
        elif isinstance(node.func, ast.Attribute):
            receiver = self.eval(node.func.value)
            allowed = _METHODS.get(type(receiver), frozenset())
            if node.func.attr not in allowed:
                raise SandboxError(f"不允许调用方法：{node.func.attr}", source=self.source)
            if isinstance(receiver, str) and _result_length(receiver, node.func.attr, args) > MAX_STRING:
                raise SandboxError("文本过长", source=self.source)
            if node.func.attr in _MUTATORS:  # what goes into case data must be plain JSON-like data
                args = [_plain(a) for a in args]
            func = getattr(receiver, node.func.attr)
        else:
            raise SandboxError("只能调用允许的函数", source=self.source)
        try:
            return _check_size(func(*args, **kwargs))  # type: ignore[arg-type]
        except SandboxError:
            raise
        except Exception as exc:  # noqa: BLE001 - a model's bad call is reported, never raised raw
            raise SandboxError(f"函数调用出错：{exc}", source=self.source) from None

    def comprehension(self, generators: list[ast.comprehension], element: ast.expr) -> list[Any]:
        results: list[Any] = []
        saved = dict(self.locals)

        def walk(index: int) -> None:
            if index == len(generators):
                results.append(self.eval(element))
                if len(results) > MAX_SEQUENCE:
                    raise SandboxError("列表过长", source=self.source)
                return
            gen = generators[index]
            for item in list(self.eval(gen.iter)):
                self.tick(gen)
                self._bind_local(gen.target, item)
                if all(self.eval(cond) for cond in gen.ifs):
                    walk(index + 1)

        try:
            walk(0)
        finally:
            self.locals = saved
        return results

    def _bind_local(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.locals[target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            for elt, item in zip(target.elts, list(value), strict=True):
                self._bind_local(elt, item)
        else:
            raise SandboxError("不支持的循环变量", source=self.source)


def plain(value: Any) -> Any:
    """Only JSON-like values may be stored in case data: finite numbers, text keys, no reserved keys."""
    _check_size(value)
    return _plain_copy(value)


_plain = plain


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


class Sandbox:
    """Evaluates checked expressions and runs checked scripts with a fixed set of functions."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.functions: dict[str, Callable[..., Any]] = {**_SAFE_BUILTINS, "range": _bounded_range}
        self.functions.update(functions or {})

    @property
    def known_functions(self) -> frozenset[str]:
        """Every name a model may call (the functions, and ``defined``)."""
        return frozenset(self.functions) | {"defined"}

    def evaluate(self, source: str, names: Mapping[str, Any]) -> Any:
        """Evaluate an expression over ``names`` (task data); nothing is written."""
        tree = compile_expression(source)
        return _Interpreter(names, self.functions, source).eval(tree)

    def execute(
        self, source: str, data: MutableMapping[str, Any], extra: Mapping[str, Any] | None = None
    ) -> None:
        """Run a script whose assignments write into ``data``."""
        tree = compile_script(source)
        names: Mapping[str, Any] = data if not extra else _Layered(data, extra)
        _Interpreter(names, self.functions, source, writable=data).run(tree.body)


class _Layered(Mapping[str, Any]):
    def __init__(self, first: Mapping[str, Any], second: Mapping[str, Any]) -> None:
        self.first, self.second = first, second

    def __getitem__(self, key: str) -> Any:
        return self.first[key] if key in self.first else self.second[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        yield from dict.fromkeys([*self.first, *self.second])

    def __len__(self) -> int:
        return len(set(self.first) | set(self.second))
