"""Many rows in one statement: each SQLite statement has a cost of its own (preparing it,
running it), so a write of several rows costs one statement, not one per row as
executemany does (see `_run_plain` in bot/store/store.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

ROWS_PER_STATEMENT = 50  # well under SQLite's oldest limit of 999 values in one statement

Row = TypeVar("Row")


def in_chunks(
    db: sqlite3.Connection, head: str, rows: Sequence[Row], values: Callable[[Row], Iterable[Any]], tail: str = "",
) -> Iterator[tuple[Sequence[Row], sqlite3.Cursor]]:
    """Run `head` VALUES (?, ...), (?, ...) ... `tail` for the rows, ROWS_PER_STATEMENT at a
    time and in order, each row's parameters given by `values(row)`; yields each chunk of rows
    with its statement's cursor (for its rowcount and lastrowid). No rows: no statement."""
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start:start + ROWS_PER_STATEMENT]
        params = [tuple(values(row)) for row in chunk]
        one = "(" + ", ".join("?" * len(params[0])) + ")"
        cursor = db.execute(f"{head} VALUES {', '.join([one] * len(chunk))}{tail}", [value for row in params for value in row])
        yield chunk, cursor


def write_rows(
    db: sqlite3.Connection, head: str, rows: Sequence[Row], tail: str = "", values: Callable[[Row], Iterable[Any]] = tuple,
) -> sqlite3.Cursor | None:
    """`head` VALUES (?, ...), (?, ...) ... `tail` for every row, in order, as few statements
    as can be (`in_chunks`, run through): inserted rows are inserted (or not, by `tail`'s
    ON CONFLICT) as executemany would insert them one after the other. `values(row)`: the
    row's parameters (the row itself by default). Returns the last statement's cursor (None
    without rows)."""
    cursor = None
    for _chunk, cursor in in_chunks(db, head, rows, values, tail):
        pass
    return cursor
