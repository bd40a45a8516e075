"""The badge rules file: named behaviours (from signals and rubric skills) and the badges
earned from them, as data. Loaded and checked here; evaluated in `badges.py`.

A *behaviour* is something a trainee can show in one session, defined once for every
scenario: any of its `skills` earned in full (in time and in order, as the scenario's rubric
says), or any of its `signals` credited by the judge (optionally by a turn, before any of
some other signals, and with `words` in the quoted span), or, with `all`, every one of other
behaviours. A *badge* is earned once per trainee, by exactly one kind of rule:

- `session`: one session that meets the conditions;
- `session` + `in_a_row: N`: N finished sessions in a row that each meet them;
- `days_in_a_row: N`: practice on N calendar days in a row;
- `every_scenario_of: AUDIENCE`: a session meeting `session` (default: a success scoring at least 70) for every
  scenario of that audience.

Problems are reported like scenario problems: `file:line: CODE message`, codes B001..B099.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from bot.engine.judge import DERIVED_SIGNALS
from bot.engine.problems import Problem, did_you_mean
from bot.engine.scenario import Outcome, Scenario
from bot.engine.signals import SIGNALS
from bot.engine.yamlnodes import Located, Path as NodePath, YamlSyntaxError, load_located
from bot.errors import TrainerError

CODES: dict[str, str] = {
    "B001": "the file is not valid YAML",
    "B002": "a value has the wrong type",
    "B003": "a required key is missing",
    "B004": "an unknown key",
    "B005": "a value is out of range",
    "B006": "a key appears twice in the same mapping",
    "B007": "a regular expression does not compile",
    "B008": "a badge has no rule, or more than one kind of rule",
    "B011": "an unknown signal",
    "B012": "an unknown behaviour",
    "B013": "no scenario has a skill of that name",
    "B014": "no scenario has that audience",
    "B015": "a behaviour is defined in terms of itself",
    "B016": "the file cannot be read",
}
WARNINGS = frozenset({"B013", "B014"})  # the rules still work: they only never match today

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
BEHAVIOUR_KEYS = {"label", "signals", "skills", "by_turn", "before", "words", "all"}
BADGE_KEYS = {"title", "description", "points", "session", "in_a_row", "days_in_a_row", "every_scenario_of"}
GOOD_ENDING_SCORE = 70  # what `every_scenario_of` asks of each scenario by default, with a success
SESSION_KEYS = {"outcome", "shows", "min_score", "max_penalties", "peak_mood_at_least", "start_mood_at_least"}
OAKLAND_FIVE_KEY = "oakland_five"


class BadgeRulesError(TrainerError):
    """The badge rules file has errors; the message lists the first."""


@dataclass(frozen=True, order=True)
class RuleProblem(Problem):
    """A problem of a badge rules file: printed like a scenario's, with its own warnings."""

    @property
    def is_warning(self) -> bool:
        return self.code in WARNINGS


@dataclass(frozen=True)
class Behaviour:
    name: str
    label: str
    signals: tuple[str, ...] = ()
    skills: tuple[str, ...] = ()
    by_turn: int | None = None  # for signals: shown by this turn
    before: tuple[str, ...] = ()  # for signals: before any of these was detected
    words: re.Pattern[str] | None = None  # for signals: the quoted span must contain these
    all: tuple[str, ...] = ()  # every one of these behaviours


@dataclass(frozen=True)
class SessionCondition:
    outcome: Outcome | None = None
    shows: tuple[str, ...] = ()
    min_score: int | None = None
    max_penalties: int | None = None  # penalised lines
    peak_mood_at_least: int | None = None  # the resident's mood at its worst during the session
    start_mood_at_least: int | None = None


@dataclass(frozen=True)
class Badge:
    name: str
    title: str
    description: str
    points: int  # towards the leaderboard
    session: SessionCondition | None = None
    in_a_row: int | None = None
    days_in_a_row: int | None = None
    every_scenario_of: str | None = None
    line: int = 0


@dataclass(frozen=True)
class BadgeRules:
    behaviours: Mapping[str, Behaviour]
    badges: tuple[Badge, ...]
    oakland_five: tuple[str, ...] = ()  # the behaviours whose all-five rate reports show
    path: str = ""
    lines: Mapping[str, int] = field(default_factory=dict)

    def badge(self, name: str) -> Badge | None:
        return next((badge for badge in self.badges if badge.name == name), None)


def shipped_rules_path() -> Path:
    return Path(str(resources.files("bot.recognition") / "badges.yaml"))


def load_rules(path: str | Path | None = None) -> BadgeRules:
    """The rules in `path` (default: the shipped file), or BadgeRulesError naming the first error."""
    rules, problems = read_rules(path or shipped_rules_path())
    failing = [p for p in problems if not p.is_warning]
    if rules is None or failing:
        first = failing[0] if failing else problems[0]
        more = f" (and {len(failing) - 1} more; run 'trainer check --badges {first.file}')" if len(failing) > 1 else ""
        raise BadgeRulesError(f"{first}{more}")
    return rules


def read_rules(path: str | Path) -> tuple[BadgeRules | None, list[RuleProblem]]:
    """Parse and check a rules file on its own (structure and names within the file)."""
    file = str(path)
    try:
        text = Path(path).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [RuleProblem(file, 1, "B016", f"cannot read the file: {getattr(exc, 'strerror', None) or exc}")]
    try:
        located = load_located(text)
    except YamlSyntaxError as exc:
        return None, [RuleProblem(file, exc.line, "B001", exc.message)]
    return _Reader(file, located).read()


def cross_check(rules: BadgeRules, scenarios: Iterable[Scenario]) -> list[RuleProblem]:
    """Names the rules use that the scenarios do not have: signals, skills, audiences."""
    scenarios = list(scenarios)
    problems: list[RuleProblem] = []
    signals = set(SIGNALS) | set(DERIVED_SIGNALS) | {name for s in scenarios for name in s.signals}
    skills = {skill.name for s in scenarios for skill in s.rubric.skills}
    audiences = {audience for s in scenarios for audience in s.audience}
    for behaviour in rules.behaviours.values():
        line = rules.lines.get(f"behaviours.{behaviour.name}", 1)
        for name in (*behaviour.signals, *behaviour.before):
            if name not in signals:
                problems.append(RuleProblem(rules.path, line, "B011", f"behaviour '{behaviour.name}': unknown signal '{name}'{did_you_mean(name, signals)}"))
        for name in behaviour.skills:
            if scenarios and name not in skills:
                problems.append(RuleProblem(rules.path, line, "B013", f"behaviour '{behaviour.name}': no scenario has a skill '{name}'{did_you_mean(name, skills)}"))
    for badge in rules.badges:
        if badge.every_scenario_of is not None and scenarios and badge.every_scenario_of not in audiences:
            problems.append(RuleProblem(
                rules.path, badge.line, "B014",
                f"badge '{badge.name}': no scenario has the audience '{badge.every_scenario_of}'{did_you_mean(badge.every_scenario_of, audiences)}",
            ))
    return sorted(problems)


class _Reader:
    def __init__(self, file: str, located: Located) -> None:
        self.file = file
        self.located = located
        self.problems: list[RuleProblem] = []

    def problem(self, path: NodePath, code: str, message: str) -> None:
        self.problems.append(RuleProblem(self.file, self.located.line(path), code, message))

    def read(self) -> tuple[BadgeRules | None, list[RuleProblem]]:
        for path, line in self.located.duplicates:
            self.problems.append(RuleProblem(self.file, line, "B006", f"'{'.'.join(map(str, path))}' appears twice"))
        data = self.located.data
        if not isinstance(data, dict):
            self.problem((), "B002", "the file must be a mapping with 'behaviours:' and 'badges:'")
            return None, self.problems
        for key in data:
            if key not in ("behaviours", OAKLAND_FIVE_KEY, "badges"):
                self.problem((str(key),), "B004", f"unknown key '{key}' (known: behaviours, {OAKLAND_FIVE_KEY}, badges)")
        behaviours = self._behaviours(data.get("behaviours"))
        five = self._names((OAKLAND_FIVE_KEY,), data.get(OAKLAND_FIVE_KEY), behaviours, "behaviour")
        badges = self._badges(data.get("badges"), behaviours)
        lines = {f"behaviours.{name}": self.located.line(("behaviours", name)) for name in behaviours}
        rules = BadgeRules(behaviours=behaviours, badges=tuple(badges), oakland_five=five, path=self.file, lines=lines)
        return rules, sorted(self.problems)

    # -- behaviours --
    def _behaviours(self, value: Any) -> dict[str, Behaviour]:
        path: NodePath = ("behaviours",)
        if value is None:
            self.problem((), "B003", "missing 'behaviours:' (what a trainee can show, from signals and skills)")
            return {}
        if not isinstance(value, dict):
            self.problem(path, "B002", "'behaviours' must be a mapping of names to definitions")
            return {}
        found: dict[str, Behaviour] = {}
        for name, spec in value.items():
            here = (*path, str(name))
            if not isinstance(name, str) or not NAME_RE.match(name):
                self.problem(here, "B002", f"behaviour name '{name}' must be lower_case_with_underscores")
                continue
            if not isinstance(spec, dict):
                self.problem(here, "B002", f"behaviour '{name}' must be a mapping (label:, signals: or skills: or all:)")
                continue
            behaviour = self._behaviour(name, spec, here)
            if behaviour is not None:
                found[name] = behaviour
        for name, behaviour in found.items():
            here = (*path, name, "all")
            for other in behaviour.all:
                if other not in found:
                    self.problem(here, "B012", f"behaviour '{name}': unknown behaviour '{other}'{did_you_mean(other, found)}")
            if self._cycles(name, found):
                self.problem((*path, name), "B015", f"behaviour '{name}' is defined in terms of itself (through 'all')")
        return found

    def _cycles(self, start: str, found: Mapping[str, Behaviour]) -> bool:
        stack, seen = list(found[start].all), set()
        while stack:
            name = stack.pop()
            if name == start:
                return True
            if name in seen or name not in found:
                continue
            seen.add(name)
            stack.extend(found[name].all)
        return False

    def _behaviour(self, name: str, spec: dict[str, Any], here: NodePath) -> Behaviour | None:
        for key in spec:
            if key not in BEHAVIOUR_KEYS:
                self.problem((*here, str(key)), "B004", f"behaviour '{name}': unknown key '{key}'{did_you_mean(str(key), BEHAVIOUR_KEYS)}")
        label = spec.get("label")
        if not isinstance(label, str) or not label.strip():
            self.problem((*here, "label"), "B003" if label is None else "B002", f"behaviour '{name}' needs a 'label' (text shown to trainees)")
            label = name.replace("_", " ")
        signals = self._words(spec.get("signals"), (*here, "signals"))
        skills = self._words(spec.get("skills"), (*here, "skills"))
        combined = self._words(spec.get("all"), (*here, "all"))
        if not (signals or skills or combined):
            self.problem(here, "B003", f"behaviour '{name}' needs 'signals', 'skills' or 'all'")
            return None
        if combined and (signals or skills):
            self.problem((*here, "all"), "B002", f"behaviour '{name}': 'all' combines other behaviours; give signals and skills to those")
        words = None
        if spec.get("words") is not None:
            if not isinstance(spec["words"], str):
                self.problem((*here, "words"), "B002", f"behaviour '{name}': 'words' must be a regular expression")
            else:
                try:
                    words = re.compile(spec["words"], re.IGNORECASE)
                except re.error as exc:
                    self.problem((*here, "words"), "B007", f"behaviour '{name}': 'words' does not compile: {exc}")
        return Behaviour(
            name=name, label=label.strip(), signals=signals, skills=skills,
            by_turn=self._int(spec.get("by_turn"), (*here, "by_turn"), 1, 1000), before=self._words(spec.get("before"), (*here, "before")),
            words=words, all=combined,
        )

    # -- badges --
    def _badges(self, value: Any, behaviours: Mapping[str, Behaviour]) -> list[Badge]:
        path: NodePath = ("badges",)
        if value is None:
            self.problem((), "B003", "missing 'badges:'")
            return []
        if not isinstance(value, dict):
            self.problem(path, "B002", "'badges' must be a mapping of names to rules")
            return []
        badges = []
        for name, spec in value.items():
            here = (*path, str(name))
            if not isinstance(name, str) or not NAME_RE.match(name):
                self.problem(here, "B002", f"badge name '{name}' must be lower_case_with_underscores")
                continue
            if not isinstance(spec, dict):
                self.problem(here, "B002", f"badge '{name}' must be a mapping (title:, description:, and a rule)")
                continue
            badge = self._badge(name, spec, here, behaviours)
            if badge is not None:
                badges.append(badge)
        return badges

    def _badge(self, name: str, spec: dict[str, Any], here: NodePath, behaviours: Mapping[str, Behaviour]) -> Badge | None:
        for key in spec:
            if key not in BADGE_KEYS:
                self.problem((*here, str(key)), "B004", f"badge '{name}': unknown key '{key}'{did_you_mean(str(key), BADGE_KEYS)}")
        texts = {}
        for key in ("title", "description"):
            text = spec.get(key)
            if not isinstance(text, str) or not text.strip():
                self.problem((*here, key), "B003" if text is None else "B002", f"badge '{name}' needs a '{key}' (text)")
                text = name
            texts[key] = text.strip()
        session = self._session(spec.get("session"), (*here, "session"), behaviours) if "session" in spec else None
        in_a_row = self._int(spec.get("in_a_row"), (*here, "in_a_row"), 2, 1000)
        days = self._int(spec.get("days_in_a_row"), (*here, "days_in_a_row"), 2, 1000)
        audience = spec.get("every_scenario_of")
        if audience is not None and not isinstance(audience, str):
            self.problem((*here, "every_scenario_of"), "B002", f"badge '{name}': 'every_scenario_of' must be an audience name")
            audience = None
        kinds = [kind for kind, used in (("in_a_row", in_a_row), ("days_in_a_row", days), ("every_scenario_of", audience)) if used is not None]
        if len(kinds) > 1:
            self.problem(here, "B008", f"badge '{name}' has several kinds of rule ({', '.join(kinds)}); give one")
            return None
        if not kinds and session is None:
            self.problem(here, "B008", f"badge '{name}' has no rule: give 'session', 'days_in_a_row' or 'every_scenario_of'")
            return None
        if in_a_row is not None and session is None:
            self.problem(here, "B003", f"badge '{name}': 'in_a_row' counts sessions meeting 'session:'; give it")
            return None
        if days is not None and session is not None:
            self.problem((*here, "session"), "B008", f"badge '{name}': 'days_in_a_row' counts days of practice; it takes no 'session'")
            return None
        if audience is not None and session is None:  # a good ending: a success that is not merely curt
            session = SessionCondition(outcome=Outcome.SUCCESS, min_score=GOOD_ENDING_SCORE)
        points = self._int(spec.get("points"), (*here, "points"), 0, 1000)
        return Badge(
            name=name, title=texts["title"], description=texts["description"], points=10 if points is None else points,
            session=session, in_a_row=in_a_row, days_in_a_row=days, every_scenario_of=audience, line=self.located.line(here),
        )

    def _session(self, value: Any, here: NodePath, behaviours: Mapping[str, Behaviour]) -> SessionCondition | None:
        if not isinstance(value, dict) or not value:
            self.problem(here, "B002", "'session' must be a mapping of conditions (outcome:, shows:, min_score:, ...)")
            return None
        for key in value:
            if key not in SESSION_KEYS:
                self.problem((*here, str(key)), "B004", f"unknown session condition '{key}'{did_you_mean(str(key), SESSION_KEYS)}")
        outcome = None
        if value.get("outcome") is not None:
            try:
                outcome = Outcome(value["outcome"])
            except ValueError:
                self.problem((*here, "outcome"), "B005", f"outcome must be one of {', '.join(o.value for o in Outcome)}, not {value['outcome']!r}")
        return SessionCondition(
            outcome=outcome,
            shows=self._names((*here, "shows"), value.get("shows"), behaviours, "behaviour"),
            min_score=self._int(value.get("min_score"), (*here, "min_score"), 0, 100),
            max_penalties=self._int(value.get("max_penalties"), (*here, "max_penalties"), 0, 1000),
            peak_mood_at_least=self._int(value.get("peak_mood_at_least"), (*here, "peak_mood_at_least"), 0, 100),
            start_mood_at_least=self._int(value.get("start_mood_at_least"), (*here, "start_mood_at_least"), 0, 100),
        )

    # -- values --
    def _words(self, value: Any, here: NodePath) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            self.problem(here, "B002", f"'{here[-1]}' must be a list of names")
            return ()
        return tuple(value)

    def _names(self, here: NodePath, value: Any, known: Mapping[str, Any], what: str) -> tuple[str, ...]:
        names = self._words(value, here)
        for name in names:
            if name not in known:
                self.problem(here, "B012", f"unknown {what} '{name}'{did_you_mean(name, known)}")
        return tuple(name for name in names if name in known)

    def _int(self, value: Any, here: NodePath, low: int, high: int) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(here, "B002", f"'{here[-1]}' must be a whole number")
            return None
        if not low <= value <= high:
            self.problem(here, "B005", f"'{here[-1]}' must be between {low} and {high}")
            return None
        return value


def problems_text(problems: Sequence[RuleProblem]) -> str:
    return "\n".join(str(p) for p in problems)
