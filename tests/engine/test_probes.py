"""The tuning probes: scripted trainees (written blind, tuned on) that the integrity rules must
get right, kind by kind. A few are known to fail and say why; the rest must pass."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.engine.catalog import load_checked
from bot.engine.probes import check_probe, load_probes

DATA = Path(__file__).resolve().parents[1] / "data"
DIALOGUES = Path(__file__).resolve().parents[2] / "dialogues"
SCENARIOS = {name: load_checked(DIALOGUES / f"{name}.yaml") for name in ("traffic_stop", "burglary_victim")}

# Probes the rules get wrong, with the reason they are left so (by the start of the description).
KNOWN = {
    "A report taker who gets the list of stolen items and leaves.":
        "the trainee never ends the visit, so the scene stays open (abandoned) rather than curt",
    "A records clerk who gives his first name and explains the report copy and case details.":
        "a warm, correct visit that never asks how she is or offers help: 65 by the rubric, under 70",
}

PROBES = [
    pytest.param(probe, id=f"{path.stem}:{i}:{probe['kind']}",
                 marks=[pytest.mark.xfail(strict=True, reason=KNOWN[probe["description"]])] if probe["description"] in KNOWN else [])
    for path in sorted(DATA.glob("probes_tune*.yaml")) for i, probe in enumerate(load_probes(path))
]


@pytest.mark.parametrize("probe", PROBES)
def test_tuning_probe(probe: dict[str, Any]) -> None:
    result = check_probe(SCENARIOS[probe["scenario"]], probe)
    assert result.passed, f"{probe['kind']}: {result.detail} | {probe['description']}"
