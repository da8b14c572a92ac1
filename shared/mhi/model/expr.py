"""A small, safe expression language for `when` conditions and `{{ ... }}` templates.

No `eval`, no attribute access on Python objects: expressions are tokenised, parsed into a tiny
tree and evaluated over plain JSON data. Grammar::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := primary (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") primary)?
    primary := NUMBER | STRING | "true" | "false" | "null" | path | "(" expr ")"
             | "[" (expr ("," expr)*)? "]"
    path    := ROOT ("." SEGMENT | "[" INT "]")*      ROOT := params | steps | item | run

Path segments may contain '-' (step ids like `extract-reservations`), so there is no arithmetic.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

ROOTS = ("params", "steps", "item", "run")
_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)(?![A-Za-z_-])
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\.)
      | (?P<name>[A-Za-z0-9_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)
_TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_ESCAPE_RE = re.compile(
    r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|N\{[^{}]*\}|.)", re.DOTALL
)
_SIMPLE_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t", "0": "\0"}
# A condition or template is a line of a flow, not a program: these bounds keep a hostile or
# careless one from exhausting the parser (each error names the expression).
MAX_EXPRESSION_CHARS = 4000
MAX_NESTING = 32
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


class ExpressionError(ValueError):
    """An expression that cannot be parsed or evaluated; the message says what and where."""


@dataclass(frozen=True)
class Path:
    """A reference such as `steps.extract.output.rows`."""

    parts: tuple[str | int, ...]

    def __str__(self) -> str:
        out = str(self.parts[0])
        for p in self.parts[1:]:
            out += f"[{p}]" if isinstance(p, int) else f".{p}"
        return out


@dataclass(frozen=True)
class _Lit:
    value: Any


@dataclass(frozen=True)
class _List:
    items: tuple[Any, ...]


@dataclass(frozen=True)
class _Not:
    operand: Any


@dataclass(frozen=True)
class _Bool:
    op: str
    operands: tuple[Any, ...]


@dataclass(frozen=True)
class _Cmp:
    op: str
    left: Any
    right: Any


def _unescape(body: str) -> str:
    """Decode the escapes of a string literal (its text is already Unicode: no re-decoding)."""

    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        if code[0] in "uUx" and len(code) > 1:
            value = int(code[1:], 16)
            if value > 0x10FFFF:
                raise ExpressionError(f"escape \\{code} is not a Unicode character")
            return chr(value)
        if code.startswith("N{"):
            try:
                return unicodedata.lookup(code[2:-1])
            except KeyError:
                raise ExpressionError(f"unknown character name in \\{code}") from None
        hint = "\\uXXXX" if code in "uU" else "\\xXX" if code == "x" else "\\N{NAME}"
        if code in "uUxN":
            raise ExpressionError(f"incomplete escape \\{code}: write {hint}")
        raise ExpressionError(f"unknown escape \\{code} (use \\\\ for a backslash)")

    return _ESCAPE_RE.sub(one, body)


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"unexpected character {text[pos:].strip()[:1]!r} at {pos}")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str, roots: tuple[str, ...] = ROOTS) -> None:
        self.depth = 0
        self.text = text
        self.roots = roots
        self.tokens = _tokenize(text)
        self.i = 0

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _take(self, value: str | None = None) -> tuple[str, str]:
        tok = self._peek()
        if tok is None or (value is not None and tok[1] != value):
            found = "end of expression" if tok is None else repr(tok[1])
            raise ExpressionError(f"expected {value or 'a value'!r}, found {found}")
        self.i += 1
        return tok

    def _at(self, value: str) -> bool:
        tok = self._peek()
        return tok is not None and tok[1] == value and tok[0] in ("op", "name")

    def parse(self) -> Any:
        node = self._or()
        extra = self._peek()
        if extra is not None:
            raise ExpressionError(f"unexpected {extra[1]!r}")
        return node

    def _or(self) -> Any:
        items = [self._and()]
        while self._at("or"):
            self._take()
            items.append(self._and())
        return items[0] if len(items) == 1 else _Bool("or", tuple(items))

    def _and(self) -> Any:
        items = [self._not()]
        while self._at("and"):
            self._take()
            items.append(self._not())
        return items[0] if len(items) == 1 else _Bool("and", tuple(items))

    def _not(self) -> Any:
        if self._at("not"):
            self._take()
            with self._nested():
                return _Not(self._not())
        return self._compare()

    @contextmanager
    def _nested(self) -> Iterator[None]:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(f"nested more than {MAX_NESTING} deep")
        try:
            yield
        finally:
            self.depth -= 1

    def _compare(self) -> Any:
        left = self._primary()
        tok = self._peek()
        if tok and tok[1] in ("==", "!=", "<", "<=", ">", ">=", "in"):
            self._take()
            return _Cmp(tok[1], left, self._primary())
        nxt = self.tokens[self.i + 1][1] if self.i + 1 < len(self.tokens) else None
        if tok and tok[1] == "not" and nxt == "in":
            self.i += 2
            return _Cmp("not in", left, self._primary())
        return left

    def _primary(self) -> Any:
        kind, value = self._take()
        if kind == "number":
            return _Lit(float(value) if "." in value else int(value))
        if kind == "string":
            return _Lit(_unescape(value[1:-1]))
        if value == "(":
            with self._nested():
                node = self._or()
            self._take(")")
            return node
        if value == "[":
            items = []
            with self._nested():
                while not self._at("]"):
                    items.append(self._or())
                    if not self._at("]"):
                        self._take(",")
            self._take("]")
            return _List(tuple(items))
        if kind == "name":
            return self._name(value)
        raise ExpressionError(f"unexpected {value!r}")

    def _name(self, value: str) -> Any:
        if value in ("true", "false", "null"):
            return _Lit({"true": True, "false": False, "null": None}[value])
        if value in _KEYWORDS:
            raise ExpressionError(f"unexpected keyword {value!r}")
        if value not in self.roots:
            raise ExpressionError(
                f"unknown name {value!r}: references start with {', '.join(self.roots)}"
            )
        parts: list[str | int] = [value]
        while self._at(".") or self._at("["):
            if self._take()[1] == ".":
                kind, seg = self._take()
                if kind not in ("name", "number"):
                    raise ExpressionError(f"expected a name after '.', found {seg!r}")
                # `hotels.0` means `hotels[0]` (`.1.2` arrives as the number token "1.2").
                digits = seg.split(".")
                if kind == "number" and all(d.isdigit() for d in digits):
                    parts.extend(int(d) for d in digits)
                else:
                    parts.append(seg)
            else:
                kind, idx = self._take()
                if kind != "number" or not idx.lstrip("-").isdigit():
                    raise ExpressionError(f"expected an integer index, found {idx!r}")
                parts.append(int(idx))
                self._take("]")
        return Path(tuple(parts))


def parse(text: str, roots: tuple[str, ...] = ROOTS) -> Any:
    """Parse an expression; raise ExpressionError saying what is wrong.

    `roots` are the names a path may start with (a step type may add its own: `ms-transform`
    adds `row`, the row being filtered or computed).
    """
    if not text.strip():
        raise ExpressionError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"expression is {len(text)} characters long, the limit is {MAX_EXPRESSION_CHARS}"
        )
    return _Parser(text, roots).parse()


def references(node: Any) -> list[Path]:
    """Return every path an expression tree refers to."""
    if isinstance(node, Path):
        return [node]
    if isinstance(node, _Not):
        return references(node.operand)
    if isinstance(node, _Cmp):
        return references(node.left) + references(node.right)
    if isinstance(node, _Bool | _List):
        items = node.operands if isinstance(node, _Bool) else node.items
        return [p for item in items for p in references(item)]
    return []


def resolve(path: Path, context: dict[str, Any]) -> Any:
    """Look a path up in the context; raise ExpressionError naming the missing part."""
    value: Any = context
    seen: list[str | int] = []
    for part in path.parts:
        if isinstance(part, int) and isinstance(value, Mapping) and str(part) in value:
            part = str(part)  # an object key that is all digits, written `.0` or `[0]`
        if isinstance(part, int) and isinstance(value, list):
            if not -len(value) <= part < len(value):
                raise ExpressionError(f"{Path(tuple(seen))}: index {part} out of range")
        elif isinstance(value, Mapping) and part in value:
            pass
        else:
            where = str(Path(tuple(seen))) if seen else "context"
            keys = ", ".join(sorted(map(str, value))) if isinstance(value, Mapping) else "none"
            raise ExpressionError(f"{where} has no {part!r} (available: {keys or 'none'})")
        value = value[part]
        seen.append(part)
    return value


def evaluate(node: Any, context: dict[str, Any]) -> Any:
    """Evaluate a parsed expression over JSON data."""
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, Path):
        return resolve(node, context)
    if isinstance(node, _List):
        return [evaluate(i, context) for i in node.items]
    if isinstance(node, _Not):
        return not evaluate(node.operand, context)
    if isinstance(node, _Bool):
        if node.op == "and":
            return all(evaluate(i, context) for i in node.operands)
        return any(evaluate(i, context) for i in node.operands)
    return _compare(node, context)


def _compare(node: _Cmp, context: dict[str, Any]) -> bool:
    left, right = evaluate(node.left, context), evaluate(node.right, context)
    try:
        if node.op == "==":
            return bool(left == right)
        if node.op == "!=":
            return bool(left != right)
        if node.op in ("in", "not in"):
            found = left in right
            return found if node.op == "in" else not found
        if node.op == "<":
            return bool(left < right)
        if node.op == "<=":
            return bool(left <= right)
        if node.op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError as e:
        raise ExpressionError(
            f"cannot compare {left!r} {node.op} {right!r}: {type(left).__name__} "
            f"and {type(right).__name__}"
        ) from e


def template_expressions(text: str) -> list[str]:
    """Return the expressions inside every `{{ ... }}` of a string."""
    return [m.group(1) for m in _TEMPLATE_RE.finditer(text)]


def render_string(text: str, context: dict[str, Any]) -> Any:
    """Render `{{ ... }}` placeholders. A string that is exactly one placeholder keeps its type."""
    whole = _TEMPLATE_RE.fullmatch(text.strip())
    if whole and "{{" not in whole.group(1):
        return evaluate(parse(whole.group(1)), context)

    def _sub(m: re.Match[str]) -> str:
        value = evaluate(parse(m.group(1)), context)
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (list, dict)):  # JSON, as the rest of a flow is written
            return json.dumps(value, ensure_ascii=False, default=str)
        return "" if value is None else str(value)

    return _TEMPLATE_RE.sub(_sub, text)


def render(value: Any, context: dict[str, Any], path: str = "config") -> Any:
    """Render templates anywhere inside a JSON value; errors name the JSON path."""
    if isinstance(value, str):
        if "{{" not in value:
            return value
        try:
            return render_string(value, context)
        except ExpressionError as e:
            raise ExpressionError(f"{path}: {value!r}: {e}") from e
    if isinstance(value, dict):
        return {k: render(v, context, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def iter_templates(value: Any, path: str) -> list[tuple[str, str]]:
    """Return (JSON path, expression) for every placeholder inside a JSON value."""
    if isinstance(value, str):
        return [(path, e) for e in template_expressions(value)]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in iter_templates(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [t for i, v in enumerate(value) for t in iter_templates(v, f"{path}[{i}]")]
    return []
