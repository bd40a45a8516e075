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


MAX_LABEL_LINES = 4  # alternatives shown on one arrow; the rest are counted


def _merged(scenario: Scenario) -> tuple[dict[tuple[str, str], list[str]], dict[str, int]]:
    """Arrows between the same two states merged into one (their conditions as alternatives),
    and for each state the number of replies that keep it where it is."""
    arrows: dict[tuple[str, str], list[str]] = {}
    loops: dict[str, int] = {}
    for state in scenario.states.values():
        for transition in state.on:
            target = transition.to or state.name
            if target == state.name:
                loops[state.name] = loops.get(state.name, 0) + 1
            else:
                arrows.setdefault((state.name, target), []).append(label(transition.guard))
        if state.otherwise is not None:
            target = state.otherwise.to or state.name
            if target == state.name:
                loops[state.name] = loops.get(state.name, 0) + 1
            else:
                arrows.setdefault((state.name, target), []).append("otherwise")
    for source, target, text in edges(scenario):
        if source == ANY and target != ANY:
            arrows.setdefault((ANY, target), []).append(text)
    return arrows, loops


def _arrow_label(alternatives: list[str]) -> str:
    shown = alternatives[:MAX_LABEL_LINES]
    parts = [part if i == 0 else f"or {part}" for i, part in enumerate(shown)]
    lines = [line for part in parts for line in textwrap.wrap(part.replace("/", " / "), 30)]
    if len(alternatives) > len(shown):
        lines.append(f"(+{len(alternatives) - len(shown)} more)")
    return "\\n".join(lines)


def dot(scenario: Scenario) -> str:
    """Graphviz, laid out top to bottom: replies that stay in a state are counted in its box
    rather than drawn as loops, arrows between two states are merged, endings sit at the bottom,
    and the rules for every state hang from one "any state" note, dashed and grey."""
    colour = {"success": "palegreen", "failure": "lightpink"}
    arrows, loops = _merged(scenario)
    lines = [
        f'digraph "{scenario.id}" {{',
        "    rankdir=TB; nodesep=0.5; ranksep=0.7; newrank=true;",
        f'    label="{_escape(scenario.title)}"; labelloc=t; fontsize=16;',
        '    node [shape=box, style="rounded,filled", fillcolor=white, fontsize=12];',
        "    edge [fontsize=9];",
        f'    __start [shape=point]; __start -> "{scenario.start}";',
    ]
    if _has_any(scenario):
        stays = [text for source, target, text in edges(scenario) if source == ANY and target == ANY]
        note = "any state" + (f"\\n(replies and stays on {len(stays[0].split(' / '))} rules)" if stays else "")
        lines.append(f'    "{ANY}" [label="{note}", shape=note, fillcolor=lightyellow, fontsize=10];')
    for state in scenario.states.values():
        count = loops.get(state.name, 0)
        text = state.name + (f"\\n({count} {'reply stays' if count == 1 else 'replies stay'} here)" if count else "")
        fill = colour[state.end.value] if state.end is not None else "white"
        extra = ", peripheries=2" if state.end is not None else ""
        lines.append(f'    "{state.name}" [label="{text}", fillcolor={fill}{extra}];')
    ends = " ".join(f'"{s.name}";' for s in scenario.end_states)
    if ends:
        lines.append(f"    {{ rank=sink; {ends} }}")
    for (source, target), alternatives in arrows.items():
        # Rules for every state are a safety net, not a conversation path: visible but quiet.
        style = ", style=dashed, color=grey55, fontcolor=grey40" if source == ANY else ""
        lines.append(f'    "{source}" -> "{target}" [label="{_arrow_label(alternatives)}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')
