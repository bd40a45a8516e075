"""The badge rules file: the shipped one is clean; mistakes get a line, a code and a hint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.recognition.rules import BadgeRulesError, cross_check, load_rules, read_rules, shipped_rules_path
from tests.recognition.sessions import LIBRARY

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_rules_are_clean_against_the_shipped_scenarios() -> None:
    rules, problems = read_rules(shipped_rules_path())
    assert rules is not None and problems == []
    assert cross_check(rules, LIBRARY.scenarios.values()) == []


def codes(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    path = tmp_path / "badges.yaml"
    path.write_text(text, encoding="utf-8")
    rules, problems = read_rules(path)
    if rules is not None:
        problems = sorted(problems + cross_check(rules, LIBRARY.scenarios.values()))
    return [(p.line, p.code) for p in problems]


def test_structure_names_and_references_are_checked(tmp_path: Path) -> None:
    text = """\
behaviours:
  greeting: {label: greeted, signals: [greetin]}
  loop: {label: x, all: [loop]}
  nothing: {label: empty}
  bad_words: {label: w, signals: [closing], words: '(unclosed'}
  ghost: {label: g, skills: [no_such_skill]}
badges:
  both: {title: B, description: b, session: {shows: [greeting]}, days_in_a_row: 3}
  lost: {title: L, description: l, every_scenario_of: patrl}
  odd: {title: O, description: o, session: {outcome: won, shows: [greting]}}
  none: {title: N, description: n}
  typo: {title: T, description: t, sesion: {outcome: success}}
extra: 1
"""
    found = codes(tmp_path, text)
    assert (2, "B011") in found  # unknown signal, with a suggestion below
    assert (3, "B015") in found  # defined in terms of itself
    assert (4, "B003") in found  # no signals, skills or all
    assert (5, "B007") in found  # the regex does not compile
    assert (6, "B013") in found  # a warning: no scenario has the skill
    assert (8, "B008") in found  # two kinds of rule
    assert (9, "B014") in found  # a warning: unknown audience
    assert (10, "B005") in found and (10, "B012") in found
    assert (11, "B008") in found  # no rule at all
    assert (12, "B004") in found  # unknown key
    assert (13, "B004") in found


def test_messages_suggest_the_name_meant(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("behaviours:\n  greeting: {label: g, signals: [greetin]}\nbadges:\n  x: {title: X, description: x, session: {shows: [greting]}}\n")
    rules, problems = read_rules(path)
    assert rules is not None
    text = "\n".join(str(p) for p in problems + cross_check(rules, LIBRARY.scenarios.values()))
    assert f"{path}:4: B012 unknown behaviour 'greting' (did you mean 'greeting'?)" in text
    assert "(did you mean 'greeting'?)" in text.splitlines()[-1]


def test_load_rules_refuses_a_broken_file_with_its_first_error(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("behaviours: [\n", encoding="utf-8")
    with pytest.raises(BadgeRulesError, match=r"b\.yaml:\d+: B001"):
        load_rules(path)
    with pytest.raises(BadgeRulesError, match="B016"):
        load_rules(tmp_path / "missing.yaml")


def test_trainer_check_validates_the_badge_rules(tmp_path: Path) -> None:
    def check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "check", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)

    clean = check()
    assert clean.returncode == 0 and "and the badge rules OK" in clean.stderr
    bad = tmp_path / "badges.yaml"
    bad.write_text("behaviours:\n  greeting: {label: g, signals: [greeting]}\nbadges:\n  x: {title: X, description: x, session: {shows: [nope]}}\n")
    one = "dialogues/traffic_stop.yaml"  # the rules are checked against the scenarios named (one is enough here, and quicker)
    found = check(one, "--badges", str(bad))
    assert found.returncode == 1 and f"{bad}:4: B012 unknown behaviour 'nope'" in found.stdout
    warned = tmp_path / "warn.yaml"
    warned.write_text("behaviours:\n  greeting: {label: g, signals: [greeting]}\nbadges:\n  x: {title: X, description: x, every_scenario_of: pilots}\n")
    assert check(one, "--badges", str(warned)).returncode == 0  # a warning: it only never matches today
    assert check(one, "--badges", str(warned), "--strict").returncode == 1
