"""How well the respect and empathy estimates agree with people, and what `analyze` costs.

    .venv/bin/python bench/scorer.py            # one JSON object on stdout
    .venv/bin/python bench/scorer.py --quick    # fewer timing rounds (a smoke test)

Respect, on the Stanford Politeness requests from Stack Exchange (bench/data/politeness,
CC BY 4.0; its README): on the quartile task (top vs bottom quartile of the mean rating),
the accuracy of `respect > 50`, the AUC of the score, and the share of requests called
polite; on all 6,603 rated requests, Spearman with the mean rating (Normalized Score) and
the share above 50. The weights were set on these files (scores.yaml says how), so these
figures measure fit; "even_rows"/"odd_rows" split the quartile file as the feature fit did.

Empathy, on lines people rated for emotional validation (tests/data/EMPATHY_BRIEF.md):
Spearman between the ratings and the estimate's points, on single replies (0-2) and whole
conversations (1-5), on each rated file present, with its role and author as its header
says; beside it, the same agreement for a count of five words ("sorry", "understand",
"feel", "sounds", "must be") as a floor any estimate should beat. And on the officer lines
blind authors labelled (tests/data), the AUC of the estimate for their `empathy` label, on
the tuning files and on the frozen held-out file.

Speed: `analyze` lines per second over the rated replies and requests, next to a plain `re`
search over the same lines measured in the same run (the floor), so the ratio compares
across machines.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.engine.evaluation import auc, empathy_agreement, load_empathy_set, spearman, supporter_text  # noqa: E402
from bot.engine.signals import analyze, detect, load_lexicon, respect_score  # noqa: E402

POLITENESS = ROOT / "bench" / "data" / "politeness"
QUARTILES = POLITENESS / "stack-exchange.binary_quartiles.csv"
ANNOTATED = POLITENESS / "stack-exchange.annotated.csv"
EMPATHY_SETS = {
    # file -> what it is; a held-out file (written by a blind author, frozen) is reported
    # when present and never tuned on.
    "empathy_tune.yaml": "tuning: written by the scorer helper itself (not blind), before the cues; figures measure fit",
    "empathy_heldout.yaml": "held out: a blind author, frozen, never tuned on",
}
DATA = ROOT / "tests" / "data"
FIVE_WORDS = re.compile(r"\b(?:sorry|understand|feel|sounds|must be)\b", re.IGNORECASE)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _quartile_task(rows: list[dict[str, str]], scores: list[int]) -> dict[str, float]:
    polite = [int(r["label_polite1_impolite-1"]) == 1 for r in rows]
    return {
        "accuracy_at_50": round(sum((s > 50) == p for s, p in zip(scores, polite)) / len(rows), 4),
        "auc": round(auc([float(s) for s in scores], polite), 4),
        "called_polite": round(sum(s > 50 for s in scores) / len(rows), 4),
    }


def bench_respect() -> dict[str, Any]:
    if not QUARTILES.exists() or not ANNOTATED.exists():
        return {"skipped": f"politeness data not found in {POLITENESS}"}
    quartiles = _read(QUARTILES)
    scores = [respect_score(detect(r["Request"])) for r in quartiles]
    annotated = _read(ANNOTATED)
    all_scores = [respect_score(detect(r["Request"])) for r in annotated]
    return {
        "data": "Stanford Politeness, Stack Exchange (bench/data/politeness); the calibration data",
        "quartile_requests": len(quartiles),
        **_quartile_task(quartiles, scores),
        "even_rows": _quartile_task(quartiles[0::2], scores[0::2]),
        "odd_rows": _quartile_task(quartiles[1::2], scores[1::2]),
        "rated_requests": len(annotated),
        "spearman_all_requests": round(spearman([float(s) for s in all_scores], [float(r["Normalized Score"]) for r in annotated]), 4),
        "above_50_all_requests": round(sum(s > 50 for s in all_scores) / len(annotated), 4),
        "at_50_all_requests": round(sum(s == 50 for s in all_scores) / len(annotated), 4),
        "reference_in_domain": {"paper_classifier_accuracy": 0.78, "humans": 0.81, "chance": 0.5},
    }


def _header(path: Path) -> list[str]:
    lines = []
    for line in path.read_text("utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").rstrip())
    return lines


def bench_empathy() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, role in EMPATHY_SETS.items():
        path = DATA / name
        if not path.exists():
            out[name] = {"skipped": f"no {name} yet ({role}); EMPATHY_BRIEF.md says how to write one"}
            continue
        data = load_empathy_set(path)
        out[name] = {
            "role": role,
            "header": _header(path)[:3],
            **empathy_agreement(data),
            "five_word_count": empathy_agreement(data, lambda text: float(len(FIVE_WORDS.findall(text)))),
        }
    return out


# Officer lines labelled by blind authors (tests/data/README.md) with the behaviours they show,
# `empathy` among them ("acknowledges the person's feelings or situation", LABELS.md): not a
# validation rating, but written by people who never saw the cues. The estimate should rank
# the lines labelled empathy above the others (AUC). The detectors were tuned on the first
# files; the held-out one is frozen and never tuned on.
LABELLED = {
    "tuning": ["blind_lines_a.jsonl", "blind_lines_c.jsonl", "blind_lines_d.jsonl", "blind_lines_e.jsonl"],
    "held_out": ["blind_lines_heldout.jsonl"],
}


def bench_blind_labels() -> dict[str, Any]:
    from bot.engine.evaluation import load_labelled
    from bot.engine.signals import text_empathy

    out: dict[str, Any] = {"label": "empathy (LABELS.md); AUC of the estimate's points, and of the five-word count"}
    for role, names in LABELLED.items():
        rows = [row for name in names for row in load_labelled(DATA / name)]
        labelled = ["empathy" in row["signals"] for row in rows]
        out[role] = {
            "files": names,
            "lines": len(rows),
            "labelled_empathy": sum(labelled),
            "auc": round(auc([text_empathy(str(r["text"])).points for r in rows], labelled), 4),
            "five_word_count_auc": round(auc([float(len(FIVE_WORDS.findall(str(r["text"])))) for r in rows], labelled), 4),
        }
    return out


def _texts() -> list[str]:
    texts: list[str] = []
    for name in EMPATHY_SETS:
        if (DATA / name).exists():
            data = load_empathy_set(DATA / name)
            texts += [str(r["reply"]) for r in data["lines"]]
            texts += [supporter_text(c) for c in data.get("conversations") or []]
    if QUARTILES.exists():
        texts += [r["Request"] for r in _read(QUARTILES)]
    return texts


def bench_speed(quick: bool) -> dict[str, Any]:
    texts = _texts()
    load_lexicon()
    for text in texts[:200]:  # warm-up
        analyze(text)
    floor = re.compile(r"\b(?:sorry|thank(?:s| you)|please)\b", re.IGNORECASE)

    def timed(fn: Callable[[str], object]) -> float:
        start = time.perf_counter()
        for text in texts:
            fn(text)
        return len(texts) / (time.perf_counter() - start)

    analyze_rates, floor_rates = [], []
    for _ in range(1 if quick else 3):  # interleaved, so both see the same machine load
        analyze_rates.append(timed(analyze))
        floor_rates.append(timed(floor.search))
    analyze_rate, floor_rate = statistics.median(analyze_rates), statistics.median(floor_rates)
    return {
        "lines": len(texts),
        "analyze_lines_per_s": round(analyze_rate, 1),
        "floor_one_regex_lines_per_s": round(floor_rate, 1),
        "floor_over_analyze": round(floor_rate / analyze_rate, 1),
        "prefilter": "hyperscan" if load_lexicon().prefilter is not None else "re",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one timing round instead of three")
    args = parser.parse_args(argv)
    print(json.dumps({
        "respect": bench_respect(),
        "empathy": bench_empathy(),
        "empathy_vs_blind_labels": bench_blind_labels(),
        "speed": bench_speed(args.quick),
        "quick": args.quick,
    }, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
