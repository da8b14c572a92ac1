"""The SQL text scanner: parameters, one statement, trailing semicolons, quotes and comments."""

from __future__ import annotations

import pytest

from mhi.generic.sql_text import (
    SqlTextError,
    leading_keyword,
    parameters,
    returns_rows,
    strip_statement,
    to_dollar,
    with_limit,
)


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("SELECT * FROM t WHERE a = @a AND b IN UNNEST(@bs) AND c = @a", ["a", "bs"]),
        ("SELECT 'x@y.com', \"@col\", `@t` FROM t -- @hidden\nWHERE d = @d", ["d"]),
        ("SELECT @@project_id, @p /* @q */", ["p"]),
        ("SELECT 'it''s @not' AS s, 'esc\\'@no' AS e, @yes", ["yes"]),
        ("SELECT email FROM t WHERE email LIKE '%@%' # @nope\n AND @x", ["x"]),
    ],
)
def test_parameters_are_found_outside_quotes_and_comments(sql: str, names: list[str]) -> None:
    assert parameters(sql) == names


def test_to_dollar_rewrites_only_parameters() -> None:
    sql = "SELECT 'a@b' AS m, @n AS n -- @c\n, \"@q\""
    assert to_dollar(sql) == "SELECT 'a@b' AS m, $n AS n -- @c\n, \"@q\""


@pytest.mark.parametrize(
    ("sql", "statement"),
    [
        ("SELECT 1;", "SELECT 1"),
        ("  SELECT 1 ;  \n -- done\n", "SELECT 1"),
        ("SELECT ';' AS s;;", "SELECT ';' AS s"),
        ("SELECT 1 -- a; b\n", "SELECT 1"),
        ("DELETE FROM t WHERE a = @a; /* bye */", "DELETE FROM t WHERE a = @a"),
    ],
)
def test_strip_statement_drops_trailing_semicolons_and_comments(sql: str, statement: str) -> None:
    assert strip_statement(sql) == statement


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT 1; SELECT 2", "one statement only"),
        ("SELECT 1; -- x\nDROP TABLE t", "one statement only"),
        ("SELECT 1; 'x'", "one statement only"),
        ("  ;  -- nothing", "the statement is empty"),
        ("SELECT 'open", "unterminated '"),
        ("SELECT 1 /* open", "unterminated /*"),
    ],
)
def test_bad_statements_are_named(sql: str, problem: str) -> None:
    with pytest.raises(SqlTextError, match=problem):
        strip_statement(sql)


@pytest.mark.parametrize(
    ("sql", "keyword", "rows"),
    [
        ("-- note\n  select 1", "select", True),
        ("WITH a AS (SELECT 1) SELECT * FROM a", "with", True),
        ("/* x */ DELETE FROM t", "delete", False),
        ("CREATE TABLE t AS SELECT 1", "create", False),
        ("(SELECT 1)", "select", True),
    ],
)
def test_the_leading_keyword_says_whether_rows_come_back(
    sql: str, keyword: str, rows: bool
) -> None:
    assert leading_keyword(sql) == keyword
    assert returns_rows(sql) is rows


@pytest.mark.parametrize(
    ("sql", "limited"),
    [
        ("SELECT a FROM t ORDER BY a DESC", "SELECT a FROM t ORDER BY a DESC\nLIMIT 11"),
        (
            "SELECT * FROM (SELECT a FROM t LIMIT 5) AS s",
            "SELECT * FROM (SELECT a FROM t LIMIT 5) AS s\nLIMIT 11",
        ),
        ("SELECT a FROM t ORDER BY a LIMIT 3", "SELECT a FROM t ORDER BY a LIMIT 3"),
        ("SELECT a FROM t LIMIT @n OFFSET 2", "SELECT a FROM t LIMIT @n OFFSET 2"),
        ("SELECT 'limit' AS w -- limit", "SELECT 'limit' AS w -- limit\nLIMIT 11"),
    ],
)
def test_a_limit_is_appended_at_the_top_level_unless_the_query_has_one(
    sql: str, limited: str
) -> None:
    assert with_limit(sql, 11) == limited
