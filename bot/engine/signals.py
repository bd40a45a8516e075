"""Detectors: one trainee line -> the behaviours ("signals") in it, each with its quoted span.

The word lists and patterns live in ``lexicon/signals.yaml``; the score weights in
``lexicon/scores.yaml``. This module only compiles them (once) and applies them, so the
rules stay data that instructors can read and extend.

Matching runs on a *normalised copy* of the text whose length equals the original's
(curly quotes -> straight, odd spaces -> space), so every span indexes the original text.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import logging
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence

from bot.engine.yamlnodes import load_safe
from re import _parser as _sre_parse  # stdlib; used only to derive cheap pre-filters

from bot.engine import prefilter as _prefilter
from bot.engine.lazy_pattern import LazyPattern, compile_lazily, first_character_guard, first_chars
from bot.engine.patterns import Substrings as _Substrings, budgets as _pattern_budgets
from bot.engine.cues import LEARNED, load_cues

log = logging.getLogger(__name__)

SIGNALS: tuple[str, ...] = (
    "greeting",
    "introduction",
    "reason_for_contact",
    "formal_address",
    "informal_address",
    "polite_request",
    "gratitude",
    "apology",
    "empathy",
    "reassurance",
    "open_question",
    "explain_next_steps",
    "offer_help",
    "ask_permission",
    "closing",
    "command",
    "jargon",
    "dismissive",
    "blame",
    "threat",
    "profanity",
    "guessing_game",
    "leave_taking",
    "search_request",
    "exit_order",
    "fishing_question",
    "id_request",
)

# One-to-one character replacements, so spans in the normalised text are spans in the original.
_NORMALISE = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u00b4": "'",
        "`": "'",
        "\uff07": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u3000": " ",
    }
)

# Detection reads at most this much of a line (the line itself is kept whole): regexes on
# megabytes help nobody, and a bound keeps one message's cost bounded.
MAX_MESSAGE_CHARS = 4000

_MACRO = re.compile(r"\{([A-Z][A-Z_]*)\}")
_LOOKBACK = 160  # characters of context inspected before a match (clause start, negation)
_GRAM = 6  # longest substring used by the re path's pre-filter (longer: more selective, costlier set)
# Characters that re.IGNORECASE lets match an ASCII letter: folded before taking grams.
_GRAM_FOLD = str.maketrans(_prefilter.ASCII_FOLDS)


@dataclass(frozen=True)
class Evidence:
    """One matched span: ``text[start:end] == quote`` in the original text."""

    signal: str
    start: int
    end: int
    quote: str
    detail: str | None = None


@dataclass(frozen=True)
class Detection:
    """All evidence found in one line, ordered by start."""

    text: str
    evidence: tuple[Evidence, ...]

    # Every signal named in the evidence: guards and the rubric ask the same line about many.
    # Set when the detection is made, which is what every detection is made for (a cached
    # property would take a lock on first use before Python 3.12: about 0.5 us a message).
    names: frozenset[str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset([e.signal for e in self.evidence]))

    def has(self, name: str) -> bool:
        return name in self.names

    def first(self, name: str) -> Evidence | None:
        return next((e for e in self.evidence if e.signal == name), None)


@dataclass(frozen=True)
class _Branch:
    """One pattern, plus groups of short grams: any match contains one gram of *each* group."""

    pattern: re.Pattern[str]
    # Only on the re path (see _re_path); None: no cheap pre-filter could be derived.
    grams: tuple[frozenset[str], ...] | None = None
    key: int = -1  # its index in the lexicon's pre-filter
    family: str | None = None  # the pattern family it belongs to, reported as the evidence's detail


@dataclass(frozen=True)
class _Rule:
    """One signal's patterns plus its context checks."""

    name: str
    branches: tuple[_Branch, ...]
    not_after: re.Pattern[str] | None  # searched in the clause text before the match
    not_before: re.Pattern[str] | None  # matched at the text right after the match
    negatable: bool  # a negator just before the match cancels it ("not sorry")
    clause_start: bool  # only filler words may precede it in its clause (bare commands)
    details: Mapping[str, str]  # canonical spelling of captured details (e.g. titles)
    weak: frozenset[str] = frozenset()  # families that show the behaviour only in context
    vetoed_by: tuple[str, ...] = ()  # signals that cancel it within the same sentence
    implies: tuple[str, ...] = ()  # signals it also shows, on the same words (a courteous close is a leave-taking)
    capitalise: bool = False  # the detail is a name: "ruiz" is written "Ruiz"
    not_in_sentence: re.Pattern[str] | None = None  # searched in the match's whole sentence; a hit cancels it
    yields_to: tuple[str, ...] = ()  # dropped where evidence of these overlaps it ("so sorry for your loss" is empathy)
    answers_feelings: bool = False  # a weak match counts when the resident's last line expressed a feeling
    substantive: bool = False  # says what is being done: a clause holding it is never a mere set phrase
    veto_scope: str = "sentence"  # where a `vetoed_by` signal cancels it: the sentence, or the whole message


@dataclass(frozen=True)
class _Feature:
    """A marker used only by an estimate: a politeness strategy (respect), or a way of
    dismissing feelings that is not a signal of its own (empathy's `dismissing`)."""

    name: str
    pattern: re.Pattern[str]
    weight: float
    grams: tuple[frozenset[str], ...] | None = None
    key: int = -1
    subscore: str = ""  # empathy features: the sub-score it counts in
    before_acknowledgement: bool = False  # counts only before the line's first acknowledgement
    # With Hyperscan, for a line no scan has looked at (a replay's empathy): the literal text
    # every match contains, as for a scenario's own patterns (`_needles`). None: it simply runs.
    needles: tuple[tuple[str, ...], ...] | None = None


@dataclass(frozen=True)
class Cue:
    """One matched span's part in an estimate: ``text[start:end] == quote``."""

    name: str  # the signal ("empathy/sympathy" with its family) or the feature
    points: float
    start: int
    end: int
    quote: str
    subscore: str = ""  # empathy only


@dataclass(frozen=True)
class Lexicon:
    """Everything loaded from ``lexicon/*.yaml``, compiled."""

    rules: tuple[_Rule, ...]
    boundary: re.Pattern[str]
    negation: re.Pattern[str]
    clause_lead: re.Pattern[str]
    respect_weights: Mapping[str, float]
    respect_features: tuple[_Feature, ...]
    respect_scale: float
    empathy_cues: Mapping[str, tuple[str, float]]  # "signal" or "signal/family" -> (sub-score, points)
    empathy_features: tuple[_Feature, ...]
    empathy_half: float  # points at which the estimate is 50
    empathy_subscores: Mapping[str, bool]  # sub-score -> whether it counts in the estimate
    empathy_mood: Mapping[str, float]  # how the estimate scales empathy's mood effect (mood_weight)
    ranks: Mapping[str, str]  # spoken rank (lower case) -> how a resident says it ("sgt" -> "Sergeant")
    sentence_end: re.Pattern[str]
    hedge: re.Pattern[str]
    claim_negation: re.Pattern[str]
    # One Hyperscan scan per line finds where any pattern can match; None: plain re.
    prefilter: _prefilter.Prefilter | None = None
    # Every (rule, branch) in detection order; a branch's key is its index here.
    branches: tuple[tuple[_Rule, _Branch], ...] = ()

    @functools.cached_property
    def titles_longest_first(self) -> tuple[str, ...]:
        """How residents say each rank, longest first ("Staff Sergeant" before "Sergeant")."""
        return tuple(sorted(dict.fromkeys(title for title in self.ranks.values() if title), key=len, reverse=True))


# --------------------------------------------------------------------------- loading


def _read_yaml(name: str) -> dict[str, Any]:
    path = resources.files("bot.engine") / "lexicon" / name
    data = load_safe(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"lexicon/{name}: expected a mapping at the top level")
    return data


# What shapes a pattern for `_optional_apostrophes`: an escape, a class's brackets, a group's
# parentheses, an apostrophe. Everything between them is copied as it is.
_APOSTROPHE_SHAPE = re.compile(r"\\.|[\[\]()']", re.DOTALL)


def _optional_apostrophes(pattern: str) -> str:
    """Make literal apostrophes optional ("don't" ~ "dont"), except in classes and look-behinds."""
    if "'" not in pattern:
        return pattern
    out: list[str] = []
    groups: list[bool] = []  # per open group: is it a look-behind (must stay fixed-width)?
    in_class = False
    copied = 0
    for m in _APOSTROPHE_SHAPE.finditer(pattern):
        ch, i = m.group(), m.start()
        if len(ch) == 2:  # an escape: whatever it escapes stays as it is
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            groups.append(pattern.startswith(("(?<=", "(?<!"), i))
        elif ch == ")" and groups:
            groups.pop()
        elif ch == "'" and pattern[i + 1 : i + 2] != "?" and not any(groups):
            out.append(pattern[copied : i + 1])
            out.append("?")
            copied = i + 1
    out.append(pattern[copied:])
    return "".join(out)


def _expand(pattern: str, macros: Mapping[str, str]) -> str:
    for _ in range(5):  # macros may use macros; a fixed depth avoids runaway recursion
        expanded = _MACRO.sub(lambda m: macros.get(m.group(1), m.group(0)), pattern)
        if expanded == pattern:
            break
        pattern = expanded
    unknown = _MACRO.search(pattern)
    if unknown:
        raise ValueError(f"unknown lexicon macro {{{unknown.group(1)}}} in {pattern!r}")
    return pattern


def _compile(pattern: str, macros: Mapping[str, str]) -> re.Pattern[str]:
    """A context check's pattern (negation, hedges, a rule's `not_after`...), behind its
    first-character guard (bot/engine/lazy_pattern.py)."""
    body = _optional_apostrophes(_expand(pattern, macros))
    return re.compile(first_character_guard(body, re.IGNORECASE) + body, re.IGNORECASE)


def _compile_lazily(pattern: str, macros: Mapping[str, str]) -> re.Pattern[str]:
    """The same, compiled on first use (the pre-filter's patterns: see bot/engine/lazy_pattern.py)."""
    return compile_lazily(_optional_apostrophes(_expand(pattern, macros)), re.IGNORECASE, guarded=True)


def _requirements(items: Any) -> list[set[str]]:
    """Every mandatory part of a parsed pattern, each as the strings one of which it contains.

    Skipping patterns whose required text is absent from a line is what keeps ~400
    patterns fast: Python's regex engine would otherwise try each at every position. A
    match must satisfy *all* parts, so checking several skips far more patterns on lines
    that contain a common word of the pattern ("you", "that") but not its rarer other half.
    """
    reqs: list[set[str]] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            reqs.append({"".join(run)})
            run.clear()

    for op, av in items:
        kind = op.name
        if kind == "LITERAL":
            run.append(chr(av).lower())
            continue
        flush()
        if kind == "SUBPATTERN":
            reqs.extend(_requirements(av[3]))
        elif kind == "ATOMIC_GROUP":
            reqs.extend(_requirements(av))
        elif kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[0] >= 1:
            reqs.extend(_requirements(av[2]))
        elif kind == "BRANCH":
            found: set[str] = set()
            for alternative in av[1]:
                sub = _most_selective(_requirements(alternative))
                if sub is None:
                    found = set()
                    break
                found |= sub
            if found:
                reqs.append(found)
    flush()
    return reqs


def _most_selective(reqs: list[set[str]]) -> set[str] | None:
    """The requirement whose shortest string is longest: one alternative's best filter."""
    return max(reqs, key=lambda req: min(map(len, req)), default=None)


_MAX_GROUPS = 4  # pre-filter groups checked per pattern (each check is one small set op)


def _grams(pattern: str) -> tuple[frozenset[str], ...] | None:
    try:
        reqs = _requirements(_sre_parse.parse(pattern, re.IGNORECASE))
    except Exception:  # a pre-filter is an optimisation; never let it break loading
        return None
    groups: list[frozenset[str]] = []
    for req in reqs:
        if not req or any(len(p) < 2 or not p.isascii() for p in req):
            # Single letters are not in the text's gram set; a non-ASCII letter may match
            # another case variant than its lower(): neither is usable as a filter.
            continue
        group = frozenset(p[:_GRAM] for p in req)
        if group not in groups:
            groups.append(group)
    if not groups:
        return None
    groups.sort(key=lambda g: (-min(map(len, g)), len(g)))  # most selective first
    return tuple(groups[:_MAX_GROUPS])


def _branches(patterns: Sequence[str] | Mapping[str, Sequence[str]], macros: Mapping[str, str]) -> tuple[_Branch, ...]:
    """A signal's patterns: a list, or families (name -> list) whose name each match carries."""
    families = patterns.items() if isinstance(patterns, Mapping) else [(None, patterns)]
    out = []
    for family, items in families:
        for raw in items:
            body = _optional_apostrophes(_expand(raw, macros))
            out.append(_Branch(compile_lazily(body, re.IGNORECASE, guarded=True), family=None if family is None else str(family)))
    return tuple(out)


def _text_grams(low: str) -> frozenset[str]:
    return frozenset(low[i : i + n] for n in range(2, _GRAM + 1) for i in range(len(low) - n + 1))


def _rule(name: str, spec: Mapping[str, Any], macros: Mapping[str, str]) -> _Rule:
    def optional(key: str) -> re.Pattern[str] | None:
        value = spec.get(key)
        return _compile(value, macros) if value else None

    try:
        branches = _branches(spec["patterns"], macros)
    except re.error as exc:
        raise ValueError(f"lexicon/signals.yaml: signal {name!r}: {exc}") from exc
    return _Rule(
        name=name,
        branches=branches,
        not_after=optional("not_after"),
        not_before=optional("not_before"),
        negatable=bool(spec.get("negatable", False)),
        clause_start=bool(spec.get("clause_start", False)),
        details={str(k).lower(): str(v) for k, v in (spec.get("details") or {}).items()},
        weak=frozenset(str(name) for name in spec.get("weak") or ()),
        vetoed_by=tuple(str(name) for name in spec.get("vetoed_by") or ()),
        implies=tuple(str(name) for name in spec.get("implies") or ()),
        capitalise=bool(spec.get("capitalise", False)),
        not_in_sentence=optional("not_in_sentence"),
        yields_to=tuple(str(name) for name in spec.get("yields_to") or ()),
        answers_feelings=bool(spec.get("answers_feelings", False)),
        substantive=bool(spec.get("substantive", False)),
        veto_scope=str(spec.get("veto_scope", "sentence")),
    )


@functools.lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Load and compile the lexicon once per process."""
    sig = _read_yaml("signals.yaml")
    scores = _read_yaml("scores.yaml")
    macros: dict[str, str] = {str(k): str(v) for k, v in sig["macros"].items()}
    specs: Mapping[str, Any] = sig["signals"]
    missing = [s for s in SIGNALS if s not in specs]
    if missing:
        raise ValueError(f"lexicon/signals.yaml lacks signals: {missing}")
    respect = scores["respect"]
    empathy = scores["empathy"]
    rules = tuple(_rule(name, specs[name], macros) for name in SIGNALS)
    features = [_Feature(str(name), _compile_lazily(f["pattern"], macros), float(f["weight"])) for name, f in respect["features"].items()]
    subscores = {str(name): bool(spec["in_estimate"]) for name, spec in empathy["subscores"].items()}
    cues: dict[str, tuple[str, float]] = {}
    for name, (subscore, points) in empathy["cues"].items():
        if subscore not in subscores:
            raise ValueError(f"lexicon/scores.yaml: empathy cue {name!r}: unknown sub-score {subscore!r}")
        cues[str(name)] = (str(subscore), float(points))
    empathy_features = []
    for name, f in empathy["features"].items():
        if f["subscore"] not in subscores:
            raise ValueError(f"lexicon/scores.yaml: empathy feature {name!r}: unknown sub-score {f['subscore']!r}")
        empathy_features.append(_Feature(
            str(name), _compile_lazily(f["pattern"], macros), float(f["points"]), subscore=str(f["subscore"]),
            before_acknowledgement=bool(f.get("before_acknowledgement", False)),
        ))
    # Every rule branch and respect feature gets its index in one pre-filter database.
    keyed_rules = []
    patterns: list[re.Pattern[str]] = []
    for rule in rules:
        branches = []
        for branch in rule.branches:
            branches.append(dataclasses.replace(branch, key=len(patterns)))
            patterns.append(branch.pattern)
        keyed_rules.append(dataclasses.replace(rule, branches=tuple(branches)))
    def keyed(features: Sequence[_Feature]) -> tuple[_Feature, ...]:
        out = []
        for feature in features:
            out.append(dataclasses.replace(feature, key=len(patterns)))
            patterns.append(feature.pattern)
        return tuple(out)

    keyed_features = keyed(features)
    keyed_empathy = keyed(empathy_features)
    lexicon = Lexicon(
        rules=tuple(keyed_rules),
        boundary=_compile(sig["clause_boundary"], macros),
        negation=_compile(sig["negation_before"], macros),
        clause_lead=_compile(sig["clause_lead"], macros),
        respect_weights={str(k): float(v) for k, v in respect["signals"].items()},
        respect_features=keyed_features,
        respect_scale=float(respect["scale"]),
        empathy_cues=cues,
        # Empathy's features run on lines no scan looked at (a replay's mood weight): screened.
        empathy_features=tuple(dataclasses.replace(f, needles=_needles(f.pattern)) for f in keyed_empathy),
        empathy_half=float(empathy["half"]),
        empathy_subscores=subscores,
        empathy_mood={str(k): float(v) for k, v in empathy["mood"].items()},
        ranks={str(k).lower(): str(v) for k, v in sig["ranks"].items()},
        sentence_end=_compile(sig["sentence_end"], macros),
        hedge=_compile(sig["hedge_before"], macros),
        claim_negation=_compile(sig["claim_negation_before"], macros),
        prefilter=_prefilter.load(patterns),
        branches=tuple((rule, branch) for rule in keyed_rules for branch in rule.branches),
    )
    if lexicon.prefilter is None or not lexicon.prefilter.from_cache:
        # The patterns compile on first use. A cached pre-filter exists only for patterns that
        # all compiled when it was built; otherwise compile them now, so a wrong one stops the
        # load, naming its signal, instead of a line long after.
        _compile_all(lexicon)
    return lexicon if lexicon.prefilter is not None else _re_path(lexicon)


def prepare_detectors() -> Lexicon:
    """Everything detection may need, loaded now, for a process that plays scenes (the bot,
    `trainer play`): the lexicon, its pre-filter's database for long lines (otherwise read at
    the first long line) and the learned cues (otherwise read at the first line), so that no
    trainee's line waits for them. A command that only looks at a few lines needs none of it
    up front."""
    lexicon = load_lexicon()
    if lexicon.prefilter is not None:
        lexicon.prefilter.database  # noqa: B018 - read for its effect: the database loaded
    load_cues()
    return lexicon


def compile_every_pattern() -> None:
    """Compile every lexicon pattern now rather than at its first use: before forking
    workers, which would otherwise each compile them again."""
    _compile_all(load_lexicon())


def _compile_all(lex: Lexicon) -> None:
    named = [(f"lexicon/signals.yaml: signal {rule.name!r}", b.pattern) for rule in lex.rules for b in rule.branches]
    named += [(f"lexicon/scores.yaml: respect feature {f.name!r}", f.pattern) for f in lex.respect_features]
    named += [(f"lexicon/scores.yaml: empathy feature {f.name!r}", f.pattern) for f in lex.empathy_features]
    for where, pattern in named:
        if isinstance(pattern, LazyPattern):
            try:
                pattern.compiled()
            except re.error as exc:
                raise ValueError(f"{where}: {exc}") from exc


def _re_path(lex: Lexicon) -> Lexicon:
    """The lexicon without Hyperscan: every pattern gets its gram pre-filter instead."""
    def branch(b: _Branch) -> _Branch:
        return dataclasses.replace(b, grams=_grams(b.pattern.pattern))

    rules = tuple(dataclasses.replace(r, branches=tuple(branch(b) for b in r.branches)) for r in lex.rules)
    return dataclasses.replace(
        lex,
        prefilter=None,
        rules=rules,
        branches=tuple((rule, b) for rule in rules for b in rule.branches),
        respect_features=tuple(dataclasses.replace(f, grams=_grams(f.pattern.pattern)) for f in lex.respect_features),
        empathy_features=tuple(dataclasses.replace(f, grams=_grams(f.pattern.pattern), needles=None) for f in lex.empathy_features),
    )


# --------------------------------------------------------------------------- detection


def _normalise(text: str) -> str:
    # An ASCII line without a backtick has nothing to replace (most lines): no table walk.
    if text.isascii() and "`" not in text:
        return text
    return text.translate(_NORMALISE)


def _clause_before(norm: str, start: int, boundary: re.Pattern[str]) -> str:
    """The text of the current clause up to ``start`` (after the last punctuation)."""
    window = norm[max(0, start - _LOOKBACK) : start]
    cut = 0
    for m in boundary.finditer(window):
        cut = m.end()
    return window[cut:]


def _span_and_detail(m: re.Match[str], rule: _Rule, lex: Lexicon) -> tuple[int, int, str | None]:
    start, end = m.span()
    detail: str | None = None
    rank: str | None = None
    for key, value in m.groupdict().items():
        if value is None:
            continue
        if key == "span":
            start, end = m.span(key)
        elif key == "detail":
            cleaned = value.strip(" .,'")
            detail = rule.details.get(cleaned.lower(), cleaned) or None
        elif key == "rank":
            spoken = " ".join(value.lower().strip(" .,").split())
            rank = lex.ranks.get(spoken, spoken.title())
    if detail and rule.capitalise and (detail.islower() or detail.isupper()):
        detail = detail.title()  # a name typed in lower case: "sgt ruiz" is still Sergeant Ruiz
    if rank and detail:
        detail = f"{rank} {detail}"  # "tpr nguyen" is addressed as "Trooper Nguyen"
    elif rank:
        detail = rank  # "I'm a deputy": the rank without a name (see `is_weak`)
    return start, end, detail


def _in_context(norm: str, start: int, end: int, rule: _Rule, lex: Lexicon, *, clause_start: bool = True) -> bool:
    if not (rule.not_after or rule.negatable or rule.clause_start or rule.not_before or rule.not_in_sentence):
        return True
    before = _clause_before(norm, start, lex.boundary)
    if clause_start and rule.clause_start and not lex.clause_lead.fullmatch(before):
        return False
    if rule.negatable and lex.negation.search(before):
        return False
    if rule.not_after and rule.not_after.search(before):
        return False
    if rule.not_before and rule.not_before.match(norm, end):
        return False
    if rule.not_in_sentence and rule.not_in_sentence.search(_sentence_around(norm, start, end, lex)):
        return False
    return True


def _sentence_around(norm: str, start: int, end: int, lex: Lexicon) -> str:
    """The sentence holding norm[start:end], bounded like the look-back so long inputs stay linear."""
    window_start = max(0, start - _LOOKBACK)
    head = norm[window_start:start]
    cut = 0
    for m in lex.sentence_end.finditer(head):
        cut = m.end()
    tail = norm[end : end + _LOOKBACK]
    stop = lex.sentence_end.search(tail)
    return head[cut:] + norm[start:end] + (tail[: stop.start()] if stop else tail)


def _scan(prefilter: _prefilter.Prefilter, norm: str) -> _prefilter.Hits | None:
    try:
        return prefilter.scan(norm)
    except Exception:  # the scan only saves work: without it every pattern runs (same result)
        log.warning("hyperscan scan failed; this line is matched with plain re", exc_info=True)
        return None


class _Line:
    """One normalised line and what its pre-filter found: computed once, asked per pattern."""

    __slots__ = ("norm", "_prefilter", "_hits", "_grams", "_folded", "_keys")

    def __init__(self, norm: str, lex: Lexicon, *, scan: bool = True) -> None:
        self.norm = norm
        self._prefilter = lex.prefilter
        self._hits = _scan(lex.prefilter, norm) if lex.prefilter is not None and scan else None
        self._grams: frozenset[str] | None = None
        self._folded: str | None = None
        self._keys: Collection[int] | None = None

    def _runnable(self) -> Collection[int]:
        """Indexes of the patterns worth running: those the scan reported, and any it cannot speak for."""
        keys = self._keys
        if keys is None:
            unfiltered = self._prefilter.unfiltered  # type: ignore[union-attr]
            keys = self._keys = self._hits.keys() | unfiltered if unfiltered else self._hits.keys()  # type: ignore[union-attr]
        return keys

    @property
    def folded(self) -> str:
        """Lower case, with the letters re.IGNORECASE matches to ASCII folded to them."""
        if self._folded is None:
            norm = self.norm
            # The folds are all of non-ASCII letters: an ASCII line is only lower-cased.
            self._folded = norm.lower() if norm.isascii() else norm.translate(_GRAM_FOLD).lower()
        return self._folded

    def branches(self, lex: Lexicon) -> Sequence[tuple[_Rule, _Branch]]:
        """The branches worth running, in detection order (all of them without Hyperscan)."""
        if self._hits is None:
            return lex.branches
        count = len(lex.branches)
        return [lex.branches[key] for key in sorted(self._runnable()) if key < count]

    @property
    def whole_line(self) -> bool:
        """Whether each pattern `branches` and `features` give runs over the whole line, as
        its own ``finditer``: so the scan says of a short line (see `Prefilter.finditer`)."""
        hits = self._hits
        return hits is not None and (not hits.located or len(self.norm) <= _prefilter.SHORT_LINE)

    def features(self, features: Sequence[_Feature]) -> Sequence[_Feature]:
        """The features worth running, in order (without Hyperscan, all of them: `finditer`
        filters them by their grams)."""
        if self._hits is None:
            if self._prefilter is None or not any(f.needles for f in features):
                return features
            folded = self.folded  # a line not scanned: each feature runs only where its needles are
            return [f for f in features if not f.needles or _has_needles(folded, f.needles)]
        keys = self._runnable()
        return [f for f in features if f.key in keys]

    def finditer(self, pattern: re.Pattern[str], key: int, groups: tuple[frozenset[str], ...] | None) -> Iterable[re.Match[str]]:
        """Exactly ``pattern.finditer(norm)``; the pre-filter only skips work."""
        if self._hits is not None:
            return self._prefilter.finditer(key, pattern, self.norm, self._hits)  # type: ignore[union-attr]
        if groups is not None:
            grams = self._grams
            if grams is None:
                grams = self._grams = _text_grams(self.folded)
            for group in groups:
                if group.isdisjoint(grams):
                    return ()
        return pattern.finditer(self.norm)


def _rule_evidence(line: _Line, text: str, lex: Lexicon) -> list[Evidence]:
    found = []
    norm = line.norm
    # Where every pattern worth running runs over the whole line (nearly every message),
    # it is called as itself, without asking the pre-filter pattern by pattern.
    whole = line.whole_line
    for rule, branch in line.branches(lex):
        for m in branch.pattern.finditer(norm) if whole else line.finditer(branch.pattern, branch.key, branch.grams):
            start, end, detail = _span_and_detail(m, rule, lex)
            if end <= start or not _in_context(norm, m.start(), m.end(), rule, lex):
                continue
            if rule.capitalise and (not detail or detail in lex.ranks.values()):
                continue  # "I'm with the sheriff's office" says what, not who: no name, no introduction
            found.append(Evidence(rule.name, start, end, text[start:end], detail or branch.family))
    return found


_NEEDLES: dict[int, tuple[re.Pattern[str], tuple[tuple[str, ...], ...] | None]] = {}


def _needles(pattern: re.Pattern[str]) -> tuple[tuple[str, ...], ...] | None:
    """Literal text every match of a scenario's pattern contains (one of each group), derived
    once per pattern object: a scenario's own signals are skipped cheaply on lines without it.

    The same requirements as the lexicon's grams, checked by substring search instead: for
    a few dozen patterns that beats building a line's gram set; for ~460 it does not."""
    cached = _NEEDLES.get(id(pattern))
    if cached is not None and cached[0] is pattern:
        return cached[1]
    try:
        reqs = _requirements(_sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:  # a pre-filter is an optimisation; never let it break detection
        reqs = []
    groups: list[tuple[str, ...]] = []
    for req in reqs:
        group = tuple(sorted(req))
        if req and all(len(s) >= 2 and s.isascii() for s in req) and group not in groups:
            groups.append(group)
    if not groups:
        # No literal of two letters (`\bB ?(&|and|n) ?E\b`): a letter and what may follow it
        # ("b ", "b&", "ba", "bn") still keep the pattern off most lines.
        groups = _letter_pairs(pattern)
    groups.sort(key=lambda g: (-min(map(len, g)), len(g)))
    needles = tuple(groups[:_MAX_GROUPS]) or None
    if len(_NEEDLES) > 4096:  # patterns of scenarios loaded and dropped again
        _NEEDLES.clear()
    _NEEDLES[id(pattern)] = (pattern, needles)  # the pattern is kept, so its id stays its own
    return needles


_FOLLOWERS = 8  # most characters that may follow a letter, for its pairs to be a needle group


def _letter_pairs(pattern: re.Pattern[str]) -> list[tuple[str, ...]]:
    """Needle groups of two characters: for a letter every match holds (one of the pattern's
    own, outside any group), each character that can come next with it."""
    try:
        items = list(_sre_parse.parse(pattern.pattern, pattern.flags))
    except Exception:  # a pre-filter is an optimisation; never let it break detection
        return []
    groups: list[tuple[str, ...]] = []
    for k, (op, av) in enumerate(items):
        if op.name != "LITERAL" or not chr(av).isascii():
            continue
        following, may_end = first_chars(items[k + 1 :], _FOLLOWERS)
        if following is None or may_end or not all(c.isascii() for c in following):
            continue
        group = tuple(sorted(chr(av).lower() + c for c in following))
        if group not in groups:
            groups.append(group)
    return groups


def _has_needles(low: str, needles: tuple[tuple[str, ...], ...]) -> bool:
    for group in needles:
        for needle in group:
            if needle in low:
                break
        else:
            return False
    return True


class _ExtraPlan:
    """A scenario's own signals, prepared once for every message they are searched in.

    Each pattern runs only on lines holding one literal of each of its needle groups
    (`_needles`), exactly as `_has_needles` decides. The first (most selective) group is
    checked for all patterns at once: one search finds which of those needles the line
    holds, and only the few patterns they belong to check their other groups. Patterns
    run in their mapping's order, so each charges its budget exactly as before.
    """

    __slots__ = ("entries", "budgets", "needles", "_words", "_finder", "_closure", "_by_needle", "_always", "_rest", "_candidates", "_found")

    def __init__(self, extra: Mapping[str, Sequence[re.Pattern[str]]], needles: Callable[[re.Pattern[str]], tuple[tuple[str, ...], ...] | None]) -> None:
        entries = []
        for name, patterns in extra.items():
            for pattern in patterns:
                entries.append((str(name), pattern, needles(pattern) or ()))
        self.entries: tuple[tuple[str, re.Pattern[str], tuple[tuple[str, ...], ...]], ...] = tuple(entries)
        self.budgets = _pattern_budgets(pattern for _name, pattern, _groups in self.entries)
        self._always = frozenset(i for i, (_n, _p, groups) in enumerate(self.entries) if not groups)
        self._rest = tuple(groups[1:] for _n, _p, groups in self.entries)  # checked by substring search
        by_needle: dict[str, list[int]] = {}
        for i, (_name, _pattern, groups) in enumerate(self.entries):
            if groups:
                for needle in groups[0]:
                    by_needle.setdefault(needle, []).append(i)
        self._by_needle = {needle: tuple(ids) for needle, ids in by_needle.items()}
        self.needles = frozenset(by_needle)  # every pattern's first group, together
        # One RE2 pass reports every needle in the line; the patterns each one lets through
        # its first group, by the needle's index there.
        self._words: _Substrings | None = None
        self._found: tuple[frozenset[int], ...] = ()
        self._finder: re.Pattern[str] | None = None
        self._closure: dict[str, frozenset[str]] = {}
        self._candidates: dict[str, frozenset[int]] = {}
        if not self.needles:
            return
        try:
            self._words = _Substrings(sorted(self.needles))
            self._found = tuple(frozenset(self._by_needle[needle]) for needle in self._words.words)
            return
        except ValueError as exc:
            log.debug("a scenario's needles are searched by re: %s", exc)
        # Without the set: the finder reports, at each place, the longest needle starting
        # there; the others starting there are its prefixes, so each stands for those too.
        self._closure = {needle: frozenset(n for n in self.needles if needle.startswith(n)) for needle in self.needles}
        # The patterns a reported needle (and so each of its prefixes) lets through its first group.
        self._candidates = {needle: frozenset(i for n in prefixes for i in self._by_needle[n]) for needle, prefixes in self._closure.items()}
        self._finder = re.compile(f"(?=({_trie_source(self.needles)}))")

    def present(self, low: str) -> set[str]:
        """The first-group needles that occur in `low`: exactly {n for n in needles if n in low}."""
        found: set[str] = set()
        if self._words is not None:
            words = self._words.words
            found.update(words[k] for k in self._words.within(low))
        elif self._finder is not None:
            closure = self._closure
            for needle in self._finder.findall(low):
                found |= closure[needle]
        return found

    def runnable(self, low: str) -> list[int]:
        """The patterns (indexes into `entries`, in order) whose needles are all in `low`."""
        candidates = set(self._always)
        if self._words is not None:
            of_index = self._found
            for k in self._words.within(low):
                candidates |= of_index[k]
        elif self._finder is not None:
            of = self._candidates
            for needle in self._finder.findall(low):
                candidates |= of[needle]
        rest = self._rest
        return [i for i in sorted(candidates) if _has_needles(low, rest[i])]


def _trie_source(words: Iterable[str]) -> str:
    """A regex matching any of `words`, factored by common prefixes, that tries longer
    words first: at a place where several match, it matches the longest."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def source(node: dict[str, Any]) -> str:
        alternatives = [re.escape(char) + source(child) for char, child in sorted(node.items()) if char]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body

    return source(root)


_PLANS: dict[int, tuple[Mapping[str, Sequence[re.Pattern[str]]], tuple[Any, ...], tuple[Any, ...], _ExtraPlan]] = {}


def _extra_plan(extra: Mapping[str, Sequence[re.Pattern[str]]]) -> _ExtraPlan:
    """The plan of a mapping of scenario signals, made once per mapping (a scenario's stays
    the same for its life); a mapping changed since is planned again."""
    keys, values = tuple(extra), tuple(extra.values())
    cached = _PLANS.get(id(extra))
    # Tuples of the same patterns: the same plan (a tuple compares its items by identity first).
    if cached is not None and cached[0] is extra and cached[1] == keys and cached[2] == values:
        return cached[3]
    plan = _ExtraPlan(extra, _needles)
    if all(type(v) is tuple for v in values):  # a list may change in place: never kept
        if len(_PLANS) > 256:  # mappings of scenarios loaded and dropped again
            _PLANS.clear()
        _PLANS[id(extra)] = (extra, keys, values, plan)  # the mapping is kept, so its id stays its own
    return plan


def _extra_evidence(
    line: _Line, text: str, extra: Mapping[str, Sequence[re.Pattern[str]]]
) -> list[Evidence]:
    found = []
    norm = line.norm
    plan = _extra_plan(extra)
    for budget in plan.budgets:  # a full budget for this message (patterns.new_message)
        budget.new_message()
    entries = plan.entries
    for i in plan.runnable(line.folded):
        name, pattern, _groups = entries[i]
        spans = getattr(pattern, "spans", None)  # a scenario's patterns have it; a plain re.Pattern does not
        for start, end in spans(norm) if spans is not None else (m.span() for m in pattern.finditer(norm)):
            if end > start:
                found.append(Evidence(name, start, end, text[start:end]))
    return found


def _without_overlaps(evidence: list[Evidence]) -> tuple[Evidence, ...]:
    """Keep, per signal, the earliest-longest of overlapping spans, ordered by start."""
    evidence.sort(key=lambda e: (e.start, -(e.end - e.start), e.signal))
    last_end: dict[str, int] = {}
    kept = []
    for e in evidence:
        if e.start >= last_end.get(e.signal, -1):
            kept.append(e)
            last_end[e.signal] = e.end
    return tuple(kept)


def detect(
    text: str, extra: Mapping[str, Sequence[re.Pattern[str]]] | None = None, *, learned: bool = True
) -> Detection:
    """Find every built-in signal (and scenario ``extra`` signals) in one trainee line.

    ``extra`` maps a signal name to compiled patterns; they run on the normalised text
    (straight apostrophes), so a pattern written with ``'`` also matches ``’``. With
    ``learned``, behaviours the learned cues see and no rule found are added, marked
    ``detail == "learned"`` (cues.py); grading ignores them (judge.py).
    """
    return _detect(text, extra, load_lexicon(), learned)


def _detect(
    text: str, extra: Mapping[str, Sequence[re.Pattern[str]]] | None, lex: Lexicon, learned: bool = True
) -> Detection:
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    line = _line(_normalise(text), lex)
    evidence = _rule_evidence(line, text, lex)
    if extra:
        evidence.extend(_extra_evidence(line, text, extra))
    kept = _without_yielded(_with_implied(_without_overlaps(evidence), lex), lex)
    # Vetoes apply to learned cues too: a threat is never a reason, however it was found.
    if learned:
        kept = _with_learned(line.norm, text, kept, lex)
    return Detection(text=text, evidence=_without_vetoed(line.norm, kept, lex))


def _with_learned(norm: str, text: str, evidence: tuple[Evidence, ...], lex: Lexicon) -> tuple[Evidence, ...]:
    """Add the behaviours the learned cues see and no rule found (cues.py), each quoting the
    words that weighed most; the rules' own evidence always stands."""
    model = load_cues()
    if model is None or not norm.strip():
        return evidence
    found = frozenset(e.signal for e in evidence)
    rules = _tables(lex).by_name
    # A learned cue passes the same context checks as its signal's rules: "no thanks" is not
    # thanks, "I'm not sorry" no apology, however strongly "thanks" or "sorry" weigh.
    # Nor where the rules already explained the same words as another behaviour ("have a good
    # evening" is a closing, not a greeting).
    learned = [
        Evidence(name, start, end, text[start:end], LEARNED)
        for name, _, (key_start, key_end), (start, end) in model.propose(norm.lower(), found)
        if name in rules and _in_context(norm, key_start, key_end, rules[name], lex, clause_start=False)
        and not any(e.start < key_end and key_start < e.end for e in evidence)
    ]
    if not learned:
        return evidence
    return tuple(sorted((*evidence, *learned), key=lambda e: (e.start, -(e.end - e.start), e.signal)))


def _without_yielded(evidence: tuple[Evidence, ...], lex: Lexicon) -> tuple[Evidence, ...]:
    yields = _tables(lex).yields
    if not any(e.signal in yields for e in evidence):
        return evidence
    return tuple(
        e for e in evidence
        if not any(o.signal in yields.get(e.signal, ()) and o.start < e.end and e.start < o.end for o in evidence)
    )


def _with_implied(evidence: tuple[Evidence, ...], lex: Lexicon) -> tuple[Evidence, ...]:
    implies = _tables(lex).implies
    extra = [
        Evidence(implied, e.start, e.end, e.quote)
        for e in evidence for implied in implies.get(e.signal, ())
        if not any(o.signal == implied and o.start < e.end and e.start < o.end for o in evidence)
    ]
    if not extra:
        return evidence
    return _without_overlaps([*evidence, *extra])


def _without_vetoed(norm: str, evidence: tuple[Evidence, ...], lex: Lexicon) -> tuple[Evidence, ...]:
    """Drop evidence whose sentence also shows a signal that cancels it ("I stopped you because
    you're going to jail" is a threat, never a reason)."""
    vetoes = _tables(lex).vetoes
    if not vetoes or not any(e.signal in vetoes for e in evidence):
        return evidence
    in_message = {e.signal for e in evidence}
    # A veto needs its signal somewhere in the message: without one, no sentence need be found.
    if not any(v in in_message for name in in_message if name in vetoes for v in vetoes[name].vetoed_by):
        return evidence
    sentence = _sentence_index(norm, lex)
    by_sentence: dict[int, set[str]] = {}
    for e in evidence:
        by_sentence.setdefault(sentence(e.start), set()).add(e.signal)

    def cancelled(e: Evidence) -> bool:
        rule = vetoes.get(e.signal)
        if rule is None:
            return False
        around = in_message if rule.veto_scope == "message" else by_sentence[sentence(e.start)]
        return any(v in around for v in rule.vetoed_by)

    return tuple(e for e in evidence if not cancelled(e))


def _sentence_index(norm: str, lex: Lexicon) -> Callable[[int], int]:
    ends = [m.end() for m in lex.sentence_end.finditer(norm)]
    return lambda offset: bisect.bisect_right(ends, offset)


def normalise(text: str) -> str:
    """The text as detectors see it, the same length as the original (spans index both)."""
    return _normalise(text)


def negated(norm: str, start: int) -> bool:
    """Whether a negator ("not", "never", "didn't") comes before `start` in its clause."""
    lex = load_lexicon()
    return bool(lex.negation.search(_clause_before(norm, start, lex.boundary)))


def asserted(norm: str, start: int) -> bool:
    """Whether what starts at `start` is said as a fact: not negated, not hedged ("if", "I can't
    promise", "hopefully") in its clause."""
    lex = load_lexicon()
    before = _clause_before(norm, start, lex.boundary)
    return not (lex.negation.search(before) or lex.claim_negation.search(before) or lex.hedge.search(before))


def is_weak(evidence: Evidence) -> bool:
    """Evidence that shows the behaviour in form only: from a `weak` pattern family ("I
    understand" with nothing to understand), or an introduction that gives no name."""
    rule = _rule_named(evidence.signal)
    if rule is None:
        return False
    unnamed = rule.capitalise and (not evidence.detail or evidence.detail in load_lexicon().ranks.values())
    return evidence.detail in rule.weak or unnamed


def answers_feelings(signal: str) -> bool:
    """Whether a weak match of this signal counts when it answers a feeling the resident expressed."""
    rule = _rule_named(signal)
    return rule is not None and rule.answers_feelings


def substantive(signal: str) -> bool:
    """Whether a credited match of this signal says what is being done ("I'm writing you a
    warning"), so that its clause is never counted as a set phrase in a list of them."""
    rule = _rule_named(signal)
    return rule is not None and rule.substantive


def _rule_named(name: str) -> _Rule | None:
    return _tables(load_lexicon()).by_name.get(name)


@dataclass(frozen=True)
class _Tables:
    """A lexicon's rules looked up by name, for what every line asks of them."""

    by_name: Mapping[str, _Rule]
    yields: Mapping[str, tuple[str, ...]]  # rule -> signals it yields to (non-empty only)
    implies: Mapping[str, tuple[str, ...]]
    vetoes: Mapping[str, _Rule]  # rules with a `vetoed_by`

    @classmethod
    def of(cls, lex: Lexicon) -> _Tables:
        return cls(
            by_name={rule.name: rule for rule in lex.rules},
            yields={rule.name: rule.yields_to for rule in lex.rules if rule.yields_to},
            implies={rule.name: rule.implies for rule in lex.rules if rule.implies},
            vetoes={rule.name: rule for rule in lex.rules if rule.vetoed_by},
        )


_last_tables: tuple[Lexicon, _Tables] | None = None


def _tables(lex: Lexicon) -> _Tables:
    """The tables of `lex`, made once (a process has one lexicon; tests make a few more)."""
    global _last_tables
    last = _last_tables
    if last is not None and last[0] is lex:
        return last[1]
    tables = _Tables.of(lex)
    _last_tables = (lex, tables)
    return tables


_last_line: tuple[Lexicon, _Line] | None = None


def _line(norm: str, lex: Lexicon, *, scan: bool = True) -> _Line:
    """The scanned line, reused when the respect score asks about the line just detected.
    Without `scan`, a line not just detected is not scanned: its patterns simply run (worth it
    for a couple of patterns, as empathy's features, when a replay asks without detecting)."""
    global _last_line
    last = _last_line
    if last is not None and last[0] is lex and last[1].norm == norm:
        return last[1]
    if not scan:
        return _Line(norm, lex, scan=False)
    line = _Line(norm, lex)
    _last_line = (lex, line)
    return line


# --------------------------------------------------------------------------- scores
#
# Both estimates are sums of points, each point traceable to quoted words (a `Cue`). Respect
# counts each signal and politeness feature once per line, through a logistic curve (50 is
# neutral). Empathy is additive: every matched span earns its points, so a conversation's
# points are the sum of its messages' (see `empathy_breakdown`).


def _squash(raw: float, scale: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, raw * scale))))


def _clamp(value: float) -> int:
    return max(0, min(100, round(value)))


def _matches(line: _Line, features: Sequence[_Feature], *, once: bool = False) -> Iterable[tuple[_Feature, int, int]]:
    """Every match of each feature that fires (with `once`, its first), as (feature, start,
    end); a `span` group narrows it."""
    for f in line.features(features):
        for m in line.finditer(f.pattern, f.key, f.grams):
            start, end = m.span("span") if "span" in f.pattern.groupindex and m.group("span") is not None else m.span()
            if end > start:
                yield f, start, end
                if once:
                    break


def respect_features(detection: Detection) -> dict[str, float]:
    """The internal politeness markers found in the line, with their weights (for tuning)."""
    return _respect_features(detection, load_lexicon())


def _respect_features(detection: Detection, lex: Lexicon) -> dict[str, float]:
    return {c.name: c.points for c in _respect_feature_cues(detection, lex)}


def _respect_feature_cues(detection: Detection, lex: Lexicon) -> list[Cue]:
    line = _line(_normalise(detection.text), lex)
    cues: dict[str, Cue] = {}
    for f, start, end in _matches(line, lex.respect_features, once=True):
        if f.name not in cues:  # each strategy counts once per line, quoting its first match
            cues[f.name] = Cue(f.name, f.weight, start, end, detection.text[start:end])
    return list(cues.values())


def respect_cues(detection: Detection) -> list[Cue]:
    """What the respect score adds up: each signal present (quoting its first evidence) with
    its weight, and each politeness feature found (quoting its first match), in text order."""
    return _respect_cues(detection, load_lexicon())


def _respect_cues(detection: Detection, lex: Lexicon) -> list[Cue]:
    cues = []
    for name in sorted(detection.names):
        weight = lex.respect_weights.get(name, 0.0)
        first = detection.first(name)
        if weight and first is not None:
            cues.append(Cue(name, weight, first.start, first.end, first.quote))
    cues.extend(_respect_feature_cues(detection, lex))
    cues.sort(key=lambda c: (c.start, c.end, c.name))
    return cues


def respect_score(detection: Detection) -> int:
    """0..100: signal weights (Voigt et al. 2017) plus politeness strategies; 50 is the
    median request of the calibration data (scores.yaml says how)."""
    return _respect_score(detection, load_lexicon())


def _respect_score(detection: Detection, lex: Lexicon) -> int:
    return _clamp(100 * _squash(sum(c.points for c in _respect_cues(detection, lex)), lex.respect_scale))


@dataclass(frozen=True)
class EmpathyBreakdown:
    """A text's empathy points: every cue that counts, by sub-score.

    ``points`` is the sum over the sub-scores that make the estimate (scores.yaml); the
    others (exploration, support) are shown beside it and never added in."""

    cues: tuple[Cue, ...]
    subscores: Mapping[str, float]
    points: float

    @property
    def estimate(self) -> int:
        return empathy_estimate(self.points)


def empathy_estimate(points: float) -> int:
    """0..100 from empathy points: points / (points + half), so each point still counts after
    many messages (a conversation's estimate keeps rising) and 0 points is 0."""
    half = load_lexicon().empathy_half
    points = max(0.0, points)
    return _clamp(100 * points / (points + half))


def empathy_breakdown(detection: Detection) -> EmpathyBreakdown:
    """The empathy cues of one text: each matched span earns its cue's points (scores.yaml),
    spans of one kind that overlap count once (the larger), and a feature marked
    `before_acknowledgement` counts only before the first acknowledgement of its line.

    One detection is one message (the scene's); `text_empathy` reads a text of several lines
    as several messages, so that a conversation scores the sum of its messages."""
    return _empathy_breakdown(detection, load_lexicon())


def _empathy_cues(detection: Detection, lex: Lexicon) -> list[Cue]:
    cues = []
    for e in detection.evidence:
        found = lex.empathy_cues.get(f"{e.signal}/{e.detail}") if e.detail else None
        name = f"{e.signal}/{e.detail}" if found else e.signal
        if found is None and e.detail != LEARNED:  # a learned cue counts only where scores.yaml says
            found = lex.empathy_cues.get(e.signal)
        if found is not None and found[1]:
            cues.append(Cue(name, found[1], e.start, e.end, e.quote, found[0]))
    return cues


def _group(cue: Cue, lex: Lexicon) -> tuple[str, bool]:
    """Cues of one group overlap only once: the estimate's gains, its losses, each other sub-score."""
    return ("estimate" if lex.empathy_subscores[cue.subscore] else cue.subscore, cue.points > 0)


def _once_per_phrase(cues: Iterable[Cue], lex: Lexicon) -> list[Cue]:
    kept: list[Cue] = []
    for cue in sorted(cues, key=lambda c: (c.start, -abs(c.points), c.end)):
        group = _group(cue, lex)
        rival = next((k for k in kept if _group(k, lex) == group and k.start < cue.end and cue.start < k.end), None)
        if rival is None:
            kept.append(cue)
        elif abs(cue.points) > abs(rival.points):
            kept[kept.index(rival)] = cue
    return kept


def _empathy_breakdown(detection: Detection, lex: Lexicon) -> EmpathyBreakdown:
    cues = _once_per_phrase(_empathy_cues(detection, lex), lex)
    norm = _normalise(detection.text)
    # Where each line's first acknowledgement starts (advice before it counts against).
    acknowledged = sorted(c.start for c in cues if c.points > 0 and lex.empathy_subscores[c.subscore])
    features = []
    for f, start, end in _matches(_line(norm, lex, scan=False), lex.empathy_features):
        if f.before_acknowledgement:
            line_start = norm.rfind("\n", 0, start) + 1
            first = bisect.bisect_left(acknowledged, line_start)
            if first < len(acknowledged) and acknowledged[first] < start:
                continue
        features.append(Cue(f.name, f.weight, start, end, detection.text[start:end], f.subscore))
    cues = sorted(_once_per_phrase([*cues, *features], lex), key=lambda c: (c.start, c.end, c.name))
    subscores = {name: 0.0 for name in lex.empathy_subscores}
    for cue in cues:
        subscores[cue.subscore] += cue.points
    points = sum(value for name, value in subscores.items() if lex.empathy_subscores[name])
    return EmpathyBreakdown(tuple(cues), {k: round(v, 2) for k, v in subscores.items()}, round(points, 2))


def empathy_score(detection: Detection) -> int:
    """0..100, 0 when nothing empathic was said: see `empathy_breakdown`."""
    return _empathy_breakdown(detection, load_lexicon()).estimate


def text_empathy(text: str) -> EmpathyBreakdown:
    """The empathy of a text read as messages, one per line: each line detected on its own
    (as the scene detects each message) and the points summed, so a conversation written
    one message per line scores exactly the sum of its messages. Spans index `text`."""
    lex = load_lexicon()
    if "\n" not in text:
        return _empathy_breakdown(detect(text), lex)
    cues: list[Cue] = []
    offset = 0
    for part in text.split("\n"):
        if part.strip():
            found = _empathy_breakdown(detect(part), lex)
            cues.extend(dataclasses.replace(c, start=c.start + offset, end=c.end + offset) for c in found.cues)
        offset += len(part) + 1
    subscores = {name: 0.0 for name in lex.empathy_subscores}
    for cue in cues:
        subscores[cue.subscore] += cue.points
    points = sum(value for name, value in subscores.items() if lex.empathy_subscores[name])
    return EmpathyBreakdown(tuple(cues), {k: round(v, 2) for k, v in subscores.items()}, round(points, 2))


def mood_weight(credited: Detection) -> float:
    """How much a message's empathy moves the resident: its estimate's points (of the evidence
    the judge credited) over the points of one clear acknowledgement, within bounds, so a
    formula calms less than a named feeling, and an acknowledgement undone in the same breath
    ("I'm sorry, but at least nobody was hurt") hardly at all."""
    lex = load_lexicon()
    points = _empathy_breakdown(credited, lex).points
    return max(0.0, min(lex.empathy_mood["most"], points / lex.empathy_mood["reference_points"]))


def _cue_json(cue: Cue) -> dict[str, Any]:
    return {"cue": cue.name, "points": cue.points, "quote": cue.quote, "start": cue.start, "end": cue.end}


def analyze(text: str, extra: Mapping[str, Sequence[re.Pattern[str]]] | None = None) -> dict[str, Any]:
    """JSON-ready summary of one line: signals with evidence, respect and empathy, each
    estimate with the quoted cues it adds up.

    `extra` adds a scenario's own signals (marked "scenario": true). Like a session's step,
    only the first MAX_MESSAGE_CHARS characters are analysed; "text" is the whole line, and
    "analyzed_chars" says where analysis stopped if it did.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    lex = load_lexicon()
    detection = detect(text[:MAX_MESSAGE_CHARS], extra)
    grouped: dict[str, list[dict[str, Any]]] = {}
    for e in detection.evidence:
        grouped.setdefault(e.signal, []).append(
            {"start": e.start, "end": e.end, "quote": e.quote, "detail": e.detail}
        )
    builtin = set(SIGNALS)
    respect = _respect_cues(detection, lex)
    # Several lines are several messages: empathy adds them up line by line (text_empathy).
    analysed = text[:MAX_MESSAGE_CHARS]
    empathy = text_empathy(analysed) if "\n" in analysed else _empathy_breakdown(detection, lex)
    out: dict[str, Any] = {
        "text": text,
        "signals": [
            {"name": name, "evidence": ev, **({} if name in builtin else {"scenario": True})}
            for name, ev in grouped.items()
        ],
        "respect": _clamp(100 * _squash(sum(c.points for c in respect), lex.respect_scale)),
        "empathy": empathy.estimate,
        "respect_detail": {"sum": round(sum(c.points for c in respect), 2), "cues": [_cue_json(c) for c in respect]},
        "empathy_detail": {
            "points": empathy.points,
            "subscores": {
                name: {
                    "points": empathy.subscores[name],
                    "in_estimate": in_estimate,
                    "cues": [_cue_json(c) for c in empathy.cues if c.subscore == name],
                }
                for name, in_estimate in lex.empathy_subscores.items()
            },
        },
    }
    if len(text) > MAX_MESSAGE_CHARS:
        out["analyzed_chars"] = MAX_MESSAGE_CHARS
    return out
