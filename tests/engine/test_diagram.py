"""`trainer graph`: every state and transition of a scenario, as Mermaid or DOT."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.engine.catalog import load_checked
from bot.engine.diagram import dot, edges, mermaid

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")


def test_mermaid_has_every_state_and_ending() -> None:
    text = mermaid(SCENARIO)
    assert text.startswith("stateDiagram-v2") and "[*] --> window" in text
    for name in SCENARIO.states:
        assert f" {name} " in text or f" {name}:" in text or f"--> {name}" in text
    assert "resolved --> [*]: success" in text and "complaint --> [*]: failure" in text
    drawn = {(source, target) for source, target, _ in edges(SCENARIO)}
    for state in SCENARIO.states.values():
        for rule in state.on:
            assert (state.name, rule.to or state.name) in drawn
    # Rules for every state, escalation and stalling are drawn once, from "any state".
    for rule in (*SCENARIO.first, *SCENARIO.last):
        assert ("any_state", rule.to or "any_state") in drawn
    assert ("any_state", "stalled") in drawn and ("any_state", "complaint") in drawn
    loops = [source for source, target, _ in edges(SCENARIO) if source == target]
    assert len(loops) == len(set(loops))  # one loop per state, its replies grouped


def test_labels_stay_parseable() -> None:
    for _, _, label in edges(SCENARIO):
        assert not set(label) & set(':;{}"<>|')


@pytest.mark.parametrize("path", sorted((ROOT / "dialogues").glob("*.yaml")), ids=lambda p: p.stem)
def test_dot_is_legible_for_every_scenario(path: Path) -> None:
    """Top to bottom; one arrow per pair of states (alternatives merged, at most a few shown);
    replies that stay are counted in the state's box, not drawn as loops; endings at the bottom."""
    scenario = load_checked(path)
    text = dot(scenario)
    assert "rankdir=TB" in text and "rank=sink" in text
    arrows = [line.split(" [", 1)[0].strip() for line in text.splitlines() if " -> " in line and "__start" not in line]
    assert len(arrows) == len(set(arrows))
    assert not any(a.split(" -> ")[0] == a.split(" -> ")[1] for a in arrows)
    drawn = {tuple(part.strip('"') for part in a.split(" -> ")) for a in arrows}
    for state in scenario.states.values():
        for rule in state.on:
            if rule.to and rule.to != state.name:
                assert (state.name, rule.to) in drawn
    for line in text.splitlines():
        if 'label="' in line and " -> " in line:
            label = line.split('label="', 1)[1].split('"', 1)[0]
            assert label.count("\\n") <= 12, line  # a few alternatives, wrapped, then "(+N more)"


def test_graph_command_writes_files_and_refuses_unknown_formats(tmp_path: Path) -> None:
    out = tmp_path / "t.mmd"
    done = subprocess.run([sys.executable, "-m", "bot", "graph", "traffic_stop", "-o", str(out)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and out.read_text("utf-8") == mermaid(SCENARIO)
    bad = subprocess.run([sys.executable, "-m", "bot", "graph", "traffic_stop", "-o", str(tmp_path / "t.pdf")], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2 and "unknown diagram format" in bad.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed on this machine")
def test_svg_through_graphviz(tmp_path: Path) -> None:
    out = tmp_path / "t.svg"
    done = subprocess.run([sys.executable, "-m", "bot", "graph", "traffic_stop", "-o", str(out)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and out.read_text("utf-8").lstrip().startswith(("<?xml", "<svg"))
