"""The curriculum probes: courteous, commanding and salad trainees composed from blind authors'
lines (tests/data/compose_probes.py) for the ten curriculum scenarios, and whole scenes written
for them by blind authors (H for tuning, I held out).

The tuning file was looked at while the scenarios were written; the held-out one was not, and
its hash is pinned so that nobody tunes on it by editing it. Both are played with each
scenario's default persona, as a maintainer's transcript would be."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from bot.engine.catalog import load_checked
from bot.engine.probes import check_probe, load_probes

DATA = Path(__file__).resolve().parents[1] / "data"
DIALOGUES = Path(__file__).resolve().parents[2] / "dialogues"
TUNE = DATA / "probes_library_tune.yaml"
HELDOUT = DATA / "probes_library_heldout.yaml"
HELDOUT_SHA256 = "9f4bc4faf504ea9345aa9d1142362ca8ed2a0ce8a5eeac4b6b040ce3864e8e84"
# Whole scenes by blind author I, frozen on arrival (before any tuning on author H's file).
SCENES_HELDOUT = DATA / "probes_curriculum_heldout.yaml"
SCENES_HELDOUT_SHA256 = "f191721a323c31205926fafa24da009fe99f3b9a3b5e5a33ad13da790d009ff7"

# Composed transcripts the scenarios get wrong, by index, and why they are left so.
KNOWN = {
    16: "three blind lines from a protest setting: no greeting, name or close, and it never ends (55, abandoned)",
    37: "a non-emergency script that never asks where or what is happening, on a 911 call (50)",
    43: "ends the visit ('that's everything') in its fourth line, before saying what is being done: curt by the scene's rules",
    64: "closes before giving the tow details: curt by the scene's rules",
}


def _scenario(name: str) -> Any:
    return load_checked(DIALOGUES / f"{name}.yaml")


TUNING = [
    pytest.param(probe, id=f"{i}:{probe['scenario']}:{probe['kind']}",
                 marks=[pytest.mark.xfail(strict=True, reason=KNOWN[i])] if i in KNOWN else [])
    for i, probe in enumerate(load_probes(TUNE))
]


@pytest.mark.parametrize("probe", TUNING)
def test_tuning_probe(probe: dict[str, Any]) -> None:
    result = check_probe(_scenario(probe["scenario"]), probe)
    assert result.passed, f"{probe['kind']}: {result.detail} | {probe['lines']}"


# Whole scenes by blind author H, tuned on (tests/data/README.md). The ones the scenarios are
# right to refuse, by index, and why.
SCENES_TUNE = DATA / "probes_curriculum_tune.yaml"
SCENES_KNOWN = {
    60: "a curt but complete refusal (the reason, the request form, 'Next, please'): lawful and merely correct, "
        "a success by the scene's rules, at 45-60 by the rubric and far below recognition",
    68: "a terse but complete 911 call (address, behaviour, description, help sent, stay inside): the scene "
        "rightly calls it correct (released), not commanding; it is clipped, not dismissive",
}
SCENES = [
    pytest.param(probe, id=f"{i}:{probe['scenario']}:{probe['kind']}",
                 marks=[pytest.mark.xfail(strict=True, reason=SCENES_KNOWN[i])] if i in SCENES_KNOWN else [])
    for i, probe in enumerate(load_probes(SCENES_TUNE))
]


@pytest.mark.parametrize("probe", SCENES)
def test_tuning_scene(probe: dict[str, Any]) -> None:
    result = check_probe(_scenario(probe["scenario"]), probe)
    assert result.passed, f"{probe['kind']} ({probe.get('description', '')}): {result.detail}"


def test_heldout_scenes_are_frozen_and_above_their_floors() -> None:
    assert hashlib.sha256(SCENES_HELDOUT.read_bytes()).hexdigest() == SCENES_HELDOUT_SHA256, "the held-out file must not change"
    passed: dict[str, list[bool]] = {}
    for probe in load_probes(SCENES_HELDOUT):
        passed.setdefault(probe["kind"], []).append(check_probe(_scenario(probe["scenario"]), probe).passed)
    rates = {kind: sum(results) / len(results) for kind, results in passed.items()}
    assert all(rates[kind] >= floor for kind, floor in SCENES_FLOORS.items()), rates


def test_heldout_probes_are_frozen_and_above_their_floors() -> None:
    assert hashlib.sha256(HELDOUT.read_bytes()).hexdigest() == HELDOUT_SHA256, "the held-out file must not change"
    passed: dict[str, list[bool]] = {}
    for probe in load_probes(HELDOUT):
        passed.setdefault(probe["kind"], []).append(check_probe(_scenario(probe["scenario"]), probe).passed)
    rates = {kind: sum(results) / len(results) for kind, results in passed.items()}
    # Floors below the figures measured once, at the end (see the commit): regressions fail,
    # without inviting anyone to tune on the file.
    assert rates["commanding"] >= FLOORS["commanding"] and rates["salad"] >= FLOORS["salad"], rates
    assert rates["courteous"] >= FLOORS["courteous"], rates


# Measured on b274d5b+ (default personas): courteous 19/30, commanding 20/20, salad 20/20.
FLOORS = {"courteous": 0.55, "commanding": 0.95, "salad": 0.95}

# Author I's scenes, measured once after the tuning on author H's (main 38b7493, default
# personas): courteous 26/30, commanding 15/20, salad 20/20 (before it: 25/30, 12/20, 10/20).
SCENES_FLOORS = {"courteous": 0.8, "commanding": 0.7, "salad": 0.95}
