"""A scenario as a diagram for authors: Mermaid text, or Graphviz DOT for SVG/PNG.

Rules that hold in every state (`everywhere`, escalation, stalling) are drawn once, from a
pseudo-state "any state", rather than from each state; a state's replies that keep it where
it is are grouped into one loop, so a large scenario stays legible.
"""

from __future__ import annotations

import re
import textwrap

from bot.engine.scenario import Guard, Scenario

ANY = "any_state"


def label(guard: Guard) -> str:
    """Guard text without characters that diagram syntaxes treat specially."""
    text = guard.describe().replace(" > ", " above ").replace(" < ", " below ").replace(">=", "at least").replace("<=", "at most")
    return re.sub(r"[:;{}\"<>|]", " ", text)


def edges(scenario: Scenario) -> list[tuple[str, str, str]]:
    """(source, target, label), with a state's loops back to itself merged into one edge."""
    found: list[tuple[str, str, str]] = []
    for state in scenario.states.values():
        loops: list[str] = []
        for transition in state.on:
            target = transition.to or state.name
            (loops.append(label(transition.guard)) if target == state.name
             else found.append((state.name, target, label(transition.guard))))
        if state.otherwise is not None:
            target = state.otherwise.to or state.name
            (loops.append("otherwise") if target == state.name else found.append((state.name, target, "otherwise")))
        if loops:
            found.append((state.name, state.name, " / ".join(loops)))
    stays: list[str] = []
    for transition in (*scenario.first, *scenario.last):
        if transition.to is None:
            stays.append(label(transition.guard))
        else:
            found.append((ANY, transition.to, label(transition.guard)))
    if stays:
        found.append((ANY, ANY, "reply and stay - " + " / ".join(stays)))
    if scenario.escalate is not None:
        found.append((ANY, scenario.escalate.to, f"mood above {scenario.escalate.above}"))
    if scenario.stall is not None:
        found.append((ANY, scenario.stall.to, f"{scenario.stall.after} turns without progress"))
    return found


def _wrapped(text: str, width: int = 28) -> str:
    """A DOT label broken into short lines (one per alternative), so edges stay narrow."""
    lines = [line for part in text.split(" / ") for line in textwrap.wrap(part.replace("/", " / "), width)]
    return "\\n".join(lines)


def _has_any(scenario: Scenario) -> bool:
    return bool(scenario.first or scenario.last or scenario.escalate or scenario.stall)


def mermaid(scenario: Scenario) -> str:
    lines = ["stateDiagram-v2", "    direction TB", f"    %% {scenario.title}", f"    [*] --> {scenario.start}"]
    if _has_any(scenario):
        lines.append(f'    state "any state (rules for every state)" as {ANY}')
    lines += [f"    {source} --> {target}: {text}" for source, target, text in edges(scenario)]
    lines += [f"    {s.name} --> [*]: {s.end.value}" for s in scenario.end_states if s.end is not None]
    return "\n".join(lines) + "\n"


def dot(scenario: Scenario) -> str:
    colour = {"success": "palegreen", "failure": "lightpink"}
    lines = [f'digraph "{scenario.id}" {{', "    rankdir=TB;", '    node [shape=box, style="rounded,filled", fillcolor=white];']
    lines.append(f'    __start [shape=point]; __start -> "{scenario.start}";')
    if _has_any(scenario):
        lines.append(f'    "{ANY}" [label="any state", shape=note, fillcolor=lightyellow];')
    for state in scenario.states.values():
        if state.end is not None:
            lines.append(f'    "{state.name}" [fillcolor={colour[state.end.value]}, peripheries=2];')
    for source, target, text in edges(scenario):
        # Rules for every state are a safety net, not a conversation path: visible but quiet.
        style = ", style=dashed, color=grey50, fontcolor=grey50" if source == ANY else ""
        lines.append(f'    "{source}" -> "{target}" [label="{_wrapped(text)}", fontsize=10{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
