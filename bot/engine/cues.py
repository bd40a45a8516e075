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
from typing import Any, Iterable

LEARNED = "learned"
# Behaviours only a rule can show: an introduction must capture a name to be one.
RULES_ONLY = frozenset({"introduction"})
TOKEN = re.compile(r"[a-z0-9']+")
QUOTED = 3  # features whose words make up a learned cue's quote
# How far below its threshold (in logits) the matrix pass still hands a behaviour to the exact
# computation: rounding differences are some 1e-15, so this is very wide.
MARGIN = 1e-6


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
        x = self._weights(text)
        return x, self._where(text, x)

    def _weights(self, text: str) -> dict[int, float]:
        """The TF-IDF part of `features`: words, then word pairs, in order of first occurrence."""
        # One lookup per word gives its feature, its idf and the pairs it starts (`_table`):
        # the tables are mostly out of the CPU's cache by the time a line comes, so each
        # lookup saved is a few memory reads saved.
        lookup = self._table.get
        weighted: dict[int, float] = {}  # feature -> its idf, at its first occurrence
        repeats: dict[int, int] | None = None  # feature -> count, for those that occur again
        pairs: list[tuple[int, float]] = []
        seconds: dict[str, tuple[int, float]] | None = None
        for word in TOKEN.findall(text):
            if seconds is not None:
                pair = seconds.get(word)
                if pair is not None:
                    pairs.append(pair)
            entry = lookup(word)
            if entry is None:
                seconds = None
                continue
            index, idf, seconds = entry
            if index < 0:
                continue
            if index in weighted:
                repeats = repeats or {}
                repeats[index] = repeats.get(index, 1) + 1
            else:
                weighted[index] = idf
        # Pairs after words, as the vectoriser orders them (a pair is never a word's feature).
        for index, idf in pairs:
            if index in weighted:
                repeats = repeats or {}
                repeats[index] = repeats.get(index, 1) + 1
            else:
                weighted[index] = idf
        if repeats:
            idfs = self.idf
            for index, count in repeats.items():
                weighted[index] = count * idfs[index]
        norm = math.sqrt(sum([v * v for v in weighted.values()])) or 1.0
        return {index: v / norm for index, v in weighted.items()}

    @functools.cached_property
    def _table(self) -> dict[str, tuple[int, float, dict[str, tuple[int, float]] | None]]:
        """Each word of the vocabulary -> (its feature or -1, that feature's idf, the pairs it
        starts: second word -> (the pair's feature, its idf), or None)."""
        idf = self.idf
        table: dict[str, tuple[int, float, dict[str, tuple[int, float]] | None]] = {}
        starts: dict[str, dict[str, tuple[int, float]]] = {}
        for term, index in self.vocabulary.items():
            first, space, second = term.partition(" ")
            if space:
                starts.setdefault(first, {})[second] = (index, idf[index])
            else:
                table[term] = (index, idf[index], None)
        for first, seconds in starts.items():
            index, value, _ = table.get(first, (-1, 0.0, None))
            table[first] = (index, value, seconds)
        return table

    @functools.cached_property
    def _terms(self) -> dict[int, tuple[str, ...]]:
        """Feature index -> its words: ("word",) or ("first", "second")."""
        return {index: tuple(term.split(" ", 1)) for term, index in self.vocabulary.items()}

    def _where(self, text: str, x: dict[int, float]) -> dict[int, tuple[int, int]]:
        """Where each of the line's features first occurs (character span): only asked for
        when a behaviour is proposed, which most lines never have."""
        return self._first_spans(text, x)

    def _first_spans(self, text: str, indexes: Iterable[int]) -> dict[int, tuple[int, int]]:
        """Where each of `indexes` (features of the line) first occurs (character span)."""
        spans = [m.span() for m in TOKEN.finditer(text)]
        words = [text[a:b] for a, b in spans]
        terms = self._terms
        where: dict[int, tuple[int, int]] = {}
        for index in indexes:
            term = terms[index]
            k = words.index(term[0])
            if len(term) == 1:
                where[index] = spans[k]
                continue
            while k + 1 == len(words) or words[k + 1] != term[1]:
                k = words.index(term[0], k + 1)
            where[index] = (spans[k][0], spans[k + 1][1])
        return where

    @functools.cached_property
    def _dense(self) -> _Dense:
        """The weights as one matrix (feature x behaviour, zero where a behaviour does not use
        the feature), for a first pass that finds which behaviours can reach their threshold."""
        import numpy  # here, not at the top: a start of the trainer need not pay for it

        weights = numpy.zeros((len(self.idf), len(self.cues)))
        for position, cue in enumerate(self.cues.values()):
            for feature, weight in cue.weights.items():
                weights[feature, position] = weight
        bias = numpy.array([cue.bias for cue in self.cues.values()])
        # The threshold on the logit scale: p >= t exactly when z >= log(t / (1 - t)).
        logit = numpy.array([math.log(c.threshold / (1 - c.threshold)) if 0 < c.threshold < 1 else -math.inf for c in self.cues.values()])
        return _Dense(weights, logit - MARGIN - bias, tuple(self.cues))

    def propose(self, text: str, skip: frozenset[str]) -> list[tuple[str, float, tuple[int, int], tuple[int, int]]]:
        """(behaviour, probability, span of its strongest feature, span to quote) for each
        behaviour not in `skip` whose probability reaches its threshold."""
        import numpy

        x = self._weights(text)
        if not x:
            return []
        dense = self._dense
        count = len(x)
        rows = dense.weights.take(numpy.fromiter(x, numpy.intp, count), axis=0)
        near = numpy.fromiter(x.values(), float, count) @ rows
        # A first pass in floating point that may round differently from Python's sum():
        # only behaviours within a wide margin of their threshold are computed exactly, as
        # before, so what is proposed is the same, float for float.
        candidates = (near >= dense.lowest_less_bias).nonzero()[0]
        found = []
        names = dense.names
        for position in candidates.tolist():
            name = names[position]
            if name in skip or name in RULES_ONLY:
                continue
            cue = self.cues[name]
            weights = cue.weights
            # The behaviour's terms in the order of the line's features, so sum() comes out
            # exactly as a list comprehension over its own weights would give it.
            contributions = [(weights[i] * v, i) for i, v in x.items() if i in weights]
            z = cue.bias + sum([c for c, _ in contributions])
            p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
            if p < cue.threshold:
                continue
            # Quote the words that weighed most: the span of the three strongest features.
            top = [i for c, i in sorted(contributions, reverse=True)[:QUOTED] if c > 0]
            where = self._first_spans(text, top)
            strongest = [where[i] for i in top]
            if not strongest:
                continue
            found.append((name, p, strongest[0], (min(s for s, _ in strongest), max(e for _, e in strongest))))
        return found


@dataclass(frozen=True)
class _Dense:
    weights: Any  # numpy array, feature index x behaviour
    lowest_less_bias: Any  # what a behaviour's features must sum to: its threshold as a logit, less the margin and its bias
    names: tuple[str, ...]  # the behaviours, in column order


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
