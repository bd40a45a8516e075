"""Second pass over a structurally valid scenario: names, reachability, endings."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

from bot.engine.problems import Problem, did_you_mean
from bot.engine.judge import DERIVED_SIGNALS
from bot.engine.scenario import Guard, Line, Scenario, Skill, State, Transition
from bot.engine.signals import SIGNALS


GAMING_SIGNALS = ("repetition", "stacking")


def lint(scenario: Scenario) -> list[Problem]:
    problems: list[Problem] = []
    file = scenario.path or scenario.id
    known_signals = set(SIGNALS) | set(scenario.signals) | set(DERIVED_SIGNALS) | {f.contradiction_signal for f in scenario.facts}
    states = scenario.states
    off = scenario.signals_off
    personas = {p.name for p in scenario.personas}
    every_rule = [*scenario.first, *scenario.last, *(t for s in states.values() for t in s.on)]
    counters = known_signals | {name for t in every_rule for name in t.count}

    def signal_problems(names: Iterable[str], line: int, where: str) -> None:
        for name in names:
            if name not in known_signals:
                problems.append(Problem(file, line, "S011", f"unknown signal '{name}' in {where}{did_you_mean(name, known_signals)}"))
            elif name in off:
                problems.append(Problem(file, line, "S030", f"'{name}' is switched off ('signals_off') but used in {where}; it is never detected here"))

    def persona_problems(names: Iterable[str], line: int, where: str) -> None:
        for name in names:
            if name not in personas:
                known = f"{did_you_mean(name, personas)}" if personas else " (the scenario has no 'personas')"
                problems.append(Problem(file, line, "S036", f"unknown persona '{name}' in {where}{known}"))

    def line_problems(lines: Sequence[Line], line: int, where: str) -> None:
        texts: set[str] = set()
        for item in lines:
            persona_problems(item.personas, line, f"a line of {where}")
            if item.text in texts:
                problems.append(Problem(file, line, "S033", f"{where} says \u201c{_clip(item.text)}\u201d twice; the repeat only makes the other variations rarer"))
            texts.add(item.text)

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
    for name in sorted(off):
        if name not in SIGNALS:
            problems.append(Problem(file, at("signals_off"), "S011", f"'signals_off' names '{name}', which is not a built-in signal{did_you_mean(name, SIGNALS)}"))
    for persona in scenario.personas:
        signal_problems(persona.mood_effects, persona.line, f"persona '{persona.name}' mood_effects")

    def rule_problems(transition: Transition, where: str) -> None:
        signal_problems(transition.guard.signal_names(), transition.line, f"a transition of {where}")
        persona_problems(transition.guard.persona, transition.line, f"a transition of {where}")
        line_problems(transition.say, transition.line, f"a transition of {where}")
        for name, _ in (*transition.guard.at_least, *transition.guard.fewer_than):
            if name not in counters:
                problems.append(Problem(file, transition.line, "S011", f"unknown counter '{name}' in a transition of {where}: name a signal, or count it with 'count' in a rule{did_you_mean(name, counters)}"))
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
        line_problems(state.say, state.line, f"state '{state.name}'")
        if state.otherwise is not None:
            line_problems(state.otherwise.say, state.otherwise.line, f"'otherwise' of '{state.name}'")
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
    if scenario.idle is not None:
        line_problems(scenario.idle.say, at("idle"), "'idle'")
    problems.extend(_unawardable(scenario, file, at))
    problems.extend(_unused_signals(scenario, file, at, every_rule))

    if not scenario.end_states:
        problems.append(Problem(file, at("states"), "S017", "the scenario has no end state (a state with 'end: success' or 'end: failure')"))
    # An unknown name already explains why states look unreachable; don't bury it in echoes.
    if not any(p.code in ("S012", "S013", "S014") for p in problems):
        problems.extend(_reachability(scenario, file))
        problems.extend(_free_success(scenario, file))
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


_NO_CONDITION = Guard()  # one, not one per call: the check runs for every pair of rules of a state


def _always(guard: Guard) -> bool:
    return guard == _NO_CONDITION


def _shadowed(file: str, state: State, rules: Sequence[Transition]) -> list[Problem]:
    """A guard-less transition makes everything after it, `otherwise` included, dead; a rule whose
    conditions imply an earlier rule's never fires either (the earlier one always matches first)."""
    found: list[Problem] = []
    for index, transition in enumerate(rules):
        if not _always(transition.guard):
            continue
        if index + 1 < len(rules):
            dead = rules[index + 1]
            return [Problem(file, dead.line, "S021", f"in state '{state.name}' this transition never fires: an earlier one has no condition")]
        if state.otherwise is not None:
            return [Problem(file, state.otherwise.line, "S021", f"in state '{state.name}' 'otherwise' never runs: the last transition has no condition")]
    for index, later in enumerate(rules):
        earlier = next((rule for rule in rules[:index] if _implies(later.guard, rule.guard)), None)
        if earlier is not None:
            where = f"'everywhere.{earlier.scope}'" if earlier.scope else "this state"
            found.append(Problem(file, later.line, "S021", (
                f"in state '{state.name}' this transition never fires: the rule at line {earlier.line} of {where} "
                f"({earlier.guard.describe()}) matches every message it would")))
    return found


def _implies(later: Guard, earlier: Guard) -> bool:
    """Whether every message that satisfies `later` also satisfies `earlier` (conservative:
    False when in doubt), so that `earlier`, tried first, always wins."""
    if _always(later) or _always(earlier):
        return False  # guard-less rules are reported above
    now = set(later.when)
    ever = set(later.seen) | now  # `seen` counts the current message
    if not set(earlier.when) <= now:
        return False
    if earlier.any and not (now & set(earlier.any) or (later.any and set(later.any) <= set(earlier.any))):
        return False
    if not set(earlier.unless) <= set(later.unless):
        return False
    if not set(earlier.seen) <= ever:
        return False
    if earlier.seen_any and not (ever & set(earlier.seen_any) or (later.seen_any and set(later.seen_any) <= set(earlier.seen_any))):
        return False
    if not set(earlier.not_seen) <= set(later.not_seen):
        return False
    if not set(earlier.seen_before) <= set(later.seen_before):
        return False
    if earlier.persona and not (later.persona and set(later.persona) <= set(earlier.persona)):
        return False

    def tighter(mine: int | None, theirs: int | None, above: bool) -> bool:
        if theirs is None:
            return True
        return mine is not None and (mine >= theirs if above else mine <= theirs)

    if not (tighter(later.mood_above, earlier.mood_above, True) and tighter(later.mood_below, earlier.mood_below, False)):
        return False
    if not (tighter(later.turn_at_least, earlier.turn_at_least, True) and tighter(later.turn_at_most, earlier.turn_at_most, False)):
        return False
    mine_least, mine_fewer = dict(later.at_least), dict(later.fewer_than)
    if any(mine_least.get(name, 0) < n for name, n in earlier.at_least):
        return False
    return all(name in mine_fewer and mine_fewer[name] <= n for name, n in earlier.fewer_than)


def _clip(text: str, width: int = 50) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _unawardable(scenario: Scenario, file: str, at: Callable[[str], int]) -> list[Problem]:
    """Rubric skills nothing can award: every signal of theirs is derived (never evidence of a
    line) or switched off, or they require a skill that can never be awarded (cycles included)."""
    rubric = scenario.rubric
    by_name = {skill.name: skill for skill in rubric.skills}
    derived = set(DERIVED_SIGNALS) | {f.contradiction_signal for f in scenario.facts}
    problems: list[Problem] = []
    dead: dict[str, str] = {}
    for skill in rubric.skills:
        if all(name in derived or name in scenario.signals_off for name in skill.signals):
            dead[skill.name] = "its signals are never shown by a line (derived from the scene, or switched off)"
    changed = True
    while changed:  # a skill that requires a dead skill, or one in a cycle of requirements, is dead too
        changed = False
        for skill in rubric.skills:
            if skill.name in dead:
                continue
            blocked = next((name for name in skill.requires if name in dead), None)
            if blocked is None and _in_cycle(skill.name, by_name):
                blocked = skill.name
            if blocked is not None:
                dead[skill.name] = (f"it requires '{blocked}', which can never be awarded" if blocked != skill.name
                                    else "its 'requires' go round in a circle back to it")
                changed = True
    for name, why in dead.items():
        if by_name[name].requires != (name,):  # a skill that requires only itself is S023
            problems.append(Problem(file, at(f"rubric.skills.{name}"), "S032", f"rubric skill '{name}' can never be awarded: {why}"))
    return problems


def _in_cycle(start: str, skills: dict[str, Skill]) -> bool:
    """Whether following `requires` from skill `start` leads back to it."""
    seen: set[str] = set()
    queue = deque(skills[start].requires if start in skills else ())
    while queue:
        name = queue.popleft()
        if name == start:
            return True
        if name in seen or name not in skills:
            continue
        seen.add(name)
        queue.extend(skills[name].requires)
    return False


def _unused_signals(scenario: Scenario, file: str, at: Callable[[str], int], rules: Sequence[Transition]) -> list[Problem]:
    """A scenario signal nothing looks at: no rule, mood effect, skill, penalty, critical or fact."""
    facts = {fact.name for fact in scenario.facts}
    used: set[str] = set(scenario.mood_effects)
    for rule in rules:
        used |= set(rule.guard.signal_names()) | {name for name, _ in (*rule.guard.at_least, *rule.guard.fewer_than)}
    for state in scenario.states.values():
        used |= set(state.mood_effects)
    for persona in scenario.personas:
        used |= set(persona.mood_effects)
    rubric = scenario.rubric
    for skill in rubric.skills:
        used |= set(skill.signals) | set(skill.before) | set(skill.requires)
    used |= set(rubric.penalties) | set(rubric.critical)
    for fact in scenario.facts:
        used |= set(fact.checks)
    own = [name for name in scenario.signals if name not in facts and name not in SIGNALS]
    return [
        Problem(file, at("signals"), "S031", f"signal '{name}' is detected but nothing uses it (no rule, mood effect, skill, penalty or fact); use it or remove it")
        for name in own if name not in used
    ]


def _free_success(scenario: Scenario, file: str) -> list[Problem]:
    """A success ending the trainee can reach without showing anything the rubric rewards: every
    rule on the way asks for no rubric signal (or the way is an `otherwise`)."""
    rubric_signals = {name for skill in scenario.rubric.skills for name in skill.signals}

    def free(guard: Guard) -> bool:
        needs = set(guard.when) | set(guard.seen) | set(guard.seen_before)
        if needs & rubric_signals:
            return False
        if guard.any and set(guard.any) <= rubric_signals:
            return False
        return not (guard.seen_any and set(guard.seen_any) <= rubric_signals)

    graph: dict[str, set[str]] = {}
    for name, state in scenario.states.items():
        targets = {t.to for t in scenario.rules(state) if t.to and free(t.guard)}
        if state.otherwise is not None and state.otherwise.to:
            targets.add(state.otherwise.to)
        if not state.is_end and scenario.stall is not None:
            targets.add(scenario.stall.to)
        graph[name] = {t for t in targets if t in scenario.states}
    reached = _closure([scenario.start], graph)
    return [
        Problem(file, state.line, "S034", (
            f"success ending '{state.name}' can be reached without anything the rubric rewards "
            "(every rule on the way asks for no skill's signal); require the behaviour the scene is about"))
        for state in scenario.end_states if state.end is not None and state.end.value == "success" and state.name in reached
    ]


def _impossible(guard: Guard) -> str:
    """Why a guard can never hold, or ''."""
    both = set(guard.when) & (set(guard.unless) | set(guard.not_seen))
    if both:
        return f"'{sorted(both)[0]}' is both required and excluded"
    if guard.seen_any and set(guard.seen_any) <= set(guard.not_seen):
        return "every name in 'seen_any' is also in 'not_seen'"
    if set(guard.seen_before) & set(guard.not_seen):
        return f"'{sorted(set(guard.seen_before) & set(guard.not_seen))[0]}' is both in 'seen_before' and 'not_seen'"
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
