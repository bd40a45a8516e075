"""A regular expression compiled the first time it runs.

The lexicon has some 850 patterns. Compiling them all was most of what loading it cost
(about 0.3 s of every start), while behind the Hyperscan pre-filter a pattern runs only
on lines where it can match: many run rarely, some never in a process's life. A
`LazyPattern` stands in for the `re.Pattern` and compiles on first use; after that its
methods are the compiled pattern's own, with nothing in between.

A lazy pattern fails late if its source is wrong, so the lexicon compiles every pattern
for real whenever it cannot trust that they compile (see `signals.load_lexicon`).

A `guarded` pattern is compiled behind a look-ahead for the characters its matches can
start with (`first_character_guard`). It finds exactly the same matches (each starts with
one of those characters, and a look-ahead takes none), but `re` tries the whole pattern
only where the guard lets it: case-insensitive, `re` has no quick way of its own to pass
over places where, say, none of thirty alternatives can start. Over the lines the
lexicon's pre-filter lets them see, its patterns run about a tenth faster so.
"""

from __future__ import annotations

import re
from re import _parser as _sre_parse  # stdlib; to find what a pattern's matches start with
from typing import Any

# Global inline flags ("(?x)...") change what `flags` reads once compiled: such a pattern
# is compiled at once rather than guessed at.
_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


class LazyPattern:
    """`re.compile(pattern, flags)`, compiled when it is first used."""

    def __init__(self, pattern: str, flags: int, guarded: bool = False) -> None:
        self.pattern = pattern  # the source as written (what the pre-filter translates), never the guard
        self._given = flags
        self._guarded = guarded
        # What the compiled pattern's `flags` reads: a str pattern is Unicode unless ASCII.
        self.flags = flags if flags & re.ASCII else flags | re.UNICODE

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiling it now if it has not run yet); re.error if its source is wrong."""
        # The guard is worked out here, not at load: parsing ~850 patterns would cost a start.
        guard = first_character_guard(self.pattern, self._given) if self._guarded else ""
        compiled = re.compile(guard + self.pattern, self._given)
        # From now on these are found on the instance, and __getattr__ is not called again.
        for name in ("search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split", "groupindex", "groups"):
            self.__dict__[name] = getattr(compiled, name)
        return compiled

    def __getattr__(self, name: str) -> Any:
        # Only for attributes not set yet: the compiled pattern's methods, before the first use.
        if name.startswith("__") or name in ("pattern", "flags", "_given", "_guarded"):
            raise AttributeError(name)
        return getattr(self.compiled(), name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (LazyPattern, re.Pattern)):
            return (self.pattern, self.flags) == (other.pattern, other.flags)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))

    def __reduce__(self) -> tuple[Any, ...]:
        return (LazyPattern, (self.pattern, self._given, self._guarded))

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern[:60]!r}, {self._given})"


def compile_lazily(pattern: str, flags: int = 0, *, guarded: bool = False) -> re.Pattern[str]:
    """A pattern that compiles on first use (typed as what it stands in for); `guarded`, behind
    its first-character guard."""
    if _INLINE_FLAGS.match(pattern):
        return re.compile(pattern, flags)  # global flags must come first: no guard before them
    return LazyPattern(pattern, flags, guarded)  # type: ignore[return-value]


_GUARD_CHARS = 20  # most characters a guard names: more, and it lets most places through anyway


def first_character_guard(pattern: str, flags: int) -> str:
    """A look-ahead for the characters a match of a case-insensitive `pattern` can start with,
    or "" when that is not known, may be the empty string, or is one character (checked about
    as fast without a guard: measured). Letters are named in lower case and the look-ahead is
    case-insensitive like the pattern, so it admits every character (each case variant too)
    that the pattern's own first parts admit."""
    if not flags & re.IGNORECASE:
        return ""
    try:
        items = list(_sre_parse.parse(pattern, flags))
    except Exception:  # the pattern's own error surfaces when it is compiled
        return ""
    first, may_be_empty = first_chars(items, _GUARD_CHARS)
    if first is None or may_be_empty or len(first) < 2 or not all(c.isascii() for c in first):
        return ""
    return "(?=[" + "".join(re.escape(c) for c in sorted(first)) + "])"


def first_chars(items: Any, most: int) -> tuple[frozenset[str] | None, bool]:
    """The characters (lower case) a match of the parsed `items` can start with, and whether
    it can be empty; None when not known or more than `most`."""
    chars: set[str] = set()
    for op, av in items:
        kind = op.name
        if kind in ("AT", "ASSERT", "ASSERT_NOT"):
            continue  # they take no characters
        if kind == "LITERAL":
            first, empty = frozenset((chr(av).lower(),)), False
        elif kind == "IN" and all(o.name == "LITERAL" for o, _v in av):
            first, empty = frozenset(chr(v).lower() for _o, v in av), False
        elif kind == "SUBPATTERN":
            first, empty = first_chars(av[3], most)
        elif kind == "BRANCH":
            found = [first_chars(alternative, most) for alternative in av[1]]
            if any(f is None for f, _e in found):
                return None, False
            first, empty = frozenset().union(*(f for f, _e in found if f is not None)), any(e for _f, e in found)
        elif kind in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") and av[1] >= 1:
            first, empty = first_chars(av[2], most)
            empty = empty or av[0] == 0
        else:
            return None, False
        if first is None:
            return None, False
        chars |= first
        if len(chars) > most:
            return None, False
        if not empty:
            return frozenset(chars), False
    return frozenset(chars), True
