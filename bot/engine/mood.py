"""The resident's state of mind: 0 at ease .. 100 hostile."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources

from bot.engine.yamlnodes import load_safe

from bot.engine.scenario import Scenario, State

LOW, HIGH = 0, 100


@lru_cache(maxsize=1)
def default_effects() -> Mapping[str, int]:
    text = (resources.files("bot.engine") / "lexicon" / "mood_effects.yaml").read_text("utf-8")
    return {str(name): int(delta) for name, delta in load_safe(text).items()}


def clamp(mood: int) -> int:
    return max(LOW, min(HIGH, mood))


def signal_delta(
    signals: Iterable[str], scenario: Scenario, state: State,
    weights: Mapping[str, float] | None = None, persona: Mapping[str, int] | None = None,
) -> int:
    """Sum of each signal's effect; the state's override beats the persona's, which beats the
    scenario's, which beats the default. `weights` scales a signal's effect (the message's
    empathy estimate scales `empathy`'s: signals.mood_weight), rounded half away from zero."""
    defaults = default_effects()
    own, scene = state.mood_effects, scenario.mood_effects
    total = 0
    for name in signals if isinstance(signals, (set, frozenset)) else set(signals):  # each signal once
        if name in own:
            effect = own[name]
        elif persona and name in persona:
            effect = persona[name]
        elif name in scene:
            effect = scene[name]
        else:
            effect = defaults.get(name, 0)
        if weights and name in weights:
            scaled = abs(effect) * weights[name]
            effect = int(math.copysign(math.floor(scaled + 0.5), effect))
        total += effect
    return total
