"""Reading a SQL statement's text without a SQL parser: where its quotes and comments are,
which `@name` parameters it uses, whether it is one statement and whether it returns rows.

The scanner knows the lexical forms DuckDB and BigQuery share: '...' strings ('' or a backslash
escapes a quote), "..." and `...` quoted names, `--` and `# ` line comments (a `#` before a
blank: DuckDB's `#1` is a column position), /* */ block comments. `@@name` is a BigQuery system
variable, not a parameter. Light (standard library only): the config models use it to check a
statement when the flow is validated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

_PARAM_RE = re.compile(r"(?<![@\w])@([A-Za-z_][A-Za-z0-9_]*)")
_WORD_RE = re.compile(r"[A-Za-z_]+")
_TRAILER_RE = re.compile(r"[;\s]+$")
# Statements whose result is rows (the others: DDL, DML, scripts).
QUERY_KEYWORDS = frozenset({"select", "with", "from", "values", "table"})
_CLOSERS = {"'": "'", '"': '"', "`": "`"}


class SqlTextError(ValueError):
    """A statement the scanner cannot read: an unterminated quote or comment."""


def _quoted_end(sql: str, start: int) -> int:
    """Return the index just past the quoted text opened at `start`."""
    quote = sql[start]
    i = start + 1
    while i < len(sql):
        c = sql[i]
        if c == "\\" and quote == "'":
            i += 2
            continue
        if c == quote:
            if quote == "'" and sql.startswith("''", i):
                i += 2
                continue
            return i + 1
        i += 1
    raise SqlTextError(f"unterminated {quote}...{quote} starting at character {start}")


def _hash_comment(sql: str, i: int) -> bool:
    """`# ...` is a BigQuery comment; DuckDB's positional `#1` is not one."""
    return sql[i] == "#" and (i + 1 == len(sql) or sql[i + 1].isspace() or sql[i + 1] == "#")


def _comment_end(sql: str, start: int) -> int:
    if sql.startswith("/*", start):
        end = sql.find("*/", start + 2)
        if end < 0:
            raise SqlTextError(f"unterminated /* comment starting at character {start}")
        return end + 2
    end = sql.find("\n", start)
    return len(sql) if end < 0 else end


def segments(sql: str) -> Iterator[tuple[str, str]]:
    """Yield (kind, text) pieces of a statement: `code`, `quoted` or `comment`, in order."""
    i, code_start = 0, 0
    while i < len(sql):
        c = sql[i]
        if c in _CLOSERS:
            end, kind = _quoted_end(sql, i), "quoted"
        elif sql.startswith(("--", "/*"), i) or _hash_comment(sql, i):
            end, kind = _comment_end(sql, i), "comment"
        else:
            i += 1
            continue
        if code_start < i:
            yield "code", sql[code_start:i]
        yield kind, sql[i:end]
        i = code_start = end
    if code_start < len(sql):
        yield "code", sql[code_start:]


def _map_code(sql: str, fn: Callable[[str], str]) -> str:
    return "".join(fn(text) if kind == "code" else text for kind, text in segments(sql))


def parameters(sql: str) -> list[str]:
    """Return the `@name` parameters a statement uses, in order of first use."""
    found: list[str] = []
    for kind, text in segments(sql):
        if kind == "code":
            found += [m.group(1) for m in _PARAM_RE.finditer(text)]
    return list(dict.fromkeys(found))


def to_dollar(sql: str) -> str:
    """Rewrite `@name` parameters as DuckDB's `$name` (outside quotes and comments)."""
    return _map_code(sql, lambda text: _PARAM_RE.sub(r"$\1", text))


def strip_statement(sql: str) -> str:
    """Return the statement without surrounding blanks, trailing comments and semicolons.

    Raises:
        SqlTextError: it is empty, holds more than one statement, or a quote is unterminated.
    """
    end, pos, seen_end = 0, 0, False
    for kind, text in segments(sql):
        if kind == "code":
            body = _TRAILER_RE.sub("", text)
            if ";" in body or (seen_end and body.strip()):
                raise SqlTextError("one statement only: remove the ';' between statements")
            if body.strip():
                end = pos + len(body)
            seen_end = seen_end or ";" in text
        elif kind == "quoted":
            if seen_end:
                raise SqlTextError("one statement only: remove the ';' between statements")
            end = pos + len(text)
        pos += len(text)
    statement = sql[:end].strip()
    if not statement:
        raise SqlTextError("the statement is empty")
    return statement


def leading_keyword(sql: str) -> str:
    """Return the statement's first keyword in lower case (`select`, `with`, `delete`, ...)."""
    for kind, text in segments(sql):
        if kind == "code":
            m = _WORD_RE.search(text)
            if m:
                return m.group(0).lower()
        elif kind == "quoted":
            break
    return ""


def top_level_words(sql: str) -> set[str]:
    """Return the lower-case words of a statement outside quotes, comments and parentheses."""
    words: set[str] = set()
    depth = 0
    for kind, text in segments(sql):
        if kind != "code":
            continue
        for token in re.findall(r"[A-Za-z_]+|[()]", text):
            if token == "(":
                depth += 1
            elif token == ")":
                depth = max(0, depth - 1)
            elif depth == 0:
                words.add(token.lower())
    return words


def with_limit(sql: str, rows: int) -> str:
    """Return a query that stops after `rows` rows: its own LIMIT (or OFFSET) is kept as is,
    otherwise one is appended at the top level (after its ORDER BY, so the order holds)."""
    if top_level_words(sql) & {"limit", "offset"}:
        return sql
    return f"{sql}\nLIMIT {rows}"


def returns_rows(sql: str) -> bool:
    """Whether the statement is a query (its result is rows), not DDL, DML or a script."""
    return leading_keyword(sql) in QUERY_KEYWORDS
