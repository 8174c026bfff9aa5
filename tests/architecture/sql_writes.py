"""Which SQL statements write, and to which table: the reads-never-write walk's classifier.

A regex on the statement's first word misses SQLite's ``INSERT OR IGNORE INTO`` (what
``bulk_create(ignore_conflicts=True)`` sends, the outbox among others), ``REPLACE INTO``,
``UPDATE OR ...`` and any write behind a ``WITH`` clause. sqlparse (a Django dependency)
knows the statement type after a WITH clause; a data-modifying CTE inside a SELECT
(PostgreSQL's ``WITH x AS (DELETE ...) SELECT``) is caught by looking inside the brackets.
"""

from __future__ import annotations

import re

import sqlparse
from sqlparse import tokens as T

WRITE_VERBS = frozenset({"INSERT", "REPLACE", "UPDATE", "DELETE", "MERGE", "UPSERT"})

_NAME = r'(?:[`"\[]?\w+[`"\]]?\.)?[`"\[]?(\w+)[`"\]]?'
_TARGET = re.compile(
    r"^(?:"
    rf"(?:INSERT|REPLACE|UPSERT)(?:\s+OR\s+\w+)?\s+INTO\s+{_NAME}"
    rf"|UPDATE(?:\s+OR\s+\w+)?\s+(?:ONLY\s+)?{_NAME}"
    rf"|DELETE\s+FROM\s+(?:ONLY\s+)?{_NAME}"
    rf"|MERGE\s+INTO\s+{_NAME}"
    r")",
    re.IGNORECASE,
)
# A write inside brackets: the body of a data-modifying CTE.
_INNER_WRITE = re.compile(
    r"\(\s*(?:(?:INSERT|REPLACE)(?:\s+OR\s+\w+)?\s+INTO|UPDATE|DELETE\s+FROM|MERGE\s+INTO)\s",
    re.IGNORECASE,
)


def _main_statement(statement) -> str:
    """The statement's text from its main verb on (after any WITH clause and comments)."""
    seen_with = False
    for index, token in enumerate(statement.tokens):
        if (
            token.is_whitespace
            or token.ttype in T.Comment
            or isinstance(token, sqlparse.sql.Comment)
        ):
            continue
        if token.ttype is T.Keyword.CTE:
            seen_with = True
            continue
        if seen_with and token.ttype not in (T.Keyword.DML, T.Keyword):
            continue  # the CTE definitions
        if seen_with and token.normalized not in WRITE_VERBS | {"SELECT"}:
            continue  # RECURSIVE and the like
        return "".join(str(t) for t in statement.tokens[index:])
    return ""


def written_table(sql: str) -> tuple[str, str] | None:
    """(verb, table) when the SQL writes, else None; the table is "?" if it cannot be named."""
    for statement in sqlparse.parse(sql):
        kind = statement.get_type()
        if kind in WRITE_VERBS:
            main = _main_statement(statement).strip()
            match = _TARGET.match(main)
            table = next((g for g in match.groups() if g), "?") if match else "?"
            return kind, table
        if _INNER_WRITE.search(str(statement)):
            return "WITH", "?"  # a write hidden in a CTE: never explained by an allowlist
    return None
