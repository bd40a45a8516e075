"""Scenario patterns run in RE2 (linear time) with a checked subset of look-arounds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.catalog import check
from bot.engine.patterns import MAX_MATCHES, MAX_TEXT_CHARS, PatternBudget, ScenarioPattern, UnsafePattern, compile_pattern

ROOT = Path(__file__).resolve().parents[2]


def spans(pattern: ScenarioPattern | re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pattern.finditer(text)][:MAX_MATCHES]


def test_the_api_callers_rely_on() -> None:
    compiled = compile_pattern(r"\b(tag|registration)\b")
    assert compiled.pattern == r"\b(tag|registration)\b"
    match = compiled.search("Your REGISTRATION expired")
    assert match is not None
    assert (match.start(), match.end(), match.span(), match.group()) == (5, 17, (5, 17), "REGISTRATION")
    assert [m.group() for m in compiled.finditer("tag, Tag and registration")] == ["tag", "Tag", "registration"]
    assert compiled.search("nothing here") is None


def test_offsets_are_characters_not_bytes() -> None:
    match = compile_pattern("licen[cs]e").search("\u00c9milie \u6f22\u5b57 \U0001F697 license")
    assert match is not None and match.group() == "license" and match.start() == 12


def test_the_pattern_from_the_issue_runs_in_linear_time() -> None:
    # '((\w+)\s?)+$' took 23 s in Python's re on a 27-character line; RE2 cannot backtrack.
    compiled = compile_pattern(r"((\w+)\s?)+$")
    assert not isinstance(compiled, re.Pattern)
    assert compiled.search("a" * 27 + "!") is None
    assert compiled.search("hello there").group() == "hello there"


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ("a(?=b)", "not at the very start"),
        ("\\bno\\b(?!t)", "not at the very start"),
        ("(a)\\1", "backreference"),
        ("(?P<x>a)(?P=x)", "does not compile"),
        ("a++", "possessive"),
        ("(?>ab)", "atomic group"),
        ("end\\Z", "'\\z'"),
        ("caf\\u00e9", "'\\x{00e9}'"),
        ("a{,3}", "'{0,3}'"),
        ("a{2000}", "more than 1000"),
        ("(?:\\w+\\s*){1,200}x", "RE2 instructions"),
        ("(?<!a+)b", "look-behind"),
        ("(?<!not )help|assist", "group the alternatives"),
        ("x*", "empty text"),
        ("(unclosed", "does not compile"),
        ("[abc", "does not compile"),
        ("x" * 1001, "characters long"),
    ],
)
def test_what_cannot_run_safely_is_refused_with_a_reason(pattern: str, says: str) -> None:
    with pytest.raises(UnsafePattern) as refused:
        compile_pattern(pattern)
    assert says in str(refused.value)


def test_trainer_check_reports_refused_patterns_as_s007(tmp_path: Path) -> None:
    data = yaml.safe_load((ROOT / "dialogues" / "traffic_stop.yaml").read_text("utf-8").replace("\non:", "\n'on':"))
    data["signals"] = {"mentions_tag": ["(a)\\1", "a(?=b)", r"\btag\b"]}
    (tmp_path / "traffic_stop.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _, problems = check([tmp_path])
    s007 = [str(p) for p in problems if p.code == "S007"]
    assert len(s007) == 2
    assert "backreference" in s007[0] and "look-ahead or look-behind" in s007[1]


LOOKAROUND_PATTERNS = [
    r"(?<!promise )(?<!not )\bwe will\b",
    r"(?<=sir, )please",
    r"(?!good (morning|night))\bgood\b",
    r"(?=\w+ing\b)\b\w+",
    r"(?<!a)b+",
]


@pytest.mark.parametrize("pattern", LOOKAROUND_PATTERNS)
@settings(max_examples=60, deadline=None)
@given(text=st.lists(st.sampled_from(list("ab ,") + ["we will", "promise ", "not ", "sir, ", "please", "good ", "morning", "walking"]), max_size=30).map("".join))
def test_leading_lookarounds_match_like_python(pattern: str, text: str) -> None:
    assert spans(compile_pattern(pattern), text) == spans(re.compile(pattern, re.IGNORECASE), text)


@settings(max_examples=150, deadline=None)
@given(
    pattern=st.sampled_from([r"\b(tag|tags)\b", r"[^.!?]{0,5}b", r"a|ab", r"(?:ab)+", r"\bb\w*", r"\s+b", r"(a|b)(b|a)"]),
    text=st.text(alphabet="abAB .!?", max_size=40),
)
def test_plain_patterns_match_like_python(pattern: str, text: str) -> None:
    assert spans(compile_pattern(pattern), text) == spans(re.compile(pattern, re.IGNORECASE), text)


def test_word_characters_are_ascii_as_documented() -> None:
    assert compile_pattern(r"\bb\w*").search("b\u00e9").group() == "b"  # Python's re would take "b\u00e9"
    assert compile_pattern("caf[e\u00e9]").search("CAF\u00c9").group() == "CAF\u00c9"  # case folding is Unicode


@settings(max_examples=200, deadline=None)
@given(
    pattern=st.lists(st.sampled_from(list("ab()[]{}|*+?.\\^$:=!<>,0123456789-_ dwsbzPLp") + ["(?<!", "(?=", "(?:", "\\1"]), max_size=25).map("".join),
    text=st.text(max_size=60),
)
def test_any_pattern_is_refused_clearly_or_runs(pattern: str, text: str) -> None:
    try:
        compiled = compile_pattern(pattern)
    except UnsafePattern as refused:
        assert str(refused)
        return
    for match in compiled.finditer(text):
        assert 0 <= match.start() <= match.end() <= len(text)


def test_lone_surrogates_from_a_chat_client_do_not_break_matching() -> None:
    match = compile_pattern("x").search("a\ud800x")
    assert match is not None and match.span() == (2, 3)


def test_matches_and_text_read_are_bounded() -> None:
    compiled = compile_pattern("a")
    assert len(list(compiled.finditer("a " * 100))) == MAX_MATCHES
    assert compiled.search("b" * MAX_TEXT_CHARS + "a") is None  # past what is read


class SlowClock:
    """A clock on which every search seems to take 10 ms (each reads it twice)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.010
        return self.now


def test_a_scenarios_patterns_share_a_time_budget_per_message() -> None:
    clock = SlowClock()
    budget = PatternBudget(limit_ms=30, timer=clock)
    first, second = compile_pattern("a", budget), compile_pattern("b", budget)
    message = "a b a b"
    assert [m.group() for m in first.finditer(message)] == ["a", "a"]  # the third search spent the 30 ms
    assert list(second.finditer(message)) == []  # the rest of this message is skipped
    assert [m.group() for m in second.finditer("b b")] == ["b", "b"]  # the next message has its own budget


def test_a_pattern_compiled_alone_has_its_own_budget() -> None:
    compiled = compile_pattern("a")
    assert [m.group() for m in compiled.finditer("a a")] == ["a", "a"]


def test_shipped_scenarios_compile_in_re2() -> None:
    scenarios, problems = check([ROOT / "dialogues"])
    assert problems == [] and scenarios
    for scenario in scenarios:
        for patterns in scenario.signals.values():
            assert all(isinstance(p, ScenarioPattern) for p in patterns)
