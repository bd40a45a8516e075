"""The held-out files: frozen, and guarded against regressions without being tuned on.

tests/data/README.md says how they were written. Their SHA-256 is pinned so an edit fails
here; the floors sit below the figures measured when they were frozen (reported by
bench/scorer.py and in the README), so a regression fails the suite but nothing here asks
anyone to chase them line by line.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from bot.engine.catalog import load_checked
from bot.engine.evaluation import agreement, load_labelled
from bot.engine.probes import check_probe, load_probes

DATA = Path(__file__).resolve().parents[1] / "data"
DIALOGUES = Path(__file__).resolve().parents[2] / "dialogues"
FROZEN = {
    "blind_lines_heldout.jsonl": "4e2416746fac4fd22a9968c6e63c2e2303032b8f703be1061e8aa0d01ef92e3d",
    "probes_heldout.yaml": "2b422225e49d09976755f83a29db6ebc8a2ffcd4563be6b7860852240d95b878",
    "empathy_heldout.yaml": "5ab35491e6d544f33a600e3306ac40d2ff724bac77966d2e2e277348be43edbc",
}


@pytest.mark.parametrize(("name", "digest"), FROZEN.items())
def test_held_out_files_are_frozen(name: str, digest: str) -> None:
    assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest, f"{name} was edited; held-out data is frozen"


def test_held_out_lines_do_not_regress() -> None:
    result = agreement(load_labelled(DATA / "blind_lines_heldout.jsonl"), load_checked(DIALOGUES / "traffic_stop.yaml"))
    assert result.recall >= RECALL_FLOOR, result.as_dict()
    assert result.false_alarm_rate <= 0.01, result.as_dict()


def test_held_out_probes_do_not_regress() -> None:
    scenarios = {name: load_checked(DIALOGUES / f"{name}.yaml") for name in ("traffic_stop", "burglary_victim")}
    passed: Counter[str] = Counter()
    for probe in load_probes(DATA / "probes_heldout.yaml"):
        passed[probe["kind"]] += check_probe(scenarios[probe["scenario"]], probe).passed
    assert sum(passed.values()) >= PROBES_FLOOR, dict(passed)


def test_held_out_empathy_labels_rank_the_estimate() -> None:
    """The empathy estimate ranks the lines author B labelled `empathy` above the rest (a
    binary label, not a validation rating: bench/scorer.py reports both)."""
    from bot.engine.evaluation import auc
    from bot.engine.signals import text_empathy

    rows = load_labelled(DATA / "blind_lines_heldout.jsonl")
    assert auc([text_empathy(str(r["text"])).points for r in rows], ["empathy" in r["signals"] for r in rows]) >= EMPATHY_AUC_FLOOR


def test_held_out_empathy_ratings_do_not_regress() -> None:
    """Author G's validation ratings (0-2 per reply, 1-5 per conversation), never tuned on."""
    from bot.engine.evaluation import empathy_agreement, load_empathy_set

    result = empathy_agreement(load_empathy_set(DATA / "empathy_heldout.yaml"))
    assert result["lines_spearman"] >= EMPATHY_LINES_FLOOR, result
    assert result["conversations_spearman"] >= EMPATHY_CONVERSATIONS_FLOOR, result


# Measured when frozen (2026-12-01): recall 0.905, false alarms 0.0072; 56 of 69 probes.
# After tuning on author F and the curt cap at 40 (never on these): the same lines; 61 of 69 probes.
# The empathy estimate's AUC for B's `empathy` label (issue 10), never tuned on: 0.861 with
# the additive estimate, 0.870 after cues added for phrasings written from definitions.
EMPATHY_AUC_FLOOR = 0.80
# Author G's ratings, frozen on arrival (2026-12-01) and first scored after: Spearman 0.737 on
# 160 replies, 0.937 on 16 conversations (a five-word count: 0.41 and 0.77).
EMPATHY_LINES_FLOOR = 0.68
EMPATHY_CONVERSATIONS_FLOOR = 0.85
RECALL_FLOOR = 0.88
PROBES_FLOOR = 56
