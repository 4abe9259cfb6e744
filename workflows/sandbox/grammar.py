"""What a model may write: the allowlisted syntax, operators and methods; parsing and checking, once per text."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from workflows.sandbox.limits import MAX_DEPTH, MAX_SOURCE_CHARS, SandboxError

BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
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
UNARY: dict[type, Callable[[Any], Any]] = {
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
# Methods a model may call, per receiver type. Anything that formats, reflects or allocates
# without bound (str.format, str.center, …) is left out on purpose.
METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        "lower upper strip lstrip rstrip startswith endswith split join replace isdigit count".split()
    ),
    dict: frozenset("get keys values items".split()),
    list: frozenset("append extend count index".split()),
    set: frozenset("add".split()),
}

MUTATORS = frozenset({"append", "extend", "add"})

EXPR_NODES = (
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
    *BINOPS,
    *CMPOPS,
    *UNARY,
)
STMT_NODES = (
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
    _check_tree(tree, EXPR_NODES, source)
    return tree  # type: ignore[return-value]


@lru_cache(maxsize=1024)
def compile_script(source: str) -> ast.Module:
    """Parse and check a script once; raise SandboxError when it uses anything not allowed."""
    tree = _parse(source, "exec")
    _check_tree(tree, EXPR_NODES + STMT_NODES, source)
    return tree  # type: ignore[return-value]
