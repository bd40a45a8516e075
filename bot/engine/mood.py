"""The resident's state of mind: 0 at ease .. 100 hostile."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources

import yaml

from bot.engine.scenario import Scenario, State

LOW, HIGH = 0, 100


@lru_cache(maxsize=1)
def default_effects() -> Mapping[str, int]:
    text = (resources.files("bot.engine") / "lexicon" / "mood_effects.yaml").read_text("utf-8")
    return {str(name): int(delta) for name, delta in yaml.safe_load(text).items()}


def clamp(mood: int) -> int:
    return max(LOW, min(HIGH, mood))


def signal_delta(signals: Iterable[str], scenario: Scenario, state: State, persona: Mapping[str, int] | None = None) -> int:
    """Sum of each signal's effect; the state's override beats the persona's, which beats the
    scenario's, which beats the default."""
    defaults = default_effects()
    total = 0
    for name in set(signals):
        if name in state.mood_effects:
            total += state.mood_effects[name]
        elif persona and name in persona:
            total += persona[name]
        elif name in scenario.mood_effects:
            total += scenario.mood_effects[name]
        else:
            total += defaults.get(name, 0)
    return total
