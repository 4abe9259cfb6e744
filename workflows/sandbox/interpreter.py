"""The interpreter: walks one checked tree with a step budget, calling only the functions it was given."""

from __future__ import annotations

import ast
import time
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from workflows.sandbox.grammar import (
    BINOPS,
    CMPOPS,
    METHODS,
    MUTATORS,
    UNARY,
    compile_expression,
    compile_script,
)
from workflows.sandbox.limits import (
    MAX_INT_BITS,
    MAX_SECONDS,
    MAX_SEQUENCE,
    MAX_STEPS,
    MAX_STRING,
    MAX_WORK,
    SandboxError,
)
from workflows.sandbox.values import SAFE_BUILTINS, bounded_range, measure, plain, result_length, shallow_cost


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


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
        self.steps = self.work = 0
        self.deadline = time.monotonic() + MAX_SECONDS

    def tick(self, node: ast.AST) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise SandboxError(
                f"计算步骤超过上限 {MAX_STEPS}（可能是死循环）",
                source=self.source,
                line=getattr(node, "lineno", None),
            )
        if self.steps % 512 == 0 and time.monotonic() > self.deadline:
            raise SandboxError(f"计算时间超过上限 {MAX_SECONDS:g} 秒", source=self.source)

    def pay(self, cost: int) -> None:
        """Count work done inside built-ins and copies; stop when it passes the bound."""
        self.work += cost
        if self.work > MAX_WORK:
            raise SandboxError(
                f"计算量超过上限（大量复制或处理大的数据，上限 {MAX_WORK}）", source=self.source
            )
        if time.monotonic() > self.deadline:
            raise SandboxError(f"计算时间超过上限 {MAX_SECONDS:g} 秒", source=self.source)

    def sized(self, value: Any) -> Any:
        self.pay(measure(value))
        return value

    def stored(self, value: Any) -> Any:
        self.pay(2 * measure(value))  # checked, then copied
        return plain(value)

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
        items = list(self.eval(node.iter))
        self.pay(len(items))
        for item in items:
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
                self.writable[target.id] = self.stored(value)
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value)
            if not isinstance(container, list | dict):
                raise SandboxError("只能给列表或字典的元素赋值", source=self.source)
            key = self.eval(target.slice)
            if isinstance(container, dict) and not isinstance(key, str):
                raise SandboxError("字典的键只能是文本", source=self.source)
            container[key] = self.stored(value)
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
            return UNARY[type(node.op)](self.eval(node.operand))
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
            return self.sized(self.eval(node.value)[self.eval(node.slice)])
        if isinstance(node, ast.Slice):
            return slice(
                *(self.eval(p) if p is not None else None for p in (node.lower, node.upper, node.step))
            )
        if isinstance(node, ast.List):
            return self.sized([self.eval(e) for e in node.elts])
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(e) for e in node.elts)
        if isinstance(node, ast.Set):
            return self.sized({self.eval(e) for e in node.elts})
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise SandboxError("不允许 ** 展开字典", source=self.source)
            entries = zip(node.keys, node.values, strict=True)
            return self.sized({self.eval(k): self.eval(v) for k, v in entries})  # type: ignore[arg-type]
        if isinstance(node, ast.ListComp | ast.GeneratorExp):
            return self.sized([value for value in self.comprehension(node.generators, node.elt)])
        if isinstance(node, ast.SetComp):
            return self.sized(set(self.comprehension(node.generators, node.elt)))
        if isinstance(node, ast.DictComp):
            pairs = self.comprehension(
                node.generators, ast.Tuple(elts=[node.key, node.value], ctx=ast.Load())
            )
            return self.sized(dict(pairs))
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
            return self.sized(BINOPS[type(op)](left, right))
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
                if not CMPOPS[type(op)](left, right):
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
            allowed = METHODS.get(type(receiver), frozenset())
            if node.func.attr not in allowed:
                raise SandboxError(f"不允许调用方法：{node.func.attr}", source=self.source)
            if isinstance(receiver, str) and result_length(receiver, node.func.attr, args) > MAX_STRING:
                raise SandboxError("文本过长", source=self.source)
            if node.func.attr in MUTATORS:  # what goes into case data must be plain JSON-like data
                args = [self.stored(a) for a in args]
            func = getattr(receiver, node.func.attr)
        else:
            raise SandboxError("只能调用允许的函数", source=self.source)
        self.pay(shallow_cost([*args, *kwargs.values()]))
        try:
            return self.sized(func(*args, **kwargs))  # type: ignore[arg-type]
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
            items = list(self.eval(gen.iter))
            self.pay(len(items))
            for item in items:
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


class Sandbox:
    """Evaluates checked expressions and runs checked scripts with a fixed set of functions."""

    def __init__(self, functions: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.functions: dict[str, Callable[..., Any]] = {**SAFE_BUILTINS, "range": bounded_range}
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
