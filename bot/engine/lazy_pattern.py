"""A regular expression compiled the first time it runs.

The lexicon has some 850 patterns. Compiling them all was most of what loading it cost
(about 0.3 s of every start), while behind the Hyperscan pre-filter a pattern runs only
on lines where it can match: many run rarely, some never in a process's life. A
`LazyPattern` stands in for the `re.Pattern` and compiles on first use; after that its
methods are the compiled pattern's own, with nothing in between.

A lazy pattern fails late if its source is wrong, so the lexicon compiles every pattern
for real whenever it cannot trust that they compile (see `signals.load_lexicon`).
"""

from __future__ import annotations

import re
from typing import Any

# Global inline flags ("(?x)...") change what `flags` reads once compiled: such a pattern
# is compiled at once rather than guessed at.
_INLINE_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


class LazyPattern:
    """`re.compile(pattern, flags)`, compiled when it is first used."""

    def __init__(self, pattern: str, flags: int) -> None:
        self.pattern = pattern
        self._given = flags
        # What the compiled pattern's `flags` reads: a str pattern is Unicode unless ASCII.
        self.flags = flags if flags & re.ASCII else flags | re.UNICODE

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiling it now if it has not run yet); re.error if its source is wrong."""
        compiled = re.compile(self.pattern, self._given)
        # From now on these are found on the instance, and __getattr__ is not called again.
        for name in ("search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split", "groupindex", "groups"):
            self.__dict__[name] = getattr(compiled, name)
        return compiled

    def __getattr__(self, name: str) -> Any:
        # Only for attributes not set yet: the compiled pattern's methods, before the first use.
        if name.startswith("__") or name in ("pattern", "flags", "_given"):
            raise AttributeError(name)
        return getattr(self.compiled(), name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (LazyPattern, re.Pattern)):
            return (self.pattern, self.flags) == (other.pattern, other.flags)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))

    def __reduce__(self) -> tuple[Any, ...]:
        return (LazyPattern, (self.pattern, self._given))

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern[:60]!r}, {self._given})"


def compile_lazily(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """A pattern that compiles on first use (typed as what it stands in for)."""
    if _INLINE_FLAGS.match(pattern):
        return re.compile(pattern, flags)
    return LazyPattern(pattern, flags)  # type: ignore[return-value]
