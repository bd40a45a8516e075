"""Diagnostics for scenario files: `file:line: CODE message`, with stable codes.

The codes are a contract with authors (docs/authoring.md lists them); never renumber.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

CODES: dict[str, str] = {
    "S001": "the file is not valid YAML",
    "S002": "a value has the wrong type",
    "S003": "a required key is missing",
    "S004": "an unknown key",
    "S005": "a value is out of range",
    "S006": "a key appears twice in the same mapping",
    "S007": "a regular expression cannot be used (does not compile, or cannot run in linear time)",
    "S008": "a list that must hold something is empty",
    "S009": "a resident line uses an unknown placeholder",
    "S010": "the scenario id does not match the file name",
    "S011": "an unknown signal",
    "S012": "a transition goes to an unknown state",
    "S013": "the start state does not exist",
    "S014": "the escalation target does not exist",
    "S015": "a state cannot be reached from the start",
    "S016": "a state has no way to an ending",
    "S017": "the scenario has no end state",
    "S018": "an end state has transitions, which never run",
    "S019": "a state that is not an end has no `otherwise` reply",
    "S020": "two files declare the same scenario id",
    "S021": "a transition can never fire (an earlier one always matches first)",
    "S022": "the file cannot be read",
    "S023": "a transition's conditions can never all hold",
    "S024": "a fact has the name of a signal",
    "S025": "the stall target is not an end state",
    "S026": "the scenario has no ending for a stalled scene (`stall`)",
    "S027": "no rule lets the trainee end the contact (`leave_taking` to an end state)",
    "S028": "nothing reacts to a gamed or contradicted line",
    "S029": "a rule calms the resident on a gamed line",
    "S030": "a switched-off signal is used",
    "S031": "a scenario signal is never used",
    "S032": "a rubric skill can never be awarded",
    "S033": "the same resident line twice in one list",
    "S034": "a success ending needs nothing of the rubric",
    "S035": "a salad of rubric phrases can win the scene",
    "S036": "an unknown persona variant",
    "S040": "the engine failed during a generated scene (trainer check --walk)",
    "S041": "a state no generated scene visited (trainer check --walk)",
    "S042": "a generated scene did not end (trainer check --walk)",
    "S043": "a generated scene with gaming lines succeeded (trainer check --walk)",
}

# Problems that leave a playable scenario; `trainer check --strict` fails on them too.
WARNINGS = frozenset({"S026", "S027", "S028", "S029", "S031", "S033", "S034", "S035", "S041"})


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    code: str
    message: str

    @property
    def is_warning(self) -> bool:
        return self.code in WARNINGS

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.code} {'warning: ' if self.is_warning else ''}{self.message}"


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [problem for problem in problems if not problem.is_warning]


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ` (did you mean 'x'?)` suffix, or '' when nothing is close."""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
