"""Cutting an org code out of a materialized path ("/CN/ZJ/SX/") in SQL, on both databases.

The dashboards group a subtree's rows by the child org (or the province) they fall under; doing
it in the query keeps the work one grouped pass over an index range, never rows read into Python.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Integer, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class _position(FunctionElement[int]):
    """Where the second argument first occurs in the first (1-based, 0 if not): `strpos` on
    PostgreSQL, `instr` on SQLite."""

    type = Integer()
    inherit_cache = True
    name = "position_of"


@compiles(_position)
def _position_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(_position, "postgresql")
def _position_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


def segment_after(column: Any, prefix: str) -> ColumnElement[str]:
    """The code right after `prefix` in a path column ("/CN/ZJ/SX/" after "/CN/" is "ZJ"); ""
    for a row whose path is `prefix` itself."""
    rest = func.substr(column, len(prefix) + 1)
    # The "/" appended keeps the length at 0 or more: PostgreSQL refuses a negative one.
    return func.substr(rest, 1, _position(rest.concat("/"), "/") - 1)
