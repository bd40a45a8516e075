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
