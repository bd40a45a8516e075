"""The JSON Schema for scenario files agrees with the loader, so editors and `trainer check` agree.

The schema (bot/engine/schema/scenario.schema.json) gives authors completion, hover help and
early errors in their editor; loader.py and lint.py stay the authority. These tests pin the two
together: the same keys at every level, the same ranges, and the same verdict on sample files.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from bot.engine.loader import (
    ESCALATE_KEYS,
    EVERYWHERE_KEYS,
    FACT_KEYS,
    GUARD_KEYS,
    IDLE_KEYS,
    LINE_KEYS,
    NAME_RE,
    OTHERWISE_KEYS,
    PLACEHOLDERS,
    REQUIRED_TOP,
    RESIDENT_KEYS,
    PENALTY_KEYS,
    RUBRIC_KEYS,
    SKILL_KEYS,
    STALL_KEYS,
    STATE_KEYS,
    TOP_KEYS,
    PERSONA_KEYS,
    SIGNAL_KEYS,
    TRAINEE_KEYS,
    TRANSITION_KEYS,
    parse_scenario,
)

DIALOGUES = Path(__file__).resolve().parents[2] / "dialogues"
SCENARIO_FILES = sorted(p for p in DIALOGUES.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_schema() -> dict[str, Any]:
    text = (resources.files("bot.engine") / "schema" / "scenario.schema.json").read_text("utf-8")
    return json.loads(text)


SCHEMA = load_schema()
VALIDATOR = Draft202012Validator(SCHEMA)


class Yaml12Loader(yaml.SafeLoader):
    """Reads YAML as editors do (YAML 1.2: only true/false are booleans), so `on:` stays a key.

    PyYAML follows YAML 1.1, where on/off/yes/no are booleans too.
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def schema_errors(text: str) -> list[str]:
    data = yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 - a SafeLoader subclass
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in VALIDATOR.iter_errors(data)]


def loader_codes(text: str) -> list[str]:
    scenario, problems = parse_scenario(text, "mini.yaml")
    assert (scenario is None) == bool(problems)
    return [problem.code for problem in problems]


def at(pointer: str) -> dict[str, Any]:
    node: Any = SCHEMA
    for part in filter(None, pointer.split("/")):
        node = node[part]
    return node


# --------------------------------------------------------------------------- (a) real files


def test_there_are_scenario_files() -> None:
    assert "traffic_stop.yaml" in {p.name for p in SCENARIO_FILES}


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=lambda p: p.name)
def test_shipped_scenarios_match_the_schema(path: Path) -> None:
    assert schema_errors(path.read_text("utf-8")) == []


# --------------------------------------------------------------------------- (b) same keys

CLOSED_OBJECTS = {
    "": TOP_KEYS,
    "/properties/resident": RESIDENT_KEYS,
    "/properties/escalate": ESCALATE_KEYS,
    "/properties/idle": IDLE_KEYS,
    "/properties/rubric": RUBRIC_KEYS,
    "/$defs/state": STATE_KEYS,
    "/$defs/transition": TRANSITION_KEYS,
    "/$defs/otherwise": OTHERWISE_KEYS,
    "/$defs/skill": SKILL_KEYS,
    "/$defs/lineObject": LINE_KEYS,
    "/$defs/penaltyObject": PENALTY_KEYS,
    "/properties/facts/additionalProperties": FACT_KEYS,
    "/properties/everywhere": EVERYWHERE_KEYS,
    "/properties/stall": STALL_KEYS,
    "/properties/trainee": TRAINEE_KEYS,
    "/properties/personas/additionalProperties": PERSONA_KEYS,
    "/$defs/signalObject": SIGNAL_KEYS,
}


@pytest.mark.parametrize(("pointer", "keys"), CLOSED_OBJECTS.items(), ids=lambda v: v if isinstance(v, str) else "")
def test_schema_keys_equal_loader_keys(pointer: str, keys: set[str]) -> None:
    node = at(pointer)
    assert set(node["properties"]) == set(keys)
    assert node["additionalProperties"] is False


def test_guard_keys_are_the_transition_conditions() -> None:
    assert set(at("/$defs/transition")["properties"]) - {"to", "mood", "say", "feels", "count"} == GUARD_KEYS


def test_required_top_level_keys() -> None:
    assert set(SCHEMA["required"]) == set(REQUIRED_TOP)


def _closed(node: Any, pointer: str = "") -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("additionalProperties") is False:
            yield pointer
        for key, value in node.items():
            yield from _closed(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _closed(value, f"{pointer}/{index}")


def test_every_closed_object_is_compared_with_the_loader() -> None:
    assert set(_closed(SCHEMA)) == set(CLOSED_OBJECTS)


def test_name_pattern_is_the_loaders() -> None:
    assert at("/$defs/name")["pattern"] == NAME_RE.pattern


def test_builtin_signals_and_default_effects() -> None:
    from bot.engine.judge import DERIVED_SIGNALS
    from bot.engine.signals import SIGNALS  # imported here: only this test needs signals.py

    builtins = at("/$defs/signalName")["anyOf"][0]["enum"]
    defaults = yaml.safe_load((resources.files("bot.engine") / "lexicon" / "mood_effects.yaml").read_text("utf-8"))
    assert set(builtins) == set(SIGNALS) | set(DERIVED_SIGNALS) == set(defaults)
    effects = at("/$defs/moodEffects")["properties"]
    assert set(effects) == set(defaults)
    for name, delta in defaults.items():
        assert f"Default effect: {delta:+d}." in effects[name]["description"], name


# --------------------------------------------------------------------------- (c) a valid schema


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert SCHEMA["$id"] and SCHEMA["title"]


def _properties(node: Any, pointer: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, spec in value.items():
                    yield f"{pointer}/properties/{name}", spec
            yield from _properties(value, f"{pointer}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _properties(value, f"{pointer}/{index}")


def test_every_property_has_a_description() -> None:
    """Editors show descriptions as hover help. (`then` branches only restate constraints.)"""
    missing = [p for p, spec in _properties(SCHEMA) if "/then/" not in p and not spec.get("description")]
    assert missing == []


# --------------------------------------------------------------------------- (d) same verdicts

BASE: dict[str, Any] = {
    "id": "mini",
    "title": "Mini",
    "description": "A short scene for tests.",
    "briefing": "You knock on a door about a noise complaint.",
    "audience": ["patrol"],
    "resident": {"name": "Sam Lee", "persona": "A neighbour woken at 2 am.", "mood": 50},
    "signals": {"mentions_noise": ["\\b(noise|loud|music)\\b"]},
    "mood_effects": {"mentions_noise": -2, "command": 12},
    "escalate": {"above": 90, "to": "angry"},
    "idle": {"after_seconds": 60, "say": ["Hello?"], "abandon_after_seconds": 604800},
    "start": "door",
    "facts": {"noise_at_two": {"label": "the noise", "truth": "loud music at 2 am", "right": ["\\bmusic\\b"],
                                "wrong": ["\\bparty\\b"], "checks": ["reason_for_contact"], "tip": "Say what the call was about."}},
    "everywhere": {
        "first": [{"when": ["contradiction"], "say": "A party? There's no party.", "mood": 5},
                  {"when": ["repetition"], "say": "You said that.", "mood": 3},
                  {"when": ["stacking"], "say": "...What?", "mood": 3}],
        "last": [{"any": ["leave_taking"], "to": "angry"}],
    },
    "stall": {"after": 4, "to": "angry"},
    "trainee": {"title": "Officer"},
    "states": {
        "door": {
            "say": ["*The door opens on a chain.* Yes?", {"text": "What now?", "once": True}],
            "on": [
                {"when": ["threat"], "to": "angry"},
                {"when": ["greeting"], "any": ["introduction", "formal_address"], "unless": ["command"], "to": "calm", "mood": -5},
                {"seen": ["mentions_noise"], "not_seen": ["blame"], "mood_above": 10, "mood_below": 90,
                 "turn_at_least": 1, "turn_at_most": 1000, "say": "It's my neighbour, not me."},
            ],
            "otherwise": {"say": "What do you want, {officer}?", "mood": 3},
            "mood_effects": {"greeting": -5},
            "note": "The opening.",
        },
        "calm": {"end": "success", "say": {"text": "Thanks, {officer}. Good night.", "once": False}},
        "angry": {"end": "failure", "say": "I'm calling your supervisor, {officer}. I'm {resident}, remember that."},
    },
    "rubric": {
        "skills": {
            "greeting": {"points": 10, "by_turn": 1, "tip": "Greet first.", "example": "Good evening."},
            "respect": {"label": "Respectful", "signals": ["formal_address", "gratitude"], "points": 10, "before": ["command"]},
            "reason": {"signal": "reason_for_contact", "points": 20},
        },
        "penalties": {"command": -10, "threat": -25},
        "critical": ["threat"],
        "critical_cap": 30,
        "late_fraction": 0.5,
    },
}


def mutated(*changes: tuple[str, Any]) -> str:
    """BASE with `path=value` changes (a value of DELETE removes the key), as YAML text.

    Paths are dotted; a number indexes a list. yaml.safe_dump quotes `on`, so PyYAML
    (YAML 1.1) reads it as a key too.
    """
    data = copy.deepcopy(BASE)
    for path, value in changes:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


DELETE = object()


def test_base_fragment_is_accepted_by_both() -> None:
    text = mutated()
    assert loader_codes(text) == []
    assert schema_errors(text) == []


def test_base_fragment_passes_lint_too() -> None:
    from bot.engine.lint import lint  # lint needs signals.py

    scenario, problems = parse_scenario(mutated(), "mini.yaml")
    assert scenario is not None and problems == []
    assert lint(scenario) == []


def renamed_state(old: str, new: str) -> tuple[str, Any]:
    return ("states", {(new if k == old else k): v for k, v in BASE["states"].items()})


INVALID = [
    ("mood 150", [("resident.mood", 150)], "S005"),
    ("mood as text", [("resident.mood", "high")], "S002"),
    ("mood as true/false", [("resident.mood", True)], "S002"),
    ("mood with decimals", [("resident.mood", 50.5)], "S002"),
    ("unknown top key", [("titel", "Again")], "S004"),
    ("unknown state key", [("states.door.sya", "hi")], "S004"),
    ("unknown transition key", [("states.door.on.0.wen", ["greeting"])], "S004"),
    ("unknown line key", [("states.door.say.1.weight", 2)], "S004"),
    ("unknown rubric key", [("rubric.bonus", 5)], "S004"),
    ("end: maybe", [("states.calm.end", "maybe")], "S002"),
    ("missing persona", [("resident.persona", DELETE)], "S003"),
    ("missing start", [("start", DELETE)], "S003"),
    ("missing skills", [("rubric.skills", DELETE)], "S003"),
    ("state without say", [("states.door.say", DELETE)], "S003"),
    ("transition without to or say", [("states.door.on.0.to", DELETE)], "S003"),
    ("otherwise without say", [("states.door.otherwise", {"mood": 3})], "S003"),
    ("line without text", [("states.door.say.1", {"once": True})], "S003"),
    ("no lines", [("states.door.say", [])], "S008"),
    ("empty line", [("states.calm.say", "   ")], "S008"),
    ("no states", [("states", {})], "S008"),
    ("no skills", [("rubric.skills", {})], "S008"),
    ("signal without patterns", [("signals.mentions_noise", [])], "S008"),
    ("unknown placeholder", [("states.angry.say", "Your badge, {sergeant}.")], "S009"),
    ("empty placeholder", [("states.angry.say", "Your badge {}.")], "S009"),
    ("braces around words", [("states.angry.say", "I want a { badge number }.")], "S009"),
    ("state name not snake_case", [renamed_state("calm", "Calm")], "S002"),
    ("id not snake_case", [("id", "Mini Scene")], "S002"),
    ("audience not snake_case", [("audience", "Patrol")], "S002"),
    ("signal name not snake_case", [("signals", {"Noise": "loud"})], "S002"),
    ("skill name not snake_case", [("rubric.skills", {"Greeting": {"points": 10, "signal": "greeting"}})], "S002"),
    ("guard with a sentence", [("states.door.on.0.when", ["said hello"])], "S002"),
    ("two start states", [("start", ["door", "calm"])], "S002"),
    ("once: yes (text)", [("states.door.say.1.once", "yes")], "S002"),
    ("on as a mapping", [("states.door.on", {"when": "greeting", "to": "calm"})], "S002"),
    ("signal and signals", [("rubric.skills.greeting.signal", "greeting"), ("rubric.skills.greeting.signals", ["greeting"])], "S002"),
    ("positive penalty", [("rubric.penalties.command", 5)], "S005"),
    ("skill worth 0", [("rubric.skills.greeting.points", 0)], "S005"),
    ("escalate above 100", [("escalate.above", 100)], "S005"),
    ("late_fraction 1.5", [("rubric.late_fraction", 1.5)], "S005"),
    ("mood effect 500", [("mood_effects.command", 500)], "S005"),
    ("idle too soon", [("idle.after_seconds", 5)], "S005"),
    ("turn 0", [("states.door.on.2.turn_at_least", 0)], "S005"),
]


@pytest.mark.parametrize(("changes", "code"), [(c, code) for _, c, code in INVALID], ids=[label for label, _, _ in INVALID])
def test_invalid_fragments_are_rejected_by_both(changes: list[tuple[str, Any]], code: str) -> None:
    text = mutated(*changes)
    assert code in loader_codes(text)
    assert schema_errors(text) != []


RANGES = [
    ("resident.mood", 0, 100),
    ("escalate.above", 1, 99),
    ("idle.after_seconds", 10, 86_400),
    ("idle.abandon_after_seconds", None, 7 * 86_400),  # its low end also depends on after_seconds
    ("mood_effects.command", -100, 100),
    ("states.door.mood_effects.greeting", -100, 100),
    ("states.door.on.1.mood", -100, 100),
    ("states.door.otherwise.mood", -100, 100),
    ("states.door.on.2.mood_above", 0, 100),
    ("states.door.on.2.mood_below", 0, 100),
    ("states.door.on.2.turn_at_least", 1, 1000),
    ("states.door.on.2.turn_at_most", 1, 1000),
    ("rubric.skills.greeting.points", 1, 100),
    ("rubric.skills.greeting.by_turn", 1, 1000),
    ("rubric.penalties.command", -100, -1),
    ("rubric.critical_cap", 0, 100),
    ("rubric.late_fraction", 0, 1),
]


RANGE_CONTEXT: dict[str, list[tuple[str, Any]]] = {
    "resident.mood": [("escalate", DELETE)],
    "escalate.above": [("resident.mood", 0)],
}


@pytest.mark.parametrize(("path", "low", "high"), RANGES, ids=[r[0] for r in RANGES])
def test_number_ranges_agree(path: str, low: int | None, high: int) -> None:
    # The starting mood must also sit below the escalation line; keep that out of the way.
    context = RANGE_CONTEXT.get(path, [])
    ends = [high] if low is None else [low, high]
    for value in ends:
        text = mutated((path, value), *context)
        assert (loader_codes(text), schema_errors(text)) == ([], []), value
    outside = [high + 1] if low is None else [low - 1, high + 1]
    for value in outside:
        text = mutated((path, value), *context)
        assert "S005" in loader_codes(text), value
        assert schema_errors(text) != [], value


ACCEPTED_FORMS = [
    ("one line as text", [("states.calm.say", "Thanks.")]),
    ("one line as a mapping", [("states.calm.say", {"text": "Thanks.", "once": True})]),
    ("a number as a line", [("states.door.say", [42])]),
    ("a number as a title", [("title", 1984)]),
    ("every placeholder", [("states.calm.say", " ".join(f"{{{p}}}" for p in sorted(PLACEHOLDERS)))]),
    ("unpaired braces", [("states.calm.say", "A } then a { are fine; so is {officer.")]),
    ("one name instead of a list", [("states.door.on.0.when", "threat"), ("rubric.critical", "threat"), ("audience", "patrol")]),
    ("empty condition lists", [("states.door.on.2.unless", [])]),
    ("one pattern instead of a list", [("signals.mentions_noise", "\\bnoise\\b")]),
    ("signals as one name", [("rubric.skills.respect.signals", "formal_address")]),
    ("signal as a list", [("rubric.skills.reason.signal", ["reason_for_contact"])]),
    ("late_fraction as a whole number", [("rubric.late_fraction", 1)]),
    ("end state with an empty on", [("states.calm.on", [])]),
    ("no optional keys", [(k, DELETE) for k in ("description", "audience", "signals", "mood_effects", "escalate", "idle")]
     + [("states.door.on.2", {"any": ["offer_help"], "say": "Okay."}), ("rubric.penalties", DELETE)]),
]


@pytest.mark.parametrize("changes", [c for _, c in ACCEPTED_FORMS], ids=[label for label, _ in ACCEPTED_FORMS])
def test_forms_the_loader_accepts_are_valid(changes: list[tuple[str, Any]]) -> None:
    text = mutated(*changes)
    assert loader_codes(text) == []
    assert schema_errors(text) == []


# The schema reports a few things earlier than the loader: mistakes `trainer check` only
# finds in its second pass. (The loader rejects the rest too; listed here so both stay strict.)
EARLIER_IN_THE_SCHEMA = [
    ("end state with otherwise (S018)", [("states.calm.otherwise", {"say": "More?"})]),
    ("state without otherwise (S019)", [("states.door.otherwise", DELETE)]),
    ("to with two states", [("states.door.on.0.to", ["angry", "calm"])]),
    ("to as an empty list", [("states.door.on.0.to", [])]),
    ("escalation to two states", [("escalate.to", ["angry", "calm"])]),
    ("skill with no signals", [("rubric.skills.respect.signals", [])]),
    ("description as a list", [("description", ["a", "b"])]),
]


@pytest.mark.parametrize("changes", [c for _, c in EARLIER_IN_THE_SCHEMA], ids=[label for label, _ in EARLIER_IN_THE_SCHEMA])
def test_schema_flags_mistakes_early(changes: list[tuple[str, Any]]) -> None:
    assert schema_errors(mutated(*changes)) != []
