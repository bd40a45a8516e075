"""Both passes of the scenario checker on real files: precise file:line: CODE diagnostics."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.engine.catalog import check, load_checked, resolve
from bot.engine.loader import load_scenario, parse_scenario
from bot.engine.problems import errors
from bot.errors import ScenarioError, ScenarioNotFound

MINIMAL = textwrap.dedent(
    """\
    id: mini
    title: Mini
    briefing: A short scene.
    resident:
      name: Sam Lee
      persona: A neighbour.
      mood: 50
    start: door
    states:
      door:
        say: ["Hello?"]
        on:
          - when: [greeting]
            to: calm
        otherwise:
          say: "What do you want?"
      calm:
        end: success
        say: "Thanks, {officer}."
    rubric:
      skills:
        greeting: {points: 10}
    """
)


def write(tmp_path: Path, text: str, name: str = "mini.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def codes(tmp_path: Path, text: str, *, warnings: bool = False) -> list[tuple[int, str, str]]:
    """The file's errors (MINIMAL lacks the endings a full scenario needs; those are warnings)."""
    _, problems = check([write(tmp_path, text)])
    return [(p.line, p.code, p.message) for p in problems if warnings or not p.is_warning]


def test_minimal_scenario_is_clean(tmp_path: Path) -> None:
    scenario = load_checked(write(tmp_path, MINIMAL))
    assert scenario.id == "mini"
    assert scenario.states["door"].on[0].guard.when == ("greeting",)
    assert scenario.states["calm"].end is not None
    assert scenario.rubric.max_points == 10
    assert len(scenario.digest) == 64


def test_unknown_state_has_line_and_suggestion(tmp_path: Path) -> None:
    found = codes(tmp_path, MINIMAL.replace("to: calm", "to: calmm"))
    assert (14, "S012", "transition goes to unknown state 'calmm' (did you mean 'calm'?)") in found


def test_unknown_signal_suggests_builtin(tmp_path: Path) -> None:
    found = codes(tmp_path, MINIMAL.replace("when: [greeting]", "when: [greting]"))
    assert any(code == "S011" and "did you mean 'greeting'" in msg and line == 13 for line, code, msg in found)


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("id: [unclosed\n", "S001", 2),
        ("- just\n- a list\n", "S002", 1),
        (MINIMAL.replace("mood: 50", "mood: 150"), "S005", 7),
        (MINIMAL.replace("mood: 50", "mood: high"), "S002", 7),
        (MINIMAL.replace("  persona: A neighbour.\n", ""), "S003", 4),
        (MINIMAL.replace("title: Mini", "title: Mini\ntitel: Again"), "S004", 3),
        (MINIMAL.replace("title: Mini", "title: Mini\ntitle: Again"), "S006", 3),
        (MINIMAL + "signals:\n  bad: ['(unclosed']\n", "S007", 24),
        (MINIMAL + "signals:\n  lookahead: ['a(?=b)']\n", "S007", 24),
        (MINIMAL + "signals:\n  backref: ['(a)\\1']\n", "S007", 24),
        (MINIMAL.replace('say: ["Hello?"]', "say: []"), "S008", 11),
        (MINIMAL.replace("Thanks, {officer}.", "Thanks, {sergeant}."), "S009", 19),
        (MINIMAL.replace("id: mini", "id: other"), "S010", 1),
        (MINIMAL.replace("start: door", "start: porch"), "S013", 8),
        (MINIMAL.replace("end: success", "end: maybe"), "S002", 18),
    ],
)
def test_structural_problems(tmp_path: Path, text: str, code: str, line: int) -> None:
    found = codes(tmp_path, text)
    assert any(c == code and n == line for n, c, _ in found), found


def test_unreachable_and_dead_end_states(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "  calm:\n",
        "  island:\n    say: Nobody gets here.\n    otherwise: {say: still here}\n"
        "  calm:\n",
    ).replace("to: calm", "to: loop").replace(
        "  island:\n",
        "  loop:\n    say: Round and round.\n    otherwise: {say: again}\n  island:\n",
    )
    found = codes(tmp_path, text)
    found_codes = {(c, m.split("'")[1]) for _, c, m in found}
    assert ("S015", "island") in found_codes
    assert ("S015", "calm") in found_codes
    assert ("S016", "loop") in found_codes
    assert ("S016", "door") in found_codes


def test_no_ending_and_missing_otherwise(tmp_path: Path) -> None:
    text = MINIMAL.replace("    end: success\n", "").replace('    otherwise:\n      say: "What do you want?"\n', "")
    found_codes = {c for _, c, _ in codes(tmp_path, text)}
    assert {"S017", "S019"} <= found_codes


def test_shadowed_transition(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "      - when: [greeting]\n        to: calm\n",
        "      - say: always this\n      - when: [greeting]\n        to: calm\n",
    )
    assert any(c == "S021" for _, c, _ in codes(tmp_path, text))


def test_end_state_with_transitions(tmp_path: Path) -> None:
    text = MINIMAL.replace("    end: success\n", "    end: success\n    otherwise: {say: more}\n")
    assert any(c == "S018" for _, c, _ in codes(tmp_path, text))


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    (tmp_path / "copy").mkdir()
    copy = write(tmp_path / "copy", MINIMAL)
    _, problems = check([tmp_path, copy])
    assert [p.code for p in errors(problems)] == ["S020"]


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    binary = tmp_path / "mini.yaml"
    binary.write_bytes(b"id: \xff\xfe\x00")
    _, problems = load_scenario(binary)
    assert problems[0].code == "S001"
    _, problems = load_scenario(tmp_path / "absent.yaml")
    assert problems[0].code == "S022"


@pytest.mark.parametrize("text", ["", "~", "42", "a: &x [*x]", "x: " + "[" * 500 + "]" * 500, "id: !!python/object:os.system echo"])
def test_hostile_yaml_gives_problems_not_exceptions(text: str) -> None:
    scenario, problems = parse_scenario(text, "x.yaml")
    assert scenario is None and problems


def test_load_checked_raises_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_checked(write(tmp_path, MINIMAL.replace("to: calm", "to: calmm")))
    assert info.value.code == "S012" and info.value.line == 14


def test_resolve_by_id_and_unknown_id(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL)
    assert resolve("mini", tmp_path).name == "mini.yaml"
    with pytest.raises(ScenarioNotFound, match="did you mean 'mini'"):
        resolve("minni", tmp_path)


def test_shipped_dialogues_are_clean() -> None:
    scenarios, problems = check([Path(__file__).resolve().parents[2] / "dialogues"])
    assert problems == []
    assert {s.id for s in scenarios} >= {"traffic_stop"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, timeout=60)


def test_check_command_output_and_exit_codes(tmp_path: Path) -> None:
    bad = write(tmp_path, MINIMAL.replace("to: calm", "to: calmm"))
    result = run_cli("check", str(bad))
    assert result.returncode == 1
    errors_printed = [line for line in result.stdout.splitlines() if " warning: " not in line]
    assert errors_printed == [f"{bad}:14: S012 transition goes to unknown state 'calmm' (did you mean 'calm'?)"]
    assert "Traceback" not in result.stderr
    good = write(tmp_path, MINIMAL)
    plain = run_cli("check", str(good))
    assert plain.returncode == 0 and "S026 warning: no 'stall' ending" in plain.stdout
    assert "warning(s)" in plain.stderr
    strict = run_cli("check", "--strict", str(good))
    assert strict.returncode == 1  # MINIMAL lacks the curt and stalled endings a full scenario needs


def test_check_command_on_garbage_never_tracebacks(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(bytes(range(256)) * 4)
    result = run_cli("check", str(garbage), str(tmp_path / "missing.yaml"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "S022" in result.stdout
