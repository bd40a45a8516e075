"""Rows out of the store as CSV or JSON Lines for instructors' spreadsheets. No SQL here.

JSON Lines keep every text verbatim. In CSV, a text a spreadsheet would run as a formula
(it starts with =, +, -, @, a tab or a carriage return: '=HYPERLINK(...)' from a trainee)
gets a leading apostrophe, which spreadsheets show as text and do not display.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

FORMATS = ("csv", "jsonl")


def write_rows(rows: Sequence[Any], out: TextIO, fmt: str, fields: Sequence[str] | None = None) -> int:
    """Write dataclass rows; every text verbatim (commas, quotes, newlines, emoji). Returns the count."""
    records: Iterable[dict[str, Any]] = (dataclasses.asdict(row) for row in rows)
    if fields is None:
        fields = [f.name for f in dataclasses.fields(rows[0])] if rows else []
    if fmt == "jsonl":
        count = 0
        for record in records:
            out.write(json.dumps({k: record[k] for k in fields}, ensure_ascii=False) + "\n")
            count += 1
        return count
    writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    count = 0
    for record in records:
        writer.writerow({key: inert(value) for key, value in record.items()})
        count += 1
    return count


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """A text that a spreadsheet cannot take for a formula (numbers are left as they are)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
