"""Learned cues: a second tier of detection for the phrasings no pattern foresaw.

The patterns (lexicon/signals.yaml) are the rules: every one can be read, argued about and
quoted. People keep finding new ways to say the same thing, though, and a pattern set tuned
on one group of authors misses about one behaviour in six written by the next. So, beside
the rules, one logistic regression per behaviour over the words and word pairs of a line
(TF-IDF, trained on the labelled tuning lines in tests/data by `python -m
bot.engine.cues_train`) proposes behaviours the rules did not find. Its evidence quotes the
word pair that weighed most, and is marked as learned (`Evidence.detail == "learned"`).

It is deterministic (the weights are a data file, lexicon/cues.json) and cheap (a dot
product over the few dozen features of a line). It serves analysis (`trainer analyze`,
exports, bulk transcripts), where recall matters; the scene and the grade ignore it
(judge.py) and follow the rules alone, which a trainee can read, quote and argue with.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

LEARNED = "learned"
# Behaviours only a rule can show: an introduction must capture a name to be one.
RULES_ONLY = frozenset({"introduction"})
TOKEN = re.compile(r"[a-z0-9']+")
QUOTED = 3  # features whose words make up a learned cue's quote


@dataclass(frozen=True)
class Cue:
    """One behaviour's model: a bias, weights per feature, and the probability to report at."""

    bias: float
    weights: dict[int, float]
    threshold: float


@dataclass(frozen=True)
class CueModel:
    vocabulary: dict[str, int]  # "word" or "word pair" -> feature index
    idf: list[float]
    cues: dict[str, Cue]  # behaviour -> model

    def features(self, text: str) -> tuple[dict[int, float], dict[int, tuple[int, int]]]:
        """TF-IDF of the line (L2-normalised, as scikit-learn computes it) and where each feature
        first occurs (character span). `text` is already normalised and lower-cased."""
        tokens = [(m.group(0), m.start(), m.end()) for m in TOKEN.finditer(text)]
        counts: dict[int, int] = {}
        where: dict[int, tuple[int, int]] = {}
        grams = [(t, s, e) for t, s, e in tokens]
        grams += [(f"{a[0]} {b[0]}", a[1], b[2]) for a, b in zip(tokens, tokens[1:])]
        for gram, start, end in grams:
            index = self.vocabulary.get(gram)
            if index is None:
                continue
            counts[index] = counts.get(index, 0) + 1
            where.setdefault(index, (start, end))
        weighted = {index: count * self.idf[index] for index, count in counts.items()}
        norm = math.sqrt(sum(v * v for v in weighted.values())) or 1.0
        return {index: v / norm for index, v in weighted.items()}, where

    @functools.cached_property
    def _by_feature(self) -> dict[int, tuple[tuple[int, float], ...]]:
        """feature -> (behaviour's position in `cues`, weight): the weights the other way round,
        so a line costs the features it has, not every behaviour's lookups of them."""
        index: dict[int, list[tuple[int, float]]] = {}
        for position, cue in enumerate(self.cues.values()):
            for feature, weight in cue.weights.items():
                index.setdefault(feature, []).append((position, weight))
        return {feature: tuple(pairs) for feature, pairs in index.items()}

    def propose(self, text: str, skip: frozenset[str]) -> list[tuple[str, float, tuple[int, int], tuple[int, int]]]:
        """(behaviour, probability, span of its strongest feature, span to quote) for each
        behaviour not in `skip` whose probability reaches its threshold."""
        x, where = self.features(text)
        if not x:
            return []
        # Each behaviour's terms in the order of the line's features, as a list comprehension
        # over its own weights would give them, so sum() comes out exactly the same.
        terms: list[list[float]] = [[] for _ in self.cues]
        by_feature = self._by_feature
        for i, v in x.items():
            for position, weight in by_feature.get(i, ()):
                terms[position].append(weight * v)
        found = []
        for position, (name, cue) in enumerate(self.cues.items()):
            if name in skip or name in RULES_ONLY:
                continue
            z = cue.bias + sum(terms[position])
            p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
            if p < cue.threshold:
                continue
            contributions = [(cue.weights[i] * v, i) for i, v in x.items() if i in cue.weights]
            # Quote the words that weighed most: the span of the three strongest features.
            strongest = [where[i] for c, i in sorted(contributions, reverse=True)[:QUOTED] if c > 0]
            if not strongest:
                continue
            found.append((name, p, strongest[0], (min(s for s, _ in strongest), max(e for _, e in strongest))))
        return found


@functools.lru_cache(maxsize=1)
def load_cues() -> CueModel | None:
    """The shipped model, or None when there is none (then detection uses the rules alone)."""
    path = resources.files("bot.engine") / "lexicon" / "cues.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    vocabulary = {str(k): int(v) for k, v in data["vocabulary"].items()}
    cues = {
        str(name): Cue(float(spec["bias"]), dict(zip(map(int, spec["features"]), map(float, spec["weights"]))), float(spec["threshold"]))
        for name, spec in data["cues"].items()
    }
    return CueModel(vocabulary, [float(v) for v in data["idf"]], cues)
