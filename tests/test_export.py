"""Exports: every text verbatim, and none a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from bot.export import write_rows


@dataclass(frozen=True)
class Line:
    seq: int
    text: str


HOSTILE = ['=HYPERLINK("http://evil.example","click")', "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "Good evening, ma'am."]


def test_csv_never_writes_a_live_formula() -> None:
    out = io.StringIO(newline="")
    assert write_rows([Line(i, text) for i, text in enumerate(HOSTILE)], out, "csv") == len(HOSTILE)
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert [row["text"] for row in rows] == ["'" + text for text in HOSTILE[:-1]] + [HOSTILE[-1]]
    assert [row["seq"] for row in rows] == [str(i) for i in range(len(HOSTILE))]


def test_negative_numbers_stay_numbers_and_jsonl_stays_verbatim() -> None:
    out = io.StringIO(newline="")
    write_rows([Line(-5, "=1+1")], out, "csv")
    assert list(csv.DictReader(io.StringIO(out.getvalue())))[0]["seq"] == "-5"
    jsonl = io.StringIO()
    write_rows([Line(1, text) for text in HOSTILE], jsonl, "jsonl")
    assert [json.loads(line)["text"] for line in jsonl.getvalue().splitlines()] == HOSTILE
