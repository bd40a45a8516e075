"""Compiling and running the regular expressions that scenario authors write.

Every pattern a scenario file carries (its own signals, its facts) goes through
`compile_pattern`, so there is one place that decides which patterns are safe to run on
every trainee message, and how they are run.

They run in RE2, an engine that cannot backtrack: matching takes time linear in the
length of the message, whatever the pattern. RE2 has no look-arounds and no
backreferences; one safe subset of look-arounds is kept because scenarios rely on it:
look-arounds at the very start of a pattern (``(?<!promise )\\bwe'll find``), checked at
each place the rest of the pattern matches. What a pattern may cost is bounded: its
size (so one search is quick), the part of a message it reads, the matches it reports
and the places it tries, and a `PatternBudget` shared by all the patterns of a scenario
caps the work they do on one message, so scenario patterns never hold up the bot
(bench/bench_patterns.py measures the worst cases). The work is counted, not timed, so
a message finds the same evidence however busy the machine is.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import re2

log = logging.getLogger("trainer.patterns")

MAX_PATTERN_CHARS = 1000
MAX_PROGRAM_SIZE = 1000  # RE2 instructions: one search takes at most ~ instructions x characters
MAX_TEXT_CHARS = 4000  # the engine detects signals on the first 4000 characters too
MAX_MATCHES = 8  # matches reported per message: evidence enough for any feedback
MAX_TRIES = 100  # searches per message, counting places a leading look-around turned down
SCENARIO_BUDGET = 60_000_000  # RE2 instructions x characters all the patterns of a scenario may read in one message
_EMPTY_PROBES = ("", " ", "a", "a b", "0", ".", "\u00e9", "a\nb")

_LOOKAROUND_PREFIXES = (("(?<!", "behind", False), ("(?<=", "behind", True), ("(?!", "ahead", False), ("(?=", "ahead", True))
_OPEN_COUNT = re.compile(r"(?<!\\)\{,\d*\}")  # Python reads 'a{,3}' as a{0,3}; RE2 as the text "a{,3}"
_SURROGATE = re.compile("[\ud800-\udfff]")


class UnsafePattern(ValueError):
    """A pattern that does not compile, or could take too long on some message."""


@dataclass(frozen=True)
class _Assertion:
    behind: bool
    positive: bool
    regex: Any  # re2 pattern of what the look-around looks for
    width: int  # a look-behind's fixed width, in characters

    def holds(self, text: str, at: int) -> bool:
        if self.behind:
            # fullmatch between two places keeps the text around them as context for \b
            found = at >= self.width and self.regex.fullmatch(text, at - self.width, at) is not None
        else:
            found = self.regex.match(text, at) is not None
        return found == self.positive


class ScenarioPattern:
    """A compiled scenario pattern: `.pattern`, `.search(text)`, `.finditer(text)`, and
    `.spans(text)` when only where the matches are is needed.

    Matches have `.start()`, `.end()`, `.span()` and `.group()`. Case-insensitive.
    """

    __slots__ = ("pattern", "size", "_body", "_assertions", "_budget")
    flags = re.IGNORECASE  # how Python's re would read `pattern`, for tools that parse it with re's parser

    def __init__(self, pattern: str, body: Any, assertions: tuple[_Assertion, ...], size: int, budget: PatternBudget) -> None:
        self.pattern = pattern
        self.size = size  # RE2 instructions
        self._body = body
        self._assertions = assertions
        self._budget = budget

    def __repr__(self) -> str:
        return f"ScenarioPattern({self.pattern!r})"

    def search(self, text: str) -> Any:
        return next(self.finditer(text), None)

    def finditer(self, text: str) -> Iterator[Any]:
        if not self._budget.open_for(text):
            return
        yield from self._matches(_matchable(text))

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of each match `finditer` finds, after the same searches, charged the
        same. An ASCII message (nearly every one) is searched as bytes, whose offsets are its
        characters': the RE2 wrapper then has no offsets to convert, which is most of what
        a search costs on a short message."""
        if not self._budget.open_for(text):
            return
        head = text[:MAX_TEXT_CHARS]
        for match in self._matches(head.encode("ascii") if head.isascii() else _matchable(text)):
            yield match.span()

    def _matches(self, text: Any) -> Iterator[Any]:
        """The searches of one message (`text` as RE2 takes it: str, or bytes of ASCII text)."""
        budget = self._budget
        searches = self._body.finditer(text) if not self._assertions else None
        pos, tries, found = 0, 0, 0
        while pos <= len(text) and tries < MAX_TRIES and found < MAX_MATCHES:
            # What this search may read, counted before it runs: RE2 does at most about one
            # step per instruction and character from `pos` to the end.
            if not budget.charge(self.size * (len(text) - pos + 1), self.pattern):
                return
            tries += 1
            if searches is not None:
                match = next(searches, None)
                accepted = True
            else:
                match = self._body.search(text, pos)
                # The assertions depend only on the place: when they fail, try the next place.
                accepted = match is not None and all(a.holds(text, match.start()) for a in self._assertions)
            if match is None:
                return
            start, end = match.span()
            if accepted:
                found += 1
                yield match
                pos = end if end > start else start + 1
            else:
                pos = start + 1


class PatternScreen:
    """Whether any of several patterns may match a message, in one search.

    Most messages match none of a scenario's `wrong` wordings; one RE2 search for all their
    bodies at once (their leading look-arounds left out, so it finds a superset) says so, and
    the patterns then need not run one by one. None of them matches where the screen finds
    nothing, so skipping them (`pass_over`) finds exactly what running them would.
    """

    def __init__(self, patterns: Sequence[Any]) -> None:
        self.patterns = tuple(patterns)
        self._budgets = budgets(self.patterns)
        self._any: Any = None
        if self.patterns and all(isinstance(p, ScenarioPattern) for p in self.patterns):
            try:
                self._any = re2.compile("|".join(f"(?:{p._body.pattern})" for p in self.patterns), _SCREEN_OPTIONS)
            except (re2.error, TypeError, ValueError):
                self._any = None  # too large together: each pattern simply runs

    def pass_over(self, patterns: Iterable[ScenarioPattern], text: str) -> None:
        """What ``finditer(text)`` does for each of `patterns` (some of this screen's) when
        `may_match` ruled them out, without searching: each one's single search is charged to
        its budget, so the patterns after them see the same budget as if they had run."""
        chars = min(len(text), MAX_TEXT_CHARS) + 1  # what `finditer` reads, as `_matchable` cuts it
        budget = self._budgets[0] if len(self._budgets) == 1 else None
        if budget is not None and budget.open_for(text):
            # One budget (a scenario's): charged in one step when all fit. When they do not, the
            # step-by-step charge below refuses at the same pattern as the searches would.
            cost = chars * sum(pattern.size for pattern in patterns)
            if budget.spent + cost <= budget.limit:
                budget.charge(cost, "")
                return
        for pattern in patterns:
            budget = pattern._budget
            if budget.open_for(text):
                budget.charge(pattern.size * chars, pattern.pattern)

    def new_message(self) -> None:
        """`new_message` for these patterns (their budgets, found once)."""
        for budget in self._budgets:
            budget.new_message()

    def may_match(self, text: str) -> bool:
        """False only when none of the patterns matches anywhere in `text` (always True for
        patterns that are not scenario patterns: they are not screened)."""
        # Searched as UTF-8 bytes: only whether it matches counts, not where, so no offsets to map.
        return self._any is None or self._any.search(_matchable(text).encode("utf-8")) is not None


class PatternBudget:
    """How much work all the patterns of one scenario may do on one message, together.

    RE2 bounds one search by the pattern's size times the characters it reads; the budget
    bounds the searches of a message: each is charged that product before it runs (from
    where it starts to the end of the message), and once the next one would take the
    message over `limit`, the scenario's remaining searches on it are skipped (and logged).
    Work is counted, not timed, so what a message shows never depends on how busy the
    machine is: the same message finds the same evidence live, in a replay, anywhere.
    The shipped scenarios stay far below the limit on the longest message
    (tests/engine/test_patterns.py); a scenario built to be slow is stopped within the
    time bench/bench_patterns.py measures.
    """

    def __init__(self, limit: int = SCENARIO_BUDGET) -> None:
        self.limit = limit
        self._text: str | None = None
        self._spent = 0

    def new_message(self) -> None:
        """The next searches are on a new message (or a new pass over one): a full budget."""
        self._text, self._spent = None, 0

    def open_for(self, text: str) -> bool:
        """Whether searching `text` may go on. The patterns of one pass run one after the
        other on the same string object; another object is another message."""
        if text is not self._text:
            self._text, self._spent = text, 0
        return self._spent < self.limit

    @property
    def spent(self) -> int:
        return self._spent

    def charge(self, cost: int, pattern: str) -> bool:
        """Count a search that costs `cost`; False (and nothing counted but the refusal) when it would go over."""
        if self._spent + cost <= self.limit:
            self._spent += cost
            return True
        log.warning(
            "scenario patterns reached their work limit on a message of %d characters; skipped the rest (from %r)",
            len(self._text or ""), pattern,
        )
        self._spent = self.limit  # nothing more on this message, and one warning
        return False


def new_message(patterns: Iterable[Any]) -> None:
    """Give the budgets of these patterns (a scenario's) a full budget for the message about
    to be searched: each pass of the engine over a message starts afresh, so a pass finds
    the same whether or not another pass ran before it (a replay skips signal detection)."""
    for budget in budgets(patterns):
        budget.new_message()


class Substrings:
    """Which of many literal strings occur in a text, found in one linear RE2 pass (an
    ``RE2::Set`` of the literals), in place of one substring search per literal."""

    __slots__ = ("words", "_set")

    def __init__(self, words: Sequence[str]) -> None:
        self.words = tuple(words)
        options = re2.Options()
        options.literal = True  # each word is text, not a pattern; case-sensitive
        found = re2.Set.SearchSet(options)
        try:
            for word in self.words:
                found.Add(word)
            found.Compile()
        except re2.error as exc:  # too many to fit RE2's memory bound: the caller searches another way
            raise ValueError(f"{len(self.words)} words do not fit one RE2 set: {exc}") from exc
        self._set = found._set  # the wrapper's own Match would encode a str again

    def within(self, text: str) -> list[int]:
        """Indexes (into `words`) of exactly the words ``w in text`` holds for."""
        # Searched as UTF-8 (a lone surrogate kept as its three bytes): none of those bytes
        # is ASCII, so a word matches the bytes exactly where it occurs in the text.
        data = text.encode("ascii") if text.isascii() else text.encode("utf-8", "surrogatepass")
        return self._set.Match(data) or []


def budgets(patterns: Iterable[Any]) -> tuple[PatternBudget, ...]:
    """The distinct budgets these patterns charge (a caller that searches the same patterns
    on every message can find them once and give each a `new_message()` itself)."""
    return tuple({id(p._budget): p._budget for p in patterns if isinstance(p, ScenarioPattern)}.values())


def compile_pattern(pattern: str, budget: PatternBudget | None = None) -> ScenarioPattern:
    """A case-insensitive compiled pattern, or UnsafePattern saying why it cannot be used."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise UnsafePattern(f"is {len(pattern)} characters long; the limit is {MAX_PATTERN_CHARS}")
    if _OPEN_COUNT.search(pattern):
        raise UnsafePattern("uses a repetition without a lower bound like '{,3}'; write '{0,3}'")
    leading, body = _leading_lookarounds(pattern)
    if leading and _has_top_level_alternation(body):
        raise UnsafePattern(
            "starts with a look-around but has '|' at its top level, where the look-around would apply "
            "to the first alternative only; group the alternatives: '(?<!not )(?:a|b)'"
        )
    compiled_body = _re2(body, "the pattern")
    assertions = tuple(_assertion(kind, positive, inner) for kind, positive, inner in leading)
    size = compiled_body.programsize + sum(a.regex.programsize for a in assertions)
    if size > MAX_PROGRAM_SIZE:
        raise UnsafePattern(
            f"compiles to {size} RE2 instructions, over the limit of {MAX_PROGRAM_SIZE}; long counted "
            "repetitions ('{0,500}') and large Unicode classes are the usual cause"
        )
    # The probes also pay RE2's one-time set-up of the pattern now, not on a trainee's message.
    probe = ScenarioPattern(pattern, compiled_body, assertions, size, PatternBudget())
    if any(match.end() == match.start() for text in _EMPTY_PROBES for match in probe.finditer(text)):
        raise UnsafePattern("can match empty text, so it shows nothing a trainee wrote; make it find at least one character")
    return ScenarioPattern(pattern, compiled_body, assertions, size, budget or PatternBudget())


def _assertion(kind: str, positive: bool, inner: str) -> _Assertion:
    if kind == "behind":
        try:
            # Python's parser knows a look-behind's width, and refuses one that has none fixed.
            re.compile(f"(?<!{inner})")
            low, high = re._parser.parse(inner).getwidth()  # type: ignore[attr-defined]
        except (re.error, RecursionError, OverflowError, AttributeError) as exc:
            raise UnsafePattern(f"has a look-behind that cannot be used: {exc}") from exc
        if low != high or high > MAX_PATTERN_CHARS:
            raise UnsafePattern("has a look-behind without a fixed, short length")
        return _Assertion(behind=True, positive=positive, regex=_re2(inner, "its look-behind"), width=high)
    return _Assertion(behind=False, positive=positive, regex=_re2(inner, "its look-ahead"), width=0)


def _options(*, captures: bool = True) -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print every refused pattern on standard error
    # A screen only asks whether anything matches: without its groups, RE2 can answer with
    # its DFA alone (burglary's screen, every message: 2.5 us a line with groups, 1.25 without).
    options.never_capture = not captures
    return options


_OPTIONS = _options()
_SCREEN_OPTIONS = _options(captures=False)

_EXPLAINED = (
    (("(?=", "(?!", "(?<=", "(?<!"), "uses a look-ahead or look-behind that is not at the very start of the pattern; "
     "scenario patterns run in a linear-time engine that checks them only there ('(?<!not )\\bhelp\\b'); "
     "rewrite it, or make the exception its own signal and use 'unless:'"),
    (("(?>",), "uses an atomic group '(?>...)', which the linear-time engine does not need or support; use '(?:...)'"),
    (("(?(",), "uses a conditional group, which the linear-time engine does not support"),
    (("(?x", "(?#"), "uses verbose mode or a comment group, which the linear-time engine does not support"),
    (("\\Z",), "uses '\\Z'; write '\\z' (or '$') for the end of the message"),
    (("\\u", "\\U", "\\N"), "uses a '\\u' escape; write a Unicode character as '\\x{00e9}' (or the character itself)"),
    (("++", "*+", "?+", "}+"), "uses a possessive repetition ('a++'), which the linear-time engine does not support; write 'a+'"),
    (("repetition size",), "repeats something more than 1000 times, the engine's limit"),
    (("too large", "too big"), "is too large to compile"),
)


def _re2(pattern: str, what: str) -> Any:
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise UnsafePattern(_explain(message, what)) from exc
    except (TypeError, ValueError, UnicodeError) as exc:
        raise UnsafePattern(f"does not compile: {exc}") from exc


def _explain(message: str, what: str) -> str:
    if re.search(r"invalid escape sequence: \\[1-9]", message) or "(?P=" in message:
        return "uses a backreference ('\\1'), which the linear-time engine that runs scenario patterns cannot run"
    for needles, explanation in _EXPLAINED:
        if any(needle in message for needle in needles):
            return explanation
    return f"does not compile: {message}" if what == "the pattern" else f"does not compile ({what}): {message}"


def _leading_lookarounds(pattern: str) -> tuple[list[tuple[str, bool, str]], str]:
    found: list[tuple[str, bool, str]] = []
    at = 0
    while True:
        for prefix, kind, positive in _LOOKAROUND_PREFIXES:
            if pattern.startswith(prefix, at):
                end = _group_end(pattern, at)
                found.append((kind, positive, pattern[at + len(prefix) : end - 1]))
                at = end
                break
        else:
            return found, pattern[at:]


def _structure(pattern: str, start: int = 0) -> Iterator[tuple[int, str, int]]:
    """(index, character, depth after it) of each character from `start` that shapes the
    pattern: escapes and character classes are stepped over."""
    depth = 0
    at = start
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            at += 2
            continue
        if char == "[":
            at = _class_end(pattern, at)
            continue
        depth += (char == "(") - (char == ")")
        yield at, char, depth
        at += 1


def _group_end(pattern: str, start: int) -> int:
    """The index just after the ')' closing the group opened at `start`."""
    for at, char, depth in _structure(pattern, start):
        if char == ")" and depth == 0:
            return at + 1
    raise UnsafePattern("has a group that is never closed")


def _class_end(pattern: str, start: int) -> int:
    """The index just after the ']' closing the character class opened at `start`."""
    at = start + 1
    if at < len(pattern) and pattern[at] == "^":
        at += 1
    if at < len(pattern) and pattern[at] == "]":
        at += 1  # a ']' first in a class is a literal
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            at += 2
            continue
        if pattern.startswith("[:", at):
            close = pattern.find(":]", at + 2)
            if close != -1:
                at = close + 2
                continue
        if char == "]":
            return at + 1
        at += 1
    raise UnsafePattern("has a character class '[' that is never closed")


def _has_top_level_alternation(pattern: str) -> bool:
    return any(char == "|" and depth == 0 for _, char, depth in _structure(pattern))


def _matchable(text: str) -> str:
    """The part of a message patterns read, as RE2 can take it (it needs valid UTF-8: a lone
    surrogate, which chat clients can send, becomes U+FFFD, so offsets stay the same)."""
    text = text[:MAX_TEXT_CHARS]
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


