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
caps their time on one message, so scenario patterns never hold up the bot
(bench/bench_patterns.py measures the worst cases).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import re2

log = logging.getLogger("trainer.patterns")

MAX_PATTERN_CHARS = 1000
MAX_PROGRAM_SIZE = 1000  # RE2 instructions: one search takes at most ~ instructions x characters
MAX_TEXT_CHARS = 4000  # the engine detects signals on the first 4000 characters too
MAX_MATCHES = 8  # matches reported per message: evidence enough for any feedback
MAX_TRIES = 100  # searches per message, counting places a leading look-around turned down
SCENARIO_BUDGET_MS = 30.0  # what all the patterns of one scenario may spend on one message
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
    """A compiled scenario pattern: `.pattern`, `.search(text)`, `.finditer(text)`.

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
        budget = self._budget
        if not budget.open_for(text):
            return
        timer = budget.timer
        text = _matchable(text)
        searches = self._body.finditer(text) if not self._assertions else None
        pos, tries, found = 0, 0, 0
        while pos <= len(text) and tries < MAX_TRIES and found < MAX_MATCHES:
            tries += 1
            started = timer()
            if searches is not None:
                match = next(searches, None)
                accepted = True
            else:
                match = self._body.search(text, pos)
                # The assertions depend only on the place: when they fail, try the next place.
                accepted = match is not None and all(a.holds(text, match.start()) for a in self._assertions)
            within = budget.charge(started, self.pattern)
            if match is None:
                return
            start, end = match.span()
            if accepted:
                found += 1
                yield match
                pos = end if end > start else start + 1
            else:
                pos = start + 1
            if not within:
                return


class PatternBudget:
    """How long all the patterns of one scenario may spend on one message, together.

    RE2 bounds one search (by the pattern's size times the message's length); the
    budget bounds how many searches a message gets: once the scenario's patterns have
    spent `limit_ms` on a message, the remaining searches on it are skipped (and logged).
    Realistic scenarios spend a few milliseconds on the longest message and never reach
    it (bench/bench_patterns.py); a scenario built to be slow cannot hold up the bot.
    """

    def __init__(self, limit_ms: float = SCENARIO_BUDGET_MS, timer: Callable[[], float] = time.perf_counter) -> None:
        self.limit_ms = limit_ms
        self.timer = timer
        self._text: str | None = None
        self._spent = 0.0
        self._last = 0.0

    def open_for(self, text: str) -> bool:
        """Whether searching `text` may go on. The patterns of one message run one after the
        other on the same string object: another object, or a pause, starts a new message."""
        now = self.timer()
        if text is not self._text or now - self._last > 1.0:
            self._text, self._spent = text, 0.0
        self._last = now
        return self._spent * 1000 < self.limit_ms

    def charge(self, started: float, pattern: str) -> bool:
        """Count the time of one search begun at `started`; False once the message's budget is spent."""
        self._last = self.timer()
        self._spent += self._last - started
        if self._spent * 1000 < self.limit_ms:
            return True
        log.warning(
            "scenario patterns spent %.0f ms on a message of %d characters; skipped the rest (last: %r)",
            self._spent * 1000, len(self._text or ""), pattern,
        )
        return False


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


def _options() -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # RE2 would print every refused pattern on standard error
    return options


_OPTIONS = _options()

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


def _group_end(pattern: str, start: int) -> int:
    """The index just after the ')' closing the group opened at `start`."""
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
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return at + 1
        at += 1
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
    depth = 0
    at = 0
    while at < len(pattern):
        char = pattern[at]
        if char == "\\":
            at += 2
            continue
        if char == "[":
            at = _class_end(pattern, at)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        at += 1
    return False


def _matchable(text: str) -> str:
    """The part of a message patterns read, as RE2 can take it (it needs valid UTF-8: a lone
    surrogate, which chat clients can send, becomes U+FFFD, so offsets stay the same)."""
    text = text[:MAX_TEXT_CHARS]
    if not text.isascii() and _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return text


