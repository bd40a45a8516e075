"""Second pass over a structurally valid scenario: names, reachability, endings."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from bot.engine.problems import Problem, did_you_mean
from bot.engine.scenario import Guard, Scenario, State
from bot.engine.signals import SIGNALS


def lint(scenario: Scenario) -> list[Problem]:
    problems: list[Problem] = []
    file = scenario.path or scenario.id
    known_signals = set(SIGNALS) | set(scenario.signals)
    states = scenario.states

    def signal_problems(names: Iterable[str], line: int, where: str) -> None:
        for name in names:
            if name not in known_signals:
                problems.append(Problem(file, line, "S011", f"unknown signal '{name}' in {where}{did_you_mean(name, known_signals)}"))

    def state_problem(name: str | None, line: int, code: str, where: str) -> None:
        if name is not None and name not in states:
            problems.append(Problem(file, line, code, f"{where} goes to unknown state '{name}'{did_you_mean(name, states)}"))

    def at(key: str) -> int:
        return scenario.key_lines.get(key, 1)

    if scenario.start not in states:
        problems.append(Problem(file, at("start"), "S013", f"start state '{scenario.start}' does not exist{did_you_mean(scenario.start, states)}"))
    if scenario.escalate is not None:
        state_problem(scenario.escalate.to, at("escalate"), "S014", "escalation")
    signal_problems(scenario.mood_effects, at("mood_effects"), "'mood_effects'")

    for state in states.values():
        signal_problems(state.mood_effects, state.line, f"state '{state.name}' mood_effects")
        for transition in state.on:
            signal_problems(transition.guard.signal_names(), transition.line, f"a transition of '{state.name}'")
            state_problem(transition.to, transition.to_line, "S012", "transition")
            impossible = _impossible(transition.guard)
            if impossible:
                problems.append(Problem(file, transition.line, "S023", f"in state '{state.name}' this transition can never fire: {impossible}"))
        if state.otherwise is not None:
            state_problem(state.otherwise.to, state.otherwise.to_line, "S012", f"'otherwise' of '{state.name}'")
        if state.is_end and (state.on or state.otherwise):
            problems.append(Problem(file, state.line, "S018", f"end state '{state.name}' has transitions or 'otherwise'; an ended scene takes no more messages"))
        if not state.is_end and state.otherwise is None and not any(_always(t.guard) for t in state.on):
            problems.append(Problem(file, state.line, "S019", f"state '{state.name}' needs an 'otherwise' reply for messages no transition matches"))
        problems.extend(_shadowed(file, state))

    rubric = scenario.rubric
    for skill in rubric.skills:
        signal_problems(skill.signals + skill.before, at(f"rubric.skills.{skill.name}"), f"rubric skill '{skill.name}'")
    signal_problems(rubric.penalties, at("rubric.penalties"), "rubric penalties")
    signal_problems(rubric.critical, at("rubric.critical"), "rubric critical")

    if not scenario.end_states:
        problems.append(Problem(file, at("states"), "S017", "the scenario has no end state (a state with 'end: success' or 'end: failure')"))
    # An unknown name already explains why states look unreachable; don't bury it in echoes.
    if not any(p.code in ("S012", "S013", "S014") for p in problems):
        problems.extend(_reachability(scenario, file))
    return sorted(set(problems))


def successors(scenario: Scenario, state: State) -> set[str]:
    """States a message can lead to from `state`, escalation included."""
    if state.is_end:
        return set()
    targets = {t.to or state.name for t in state.on}
    if state.otherwise is not None:
        targets.add(state.otherwise.to or state.name)
    if scenario.escalate is not None:
        targets.add(scenario.escalate.to)
    return {name for name in targets if name in scenario.states}


def _reachability(scenario: Scenario, file: str) -> list[Problem]:
    problems: list[Problem] = []
    graph = {name: successors(scenario, state) for name, state in scenario.states.items()}
    reachable = _closure([scenario.start], graph)
    for name, state in scenario.states.items():
        if name not in reachable:
            problems.append(Problem(file, state.line, "S015", f"state '{name}' cannot be reached from '{scenario.start}'"))
    reverse: dict[str, set[str]] = {name: set() for name in graph}
    for source, targets in graph.items():
        for target in targets:
            reverse[target].add(source)
    can_end = _closure([s.name for s in scenario.end_states], reverse)
    for name in sorted(reachable - can_end):
        problems.append(Problem(file, scenario.states[name].line, "S016", f"state '{name}' has no way to an ending"))
    return problems


def _closure(starts: Iterable[str], graph: dict[str, set[str]]) -> set[str]:
    seen = set(starts)
    queue = deque(seen)
    while queue:
        for target in graph.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


def _always(guard: Guard) -> bool:
    return guard == Guard()


def _shadowed(file: str, state: State) -> list[Problem]:
    """A guard-less transition makes everything after it, `otherwise` included, dead."""
    for index, transition in enumerate(state.on):
        if not _always(transition.guard):
            continue
        if index + 1 < len(state.on):
            dead = state.on[index + 1]
            return [Problem(file, dead.line, "S021", f"in state '{state.name}' this transition never fires: an earlier one has no condition")]
        if state.otherwise is not None:
            return [Problem(file, state.otherwise.line, "S021", f"in state '{state.name}' 'otherwise' never runs: the last transition has no condition")]
    return []


def _impossible(guard: Guard) -> str:
    """Why a guard can never hold, or ''."""
    both = set(guard.when) & (set(guard.unless) | set(guard.not_seen))
    if both:
        return f"'{sorted(both)[0]}' is both required and excluded"
    if set(guard.seen) & set(guard.not_seen):
        return f"'{sorted(set(guard.seen) & set(guard.not_seen))[0]}' is both in 'seen' and 'not_seen'"
    if guard.mood_above is not None and guard.mood_below is not None and guard.mood_above + 1 >= guard.mood_below:
        return f"no mood is above {guard.mood_above} and below {guard.mood_below}"
    if guard.mood_above is not None and guard.mood_above >= 100:
        return "mood never goes above 100"
    if guard.mood_below is not None and guard.mood_below <= 0:
        return "mood never goes below 0"
    if guard.turn_at_least is not None and guard.turn_at_most is not None and guard.turn_at_least > guard.turn_at_most:
        return f"turn_at_least {guard.turn_at_least} is after turn_at_most {guard.turn_at_most}"
    return ""
