"""First pass over a scenario file: YAML -> typed Scenario, every problem with file:line.

Problems are collected, not raised one at a time, so an author sees them all at once.
Cross-references and reachability are the second pass (`lint.py`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.engine.patterns import PatternBudget, UnsafePattern, compile_pattern
from bot.engine.problems import Problem, did_you_mean
from bot.engine.scenario import (
    RANDOM_PERSONA,
    Escalation,
    Fact,
    Guard,
    Idle,
    Line,
    Otherwise,
    Outcome,
    Persona,
    Resident,
    Rubric,
    Scenario,
    Skill,
    Stall,
    State,
    Transition,
)
from bot.engine.yamlnodes import Located, Path as NodePath, YamlSyntaxError, load_located

TOP_KEYS = {
    "id", "title", "briefing", "audience", "resident", "signals", "mood_effects",
    "escalate", "idle", "start", "states", "rubric", "description",
    "facts", "everywhere", "stall", "trainee", "personas", "signals_off",
}
REQUIRED_TOP = ("id", "title", "briefing", "resident", "start", "states", "rubric")
RESIDENT_KEYS = {"name", "persona", "mood"}
STATE_KEYS = {"say", "on", "otherwise", "end", "mood_effects", "note", "feels", "score_cap", "summary"}
GUARD_KEYS = {
    "when", "any", "unless", "seen", "seen_any", "not_seen", "seen_before",
    "mood_above", "mood_below", "turn_at_least", "turn_at_most", "persona", "at_least", "fewer_than",
}
TRANSITION_KEYS = GUARD_KEYS | {"to", "mood", "say", "feels", "count"}
OTHERWISE_KEYS = {"say", "mood", "to", "feels"}
RUBRIC_KEYS = {"skills", "penalties", "critical", "critical_cap", "late_fraction", "integrity_cap"}
PENALTY_KEYS = {"points", "label", "tip", "example"}
SKILL_KEYS = {"label", "signal", "signals", "points", "by_turn", "before", "requires", "tip", "example"}
ESCALATE_KEYS = {"above", "to"}
IDLE_KEYS = {"after_seconds", "say", "abandon_after_seconds"}
LINE_KEYS = {"text", "once", "feels", "persona"}
ONCE_VALUES = {True: "session", "state": "state", False: ""}
FACT_KEYS = {"label", "truth", "right", "wrong", "checks", "required", "tip"}
EVERYWHERE_KEYS = {"first", "last"}
STALL_KEYS = {"after", "to"}
TRAINEE_KEYS = {"title", "role"}
PERSONA_KEYS = {"label", "description", "mood", "mood_effects"}
SIGNAL_KEYS = {"patterns", "asserted"}
PLACEHOLDERS = {"officer", "resident", "role"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_FILE_BYTES = 1_000_000


class _Reader:
    """Typed accessors over located data that record problems instead of raising."""

    def __init__(self, file: str, located: Located) -> None:
        self.file = file
        self.located = located
        self.problems: list[Problem] = []
        self.pattern_budget = PatternBudget()  # all of a scenario's patterns run on every message

    def problem(self, path: NodePath, code: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.located.line(path), code, message))

    def mapping(self, value: Any, path: NodePath, what: str, allowed: set[str], required: tuple[str, ...] = ()) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(path, "S002", f"{what} must be a mapping, not {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.problem((*path, str(key)), "S004", f"unknown key '{key}' in {what}{did_you_mean(str(key), allowed)}")
        for key in required:
            if key not in value:
                self.problem(path, "S003", f"{what} needs '{key}'")
        return value

    def text(self, value: Any, path: NodePath, what: str, allow_empty: bool = False) -> str | None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problem(path, "S002", f"{what} must be text, not {_kind(value)}")
            return None
        if not allow_empty and not value.strip():
            self.problem(path, "S008", f"{what} is empty")
            return None
        return value.strip()

    def integer(self, value: Any, path: NodePath, what: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(path, "S002", f"{what} must be a whole number, not {_kind(value)}")
            return None
        if not low <= value <= high:
            self.problem(path, "S005", f"{what} must be between {low} and {high}, not {value}")
            return None
        return value

    def names(self, value: Any, path: NodePath, what: str) -> tuple[str, ...]:
        """A signal or state name, or a list of them."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            self.problem(path, "S002", f"{what} must be a name or a list of names, not {_kind(value)}")
            return ()
        result: list[str] = []
        for index, item in enumerate(items):
            if not isinstance(item, str) or not NAME_RE.match(item):
                self.problem((*path, index), "S002", f"{what} must hold lower_snake_case names, not {item!r}")
                continue
            result.append(item)
        return tuple(result)

    def name(self, value: Any, path: NodePath, what: str) -> str | None:
        """Exactly one lower_snake_case name (a state)."""
        if not isinstance(value, str) or not NAME_RE.match(value):
            self.problem(path, "S002", f"{what} must be one lower_snake_case name, not {value!r}")
            return None
        return value

    def lines(self, value: Any, path: NodePath, what: str) -> tuple[Line, ...]:
        """`say`: one line, a list of lines, or items `{text, once}`."""
        items = [value] if isinstance(value, (str, dict)) else value
        if not isinstance(items, list):
            self.problem(path, "S002", f"{what} must be a line or a list of lines, not {_kind(value)}")
            return ()
        if not items:
            self.problem(path, "S008", f"{what} has no lines")
            return ()
        result: list[Line] = []
        for index, item in enumerate(items):
            item_path = (*path, index) if isinstance(value, list) else path
            once = ""
            feels: tuple[str, ...] = ()
            personas: tuple[str, ...] = ()
            if isinstance(item, dict):
                spec = self.mapping(item, item_path, "a line", LINE_KEYS, ("text",))
                if spec is None or "text" not in spec:
                    continue
                once_value = spec.get("once", False)
                if isinstance(once_value, (bool, str)) and once_value in ONCE_VALUES:
                    once = ONCE_VALUES[once_value]
                else:
                    self.problem((*item_path, "once"), "S002", f"'once' must be true, false or state, not {once_value!r}")
                if "feels" in spec:
                    feels = self.names(spec["feels"], (*item_path, "feels"), "'feels'")
                if "persona" in spec:
                    personas = self.names(spec["persona"], (*item_path, "persona"), "'persona'")
                item = spec["text"]
                item_path = (*item_path, "text")
            text = self.text(item, item_path, f"a line of {what}")
            if text is None:
                continue
            for placeholder in re.findall(r"\{([^{}]*)\}", text):
                if placeholder not in PLACEHOLDERS:
                    self.problem(item_path, "S009", f"unknown placeholder '{{{placeholder}}}' (use {{officer}} or {{resident}})")
            result.append(Line(text=text, once=once, feels=feels, personas=personas))
        return tuple(result)

    def patterns(self, value: Any, path: NodePath, what: str) -> tuple[re.Pattern[str], ...]:
        """A pattern or a list of them, each compiled by the one scenario-pattern compiler."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            self.problem(path, "S008" if isinstance(items, list) else "S002", f"{what} needs a list of regular expressions")
            return ()
        compiled: list[re.Pattern[str]] = []
        for index, pattern in enumerate(items):
            item_path = (*path, index) if isinstance(value, list) else path
            if not isinstance(pattern, str) or not pattern:
                self.problem(item_path, "S002", f"a pattern of {what} must be non-empty text")
                continue
            if any(char in pattern for char in "\b\f\v\x00"):
                # "\b" inside YAML double quotes is a backspace, not a word boundary: an easy slip.
                self.problem(item_path, "S007", (
                    f"pattern {pattern!r} of {what} holds a control character; inside double quotes write "
                    "\\\\b for a word boundary (or use single quotes: '\\b')"))
                continue
            try:
                compiled.append(compile_pattern(pattern, self.pattern_budget))
            except UnsafePattern as exc:
                self.problem(item_path, "S007", f"pattern {pattern!r} of {what} {exc}")
        return tuple(compiled)

    def boolean(self, value: Any, path: NodePath, what: str) -> bool:
        if not isinstance(value, bool):
            self.problem(path, "S002", f"{what} must be true or false, not {_kind(value)}")
            return False
        return value

    def effects(self, value: Any, path: NodePath, what: str) -> dict[str, int]:
        spec = value if isinstance(value, dict) else None
        if spec is None:
            self.problem(path, "S002", f"{what} must map signal names to mood changes, not {_kind(value)}")
            return {}
        result: dict[str, int] = {}
        for name, delta in spec.items():
            number = self.integer(delta, (*path, str(name)), f"mood change for '{name}'", -100, 100)
            if number is not None:
                result[str(name)] = number
        return result


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def load_scenario(path: str | Path) -> tuple[Scenario | None, list[Problem]]:
    """Read and structurally check one file. Returns the scenario when it has no problems."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return None, [Problem(file, 1, "S022", f"cannot read the file: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:
        return None, [Problem(file, 1, "S005", f"the file is {len(raw)} bytes; scenario files are limited to {MAX_FILE_BYTES}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(file, line, "S001", "the file is not UTF-8 text")]
    return parse_scenario(text, file, digest=hashlib.sha256(raw).hexdigest())


def parse_scenario(text: str, file: str = "<scenario>", digest: str = "") -> tuple[Scenario | None, list[Problem]]:
    try:
        located = load_located(text)
    except YamlSyntaxError as exc:
        return None, [Problem(file, exc.line, "S001", f"invalid YAML: {exc.message}")]
    reader = _Reader(file, located)
    for dup_path, line in located.duplicates:
        reader.problems.append(Problem(file, line, "S006", f"duplicate key '{dup_path[-1]}' (the later one would silently win)"))
    scenario = _build(reader, located.data, file, digest)
    problems = sorted(set(reader.problems))
    return (scenario if not problems else None), problems


def _build(r: _Reader, data: Any, file: str, digest: str) -> Scenario | None:
    top = r.mapping(data, (), "the scenario", TOP_KEYS, REQUIRED_TOP)
    if top is None:
        return None
    scenario_id = r.text(top["id"], ("id",), "'id'") if "id" in top else None
    if scenario_id is not None and not NAME_RE.match(scenario_id):
        r.problem(("id",), "S002", f"'id' must be lower_snake_case, not {scenario_id!r}")
    if scenario_id is not None and file.endswith((".yaml", ".yml")) and Path(file).stem != scenario_id:
        r.problem(("id",), "S010", f"id '{scenario_id}' does not match the file name '{Path(file).name}'")
    title = r.text(top.get("title"), ("title",), "'title'") if "title" in top else None
    briefing = r.text(top.get("briefing"), ("briefing",), "'briefing'") if "briefing" in top else None
    audience = r.names(top["audience"], ("audience",), "'audience'") if "audience" in top else ()
    resident = _resident(r, top["resident"]) if "resident" in top else None
    signals, asserted = _signals(r, top["signals"]) if "signals" in top else ({}, frozenset[str]())
    signals_off = frozenset(r.names(top["signals_off"], ("signals_off",), "'signals_off'")) if "signals_off" in top else frozenset[str]()
    personas = _personas(r, top["personas"]) if "personas" in top else ()
    mood_effects = r.effects(top["mood_effects"], ("mood_effects",), "'mood_effects'") if "mood_effects" in top else {}
    escalate = _escalate(r, top["escalate"]) if "escalate" in top else None
    idle = _idle(r, top["idle"]) if "idle" in top else None
    start = r.name(top["start"], ("start",), "'start'") if "start" in top else None
    for key in ("description",):
        if key in top:
            r.text(top[key], (key,), f"'{key}'")
    states = _states(r, top["states"]) if "states" in top else {}
    rubric = _rubric(r, top["rubric"]) if "rubric" in top else None
    facts = _facts(r, top["facts"]) if "facts" in top else ()
    first, last = _everywhere(r, top["everywhere"]) if "everywhere" in top else ((), ())
    stall = _stall(r, top["stall"]) if "stall" in top else None
    trainee_title, trainee_role = _trainee(r, top["trainee"]) if "trainee" in top else ("Officer", "")
    for fact in facts:
        if fact.name in signals:
            r.problem(("facts", fact.name), "S024", f"fact '{fact.name}' has the name of a signal of this scenario; a fact is a signal of its own")
    signals = {**signals, **{fact.name: fact.right for fact in facts}}
    if resident is not None and escalate is not None and resident.mood > escalate.above:
        r.problem(("resident", "mood"), "S005", f"the starting mood {resident.mood} is already above the escalation line {escalate.above}")
    for persona in personas:
        if escalate is not None and persona.mood > escalate.above:
            r.problem(("personas", persona.name, "mood"), "S005", f"persona '{persona.name}' starts at mood {persona.mood}, already above the escalation line {escalate.above}")
    if r.problems or None in (scenario_id, title, briefing, resident, rubric, start):
        return None
    assert scenario_id and title and briefing and resident and rubric and start  # narrowed above
    return Scenario(
        id=scenario_id, title=title, briefing=briefing, resident=resident, start=start,
        states=states, rubric=rubric, audience=audience, signals=signals,
        mood_effects=mood_effects, escalate=escalate, idle=idle, path=file, digest=digest,
        key_lines=_key_lines(r.located), facts=facts, first=first, last=last, stall=stall,
        trainee_title=trainee_title, trainee_role=trainee_role, personas=personas,
        signals_off=signals_off, asserted_signals=asserted,
    )


def _key_lines(located: Located) -> dict[str, int]:
    """Lines of top-level and rubric keys, so the second pass can point at them."""
    lines: dict[str, int] = {}
    for path, line in located.lines.items():
        if len(path) == 1 or (len(path) <= 3 and path[:1] == ("rubric",)):
            lines[".".join(str(part) for part in path)] = line
    return lines


def _resident(r: _Reader, value: Any) -> Resident | None:
    spec = r.mapping(value, ("resident",), "'resident'", RESIDENT_KEYS, ("name", "persona", "mood"))
    if spec is None:
        return None
    name = r.text(spec.get("name"), ("resident", "name"), "the resident's name") if "name" in spec else None
    persona = r.text(spec.get("persona"), ("resident", "persona"), "the persona") if "persona" in spec else None
    mood = r.integer(spec.get("mood"), ("resident", "mood"), "the starting mood", 0, 100) if "mood" in spec else None
    if name is None or persona is None or mood is None:
        return None
    return Resident(name=name, persona=persona, mood=mood)


def _signals(r: _Reader, value: Any) -> tuple[dict[str, tuple[re.Pattern[str], ...]], frozenset[str]]:
    """The scenario's own signals, and those of them that count only when asserted (not negated or hedged)."""
    if not isinstance(value, dict):
        r.problem(("signals",), "S002", f"'signals' must map names to lists of patterns, not {_kind(value)}")
        return {}, frozenset()
    result: dict[str, tuple[re.Pattern[str], ...]] = {}
    asserted: set[str] = set()
    for name, patterns in value.items():
        path: NodePath = ("signals", str(name))
        if not isinstance(name, str) or not NAME_RE.match(name):
            r.problem(path, "S002", f"signal names must be lower_snake_case, not {name!r}")
            continue
        if isinstance(patterns, dict):
            # The long form: {patterns: [...], asserted: true}
            spec = r.mapping(patterns, path, f"signal '{name}'", SIGNAL_KEYS, ("patterns",))
            if spec is None or "patterns" not in spec:
                continue
            if "asserted" in spec and r.boolean(spec["asserted"], (*path, "asserted"), "'asserted'"):
                asserted.add(name)
            path, patterns = (*path, "patterns"), spec["patterns"]
        result[name] = r.patterns(patterns, path, f"signal '{name}'")
    return result, frozenset(asserted)


def _facts(r: _Reader, value: Any) -> tuple[Fact, ...]:
    if not isinstance(value, dict):
        r.problem(("facts",), "S002", f"'facts' must map fact names to facts, not {_kind(value)}")
        return ()
    facts: list[Fact] = []
    for name, item in value.items():
        path: NodePath = ("facts", str(name))
        if not isinstance(name, str) or not NAME_RE.match(name):
            r.problem(path, "S002", f"fact names must be lower_snake_case, not {name!r}")
            continue
        spec = r.mapping(item, path, f"fact '{name}'", FACT_KEYS, ("label", "truth", "right"))
        if spec is None or not {"label", "truth", "right"} <= set(spec):
            continue
        label = r.text(spec["label"], (*path, "label"), "'label'")
        truth = r.text(spec["truth"], (*path, "truth"), "'truth'")
        right = r.patterns(spec["right"], (*path, "right"), f"fact '{name}' (right)")
        wrong = r.patterns(spec["wrong"], (*path, "wrong"), f"fact '{name}' (wrong)") if "wrong" in spec else ()
        checks = r.names(spec["checks"], (*path, "checks"), "'checks'") if "checks" in spec else ()
        required = r.boolean(spec["required"], (*path, "required"), "'required'") if "required" in spec else False
        if required and not checks:
            r.problem((*path, "required"), "S003", f"fact '{name}' is 'required' but names no claim in 'checks' to require it of")
        tip = (r.text(spec["tip"], (*path, "tip"), "'tip'") or "") if "tip" in spec else ""
        if label is None or truth is None or not right:
            continue
        facts.append(Fact(
            name=name, label=label, truth=truth, right=right, wrong=wrong, checks=checks,
            required=required, tip=tip, line=r.located.line(path),
        ))
    return tuple(facts)


def _everywhere(r: _Reader, value: Any) -> tuple[tuple[Transition, ...], tuple[Transition, ...]]:
    spec = r.mapping(value, ("everywhere",), "'everywhere'", EVERYWHERE_KEYS)
    if spec is None:
        return (), ()
    lists: dict[str, tuple[Transition, ...]] = {}
    for key in ("first", "last"):
        rules = spec.get(key, [])
        if not isinstance(rules, list):
            r.problem(("everywhere", key), "S002", f"'everywhere.{key}' must be a list of transitions, not {_kind(rules)}")
            rules = []
        parsed = (_transition(r, item, ("everywhere", key, index), scope=key) for index, item in enumerate(rules))
        lists[key] = tuple(t for t in parsed if t is not None)
    return lists["first"], lists["last"]


def _stall(r: _Reader, value: Any) -> Stall | None:
    spec = r.mapping(value, ("stall",), "'stall'", STALL_KEYS, ("after", "to"))
    if spec is None or "after" not in spec or "to" not in spec:
        return None
    after = r.integer(spec["after"], ("stall", "after"), "'stall.after'", 2, 50)
    to = r.name(spec["to"], ("stall", "to"), "'stall.to'")
    if after is None or to is None:
        return None
    return Stall(after=after, to=to)


def _trainee(r: _Reader, value: Any) -> tuple[str, str]:
    """(title, role): how the resident addresses the trainee, and what they call the trainee's job."""
    spec = r.mapping(value, ("trainee",), "'trainee'", TRAINEE_KEYS)
    if spec is None:
        return "Officer", ""
    title = "Officer"
    if "title" in spec:
        given = r.text(spec["title"], ("trainee", "title"), "'trainee.title'", allow_empty=True)
        title = "" if given is None else given
    role = (r.text(spec["role"], ("trainee", "role"), "'trainee.role'") or "") if "role" in spec else ""
    return title, role


def _personas(r: _Reader, value: Any) -> tuple[Persona, ...]:
    if not isinstance(value, dict):
        r.problem(("personas",), "S002", f"'personas' must map persona names to variants, not {_kind(value)}")
        return ()
    if not value:
        r.problem(("personas",), "S008", "'personas' is empty")
    result: list[Persona] = []
    for name, item in value.items():
        path: NodePath = ("personas", str(name))
        if not isinstance(name, str) or not NAME_RE.match(name):
            r.problem(path, "S002", f"persona names must be lower_snake_case, not {name!r}")
            continue
        if name == RANDOM_PERSONA:
            r.problem(path, "S002", f"'{RANDOM_PERSONA}' means 'surprise me' (a persona picked at random); name the variant otherwise")
            continue
        spec = r.mapping(item, path, f"persona '{name}'", PERSONA_KEYS, ("label", "mood"))
        if spec is None or "label" not in spec or "mood" not in spec:
            continue
        label = r.text(spec["label"], (*path, "label"), "'label'")
        description = (r.text(spec["description"], (*path, "description"), "'description'") or "") if "description" in spec else ""
        mood = r.integer(spec["mood"], (*path, "mood"), "the persona's starting mood", 0, 100)
        effects = r.effects(spec["mood_effects"], (*path, "mood_effects"), "'mood_effects'") if "mood_effects" in spec else {}
        if label is None or mood is None:
            continue
        result.append(Persona(name=name, label=label, description=description, mood=mood, mood_effects=effects, line=r.located.line(path)))
    return tuple(result)


def _escalate(r: _Reader, value: Any) -> Escalation | None:
    spec = r.mapping(value, ("escalate",), "'escalate'", ESCALATE_KEYS, ("above", "to"))
    if spec is None or "above" not in spec or "to" not in spec:
        return None
    above = r.integer(spec["above"], ("escalate", "above"), "'escalate.above'", 1, 99)
    to = r.name(spec["to"], ("escalate", "to"), "'escalate.to'")
    if above is None or to is None:
        return None
    return Escalation(above=above, to=to)


def _idle(r: _Reader, value: Any) -> Idle | None:
    spec = r.mapping(value, ("idle",), "'idle'", IDLE_KEYS, ("after_seconds", "say"))
    if spec is None or "after_seconds" not in spec or "say" not in spec:
        return None
    after = r.integer(spec["after_seconds"], ("idle", "after_seconds"), "'idle.after_seconds'", 10, 86_400)
    say = r.lines(spec["say"], ("idle", "say"), "'idle.say'")
    if after is None:
        return None
    abandon = spec.get("abandon_after_seconds", after * 3)
    abandon_after = r.integer(abandon, ("idle", "abandon_after_seconds"), "'idle.abandon_after_seconds'", 10, 7 * 86_400)
    if abandon_after is None or not say:
        return None
    if abandon_after <= after:
        r.problem(("idle", "abandon_after_seconds"), "S005", "'abandon_after_seconds' must be longer than 'after_seconds'")
    return Idle(after_seconds=after, say=say, abandon_after_seconds=abandon_after)


def _states(r: _Reader, value: Any) -> dict[str, State]:
    if not isinstance(value, dict):
        r.problem(("states",), "S002", f"'states' must map state names to states, not {_kind(value)}")
        return {}
    if not value:
        r.problem(("states",), "S008", "'states' is empty")
    states: dict[str, State] = {}
    for name, spec in value.items():
        path: NodePath = ("states", str(name))
        if not isinstance(name, str) or not NAME_RE.match(name):
            r.problem(path, "S002", f"state names must be lower_snake_case, not {name!r}")
            continue
        state = _state(r, name, spec, path)
        if state is not None:
            states[name] = state
    return states


def _state(r: _Reader, name: str, value: Any, path: NodePath) -> State | None:
    spec = r.mapping(value, path, f"state '{name}'", STATE_KEYS, ("say",))
    if spec is None:
        return None
    say = r.lines(spec["say"], (*path, "say"), f"state '{name}'") if "say" in spec else ()
    if "note" in spec:
        r.text(spec["note"], (*path, "note"), "'note'")
    say = _with_feels(r, spec, path, say)
    summary = (r.text(spec["summary"], (*path, "summary"), "'summary'") or "") if "summary" in spec else ""
    score_cap = r.integer(spec["score_cap"], (*path, "score_cap"), "'score_cap'", 0, 100) if "score_cap" in spec else None
    end: Outcome | None = None
    if "end" in spec:
        outcome = spec["end"]
        if outcome not in ("success", "failure"):
            r.problem((*path, "end"), "S002", f"'end' must be success or failure, not {outcome!r}")
        else:
            end = Outcome(outcome)
    transitions: list[Transition] = []
    if "on" in spec:
        on = spec["on"]
        if not isinstance(on, list):
            r.problem((*path, "on"), "S002", f"'on' must be a list of transitions, not {_kind(on)}")
        else:
            for index, item in enumerate(on):
                transition = _transition(r, item, (*path, "on", index))
                if transition is not None:
                    transitions.append(transition)
    otherwise = _otherwise(r, spec["otherwise"], (*path, "otherwise")) if "otherwise" in spec else None
    effects = r.effects(spec["mood_effects"], (*path, "mood_effects"), "'mood_effects'") if "mood_effects" in spec else {}
    if end is None and (score_cap is not None or summary):
        r.problem((*path, "score_cap" if score_cap is not None else "summary"), "S002",
                  f"'score_cap' and 'summary' belong to end states; '{name}' has no 'end'")
    return State(
        name=name, say=say, on=tuple(transitions), otherwise=otherwise, end=end,
        mood_effects=effects, line=r.located.line(path), score_cap=score_cap, summary=summary,
    )


def _with_feels(r: _Reader, spec: dict[str, Any], path: NodePath, say: tuple[Line, ...]) -> tuple[Line, ...]:
    """A `feels` beside `say` belongs to each of its lines that names no feelings of its own."""
    if "feels" not in spec:
        return say
    feels = r.names(spec["feels"], (*path, "feels"), "'feels'")
    return tuple(line if line.feels else Line(line.text, line.once, feels, line.personas) for line in say)


def _guard(r: _Reader, spec: dict[str, Any], path: NodePath) -> Guard:
    def names(key: str) -> tuple[str, ...]:
        return r.names(spec[key], (*path, key), f"'{key}'") if key in spec else ()

    def number(key: str, low: int, high: int) -> int | None:
        return r.integer(spec[key], (*path, key), f"'{key}'", low, high) if key in spec else None

    def counts(key: str, low: int) -> tuple[tuple[str, int], ...]:
        if key not in spec:
            return ()
        value = spec[key]
        if not isinstance(value, dict) or not value:
            r.problem((*path, key), "S002", f"'{key}' must map counter names to numbers, e.g. {{empathy: 2}}, not {_kind(value)}")
            return ()
        result: list[tuple[str, int]] = []
        for name, count in value.items():
            if not isinstance(name, str) or not NAME_RE.match(name):
                r.problem((*path, key), "S002", f"counter names in '{key}' must be lower_snake_case, not {name!r}")
                continue
            number_ = r.integer(count, (*path, key, name), f"'{key}.{name}'", low, 1000)
            if number_ is not None:
                result.append((name, number_))
        return tuple(result)

    return Guard(
        when=names("when"), any=names("any"), unless=names("unless"),
        seen=names("seen"), seen_any=names("seen_any"), not_seen=names("not_seen"), seen_before=names("seen_before"),
        mood_above=number("mood_above", 0, 100), mood_below=number("mood_below", 0, 100),
        turn_at_least=number("turn_at_least", 1, 1000), turn_at_most=number("turn_at_most", 1, 1000),
        persona=names("persona"), at_least=counts("at_least", 1), fewer_than=counts("fewer_than", 1),
    )


def _transition(r: _Reader, value: Any, path: NodePath, scope: str = "") -> Transition | None:
    spec = r.mapping(value, path, "a transition", TRANSITION_KEYS)
    if spec is None:
        return None
    to = r.name(spec["to"], (*path, "to"), "'to'") if "to" in spec else None
    if "to" not in spec and "say" not in spec:
        r.problem(path, "S003", "a transition needs 'to' (where to go) or 'say' (a reply while staying)")
    mood = r.integer(spec["mood"], (*path, "mood"), "'mood'", -100, 100) if "mood" in spec else 0
    say = _with_feels(r, spec, path, r.lines(spec["say"], (*path, "say"), "the transition's reply") if "say" in spec else ())
    count = r.names(spec["count"], (*path, "count"), "'count'") if "count" in spec else ()
    return Transition(
        guard=_guard(r, spec, path), to=to, mood=mood or 0,
        say=say, line=r.located.line(path), to_line=r.located.line((*path, "to")), scope=scope, count=count,
    )


def _otherwise(r: _Reader, value: Any, path: NodePath) -> Otherwise | None:
    spec = r.mapping(value, path, "'otherwise'", OTHERWISE_KEYS, ("say",))
    if spec is None or "say" not in spec:
        return None
    to = r.name(spec["to"], (*path, "to"), "'to'") if "to" in spec else None
    mood = r.integer(spec["mood"], (*path, "mood"), "'mood'", -100, 100) if "mood" in spec else 0
    say = _with_feels(r, spec, path, r.lines(spec["say"], (*path, "say"), "'otherwise'"))
    return Otherwise(say=say, mood=mood or 0, to=to, line=r.located.line(path), to_line=r.located.line((*path, "to")))


def _rubric(r: _Reader, value: Any) -> Rubric | None:
    spec = r.mapping(value, ("rubric",), "'rubric'", RUBRIC_KEYS, ("skills",))
    if spec is None or "skills" not in spec:
        return None
    skills_spec = spec["skills"]
    skills: list[Skill] = []
    if not isinstance(skills_spec, dict):
        r.problem(("rubric", "skills"), "S002", f"'skills' must map skill names to rubric items, not {_kind(skills_spec)}")
    elif not skills_spec:
        r.problem(("rubric", "skills"), "S008", "'skills' is empty")
    else:
        for name, item in skills_spec.items():
            skill = _skill(r, str(name), item, ("rubric", "skills", str(name)))
            if skill is not None:
                skills.append(skill)
    penalties: dict[str, int] = {}
    penalty_coaching: dict[str, tuple[str, str]] = {}
    penalty_labels: dict[str, str] = {}
    if "penalties" in spec:
        raw = spec["penalties"]
        if not isinstance(raw, dict):
            r.problem(("rubric", "penalties"), "S002", f"'penalties' must map signals to negative points, not {_kind(raw)}")
        else:
            for name, value in raw.items():
                path: NodePath = ("rubric", "penalties", str(name))
                if isinstance(value, dict):
                    spec_ = r.mapping(value, path, f"penalty for '{name}'", PENALTY_KEYS, ("points",))
                    if spec_ is None or "points" not in spec_:
                        continue
                    tip = r.text(spec_["tip"], (*path, "tip"), "'tip'") if "tip" in spec_ else None
                    label = r.text(spec_["label"], (*path, "label"), "'label'") if "label" in spec_ else None
                    if label:
                        penalty_labels[str(name)] = label
                    example = r.text(spec_["example"], (*path, "example"), "'example'") if "example" in spec_ else None
                    if tip:
                        penalty_coaching[str(name)] = (tip, example or "")
                    value = spec_["points"]
                    path = (*path, "points")
                number = r.integer(value, path, f"penalty for '{name}'", -100, -1)
                if number is not None:
                    penalties[str(name)] = number
    critical = r.names(spec["critical"], ("rubric", "critical"), "'critical'") if "critical" in spec else ()
    cap = r.integer(spec["critical_cap"], ("rubric", "critical_cap"), "'critical_cap'", 0, 100) if "critical_cap" in spec else 30
    integrity_cap = r.integer(spec["integrity_cap"], ("rubric", "integrity_cap"), "'integrity_cap'", 0, 100) if "integrity_cap" in spec else 40
    late = spec.get("late_fraction", 0.5)
    if isinstance(late, bool) or not isinstance(late, (int, float)):
        r.problem(("rubric", "late_fraction"), "S002", f"'late_fraction' must be a number from 0 to 1, not {_kind(late)}")
        late = 0.5
    elif not 0 <= late <= 1:
        r.problem(("rubric", "late_fraction"), "S005", f"'late_fraction' must be a number from 0 to 1, not {late!r}")
        late = 0.5
    return Rubric(
        skills=tuple(skills), penalties=penalties, critical=critical, penalty_coaching=penalty_coaching,
        penalty_labels=penalty_labels,
        critical_cap=30 if cap is None else cap, late_fraction=float(late),
        integrity_cap=40 if integrity_cap is None else integrity_cap,
    )


def _skill(r: _Reader, name: str, value: Any, path: NodePath) -> Skill | None:
    spec = r.mapping(value, path, f"skill '{name}'", SKILL_KEYS, ("points",))
    if spec is None or "points" not in spec:
        return None
    if not NAME_RE.match(name):
        r.problem(path, "S002", f"skill names must be lower_snake_case, not {name!r}")
    points = r.integer(spec["points"], (*path, "points"), "'points'", 1, 100)
    if "signal" in spec and "signals" in spec:
        r.problem((*path, "signals"), "S002", "give either 'signal' or 'signals', not both")
    signals = (
        r.names(spec["signal"], (*path, "signal"), "'signal'") if "signal" in spec
        else r.names(spec["signals"], (*path, "signals"), "'signals'") if "signals" in spec
        else (name,)
    )
    if not signals and ("signal" in spec or "signals" in spec):
        r.problem((*path, "signals"), "S008", f"skill '{name}' lists no signal, so it could never be earned")
    text: Callable[[str], str] = lambda key: (r.text(spec[key], (*path, key), f"'{key}'") or "") if key in spec else ""
    by_turn = r.integer(spec["by_turn"], (*path, "by_turn"), "'by_turn'", 1, 1000) if "by_turn" in spec else None
    before = r.names(spec["before"], (*path, "before"), "'before'") if "before" in spec else ()
    requires = r.names(spec["requires"], (*path, "requires"), "'requires'") if "requires" in spec else ()
    if points is None:
        return None
    return Skill(
        name=name, label=text("label") or name.replace("_", " ").capitalize(), signals=signals,
        points=points, by_turn=by_turn, before=before, requires=requires, tip=text("tip"), example=text("example"),
    )
