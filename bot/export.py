"""Rows out of the store as CSV or JSON Lines for instructors' spreadsheets. No SQL here."""

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
        writer.writerow(record)
        count += 1
    return count
