"""Finding, checking and loading scenario files by id or path."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.engine.lint import lint
from bot.engine.loader import load_scenario
from bot.engine.problems import Problem, did_you_mean, errors
from bot.engine.scenario import Scenario
from bot.errors import ScenarioError, ScenarioNotFound

if TYPE_CHECKING:
    from bot.engine.machine import ScenarioMachine

SUFFIXES = (".yaml", ".yml")


def default_dialogues_dir() -> Path:
    """`$TRAINER_DIALOGUES`, else ./dialogues, else the dialogues beside the package (a source checkout)."""
    configured = os.environ.get("TRAINER_DIALOGUES")
    if configured:
        return Path(configured)
    here = Path.cwd() / "dialogues"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "dialogues"


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files named directly, plus the scenario files at the top of named directories.

    Golden transcripts live in sub-directories, so directories are not searched recursively.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


def check(paths: Sequence[str | Path], play: bool = False) -> tuple[list[Scenario], list[Problem]]:
    """Both passes over every file, plus duplicate ids across files. With `play`, also the checks
    that play the scenario (a salad of its rubric phrases must not win: S035), as `trainer check` does."""
    scenarios: list[Scenario] = []
    problems: list[Problem] = []
    first_file: dict[str, str] = {}
    for file in scenario_files(paths):
        scenario, found = load_scenario(file)
        if scenario is not None:
            found = lint(scenario)
            if play and not errors(found):
                from bot.engine.walk import salad_problems

                found.extend(salad_problems(scenario))
            if scenario.id in first_file:
                found.append(Problem(str(file), 1, "S020", f"scenario id '{scenario.id}' is also declared in {first_file[scenario.id]}"))
            first_file.setdefault(scenario.id, str(file))
            if not errors(found):
                scenarios.append(scenario)
        problems.extend(found)
    return scenarios, problems


def load_checked(path: str | Path) -> Scenario:
    """One scenario with no errors in either pass (warnings allowed), or ScenarioError naming the first."""
    scenario, problems = load_scenario(path)
    if scenario is not None:
        problems = errors(lint(scenario))
    if problems or scenario is None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more; run 'trainer check {path}')" if len(problems) > 1 else ""
        raise ScenarioError(first.file, first.line, first.code, first.message + more)
    return scenario


def resolve(name: str, dialogues_dir: Path | None = None) -> Path:
    """A scenario id (looked up in the dialogues directory) or a path to a file."""
    direct = Path(name)
    if direct.suffix in SUFFIXES and direct.is_file():
        return direct
    directory = dialogues_dir or default_dialogues_dir()
    for suffix in SUFFIXES:
        candidate = directory / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    known = [p.stem for p in scenario_files([directory])] if directory.is_dir() else []
    listing = f"; available: {', '.join(known)}" if known else f"; no scenarios in {directory}"
    raise ScenarioNotFound(f"unknown scenario '{name}'{did_you_mean(name, known)}{listing}")


def load(name: str, dialogues_dir: Path | None = None) -> Scenario:
    return load_checked(resolve(name, dialogues_dir))


def available(dialogues_dir: Path | None = None) -> list[Scenario]:
    """Every valid scenario in the directory (invalid ones are `trainer check`'s business)."""
    directory = dialogues_dir or default_dialogues_dir()
    scenarios, _ = check([directory]) if directory.is_dir() else ([], [])
    return scenarios


class Library:
    """The valid scenarios of a directory, each with the one machine all its sessions share."""

    def __init__(self, directory: Path) -> None:
        from bot.engine.machine import ScenarioMachine

        self.directory: Path | None = directory
        scenarios, self.problems = check([directory]) if directory.is_dir() else ([], [])
        self.scenarios = {scenario.id: scenario for scenario in scenarios}
        self.machines = {scenario.id: ScenarioMachine(scenario) for scenario in scenarios}

    @classmethod
    def of(cls, *scenarios: Scenario) -> Library:
        """A library of scenarios already loaded (the terminal plays one, maybe from a file)."""
        from bot.engine.machine import ScenarioMachine

        library = cls.__new__(cls)
        library.directory = None
        library.problems = []
        library.scenarios = {scenario.id: scenario for scenario in scenarios}
        library.machines = {scenario.id: ScenarioMachine(scenario) for scenario in scenarios}
        return library

    def machine(self, scenario: Scenario) -> ScenarioMachine:
        """The machine every session of `scenario` shares."""
        return self.machines[scenario.id]

    def get(self, scenario_id: str) -> Scenario:
        try:
            return self.scenarios[scenario_id]
        except KeyError:
            raise ScenarioNotFound(
                f"unknown scenario '{scenario_id}'{did_you_mean(scenario_id, self.scenarios)}"
            ) from None

    def ids(self) -> list[str]:
        return sorted(self.scenarios)
