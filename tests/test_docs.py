"""The authoring guide's examples work: its minimal scenario passes `trainer check --strict`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "authoring.md"


def _minimal_scenario() -> str:
    text = GUIDE.read_text("utf-8")
    section = text[text.index("## A minimal scenario"):]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_guides_minimal_scenario_is_clean_under_strict(tmp_path: Path) -> None:
    source = _minimal_scenario()
    scenario_id = re.search(r"^id: (\w+)", source, re.M).group(1)  # type: ignore[union-attr]
    path = tmp_path / f"{scenario_id}.yaml"
    path.write_text(source, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot", "check", "--strict", str(path)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_lint_code_is_documented_with_its_fix() -> None:
    from bot.engine.problems import CODES, WARNINGS

    text = GUIDE.read_text("utf-8")
    table = text[text.index("### Every lint code"):]
    for code in CODES:
        row = next((line for line in table.splitlines() if line.startswith(f"| {code} |")), None)
        assert row is not None, code
        assert row.count("|") >= 5, f"{code}: needs the problem, an example and the fix"
        assert ("**warning**" in row) == (code in WARNINGS), code


def test_every_key_and_built_in_signal_is_in_the_guide() -> None:
    from bot.engine import loader
    from bot.engine.signals import SIGNALS

    text = GUIDE.read_text("utf-8")
    keys = set().union(
        loader.TOP_KEYS, loader.STATE_KEYS, loader.TRANSITION_KEYS, loader.OTHERWISE_KEYS, loader.LINE_KEYS,
        loader.FACT_KEYS, loader.SKILL_KEYS, loader.RUBRIC_KEYS, loader.PENALTY_KEYS, loader.PERSONA_KEYS,
        loader.SIGNAL_KEYS, loader.TRAINEE_KEYS, loader.STALL_KEYS, loader.IDLE_KEYS, loader.RESIDENT_KEYS,
    )
    missing = sorted(key for key in keys if f"`{key}" not in text)
    assert missing == []
    assert sorted(name for name in SIGNALS if f"`{name}`" not in text) == []


def test_the_guide_links_a_diagram_of_every_scenario() -> None:
    text = GUIDE.read_text("utf-8")
    for scenario in sorted((ROOT / "dialogues").glob("*.yaml")):
        link = f"diagrams/{scenario.stem}.png"
        assert link in text, scenario.stem
        assert (ROOT / "docs" / link).is_file(), link
