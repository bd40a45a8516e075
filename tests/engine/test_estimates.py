"""The respect and empathy estimates: traceable to quoted words, additive where they say so,
calibrated where scores.yaml says, and agreeing with rated lines (floors below the figures
measured; bench/scorer.py reports them)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.engine import mood
from bot.engine.catalog import load_checked
from bot.engine.evaluation import auc, empathy_agreement, load_empathy_set, spearman, supporter_text
from bot.engine.judge import History, judge
from bot.engine.signals import (
    Detection,
    analyze,
    detect,
    empathy_estimate,
    empathy_score,
    is_weak,
    load_lexicon,
    mood_weight,
    respect_score,
    text_empathy,
)

ROOT = Path(__file__).resolve().parents[2]
TUNE = load_empathy_set(ROOT / "tests" / "data" / "empathy_tune.yaml")
POLITENESS = ROOT / "bench" / "data" / "politeness"
LEX = load_lexicon()


def _cues(out: dict) -> list[dict]:
    return out["respect_detail"]["cues"] + [c for s in out["empathy_detail"]["subscores"].values() for c in s["cues"]]


@pytest.mark.parametrize("text", [
    "I'm so sorry. At least nobody got hurt. You should call your bank, thanks!",
    "Could you please tell me what happened? That sounds terrifying.",
    "Calm down. Why would you leave the window open?",
    "It's just a warning.\nI hear you, that's a lot to deal with.\nWhat time did you get home?",
])
def test_every_point_quotes_its_words(text: str) -> None:
    out = analyze(text)
    for cue in _cues(out):
        assert text[cue["start"]:cue["end"]] == cue["quote"] and cue["quote"].strip(), cue
    respect_sum = sum(c["points"] for c in out["respect_detail"]["cues"])
    assert respect_sum == pytest.approx(out["respect_detail"]["sum"], abs=1e-6)
    subscores = out["empathy_detail"]["subscores"]
    for sub in subscores.values():
        assert sum(c["points"] for c in sub["cues"]) == pytest.approx(sub["points"], abs=1e-6)
    assert out["empathy_detail"]["points"] == pytest.approx(sum(s["points"] for s in subscores.values() if s["in_estimate"]))
    assert out["empathy"] == empathy_estimate(out["empathy_detail"]["points"])


def test_a_conversation_scores_the_sum_of_its_messages() -> None:
    for conversation in TUNE["conversations"]:
        text = supporter_text(conversation)
        messages = text.split("\n")
        joined = analyze(text)["empathy_detail"]
        assert joined["points"] == pytest.approx(sum(text_empathy(m).points for m in messages), abs=1e-6)
        for name, sub in joined["subscores"].items():
            assert sub["points"] == pytest.approx(sum(text_empathy(m).subscores[name] for m in messages), abs=1e-6)


def test_the_curve_keeps_rising_over_a_conversation() -> None:
    line = "That sounds exhausting, and it makes sense you're worn down."
    estimates = [text_empathy("\n".join([line] * n)).estimate for n in range(1, 9)]
    assert estimates == sorted(set(estimates)), estimates  # strictly rising
    assert estimates[-1] < 95 and text_empathy("\n".join([line] * 30)).estimate < 100
    assert empathy_estimate(0) == 0 and empathy_estimate(-5) == 0


def test_matches_of_one_phrase_count_once() -> None:
    # "could be worse" is the dismissive signal and the minimising feature on the same words:
    # one phrase, counted once at the larger value.
    text = "Well, could be worse."
    assert detect(text, learned=False).has("dismissive")
    b = text_empathy(text)
    assert [(c.name, c.points) for c in b.cues] == [("dismissive", -3.0)] and b.subscores["dismissing"] == -3.0


@pytest.mark.parametrize(("text", "subscore"), [
    ("Can you tell me what happened?", "exploration"),
    ("How are you holding up?", "exploration"),
    ("You're safe now, he's long gone.", "support"),
    ("Is there anything I can do to help?", "support"),
])
def test_exploration_reassurance_and_help_are_not_validation(text: str, subscore: str) -> None:
    b = text_empathy(text)
    assert b.subscores[subscore] > 0 and b.points == 0 and empathy_score(detect(text)) == 0


@pytest.mark.parametrize(("text", "subscore"), [
    ("That sounds terrifying.", "sympathy_validation"),
    ("Anyone would be upset.", "sympathy_validation"),
    ("Oh no, that's awful.", "sympathy_validation"),
    ("You're not alone in this.", "sympathy_validation"),
    ("I hear you.", "understanding"),
    ("I can imagine.", "understanding"),
])
def test_validation_and_understanding_count(text: str, subscore: str) -> None:
    b = text_empathy(text)
    assert b.subscores[subscore] > 0 and b.points > 0


@pytest.mark.parametrize("dismissal", [
    "At least nobody got hurt.", "Look on the bright side.", "Everything happens for a reason.",
    "Don't feel bad.", "Just move on.", "It could be worse.",
])
def test_everyday_dismissals_lower_it(dismissal: str) -> None:
    sympathy = "I'm so sorry that happened."
    assert text_empathy(dismissal).subscores["dismissing"] < 0
    assert text_empathy(f"{sympathy} {dismissal}").points < text_empathy(sympathy).points


def test_advice_counts_against_only_before_any_acknowledgement() -> None:
    assert text_empathy("You should call your bank. I'm so sorry.").subscores["dismissing"] < 0
    assert text_empathy("I'm so sorry. You should call your bank.").subscores["dismissing"] == 0
    # Each line is a message: an acknowledgement in one does not excuse advice opening the next.
    assert text_empathy("I'm so sorry.\nHave you tried calling them?").subscores["dismissing"] < 0


def test_formulas_stay_weak_and_below_named_feelings() -> None:
    for formula in ("I understand.", "I get it.", "I hear you.", "I've been there.", "I know."):
        evidence = [e for e in detect(formula).evidence if e.signal == "empathy"]
        assert evidence and all(is_weak(e) for e in evidence), formula
        assert text_empathy(formula).points < text_empathy("I understand how frustrating this is.").points
    scenario = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")
    opener = judge(scenario, detect("I've been there."), History())
    assert "empathy" not in opener.credited_names()  # nothing said yet for it to answer
    answer = judge(scenario, detect("I've been there."), History(feelings=("tired",)))
    assert "empathy" in answer.credited_names()


def test_the_estimate_scales_empathys_calming_effect() -> None:
    def weight(text: str) -> float:
        d = detect(text)
        return mood_weight(Detection(d.text, d.evidence))

    clear, formula = weight("That must have been terrifying."), weight("I understand.")
    assert clear == 1.0 and formula == 0.5
    assert weight("That must have been terrifying, and anyone would be shaken. I'm so sorry.") == LEX.empathy_mood["most"]
    assert weight("I'm so sorry, but at least it's only stuff.") < formula
    scenario = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")
    state = scenario.states[scenario.start]
    base = mood.signal_delta({"empathy"}, scenario, state)
    assert mood.signal_delta({"empathy"}, scenario, state, {"empathy": 0.5}) == round(base / 2)
    assert mood.signal_delta({"empathy", "greeting"}, scenario, state, {"empathy": 0.0}) == mood.signal_delta({"greeting"}, scenario, state)


def test_agreement_with_the_tuning_ratings() -> None:
    """Fit on the tuning lines (their header: written by the cue author, not blind); floors
    below the measured 0.90 / 0.95 catch a regression, the count of five words beside it."""
    ours = empathy_agreement(TUNE)
    assert ours["lines_spearman"] >= 0.85 and ours["conversations_spearman"] >= 0.85, ours
    five = empathy_agreement(TUNE, lambda t: float(sum(t.lower().count(w) for w in ("sorry", "understand", "feel", "sounds", "must be"))))
    assert ours["lines_spearman"] > five["lines_spearman"]


def test_respect_is_neutral_at_fifty_on_the_calibration_requests() -> None:
    with (POLITENESS / "stack-exchange.annotated.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    scores = [respect_score(detect(r["Request"])) for r in rows]
    above = sum(s > 50 for s in scores) / len(scores)
    assert 0.48 <= above <= 0.52, above  # scores.yaml: -0.25 puts 50.5% above
    # Measured 0.274 on all rated requests (bench/scorer.py): a floor, not a target.
    assert spearman([float(s) for s in scores], [float(r["Normalized Score"]) for r in rows]) > 0.2


def test_rank_statistics() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0
    assert auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert auc([1, 1], [True, False]) == 0.5


# The families the empathy signal gained for the estimate (issue 10), pinned on the rules alone.
@pytest.mark.parametrize(("text", "family"), [
    ("Of course you're scared.", "validation"),
    ("That would make anyone angry.", "validation"),
    ("It's okay to cry.", "validation"),
    ("You're not stupid, and none of this is your fault.", "validation"),
    ("I bet you're wiped out after that shift.", "reflection"),
    ("You must feel so alone.", "reflection"),
    ("It sounds like you miss her terribly.", "reflection"),
    ("That uncertainty must be awful.", "reflection"),
    ("I can't imagine how quiet the house must feel.", "reflection"),
    ("Oh no, I'm so sorry to hear that.", "sympathy"),
    ("Breakups are really hard.", "sympathy"),
    ("I feel so bad for you.", "sympathy"),
    ("You're not alone in feeling this.", "presence"),
    ("I've been there.", "understanding"),
    ("Congratulations, I'm so happy for you!", "shared_joy"),
    ("The last thing you need tonight is a ticket.", "situation"),
])
def test_new_empathy_phrasings(text: str, family: str) -> None:
    found = {e.detail for e in detect(text, learned=False).evidence if e.signal == "empathy"}
    assert family in found, (text, found)


@pytest.mark.parametrize(("text", "not_signal"), [
    ("Thank you for trusting me with this.", "empathy"),  # gratitude, as the blind authors label it
    ("So sorry about the line, I'll be quick.", "empathy"),  # an apology for the wait
    ("Your daughter was just worried.", "empathy"),  # someone else's feeling
    ("I can't imagine how quiet it must feel.", "dismissive"),  # not "quiet it (down)"
    ("At least nobody got hurt.", "dismissive"),  # only the estimate's minimising feature
])
def test_near_misses_of_the_new_phrasings(text: str, not_signal: str) -> None:
    assert not detect(text, learned=False).has(not_signal), text


def test_a_scene_is_calmed_more_by_more_validation() -> None:
    scenario = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")
    effect = mood.default_effects()["empathy"] if "empathy" not in scenario.mood_effects else scenario.mood_effects["empathy"]

    def change(line: str) -> int:
        from bot.engine.session import Session

        turn = Session.start(scenario, seed=1).step(line)
        assert "empathy" in turn.judgement.signals
        return turn.mood_after - turn.mood_before

    one = change("That must be exhausting.")
    two = change("That must be exhausting, and anyone would be worn out.")
    assert two - one == round(effect * LEX.empathy_mood["most"]) - effect  # 1.5x the effect, against 1x
