"""Second pass over a structurally valid scenario: names, reachability, endings."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

from bot.engine.problems import Problem, did_you_mean
from bot.engine.judge import DERIVED_SIGNALS
from bot.engine.scenario import Guard, Scenario, State, Transition
from bot.engine.signals import SIGNALS


GAMING_SIGNALS = ("repetition", "stacking")


def lint(scenario: Scenario) -> list[Problem]:
    problems: list[Problem] = []
    file = scenario.path or scenario.id
    known_signals = set(SIGNALS) | set(scenario.signals) | set(DERIVED_SIGNALS) | {f.contradiction_signal for f in scenario.facts}
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

    def rule_problems(transition: Transition, where: str) -> None:
        signal_problems(transition.guard.signal_names(), transition.line, f"a transition of {where}")
        state_problem(transition.to, transition.to_line, "S012", "transition")
        impossible = _impossible(transition.guard)
        if impossible:
            problems.append(Problem(file, transition.line, "S023", f"in {where} this transition can never fire: {impossible}"))
        gamed = [name for name in (*transition.guard.when, *transition.guard.any) if name in GAMING_SIGNALS]
        if gamed and transition.mood < 0:
            problems.append(Problem(file, transition.line, "S029", f"in {where} a rule on '{gamed[0]}' lowers the mood; a gamed line must never calm the resident"))

    for scope, rules in (("first", scenario.first), ("last", scenario.last)):
        for transition in rules:
            rule_problems(transition, f"'everywhere.{scope}'")

    for state in states.values():
        signal_problems(state.mood_effects, state.line, f"state '{state.name}' mood_effects")
        for transition in state.on:
            rule_problems(transition, f"state '{state.name}'")
        if state.otherwise is not None:
            state_problem(state.otherwise.to, state.otherwise.to_line, "S012", f"'otherwise' of '{state.name}'")
        if state.is_end and (state.on or state.otherwise):
            problems.append(Problem(file, state.line, "S018", f"end state '{state.name}' has transitions or 'otherwise'; an ended scene takes no more messages"))
        if not state.is_end and state.otherwise is None and not any(_always(t.guard) for t in scenario.rules(state)):
            problems.append(Problem(file, state.line, "S019", f"state '{state.name}' needs an 'otherwise' reply for messages no transition matches"))
        if not state.is_end:
            problems.extend(_shadowed(file, state, scenario.rules(state)))

    for fact in scenario.facts:
        signal_problems(fact.checks, fact.line, f"fact '{fact.name}' checks")
        if fact.name in SIGNALS or fact.name in DERIVED_SIGNALS:
            problems.append(Problem(file, fact.line, "S024", f"fact '{fact.name}' has the name of a built-in signal; name the fact after what is true (e.g. 'expired_tag')"))
    problems.extend(_endings(scenario, file, at))

    rubric = scenario.rubric
    skill_names = {skill.name for skill in rubric.skills}
    for skill in rubric.skills:
        signal_problems(skill.signals + skill.before, at(f"rubric.skills.{skill.name}"), f"rubric skill '{skill.name}'")
        signal_problems([n for n in skill.requires if n not in skill_names], at(f"rubric.skills.{skill.name}"), f"rubric skill '{skill.name}' requires")
        if skill.name in skill.requires:
            problems.append(Problem(file, at(f"rubric.skills.{skill.name}"), "S023", f"rubric skill '{skill.name}' requires itself, so it can never be earned"))
    signal_problems(rubric.penalties, at("rubric.penalties"), "rubric penalties")
    signal_problems(rubric.critical, at("rubric.critical"), "rubric critical")

    if not scenario.end_states:
        problems.append(Problem(file, at("states"), "S017", "the scenario has no end state (a state with 'end: success' or 'end: failure')"))
    # An unknown name already explains why states look unreachable; don't bury it in echoes.
    if not any(p.code in ("S012", "S013", "S014") for p in problems):
        problems.extend(_reachability(scenario, file))
    return sorted(set(problems))


def successors(scenario: Scenario, state: State) -> set[str]:
    """States a message can lead to from `state`, escalation and stalling included."""
    if state.is_end:
        return set()
    targets = {t.to or state.name for t in scenario.rules(state)}
    if state.otherwise is not None:
        targets.add(state.otherwise.to or state.name)
    if scenario.escalate is not None:
        targets.add(scenario.escalate.to)
    if scenario.stall is not None:
        targets.add(scenario.stall.to)
    return {name for name in targets if name in scenario.states}


def _endings(scenario: Scenario, file: str, at: Callable[[str], int]) -> list[Problem]:
    """Endings every scenario needs beyond the model run and the hostile one: the curt but lawful
    officer who simply ends the contact, and the scene that goes nowhere."""
    problems: list[Problem] = []
    stall = scenario.stall
    if stall is None:
        problems.append(Problem(file, at("states"), "S026", "no 'stall' ending: a scene that goes nowhere would repeat itself until the trainee gives up; add e.g. 'stall: {after: 4, to: stalled}'"))
    elif stall.to not in scenario.states:
        problems.append(Problem(file, at("stall"), "S012", f"'stall' goes to unknown state '{stall.to}'{did_you_mean(stall.to, scenario.states)}"))
    elif not scenario.states[stall.to].is_end:
        problems.append(Problem(file, at("stall"), "S025", f"'stall' goes to '{stall.to}', which is not an end state"))
    every_rule = [*scenario.first, *scenario.last, *(t for s in scenario.states.values() for t in s.on)]
    leaves = [t for t in every_rule if "leave_taking" in (*t.guard.when, *t.guard.any)]
    if not any(t.to in scenario.states and scenario.states[t.to].is_end for t in leaves):
        problems.append(Problem(file, at("states"), "S027", "no rule on 'leave_taking' leads to an end state: a curt officer who says \u201cthat's all\u201d could never end the contact; add one to 'everywhere.last'"))
    mentioned = {name for t in every_rule for name in (*t.guard.when, *t.guard.any)}  # rules that react to it
    contradictable = [f for f in scenario.facts if f.wrong]
    if contradictable and "contradiction" not in mentioned and not all(f.contradiction_signal in mentioned for f in contradictable):
        problems.append(Problem(file, contradictable[0].line, "S028", "facts can be contradicted, but no rule reacts to 'contradiction'; add one to 'everywhere.first' so the resident notices"))
    for name in GAMING_SIGNALS:
        if name not in mentioned:
            problems.append(Problem(file, at("states"), "S028", f"no rule reacts to '{name}'; add one to 'everywhere.first' so the resident notices a gamed line"))
    return problems


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


def _shadowed(file: str, state: State, rules: Sequence[Transition]) -> list[Problem]:
    """A guard-less transition makes everything after it, `otherwise` included, dead."""
    for index, transition in enumerate(rules):
        if not _always(transition.guard):
            continue
        if index + 1 < len(rules):
            dead = rules[index + 1]
            return [Problem(file, dead.line, "S021", f"in state '{state.name}' this transition never fires: an earlier one has no condition")]
        if state.otherwise is not None:
            return [Problem(file, state.otherwise.line, "S021", f"in state '{state.name}' 'otherwise' never runs: the last transition has no condition")]
    return []


def _impossible(guard: Guard) -> str:
    """Why a guard can never hold, or ''."""
    both = set(guard.when) & (set(guard.unless) | set(guard.not_seen))
    if both:
        return f"'{sorted(both)[0]}' is both required and excluded"
    if guard.seen_any and set(guard.seen_any) <= set(guard.not_seen):
        return "every name in 'seen_any' is also in 'not_seen'"
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
