"""The learned cues: a second tier for analysis, marked, bounded by the rules, ignored by grading."""

from __future__ import annotations

import hashlib
import json
import math
from importlib import resources
from pathlib import Path

from bot.engine.catalog import load_checked
from bot.engine.cues import LEARNED, QUOTED, RULES_ONLY, TOKEN, CueModel, load_cues
from bot.engine.cues_train import EXAMPLES, tuning_files
from bot.engine.session import Session
from bot.engine.signals import analyze, detect

DIALOGUES = Path(__file__).resolve().parents[2] / "dialogues"
# Written for this test: a fishing question in words no rule foresees.
UNFORESEEN = "you folks been drinking?"


def test_the_shipped_model_was_trained_on_the_current_tuning_files() -> None:
    model = json.loads((resources.files("bot.engine") / "lexicon" / "cues.json").read_text("utf-8"))
    current = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in [*tuning_files(), EXAMPLES]}
    assert model["trained_on"] == current, "tuning data changed: run python -m bot.engine.cues_train"
    assert "blind_lines_heldout.jsonl" not in model["trained_on"]


def test_learned_evidence_is_marked_and_quotes_the_line() -> None:
    assert load_cues() is not None
    rules = detect(UNFORESEEN, learned=False)
    both = detect(UNFORESEEN)
    extra = [e for e in both.evidence if e.detail == LEARNED]
    assert extra and all(e.signal not in rules.names for e in extra)
    for e in extra:
        assert UNFORESEEN[e.start:e.end] == e.quote and e.quote


def test_the_rules_context_binds_the_cues_too() -> None:
    for text, absent in [("No thanks.", "gratitude"), ("I'm not sorry.", "apology"),
                         ("I stopped you because you're going to jail tonight.", "reason_for_contact")]:
        assert not detect(text).has(absent), text


def test_introductions_need_a_rule_because_they_need_a_name() -> None:
    assert not any(e.detail == LEARNED and e.signal == "introduction" for e in detect("I'm with the Riverside Police Department.").evidence)


def test_grading_ignores_learned_cues() -> None:
    scenario = load_checked(DIALOGUES / "traffic_stop.yaml")
    session = Session.start(scenario, seed=1)
    turn = session.step(UNFORESEEN)
    learned = {e.signal for e in turn.detection.evidence if e.detail == LEARNED}
    assert learned and not learned & turn.judgement.signals
    assert all("learned cue" in u.why for u in turn.judgement.uncredited if u.evidence.detail == LEARNED)
    assert not any(hit.quote in {e.quote for e in turn.detection.evidence if e.detail == LEARNED}
                   for hit in session.score().penalties)


def test_analyze_shows_which_evidence_is_learned() -> None:
    out = analyze(UNFORESEEN)
    details = [ev["detail"] for s in out["signals"] for ev in s["evidence"]]
    assert LEARNED in details


def _features_plainly(model: CueModel, text: str) -> tuple[dict[int, float], dict[int, tuple[int, int]]]:
    """features() as first written: every word and every word pair spelt out and looked up."""
    spans = [m.span() for m in TOKEN.finditer(text)]
    words = [text[a:b] for a, b in spans]
    grams = [(word, spans[k]) for k, word in enumerate(words)]
    grams += [(f"{words[k]} {words[k + 1]}", (spans[k][0], spans[k + 1][1])) for k in range(len(words) - 1)]
    counts: dict[int, int] = {}
    where: dict[int, tuple[int, int]] = {}
    for gram, span in grams:
        index = model.vocabulary.get(gram)
        if index is not None:
            counts[index] = counts.get(index, 0) + 1
            where.setdefault(index, span)
    weighted = {index: count * model.idf[index] for index, count in counts.items()}
    norm = math.sqrt(sum(v * v for v in weighted.values())) or 1.0
    return {index: v / norm for index, v in weighted.items()}, where


def _propose_plainly(model: CueModel, text: str, skip: frozenset[str]) -> list[tuple[str, float, tuple[int, int], tuple[int, int]]]:
    """propose() as first written, behaviour by behaviour: what the faster one must equal."""
    x, where = _features_plainly(model, text)
    if not x:
        return []
    found = []
    for name, cue in model.cues.items():
        if name in skip or name in RULES_ONLY:
            continue
        contributions = [(cue.weights[i] * v, i) for i, v in x.items() if i in cue.weights]
        z = cue.bias + sum(c for c, _ in contributions)
        p = 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
        if p < cue.threshold:
            continue
        strongest = [where[i] for c, i in sorted(contributions, reverse=True)[:QUOTED] if c > 0]
        if strongest:
            found.append((name, p, strongest[0], (min(s for s, _ in strongest), max(e for _, e in strongest))))
    return found


def test_proposals_are_exactly_those_of_the_plain_computation() -> None:
    model = load_cues()
    assert model is not None
    lines = [json.loads(line)["text"].lower() for path in tuning_files() for line in path.read_text("utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    assert len(lines) > 1000
    skips = [frozenset(), frozenset({"greeting", "empathy"})]
    proposed = 0
    for text in lines:
        x, where = _features_plainly(model, text)
        # The same features in the same order (sum() adds them in that order), and the same places.
        assert list(model.features(text)[0].items()) == list(x.items()) and model.features(text)[1] == where, text
        for skip in skips:
            expected = _propose_plainly(model, text, skip)
            assert model.propose(text, skip) == expected, text  # the same floats, not merely close ones
            proposed += len(expected)
    assert proposed > 100


def test_features_equal_the_plain_computation_on_lines_that_repeat_words() -> None:
    # Lines made of the vocabulary's own words and pairs, with repeats (counts above one) and
    # punctuation between them, which the tuning lines seldom have.
    import random

    model = load_cues()
    assert model is not None
    rng = random.Random(9)
    terms = sorted(model.vocabulary)
    repeated = 0
    for _ in range(400):
        chosen = [rng.choice(terms) for _ in range(rng.randint(1, 12))]
        chosen += rng.sample(chosen, min(len(chosen), rng.randint(0, 4)))  # some twice or more
        rng.shuffle(chosen)
        text = rng.choice([" ", ", ", " the ", "... "]).join(chosen)
        x, where = _features_plainly(model, text)
        assert list(model.features(text)[0].items()) == list(x.items()) and model.features(text)[1] == where, text
        repeated += len(TOKEN.findall(text)) > len(set(TOKEN.findall(text)))
    assert repeated > 100
