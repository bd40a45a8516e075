"""Who is celebrated in public. One rule, used for every recognition the trainer posts."""

from __future__ import annotations

from typing import Protocol

from bot.engine.scenario import Outcome
from bot.engine.scoring import Score


class RecognitionSettings(Protocol):
    @property
    def recognition_threshold(self) -> int: ...


def recognition_due(score: Score, settings: RecognitionSettings) -> bool:
    """A finished role-play earns a public recognition post only for a success at or above
    the threshold, and only with a clean grade: a grade with integrity notes (stacked,
    repeated or contradicted lines) is never recognised. A poor result is never posted."""
    return score.outcome is Outcome.SUCCESS and score.total >= settings.recognition_threshold and not score.integrity
