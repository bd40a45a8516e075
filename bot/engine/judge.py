"""Judging a trainee message in its context: what it really earns and what the resident hears.

Detection (`signals.py`) finds behaviours in one line. A line can show a behaviour without
doing it: a reason for the stop that is not the reason, "I understand" when nothing was said
to understand, a string of rubric phrases with nothing between them, the same line pasted
again. This module decides, for one message in its scene, which evidence is *credited* (earns
rubric points and moves the resident) and why the rest is not, and adds the signals the scene
derives from context (`contradiction`, `repetition`, `stacking`), so scenario rules can react.

Pure and deterministic: the same scenario, history and message give the same judgement, so a
session rebuilt from its stored lines is judged exactly as it was.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import repeat

from bot.engine import mood as mood_rules
from bot.engine.scenario import Fact, PerScenario, Scenario
from bot.engine.cues import LEARNED
from bot.engine.patterns import PatternScreen, new_message
from bot.engine.signals import Detection, Evidence, answers_feelings, asserted, is_weak, normalise, substantive

DERIVED_SIGNALS: tuple[str, ...] = ("contradiction", "repetition", "stacking")

# Stacking is counted in rubric skills a message touches (several signals of one skill, such as
# "sorry" and "I understand", are one behaviour). A message touching this many skills is looked
# at for stacking...
STACK_MIN_SKILLS = 4
# ...and is stacked when this many of them are hollow (shown but not done)...
STACK_MIN_HOLLOW = 2
# ...or when it touches this many at once with nothing particular said (a natural officer says
# three or four things in one message, as in "Hello, ma'am. I'm Officer Smith. The reason I
# pulled you over is...", and a dense one more, with the facts of the scene among them),
STACK_MANY_SKILLS = 6
# ...or this many with fewer words per skill than STACK_MIN_WORDS...
STACK_DENSE_SKILLS = 5
STACK_MIN_WORDS = 3.0
# ...or when it is a list of set phrases: at least FORMULA_CLAUSES clauses and FORMULA_PHRASES matched phrases, with most clauses
# (FORMULA_SHARE) made up mostly of those phrases and nothing particular. A list of courtesies
# spread over several messages is caught message by message this way.
FORMULA_CLAUSES = 5
FORMULA_PHRASES = 5
FORMULA_SHARE = 0.7
# Lines at least this similar (difflib ratio over their words) are the same line said again.
REPEAT_SIMILARITY = 0.8
# Shorter lines ("Thank you.", "Okay.") only count as repeats from their third time.
REPEAT_MIN_WORDS = 4
REPEAT_SHORT_TIMES = 3
REPEAT_LOOKBACK = 50  # earlier lines compared (a scene is rarely longer)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


@dataclass(frozen=True)
class Uncredited:
    """Evidence that was shown but earns nothing, and why (said to the trainee in feedback)."""

    evidence: Evidence
    why: str
    keeps_signal: bool = False  # the scene still hears it (a goodbye before the business is done)


@dataclass(frozen=True)
class Contradiction:
    """A claim that goes against what is true in the scene."""

    fact: Fact
    quote: str  # the trainee's words that contradict the fact
    start: int
    end: int


@dataclass  # not frozen, as a Turn (session.py)
class Judgement:
    detection: Detection
    credited: tuple[Evidence, ...]
    uncredited: tuple[Uncredited, ...]
    signals: frozenset[str]  # what the scene reacts to: credited and costly signals, plus derived ones
    contradictions: tuple[Contradiction, ...] = ()
    repeat_of: int | None = None  # the earlier turn this line repeats
    stacked: bool = False
    words: tuple[str, ...] = ()  # the words of the judged text (`words(detection.text)`)

    def credited_names(self) -> frozenset[str]:
        return frozenset(e.signal for e in self.credited)


@dataclass
class History:
    """What the judge needs to know of the scene so far."""

    lines: list[tuple[str, ...]] = field(default_factory=list)  # earlier trainee lines, as words
    feelings: tuple[str, ...] = ()  # what the resident's last line expressed
    credited: set[str] = field(default_factory=set)  # signals credited so far


def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(normalise(text).lower()))


class _Lookups:
    """What the judge asks of a scenario for every message, worked out once per scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.required_facts: dict[str, tuple[Fact, ...]] = {}  # claim signal -> required facts checking it
        for fact in scenario.facts:
            if fact.required:
                for name in dict.fromkeys(fact.checks):
                    self.required_facts[name] = (*self.required_facts.get(name, ()), fact)
        self.skill_signals = tuple(frozenset(skill.signals) for skill in scenario.rubric.skills)
        self.wrong = tuple(pattern for fact in scenario.facts for pattern in fact.wrong)
        self.screen = PatternScreen(self.wrong)
        # The facts with wrong wordings, each with the claims it checks (none: always looked at).
        self.checked_facts = tuple((fact, frozenset(fact.checks)) for fact in scenario.facts if fact.wrong)
        # Every claim some checked fact is looked at for; None when one is always looked at.
        self.claims: frozenset[str] | None = (
            None if any(not checks for _fact, checks in self.checked_facts)
            else frozenset().union(*(checks for _fact, checks in self.checked_facts)))
        rubric = scenario.rubric
        # Every signal `_costly` holds for (it holds for none outside these names).
        named = {*rubric.penalties, *rubric.critical, *mood_rules.default_effects(), *scenario.mood_effects}
        self.costly = frozenset(name for name in named if _costly(scenario, name))
        self.skill_counts = {name: len(rubric.skills_with(name)) for name in rubric.skill_signals}
        # The signals whose every skill has `requires`: only their evidence can come too early.
        self.gated = frozenset(name for name in rubric.skill_signals if all(skill.requires for skill in rubric.skills_with(name)))


_lookups = PerScenario(_Lookups)


def judge(scenario: Scenario, detection: Detection, history: History) -> Judgement:
    norm = normalise(detection.text)
    lookups = _lookups(scenario)
    rubric = scenario.rubric
    evidence = detection.evidence
    dropped: dict[int, Uncredited] = {}  # index in detection.evidence -> why it earns nothing
    contradictions = _contradictions(scenario, norm, detection, lookups)
    contradicted = {check for c in contradictions for check in c.fact.checks} if contradictions else ()

    # Learned cues (cues.py) are for analysis: the scene and the grade follow rules a trainee
    # can read, quote and argue with. A costly signal always counts; the rest (`ruled`) must
    # hold up to be credited.
    costly: set[str] = set()
    ruled: list[Evidence] = []
    maybe_early = False  # evidence of a skill whose requirements may not be met yet
    gated, costs, required_facts = lookups.gated, lookups.costly, lookups.required_facts
    for index, e in enumerate(evidence):
        signal = e.signal
        if e.detail == LEARNED:
            dropped[index] = Uncredited(e, "a learned cue (shown by trainer analyze), not a rule: grading uses rules only")
            continue
        if signal in gated:
            maybe_early = True
        if signal in costs:
            costly.add(signal)
            continue
        ruled.append(e)
        if signal in contradicted:
            fact = next(c.fact for c in contradictions if signal in c.fact.checks)
            dropped[index] = Uncredited(e, f"contradicts the scene: {fact.label} is {fact.truth}")
            continue
        required = required_facts.get(signal)
        unsupported = next((f for f in required if not detection.has(f.name)), None) if required else None
        if unsupported is not None:
            dropped[index] = Uncredited(e, f"does not say what {unsupported.label} is ({unsupported.truth})")
        elif is_weak(e) and not _has_strong(detection, signal):
            if not answers_feelings(signal):
                dropped[index] = Uncredited(e, "says it in form only (no name, nothing specific)")
            elif not history.feelings:
                dropped[index] = Uncredited(e, "nothing had been said yet for it to answer")

    if maybe_early:
        # What counts as shown for `requires`: credited before, or shown and not dropped here.
        shown_by_now = history.credited | {e.signal for i, e in enumerate(evidence) if i not in dropped}
        for index, e in enumerate(evidence):
            if index in dropped or e.signal not in gated:
                continue
            unmet = [rubric.unmet(skill, shown_by_now) for skill in rubric.skills_with(e.signal)]
            if all(unmet):
                dropped[index] = Uncredited(e, f"came before {_requirements(unmet)}", keeps_signal=True)

    message_words = tuple(_WORD.findall(norm.lower()))  # words(detection.text), its normal form at hand
    repeat_of = _repeat_of(message_words, history.lines)
    shown = {e.signal for e in ruled}
    # Most messages have one or two rule matches: too few skills touched and too few phrases
    # for any stacking test, which is then not run.
    stackable = (len(ruled) >= _FEWEST_PHRASES_TO_STACK
                 or sum(map(lookups.skill_counts.get, shown, repeat(0))) >= STACK_MIN_SKILLS)
    stacked = stackable and _stacked(scenario, detection, norm, message_words, ruled, shown, costly, dropped,
                                     contradictions, lookups)
    if stacked or repeat_of is not None:
        why = (f"repeats your line in turn {repeat_of}" if repeat_of is not None
               else "strung together with other set phrases, with nothing said in between")
        for index, e in enumerate(evidence):
            if e.signal not in costly and e.detail != LEARNED:
                dropped[index] = Uncredited(e, why)

    if dropped:
        credited = tuple(e for index, e in enumerate(evidence) if index not in dropped)
        heard = costly.union([e.signal for e in credited])
        if not (stacked or repeat_of is not None):
            heard.update([u.evidence.signal for u in dropped.values() if u.keeps_signal])
        uncredited = tuple(dropped[i] for i in sorted(dropped))
    else:
        # Nothing dropped (no learned cue either): every signal is costly or credited by rules.
        credited, uncredited = tuple(evidence), ()
        heard = costly | shown
    if contradictions:
        heard.add("contradiction")
        heard.update(c.fact.contradiction_signal for c in contradictions)
    if repeat_of is not None:
        heard.add("repetition")
    if stacked:
        heard.add("stacking")
    return Judgement(
        detection=detection, credited=credited, uncredited=uncredited, signals=frozenset(heard),
        contradictions=contradictions, repeat_of=repeat_of, stacked=stacked, words=message_words,
    )


def _stacked(scenario: Scenario, detection: Detection, norm: str, message_words: tuple[str, ...], ruled: list[Evidence],
             shown: set[str], costly: set[str], dropped: dict[int, Uncredited],
             contradictions: tuple[Contradiction, ...], lookups: _Lookups) -> bool:
    """Whether the message strings rubric phrases together (see the STACK_ and FORMULA_ constants).
    `ruled`: its evidence from rules that cost nothing; `shown`: their signals."""
    evidence = detection.evidence
    solid = {e.signal for i, e in enumerate(evidence) if i not in dropped and e.signal not in costly}
    touched = [signals for signals in lookups.skill_signals if not shown.isdisjoint(signals)]
    hollow = [signals for signals in touched if solid.isdisjoint(signals)]
    particulars = _Particulars(scenario, detection, contradictions, dropped)
    return (len(touched) >= STACK_MIN_SKILLS and (
        len(hollow) >= STACK_MIN_HOLLOW
        or (len(touched) >= STACK_MANY_SKILLS and not particulars.within(0, len(detection.text)))
        or (len(touched) >= STACK_DENSE_SKILLS and len(message_words) / len(touched) < STACK_MIN_WORDS)
    )) or _formulaic(norm, ruled, particulars) or _run_on(message_words, ruled, particulars, len(detection.text))


# Clauses end at punctuation, but not at the dot of a title ("Ms. Carter" is one clause), and
# at the numbers of a numbered list ("1. Hello 2. I'm...").
# Each pattern below opens with a look-ahead for the characters its matches start with: the
# same matches, but `re` leaves most places of a line after one character test instead of
# trying every alternative and look-behind there (about six times faster on this one).
_CLAUSE_END = re.compile(
    r"(?=[\d,;:!?\n.])"
    r"(?:(?:(?<=\s)|^)\d{1,2}[.)](?=\s)|[,;:!?\n]+|(?<!\bmr)(?<!\bms)(?<!\bmrs)(?<!\bdr)(?<!\bst)(?<!\bsgt)(?<!\bofc)(?<!\bdet)\.+)",
    re.IGNORECASE,
)
FORMULA_CLAUSE_WORDS = 4.6  # a list of set phrases has short clauses...
FORMULA_LONG_LIST = 8  # ...unless it is a long one, where a smaller share gives it away
FORMULA_LONG_SHARE = 0.6


class _Particulars:
    """Where a message says something particular about the scene: a fact of it, a claim against
    one, what is being done (credited `substantive` evidence: "I'm writing you a warning"), or,
    outside the matched phrases, a number, a date or a name. The resident's own name sprinkled
    into a list of set phrases does not make it particular."""

    def __init__(self, scenario: Scenario, detection: Detection, contradictions: Sequence[Contradiction],
                 dropped: Container[int]) -> None:
        """`dropped`: the places of the evidence that earns nothing (the rest is credited)."""
        self._scenario, self._contradictions, self._dropped = scenario, contradictions, dropped
        self._detection = detection

    @cached_property
    def _spans(self) -> list[tuple[int, int]]:
        # Built on first need, like `_outside`.
        facts = {fact.name for fact in self._scenario.facts}
        evidence = self._detection.evidence
        spans = [(e.start, e.end) for e in evidence if e.signal in facts]
        said = [e for i, e in enumerate(evidence) if i not in self._dropped and substantive(e.signal)]
        return spans + [(c.start, c.end) for c in self._contradictions] + [(e.start, e.end) for e in said]

    @cached_property
    def _own(self) -> set[str]:
        return set(self._scenario.resident.name.split())

    @cached_property
    def _outside(self) -> str:
        # Built on first need: most messages are never asked about (too few skills or phrases).
        detection = self._detection
        matched = _covered(len(detection.text), detection.evidence)
        outside = "".join(" " if matched[i] else ch for i, ch in enumerate(detection.text))
        return _LIST_MARKER.sub(lambda m: " " * len(m.group(0)), outside)

    def within(self, start: int, end: int) -> bool:
        if any(s < end and start < e for s, e in self._spans):
            return True
        return bool(_SPECIFIC.search(self._outside, start, end)) or any(
            m.group(0) not in _NOT_NAMES and m.group(0) not in self._own
            for m in _NAME_LIKE.finditer(self._outside, start, end))


def _formulaic(norm: str, evidence: Sequence[Evidence], particulars: _Particulars) -> bool:
    """A message that is a list of set phrases: most of its clauses are mostly matched phrases
    with nothing particular in them. A particular clause or two does not excuse the rest."""
    if len(evidence) < FORMULA_PHRASES:
        return False
    clauses: list[list[tuple[int, int]]] = []
    start = 0
    # An ASCII message is lowered once, each clause's words found in place (the word pattern
    # has no look-behind or anchor, so a search between two places is a search of the slice).
    low = norm.lower() if norm.isascii() else None
    for end, after in [(m.start(), m.end()) for m in _CLAUSE_END.finditer(norm)] + [(len(norm), len(norm))]:
        if low is not None:
            spans = [m.span() for m in _WORD.finditer(low, start, end)]
        else:
            spans = [(start + m.start(), start + m.end()) for m in _WORD.finditer(norm[start:end].lower())]
        if spans:
            clauses.append(spans)
        start = after
    # A name and the role after it are one thing said, not two set phrases: "I'm Jo Martinez, a
    # community service officer" is one clause.
    merged: list[list[tuple[int, int]]] = []
    for spans in clauses:
        if merged and any(e.signal == "introduction" and e.start < merged[-1][-1][1] < spans[0][0] < e.end for e in evidence):
            merged[-1] = merged[-1] + spans
        else:
            merged.append(spans)
    clauses = merged
    # A long list may be made of longer phrases ("I apologize for the delay"): any phrase will do.
    long_list = len(clauses) >= FORMULA_LONG_LIST
    if len(clauses) < FORMULA_CLAUSES or (not long_list and sum(map(len, clauses)) / len(clauses) > FORMULA_CLAUSE_WORDS):
        return False
    covered = _covered(len(norm), evidence)
    formulaic = sum(
        (2 if not long_list else len(spans)) * sum(1 for a, b in spans if any(covered[a:b])) >= len(spans)
        and not particulars.within(spans[0][0], spans[-1][1])
        for spans in clauses
    )
    return formulaic >= FORMULA_CLAUSES and formulaic >= (FORMULA_LONG_SHARE if long_list else FORMULA_SHARE) * len(clauses)


# A list of set phrases typed without punctuation ("hi hello sorry thanks I understand you're
# safe any questions take care") has no clauses to count; it is given away by its density:
# this many phrases with fewer words than RUN_ON_WORDS each, and nothing particular.
RUN_ON_PHRASES = 6
RUN_ON_WORDS = 3.0
# Fewer matched phrases than this are never a list of set phrases (_formulaic, _run_on).
_FEWEST_PHRASES_TO_STACK = min(FORMULA_PHRASES, RUN_ON_PHRASES)


def _run_on(message_words: Sequence[str], evidence: Sequence[Evidence], particulars: _Particulars, length: int) -> bool:
    phrases = {(e.start, e.end) for e in evidence}
    return (len(phrases) >= RUN_ON_PHRASES and len(message_words) / len(phrases) < RUN_ON_WORDS
            and not particulars.within(0, length))


def _covered(length: int, evidence: Sequence[Evidence]) -> list[bool]:
    covered = [False] * length
    for e in evidence:
        for i in range(e.start, min(e.end, length)):
            covered[i] = True
    return covered


# Words that say something particular: a number, a date, a name (see _Particulars).
_SPECIFIC = re.compile(
    r"\d|\b(?:january|february|march|april|may|june|july|august|september|october|november|december|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|tonight|tomorrow|today|"
    r"one|two|three|four|five|six|seven|eight|nine|ten|twelve|fifteen|twenty|thirty|hundred)\b",
    re.IGNORECASE,
)
# (Opening look-aheads as for _CLAUSE_END.)
_LIST_MARKER = re.compile(r"(?=[\da-z])(?:(?<=\s)|^)(?:\d{1,2}|[a-z])[.):](?=\s)")  # "1. Hello 2. I'm..." numbers nothing
_NAME_LIKE = re.compile(r"(?=[A-Z])(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}\b")
_NOT_NAMES = frozenset({"Officer", "Deputy", "Sergeant", "Detective", "Trooper", "Ms", "Mr", "Mrs", "Miss", "Sir", "Ma'am"})


def _costly(scenario: Scenario, signal: str) -> bool:
    """A behaviour that costs trust: it always counts against the trainee, gamed line or not."""
    rubric = scenario.rubric
    if signal in rubric.penalties or signal in rubric.critical:
        return True
    effect = scenario.mood_effects.get(signal, mood_rules.default_effects().get(signal, 0))
    return effect > 0


def _has_strong(detection: Detection, signal: str) -> bool:
    return any(e.signal == signal and not is_weak(e) and e.detail != LEARNED for e in detection.evidence)


def _requirements(unmet: Sequence[Sequence[str]]) -> str:
    """The requirements not yet met, as feedback names them (those already shown are left out)."""
    names = sorted({name for names in unmet for name in names})
    return " and ".join(name.replace("_", " ") for name in names)


def _contradictions(scenario: Scenario, norm: str, detection: Detection, lookups: _Lookups) -> tuple[Contradiction, ...]:
    names = detection.names
    if lookups.claims is not None and lookups.claims.isdisjoint(names):
        return ()  # about half the messages make no claim any fact checks
    # A fact is looked at when the message makes one of the claims it checks.
    facts = [fact for fact, checks in lookups.checked_facts if not checks or not checks.isdisjoint(names)]
    if not facts:
        return ()
    # Whether any wrong wording may be in the message: one search for all of them. When none
    # may, no pattern runs, and none runs after these in the judge's pass over the message:
    # their budget is left alone (the next pass starts it afresh, patterns.new_message).
    if not lookups.screen.may_match(norm):
        return ()
    lookups.screen.new_message()
    found: list[Contradiction] = []
    for fact in facts:
        true_spans = [(e.start, e.end) for e in detection.evidence if e.signal == fact.name]
        for pattern in fact.wrong:
            # Wrong wording inside right wording is not wrong: a case number of the right shape.
            hit = next((m for m in pattern.finditer(norm) if m.end() > m.start()
                        and not any(start <= m.start() and m.end() <= end for start, end in true_spans)
                        and asserted(norm, m.start())), None)
            if hit is not None:
                found.append(Contradiction(fact, detection.text[hit.start():hit.end()], hit.start(), hit.end()))
                break
    return tuple(found)


def _repeat_of(message: tuple[str, ...], earlier: Sequence[tuple[str, ...]]) -> int | None:
    """The turn (1-based) of the first earlier line this one repeats, or None."""
    if not message:
        return None
    size = len(message)
    matches = []
    for turn in range(max(0, len(earlier) - REPEAT_LOOKBACK), len(earlier)):
        line = earlier[turn]
        # Most earlier lines are told apart by their length alone (_similar's first test).
        other = len(line)
        if other and (size / other if size < other else other / size) >= REPEAT_SIMILARITY and _similar(message, line):
            matches.append(turn)
    if not matches:
        return None
    if size < REPEAT_MIN_WORDS and len(matches) + 1 < REPEAT_SHORT_TIMES:
        return None
    return matches[0] + 1


def _similar(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    if not b or min(len(a), len(b)) / max(len(a), len(b)) < REPEAT_SIMILARITY:
        return False
    # difflib's ratio is at most twice the words of `a` found in `b` over both lengths: most
    # pairs of lines are told apart by that count, without building a matcher.
    if 2.0 * sum(map(frozenset(b).__contains__, a)) / (len(a) + len(b)) < REPEAT_SIMILARITY:  # as difflib computes it
        return False
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return matcher.quick_ratio() >= REPEAT_SIMILARITY and matcher.ratio() >= REPEAT_SIMILARITY


def explain(scenario: Scenario, text: str) -> dict[str, object]:
    """For authors (`trainer analyze --scenario`): the line as the opening message of a scene:
    each fact's right and wrong wording found in it, and what the judge would credit."""
    from bot.engine.session import detect_in  # the session module imports this one

    detection = detect_in(scenario, text)
    norm = normalise(detection.text)
    # As after the resident's opening line, with the feelings it expresses (seed 0's variation).
    opening = next(iter(scenario.states[scenario.start].say), None)
    judgement = judge(scenario, detection, History(feelings=opening.feels if opening else ()))
    contradicted = {c.fact.name: c.quote for c in judgement.contradictions}
    facts = []
    new_message(pattern for fact in scenario.facts for pattern in fact.wrong)
    for fact in scenario.facts:
        wrong = [m.group(0) for pattern in fact.wrong for m in pattern.finditer(norm) if m.end() > m.start()]
        facts.append({
            "name": fact.name, "label": fact.label, "truth": fact.truth,
            "right": [e.quote for e in detection.evidence if e.signal == fact.name],
            "wrong": wrong, "contradicted_by": contradicted.get(fact.name),
            "checks": list(fact.checks), "required": fact.required,
        })
    return {
        "facts": facts,
        "as_first_message": {
            "credited": sorted(judgement.credited_names()),
            "not_credited": [{"signal": u.evidence.signal, "quote": u.evidence.quote, "why": u.why} for u in judgement.uncredited],
            "heard": sorted(judgement.signals),
            "stacked": judgement.stacked,
        },
    }

