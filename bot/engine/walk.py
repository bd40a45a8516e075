"""Generated scenes for authors: `trainer check --walk N` and the salad check (S035).

A walk plays N seeded scenes per scenario, each in a style (courteous, mixed, hostile,
gaming, off topic) that draws its lines from a bank (`data/walk_lines.yaml`) and from the
scenario's own sample phrasings (rubric and penalty examples), with every persona variant.
It reports what an author cannot see by reading the file: a crash, a state no scene visited,
a scene that never ends, and a gaming line (a salad, a line said a third time) that takes the
scene to a success ending. Deterministic: the same seed gives the same scenes.
"""

from __future__ import annotations

import random
import traceback
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from bot.engine.problems import Problem
from bot.engine.scenario import Outcome, Scenario
from bot.engine.session import Session

MAX_TURNS = 40  # a scene still going after this many lines "never ends"
OWN_SHARE = 0.4  # of good lines, the share drawn from the scenario's own sample phrasings
SALAD_MIN_PHRASES = 5
KINDS = ("good", "bad", "off_topic", "gaming", "repeat")
# How often each kind of line comes up, per style of scene.
STYLES: dict[str, dict[str, float]] = {
    "courteous": {"good": 0.85, "off_topic": 0.1, "bad": 0.05},
    "mixed": {"good": 0.5, "bad": 0.2, "off_topic": 0.15, "gaming": 0.05, "repeat": 0.1},
    "hostile": {"bad": 0.6, "good": 0.3, "off_topic": 0.1},
    "gaming": {"gaming": 0.35, "repeat": 0.35, "good": 0.3},
    "off_topic": {"off_topic": 0.7, "good": 0.2, "bad": 0.1},
}


@dataclass(frozen=True)
class Bank:
    good: tuple[str, ...]
    bad: tuple[str, ...]
    off_topic: tuple[str, ...]
    gaming: tuple[str, ...]
    phrases: dict[str, str]


@lru_cache(maxsize=1)
def bank() -> Bank:
    text = (resources.files("bot.engine") / "data" / "walk_lines.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return Bank(
        good=tuple(map(str, data["good"])), bad=tuple(map(str, data["bad"])),
        off_topic=tuple(map(str, data["off_topic"])), gaming=tuple(map(str, data["gaming"])),
        phrases={str(k): str(v) for k, v in data["phrases"].items()},
    )


def salad(scenario: Scenario) -> str:
    """The rubric as a list of set phrases: one short phrase per skill (the bank's for a built-in
    signal, else the first clause of the skill's sample phrasing)."""
    phrases = bank().phrases
    parts: list[str] = []
    for skill in scenario.rubric.skills:
        phrase = next((phrases[name] for name in skill.signals if name in phrases), "")
        if not phrase and skill.example:
            phrase = " ".join(skill.example.replace(".", ",").split(",")[0].split()[:7])
        # Lower case, as a list is typed: a capital mid-line reads as a name, which is particular.
        phrase = phrase[:1].lower() + phrase[1:] if phrase[1:2].islower() else phrase
        if phrase and phrase not in parts:
            parts.append(phrase)
    text = ", ".join(parts) + "."
    return text[:1].upper() + text[1:]


def own_lines(scenario: Scenario) -> tuple[str, ...]:
    """The scenario's sample phrasings: good lines written for it by its author."""
    examples = [skill.example for skill in scenario.rubric.skills if skill.example]
    examples += [example for _, example in scenario.rubric.penalty_coaching.values() if example]
    return tuple(dict.fromkeys(examples))


def salad_problems(scenario: Scenario) -> list[Problem]:
    """S035: the rubric's salad, pasted three times or said once before a goodbye, must not win."""
    text = salad(scenario)
    problems: list[Problem] = []
    for persona in [p.name for p in scenario.personas] or [None]:
        for lines in ([text] * 3, [text, "Thank you, goodbye."]):
            play = _play(scenario, lines, seed=1, persona=persona)
            score = play.score()
            if score.outcome is Outcome.SUCCESS or score.total > scenario.rubric.integrity_cap:
                who = f" (persona '{persona}')" if persona else ""
                problems.append(Problem(scenario.path or scenario.id, scenario.key_lines.get("rubric", 1), "S035", (
                    f"a salad of rubric phrases{who} scores {score.total} ({score.outcome.value}, ending in "
                    f"'{play.state}'): \u201c{text}\u201d; react to 'stacking' and keep rewards for what is done")))
                return problems
    return problems


def _play(scenario: Scenario, lines: Sequence[str], seed: int, persona: str | None) -> Session:
    play = Session.start(scenario, seed=seed, persona=persona)
    for line in lines:
        if play.ended:
            break
        play.step(line)
    if not play.ended:
        play.abandon()
    return play


@dataclass
class WalkReport:
    scenario: Scenario
    scenes: int = 0
    turns: int = 0
    visited: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)

    @property
    def unvisited(self) -> list[str]:
        return [name for name in self.scenario.states if name not in self.visited]


def walk(scenario: Scenario, scenes: int, seed: int = 0) -> WalkReport:
    """Play `scenes` generated scenes of `scenario` and report what went wrong."""
    report = WalkReport(scenario)
    file = scenario.path or scenario.id
    own = own_lines(scenario)
    # The rubric's own salad is a gaming line only when it is a list (five phrases or more); with
    # a small rubric it is three or four courtesies in a row, which a natural officer may say.
    rubric_salad = (salad(scenario),) if salad(scenario).count(", ") + 1 >= SALAD_MIN_PHRASES else ()
    pools = {"good": bank().good, "bad": bank().bad, "off_topic": bank().off_topic, "gaming": bank().gaming + rubric_salad}
    personas: list[str | None] = [p.name for p in scenario.personas] or [None]
    styles = sorted(STYLES)
    for index in range(scenes):
        rng = random.Random(f"{seed}:{scenario.id}:{index}")
        style, persona = styles[index % len(styles)], personas[(index // len(styles)) % len(personas)]
        where = f"scene {index} (seed {seed}, style {style}" + (f", persona {persona})" if persona else ")")
        said: list[str] = []
        gaming_credited: list[str] = []
        try:
            play = Session.start(scenario, seed=rng.randrange(2**31), persona=persona)
            report.visited[play.state] += 1
            kinds, weights = zip(*STYLES[style].items())
            while not play.ended and len(said) < MAX_TURNS:
                kind = rng.choices(kinds, weights)[0]
                if kind == "repeat" and said:
                    line = rng.choice(said)
                elif kind in ("good", "repeat") and own and rng.random() < OWN_SHARE:
                    line = rng.choice(own)  # the scenario's own phrasings reach its own states
                else:
                    line = rng.choice(pools["good" if kind == "repeat" else kind])
                turn = play.step(line)
                said.append(line)
                report.turns += 1
                report.visited[play.state] += 1
                gamed_line = kind == "gaming" or said.count(line) >= 3
                if gamed_line and play.ended and turn.outcome is Outcome.SUCCESS:
                    gaming_credited.append(line)
            if not play.ended:
                report.problems.append(Problem(file, 1, "S042", f"{where} did not end after {MAX_TURNS} lines; it stayed in '{play.state}' (is 'stall' reachable from there?)"))
                play.abandon()
            score = play.score()
            report.outcomes[score.outcome.value] += 1
            if score.outcome is Outcome.SUCCESS and gaming_credited:
                report.problems.append(Problem(file, 1, "S043", (
                    f"{where}: a gaming line took the scene to its success ending '{play.state}' ({score.total}): "
                    f"\u201c{gaming_credited[0]}\u201d")))
        except Exception as exc:  # the point of the walk: report any failure, with where it happened
            last = traceback.extract_tb(exc.__traceback__)[-1]
            report.problems.append(Problem(file, 1, "S040", (
                f"{where} failed at line {len(said)} \u201c{said[-1] if said else ''}\u201d: "
                f"{type(exc).__name__}: {exc} ({last.filename.rsplit('/', 1)[-1]}:{last.lineno})")))
        report.scenes += 1
    for name in report.unvisited:
        state = scenario.states[name]
        report.problems.append(Problem(file, state.line, "S041", f"no generated scene of {scenes} reached state '{name}'; check the rules that lead there, or try more scenes"))
    return report

