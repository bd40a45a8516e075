"""Respect-score accuracy on the Stanford Politeness (Stack Exchange) quartiles, and detection speed.

Prints one JSON object. Accuracy counts a line right when (respect > 50) matches its label
(1 polite / -1 impolite); a score of exactly 50 counts as wrong. The weights in
lexicon/scores.yaml were set looking at the even-numbered rows only, so "odd_rows_heldout"
is the held-out number (the file is grouped by community, hence interleaved halves). Throughput is compared with a plain `re` search of one pattern over the
same lines, measured in the same run, so the ratio is comparable across machines.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.engine.signals import detect, respect_score  # noqa: E402

DATA = ROOT / ".." / "shared" / "data" / "politeness" / "stack-exchange.binary_quartiles.csv"


def _rows(path: Path) -> list[tuple[str, int]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [(row["Request"], int(row["label_polite1_impolite-1"])) for row in csv.DictReader(f)]


def _accuracy(rows: list[tuple[str, int]]) -> float:
    right = sum((respect_score(detect(text)) > 50) == (label == 1) for text, label in rows)
    return round(right / len(rows), 4) if rows else 0.0


def _lines_per_second(texts: list[str], fn: object, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            fn(text)  # type: ignore[operator]
        best = min(best, time.perf_counter() - start)
    return round(len(texts) / best, 1)


def main() -> None:
    path = DATA.resolve()
    if not path.exists():
        print(json.dumps({"skipped": f"politeness data not found at {path}"}))
        return
    rows = _rows(path)
    texts = [text for text, _ in rows]
    detect("warm up the lexicon cache")
    baseline_pattern = re.compile(r"\b(?:please|thank(?:s| you))\b", re.IGNORECASE)
    detect_lps = _lines_per_second(texts, detect)
    baseline_lps = _lines_per_second(texts, baseline_pattern.search)
    scores = [respect_score(detect(t)) for t in texts]
    print(
        json.dumps(
            {
                "dataset": "stack-exchange.binary_quartiles.csv",
                "lines": len(rows),
                "respect_accuracy": _accuracy(rows),
                "respect_accuracy_even_rows_tuned": _accuracy(rows[0::2]),
                "respect_accuracy_odd_rows_heldout": _accuracy(rows[1::2]),
                "ties_at_50": sum(s == 50 for s in scores),
                "reference": {"paper_classifier": 0.78, "humans": 0.81, "chance": 0.5},
                "detect_lines_per_second": detect_lps,
                "baseline_one_regex_lines_per_second": baseline_lps,
                "detect_cost_vs_baseline": round(baseline_lps / detect_lps, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
