"""How long scenario patterns can hold up the bot: the worst cases at the limits. Prints JSON.

Hostile patterns, each as large as `trainer check` allows, run on fresh hostile messages
of 4000 characters (the most a message is read; RE2 caches work per message text, so
every round uses new text). Then a scenario made of many copies of the costliest one,
which its shared `PatternBudget` must stop. The floor is Python's backtracking `re` on
the pattern from the reliability issue, `((\\w+)\\s?)+$`, on a line of 18 characters
(the issue measured 23 s at 27).
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.engine.catalog import load_checked  # noqa: E402
from bot.engine.patterns import (  # noqa: E402
    MAX_PROGRAM_SIZE,
    MAX_TEXT_CHARS,
    SCENARIO_BUDGET,
    PatternBudget,
    UnsafePattern,
    compile_pattern,
)
from bot.engine.signals import detect  # noqa: E402

# Shapes whose cost grows with their size; {n} is raised until the pattern hits the size limit.
SHAPES = [
    r"(?:a|b|\s)*a(?:a|b|\s){{{n}}}x|a",  # an uncacheable DFA (RE2 falls back to its NFA), at every 'a'
    r"(?:a|b|\s)*a(?:a|b|\s){{{n}}}x",
    r"(?<!a)(?:a|b|\s)*a(?:a|b|\s){{{n}}}x",
    r"(?:\w+\s*){{1,{n}}}x|a",  # every 'a' a match, each after a long failed try of the first branch
    r"(?<!a)a(?:\w+\s*){{0,{n}}}",  # a look-behind that turns down almost every place
    r"(?:[a-z]+ ?){{{n}}}!|.",
    r"(.{{1,{n}}}x|a)",
]
ROUNDS = 4


def hostile(seed: int) -> list[str]:
    rnd = random.Random(seed)
    size = MAX_TEXT_CHARS
    return [
        "".join(rnd.choice("ab ") for _ in range(size)),
        "a" * (size - 1 - seed) + "!" * (seed + 1),
        "".join(rnd.choice(string.ascii_lowercase + " ") for _ in range(size)),
        "".join(rnd.choice(string.ascii_letters + " \u00e9\u00fc\u6f22\u2019!") for _ in range(size)),
    ]


def largest(shape: str) -> str | None:
    best = None
    for n in (1, 2, 5, 10, 20, 40, 60, 80, 100, 130, 160, 200, 240, 300, 400, 500, 700, 1000):
        try:
            compile_pattern(shape.format(n=n))
        except UnsafePattern:
            break
        best = shape.format(n=n)
    return best


def worst_ms(patterns: list, seed0: int = 0) -> float:
    worst = 0.0
    for seed in range(seed0, seed0 + ROUNDS):
        for text in hostile(seed):
            start = time.perf_counter()
            for compiled in patterns:
                for _match in compiled.finditer(text):
                    pass
            worst = max(worst, time.perf_counter() - start)
    return worst * 1000


def main() -> None:
    shapes = []
    for shape in SHAPES:
        pattern = largest(shape)
        if pattern is not None:
            compiled = compile_pattern(pattern)
            shapes.append({"pattern": pattern, "size": compiled.size, "worst_ms": round(worst_ms([compiled]), 2)})
    shapes.sort(key=lambda s: -s["worst_ms"])
    budget = PatternBudget()
    copies = [compile_pattern(shapes[0]["pattern"], budget) for _ in range(100)]
    detect("warm up: the lexicon loads on first use")
    shipped = {}
    for path in sorted((ROOT / "dialogues").glob("*.yaml")):
        scenario = load_checked(path)
        patterns = [p for group in scenario.signals.values() for p in group]
        worst = 0.0
        for seed in range(ROUNDS):
            for text in hostile(100 + seed):
                start = time.perf_counter()
                detect(text, scenario.signals)
                worst = max(worst, time.perf_counter() - start)
        shipped[scenario.id] = {
            "patterns": len(patterns), "scenario_patterns_worst_ms": round(worst_ms(patterns, 200), 2),
            "detect_worst_ms": round(worst * 1000, 2),
        }
    issue = r"((\w+)\s?)+$"
    start = time.perf_counter()
    re.compile(issue).search("a" * 18 + "!")
    backtracking_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    compile_pattern(issue).search("a" * 27 + "!")
    linear_ms = (time.perf_counter() - start) * 1000
    print(json.dumps({
        "limits": {"program_size": MAX_PROGRAM_SIZE, "scenario_budget": SCENARIO_BUDGET, "text_chars": MAX_TEXT_CHARS},
        "worst_single_pattern_ms": shapes[0]["worst_ms"] if shapes else None,
        "scenario_of_100_costliest_ms": round(worst_ms(copies, 300), 2),
        "shapes": shapes,
        "shipped_scenarios": shipped,
        "issue_pattern": {"python_re_18_chars_ms": round(backtracking_ms, 2), "re2_27_chars_ms": round(linear_ms, 3)},
    }, indent=2))


if __name__ == "__main__":
    main()
