"""How well the detectors agree with people: labelled lines in, recall and false alarms out.

A labelled file is JSON Lines (comment lines start with '#'), one object per line:
`{"text": ..., "signals": [...], "called": "Trooper Nguyen"?, "speaker": "sworn"|"civilian"?}`.
Agreement is counted over the labels people can give (LABELS), per label and overall:
recall is the share of labelled behaviours found; the false-alarm rate is the share of
absent ones reported. `called` checks how the resident would address the speaker.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.engine.scenario import Scenario
from bot.engine.session import Session
from bot.engine.signals import detect

# The behaviours labellers mark (leave_taking and the judge's derived signals are not line labels).
LABELS: tuple[str, ...] = (
    "greeting", "introduction", "reason_for_contact", "guessing_game", "formal_address",
    "informal_address", "polite_request", "gratitude", "apology", "empathy", "reassurance",
    "open_question", "explain_next_steps", "offer_help", "ask_permission", "closing", "command",
    "jargon", "dismissive", "blame", "threat", "profanity", "search_request", "exit_order",
    "fishing_question", "id_request",
)


@dataclass
class Agreement:
    rows: int = 0
    found: Counter[str] = field(default_factory=Counter)  # labelled and detected
    missed: Counter[str] = field(default_factory=Counter)  # labelled, not detected
    false_alarms: Counter[str] = field(default_factory=Counter)  # detected, not labelled
    absent: Counter[str] = field(default_factory=Counter)  # not labelled
    called_right: int = 0
    called_total: int = 0

    @property
    def recall(self) -> float:
        total = sum(self.found.values()) + sum(self.missed.values())
        return sum(self.found.values()) / total if total else 1.0

    @property
    def false_alarm_rate(self) -> float:
        total = sum(self.absent.values())
        return sum(self.false_alarms.values()) / total if total else 0.0

    def label_recall(self, label: str) -> float | None:
        total = self.found[label] + self.missed[label]
        return self.found[label] / total if total else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "recall": round(self.recall, 4),
            "false_alarm_rate": round(self.false_alarm_rate, 4),
            "called": f"{self.called_right}/{self.called_total}",
            "per_label": {
                label: {"recall": None if (r := self.label_recall(label)) is None else round(r, 3),
                        "false_alarms": self.false_alarms[label]}
                for label in LABELS
            },
        }


def load_labelled(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def agreement(rows: Iterable[dict[str, Any]], scenario: Scenario, *, learned: bool = True) -> Agreement:
    """Detection against the labels; `scenario` (one with a title, e.g. traffic_stop) says how
    sworn speakers are addressed, and civilians are addressed with no title. `learned=False`
    counts the rules alone (what the scene and the grade use)."""
    civilian = dataclasses.replace(scenario, trainee_title="")
    result = Agreement()
    for row in rows:
        result.rows += 1
        labelled = set(row["signals"])
        detection = detect(str(row["text"]), learned=learned)
        found = detection.names & set(LABELS)
        for label in LABELS:
            if label in labelled:
                (result.found if label in found else result.missed)[label] += 1
            else:
                result.absent[label] += 1
                if label in found:
                    result.false_alarms[label] += 1
        if row.get("called") and "introduction" in labelled:
            result.called_total += 1
            session = Session.start(civilian if row.get("speaker") == "civilian" else scenario)
            session.learn_officer_name(detection)
            result.called_right += (session.officer_name or "").lower() == str(row["called"]).lower()
    return result


# --------------------------------------------------------------------------- estimates


def ranks(values: list[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (Pearson's on tie-averaged ranks); 0 when either is constant."""
    if len(a) != len(b):
        raise ValueError("spearman: the two lists differ in length")
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    if n < 2:
        return 0.0
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va, vb = sum((x - ma) ** 2 for x in ra), sum((y - mb) ** 2 for y in rb)
    return cov / (va * vb) ** 0.5 if va and vb else 0.0


def auc(scores: list[float], positive: list[bool]) -> float:
    """Area under the ROC curve: the chance a positive outranks a negative (ties count half)."""
    r = ranks(scores)
    pos = sum(positive)
    neg = len(positive) - pos
    if not pos or not neg:
        raise ValueError("auc needs positives and negatives")
    return (sum(x for x, p in zip(r, positive) if p) - pos * (pos + 1) / 2) / (pos * neg)


def load_empathy_set(path: Path) -> dict[str, Any]:
    """A rated empathy file (tests/data/EMPATHY_BRIEF.md): `lines` (a reply rated 0-2) and
    `conversations` (turns; the supporter's part rated 1-5)."""
    import yaml

    data = yaml.safe_load(path.read_text("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("lines"), list):
        raise ValueError(f"{path}: expected a mapping with 'lines' (and 'conversations')")
    return data


def supporter_text(conversation: dict[str, Any]) -> str:
    """The supporter's messages of a rated conversation, one per line."""
    return "\n".join(str(t["text"]) for t in conversation["turns"] if t["speaker"] == "supporter")


def empathy_agreement(data: dict[str, Any], estimate: Any = None) -> dict[str, Any]:
    """Spearman between people's validation ratings and an estimate (by default the empathy
    points of signals.text_empathy: the estimate is a rising function of them, so the ranks are
    the same but for rounding), on single replies and on whole conversations."""
    from bot.engine.signals import text_empathy

    score = estimate or (lambda text: text_empathy(text).points)
    lines = data["lines"]
    conversations = data.get("conversations") or []
    out: dict[str, Any] = {
        "lines": len(lines),
        "lines_spearman": round(spearman([score(str(r["reply"])) for r in lines], [float(r["validation"]) for r in lines]), 3),
    }
    if conversations:
        out["conversations"] = len(conversations)
        out["conversations_spearman"] = round(spearman(
            [score(supporter_text(c)) for c in conversations], [float(c["validation"]) for c in conversations]), 3)
    return out
