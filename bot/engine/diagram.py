"""A scenario as a diagram for authors: Mermaid text, or Graphviz DOT for SVG/PNG."""

from __future__ import annotations

import re

from bot.engine.scenario import Guard, Scenario


def label(guard: Guard) -> str:
    """Guard text without characters that diagram syntaxes treat specially."""
    text = guard.describe().replace(" > ", " above ").replace(" < ", " below ").replace(">=", "at least").replace("<=", "at most")
    return re.sub(r"[:;{}\"<>|]", " ", text)


def edges(scenario: Scenario) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for state in scenario.states.values():
        for transition in state.on:
            found.append((state.name, transition.to or state.name, label(transition.guard)))
        if state.otherwise is not None:
            found.append((state.name, state.otherwise.to or state.name, "otherwise"))
    if scenario.escalate is not None:
        found.extend(
            (state.name, scenario.escalate.to, f"mood above {scenario.escalate.above}")
            for state in scenario.states.values()
            if not state.is_end and state.name != scenario.escalate.to
        )
    return found


def mermaid(scenario: Scenario) -> str:
    lines = ["stateDiagram-v2", f"    %% {scenario.title}", f"    [*] --> {scenario.start}"]
    lines += [f"    {source} --> {target}: {text}" for source, target, text in edges(scenario)]
    lines += [f"    {s.name} --> [*]: {s.end.value}" for s in scenario.end_states if s.end is not None]
    return "\n".join(lines) + "\n"


def dot(scenario: Scenario) -> str:
    colour = {"success": "palegreen", "failure": "lightpink"}
    lines = [f'digraph "{scenario.id}" {{', "    rankdir=LR;", '    node [shape=box, style="rounded,filled", fillcolor=white];']
    lines.append(f'    __start [shape=point]; __start -> "{scenario.start}";')
    for state in scenario.states.values():
        if state.end is not None:
            lines.append(f'    "{state.name}" [fillcolor={colour[state.end.value]}, peripheries=2];')
    for source, target, text in edges(scenario):
        # Escalation is a safety net, not a conversation path: keep it visible but quiet.
        style = ', style=dashed, color=grey50, fontcolor=grey50' if text.startswith("mood above") else ""
        lines.append(f'    "{source}" -> "{target}" [label="{text}"{style}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
