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
