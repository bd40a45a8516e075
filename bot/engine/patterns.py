"""Compiling the regular expressions that scenario authors write.

Every pattern a scenario file carries (its own signals, its facts) goes through
`compile_pattern`, so there is one place that decides which patterns are safe to run on
every trainee message, and how they are run.
"""

from __future__ import annotations

import re

# A group holding a repetition that is itself repeated: the shape behind catastrophic
# backtracking ('(a+)+', '(\\w*\\s?)*'). Scenario patterns run on every message in the bot.
NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\})(?:[^()\\]|\\.)*\)[+*{]")


class UnsafePattern(ValueError):
    """A pattern that does not compile, or could take too long on some message."""


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A case-insensitive compiled pattern, or UnsafePattern saying why it cannot be used."""
    if NESTED_QUANTIFIER.search(pattern):
        raise UnsafePattern(
            "repeats a repeated group, which can take exponential time on some messages and "
            "freeze the bot; simplify it (e.g. '(a+)+' -> 'a+')"
        )
    try:
        return re.compile(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        raise UnsafePattern(f"does not compile: {exc}") from exc
