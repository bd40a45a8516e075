"""Many rows in one statement: each SQLite statement the database thread runs hands Python's
GIL to the event loop's thread and waits to get it back, so a write of several rows costs
one statement, not one per row as executemany does (see `_run_plain` in bot/store/store.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

ROWS_PER_STATEMENT = 50  # well under SQLite's oldest limit of 999 values in one statement


def insert_rows(db: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]], tail: str = "") -> sqlite3.Cursor | None:
    """`head` VALUES (?, ...), (?, ...) ... `tail` for every row, in order, as few statements
    as can be: the rows are inserted (or not, by `tail`'s ON CONFLICT) as executemany would
    insert them one after the other. Returns the last statement's cursor (None without rows)."""
    cursor = None
    if not rows:
        return cursor
    one = "(" + ", ".join("?" * len(rows[0])) + ")"
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start:start + ROWS_PER_STATEMENT]
        cursor = db.execute(f"{head} VALUES {', '.join([one] * len(chunk))}{tail}", [value for row in chunk for value in row])
    return cursor
