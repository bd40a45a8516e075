"""Tests for bot.engine.signals: every built-in signal, negation, spans, scores, robustness."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.catalog import load_checked
from bot.engine.evaluation import LABELS, agreement, load_labelled
from bot.engine.signals import (
    SIGNALS,
    Detection,
    Evidence,
    analyze,
    detect,
    empathy_score,
    load_lexicon,
    respect_score,
)

DIALOGUES = Path(__file__).resolve().parents[2] / "dialogues"
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
# Lines the detectors were tuned on (tests/data/README.md). The held-out file has its own
# test (test_heldout.py) with floors below its measured figures, not targets.
TUNING = ["officer_lines.jsonl", "officer_lines_second.jsonl", "blind_lines_a.jsonl", "blind_lines_c.jsonl", "blind_lines_d.jsonl", "blind_lines_e.jsonl"]

# (signal, line that shows it) -- phrasings a trainee might type.
POSITIVES: list[tuple[str, str]] = [
    ("introduction", "Jenkins, with Metro."),
    # Added with context-aware judging: the guessing game, ending the contact, overreach.
    ("guessing_game", "Do you know why I stopped you?"),
    ("guessing_game", "any idea why i pulled u over?"),
    ("guessing_game", "Why do you think I stopped you tonight?"),
    ("guessing_game", "Do you know how fast you were going?"),
    ("guessing_game", "bet you can guess why i lit you up"),
    ("guessing_game", "You know why I'm here, right?"),
    ("leave_taking", "That's all."),
    ("leave_taking", "Bye."),
    ("leave_taking", "You're free to go."),
    ("leave_taking", "ok you're free to go"),
    ("leave_taking", "We're done here."),
    ("leave_taking", "I'll let you get going."),
    ("search_request", "Mind if I take a look in your car?"),
    ("search_request", "I'm going to search the vehicle."),
    ("search_request", "Pop the trunk for me."),
    ("search_request", "can i check your bag real quick?"),
    ("search_request", "mind if I walk through the house?"),
    ("search_request", "gonna pat you down real quick"),
    ("exit_order", "Step out of the car."),
    ("exit_order", "I need you to hop out for me."),
    ("exit_order", "Could you step out of the vehicle, sir?"),
    ("exit_order", "get out of the car now"),
    ("exit_order", "Please exit the vehicle."),
    ("exit_order", "go ahead and step out"),
    ("fishing_question", "Anything illegal in the car?"),
    ("fishing_question", "Any drugs or weapons on you?"),
    ("fishing_question", "You been drinking tonight?"),
    ("fishing_question", "got any warrants?"),
    ("fishing_question", "Have you ever been arrested?"),
    ("fishing_question", "you're not on probation, are you?"),
    ("id_request", "License and registration."),
    ("id_request", "Can I see your ID?"),
    ("id_request", "I'll need your date of birth."),
    ("id_request", "do you have insurance on you?"),
    ("id_request", "May I please see your license?"),
    ("id_request", "ID please"),
    ("greeting", "Hello, how are you?"),
    ("greeting", "Good evening."),
    ("greeting", "hi there"),
    ("greeting", "Heyyy, what's up"),
    ("greeting", "Morning, sir."),
    ("greeting", "Welcome to the Fifth Precinct."),
    ("introduction", "I'm Officer Smith."),
    ("introduction", "My name is Deputy Jones."),
    ("introduction", "This is Sergeant Diaz with the state patrol."),
    ("introduction", "im officer smith"),
    ("introduction", "Officer Kim here, Metro PD."),
    ("reason_for_contact", "The reason I stopped you is a broken taillight."),
    ("reason_for_contact", "I pulled you over because you were weaving."),
    ("reason_for_contact", "I stopped you for an expired registration."),
    ("reason_for_contact", "Your registration is expired."),
    ("reason_for_contact", "You were going 52 in a 35."),
    ("reason_for_contact", "You ran the stop sign at Fifth and Main."),
    ("reason_for_contact", "I'm here about the call you made earlier."),
    ("reason_for_contact", "We got a call about a loud party."),
    ("reason_for_contact", "I'm following up on your report from Tuesday."),
    ("formal_address", "Yes, sir."),
    ("formal_address", "Thank you, ma'am."),
    ("formal_address", "Mr. Johnson, can we talk?"),
    ("formal_address", "Good morning Ms Alvarez."),
    ("formal_address", "maam, one moment"),
    ("formal_address", "Mrs. O'Neil, are you hurt?"),
    ("informal_address", "Listen, buddy."),
    ("informal_address", "Hey bro, what's going on?"),
    ("informal_address", "Dude, seriously?"),
    ("informal_address", "Okay pal."),
    ("informal_address", "Sure thing, honey."),
    ("informal_address", "Thanks, chief."),
    ("informal_address", "Look man, I just need your ID."),
    ("informal_address", "Sweetie, it's fine."),
    ("polite_request", "Please stay in the car."),
    ("polite_request", "Could you roll the window down?"),
    ("polite_request", "Would you mind stepping out for a moment?"),
    ("polite_request", "If you could grab your registration, that would help."),
    ("polite_request", "Can I see your license?"),
    ("polite_request", "pleeease stay back"),
    ("gratitude", "Thank you."),
    ("gratitude", "thanks a lot"),
    ("gratitude", "I appreciate your patience."),
    ("gratitude", "Thx for waiting"),
    ("gratitude", "I'm grateful you called."),
    ("gratitude", "Thank you so much for your help."),
    ("apology", "Sorry about that."),
    ("apology", "I apologize for the delay."),
    ("apology", "I'm sorry for the wait."),
    ("apology", "My apologies, I misspoke."),
    ("apology", "soooo sorry"),
    ("apology", "Pardon the interruption."),
    ("empathy", "I understand."),
    ("empathy", "I can see you're upset."),
    ("empathy", "That must be frustrating."),
    ("empathy", "I hear you."),
    ("empathy", "That sounds scary."),
    ("empathy", "That's a long shift."),
    ("empathy", "You must be exhausted."),
    ("empathy", "I'd be upset too."),
    ("reassurance", "You're not in trouble."),
    ("reassurance", "I'm not going to arrest you."),
    ("reassurance", "You're safe now."),
    ("reassurance", "This will only take a few minutes."),
    ("reassurance", "There's nothing to worry about."),
    ("reassurance", "I don't want you to worry."),
    ("reassurance", "I won't keep you long."),
    ("reassurance", "You're not in any trouble, it's just a warning."),
    ("empathy", "It's not your fault."),
    ("open_question", "What happened?"),
    ("open_question", "How can I help?"),
    ("open_question", "Can you tell me what you saw?"),
    ("open_question", "How have things been since Tuesday?"),
    ("open_question", "So where were you headed?"),
    ("open_question", "Walk me through what happened next."),
    ("explain_next_steps", "Here's what happens next: I'll run your license and be right back."),
    ("explain_next_steps", "I'm going to run your license and then I'll be back."),
    ("explain_next_steps", "You'll get a copy of the report."),
    ("explain_next_steps", "You can contest it in court."),
    ("explain_next_steps", "It will take about five minutes."),
    ("explain_next_steps", "Next I will check the back yard."),
    ("offer_help", "Is there anything I can do for you?"),
    ("offer_help", "Can I help you?"),
    ("offer_help", "Let me get you some water."),
    ("offer_help", "I can give you the number for a tow company."),
    ("offer_help", "Do you need a ride home?"),
    ("offer_help", "If you need anything, call me."),
    ("ask_permission", "Do you mind if I look around?"),
    ("ask_permission", "May I come in?"),
    ("ask_permission", "Is it okay if I take a photo?"),
    ("ask_permission", "Mind if I ask you a few questions?"),
    ("ask_permission", "Would it be alright if I sat down?"),
    ("ask_permission", "With your permission, I'll check the garage."),
    ("closing", "Drive safe."),
    ("closing", "Have a good night."),
    ("closing", "Take care."),
    ("closing", "Get home safe, okay?"),
    ("closing", "You're free to go, drive safe."),
    ("closing", "Be safe out there."),
    ("command", "License and registration."),
    ("command", "Step out of the car."),
    ("command", "Hands on the wheel!"),
    ("command", "Give me your ID."),
    ("command", "Turn off the engine."),
    ("command", "Stay in the car."),
    ("command", "Don't move."),
    ("command", "Shut up."),
    ("command", "Sir, step out of the vehicle."),
    ("command", "I need you to get out of the car."),
    ("jargon", "10-4, show me 10-8."),
    ("jargon", "The perp ran north."),
    ("jargon", "We have a suspect vehicle."),
    ("jargon", "We're code 3 to your location."),
    ("jargon", "There's a BOLO out for that car."),
    ("jargon", "I had PC for the search."),
    ("dismissive", "Calm down."),
    ("dismissive", "Whatever."),
    ("dismissive", "I don't care."),
    ("dismissive", "That's not my problem."),
    ("dismissive", "Save it."),
    ("dismissive", "Tell it to the judge."),
    ("dismissive", "You people always do this."),
    ("blame", "This is your fault."),
    ("blame", "You brought this on yourself."),
    ("blame", "If you had just listened, we wouldn't be here."),
    ("blame", "You should have stopped."),
    ("blame", "What were you thinking?"),
    ("blame", "That's on you."),
    ("threat", "I'll arrest you."),
    ("threat", "You're going to jail."),
    ("threat", "I will tase you."),
    ("threat", "Keep it up and see."),
    ("threat", "Do you want to go to jail?"),
    ("threat", "I can make this worse."),
    ("threat", "Last warning."),
    ("profanity", "What the fuck."),
    ("profanity", "f*ck this"),
    ("profanity", "that's sh!t"),
    ("profanity", "Don't be an ass."),
    ("profanity", "This is bullshit."),
    ("profanity", "damn it"),
    ("profanity", "You're an a**hole."),
]

# (signal, line that must NOT show it) -- near misses and negations.
NEGATIVES: list[tuple[str, str]] = [
    ("introduction", "I'm with the Riverside Police Department."),  # says what, not who
    ("introduction", "My partner, Officer Kwan, will stay with you."),
    ("guessing_game", "The reason I stopped you is your tag expired."),
    ("guessing_game", "Do you know what happens next? I'll explain."),
    ("leave_taking", "I'll call you later this week."),
    ("leave_taking", "That's all I can tell you for now, but the detective will know more."),
    ("search_request", "I searched our system for your report."),
    ("search_request", "May I look at the back door where they came in?"),
    ("exit_order", "You don't need to get out of the car."),
    ("exit_order", "Could you step out onto the porch for a second?"),
    ("fishing_question", "Did they take any guns from the house?"),
    ("fishing_question", "Where are you headed tonight?"),
    ("id_request", "Your registration expired in July."),
    ("id_request", "You'll get your license back in a minute."),
    ("greeting", "Othello is on tonight."),
    ("greeting", "Have a good evening."),
    ("greeting", "The shell casing was there."),
    ("introduction", "I'm going to need your name."),
    ("introduction", "I'm sorry about that."),
    ("introduction", "Detective Jones will call you tomorrow."),
    ("reason_for_contact", "Do you know why I stopped you?"),
    ("reason_for_contact", "Do you know why I pulled you over?"),
    ("reason_for_contact", "Any idea why I stopped you tonight?"),
    ("reason_for_contact", "Do you know the reason I stopped you?"),
    ("formal_address", "Sherman is my partner."),
    ("formal_address", "I miss my dog."),
    ("formal_address", "The sirloin was great."),
    ("informal_address", "My buddy Tom saw it."),
    ("informal_address", "A man ran out the back."),
    ("informal_address", "The chief of police will call."),
    ("informal_address", "Man, that's a lot to deal with."),
    ("polite_request", "I'm pleased to meet you."),
    ("polite_request", "Would you like some water?"),
    ("polite_request", "Can you hear me?"),
    ("gratitude", "I don't appreciate your tone."),
    ("gratitude", "No thanks."),
    ("apology", "You're going to be sorry."),
    ("apology", "I'm not sorry."),
    ("apology", "Don't be sorry."),
    ("empathy", "I don't understand."),
    ("empathy", "I understand you called about a break-in."),
    ("empathy", "Can I get that license?"),
    ("empathy", "I hear you have a dog."),
    ("reassurance", "You're in trouble."),
    ("reassurance", "I'm glad you're safe."),
    ("reassurance", "Is it okay if I come in?"),
    ("open_question", "What I'm going to do is run your plate."),
    ("open_question", "Here's what's going to happen next."),
    ("open_question", "When you get a chance, call me."),
    ("explain_next_steps", "I'm going to arrest you."),
    ("explain_next_steps", "I'm going to need you to step out."),
    ("offer_help", "There's nothing I can do."),
    ("offer_help", "I can give you a ticket."),
    ("offer_help", "Let me see your license."),
    ("ask_permission", "May I see your license?"),
    ("ask_permission", "Can I help you?"),
    ("closing", "Take care of that registration."),
    ("closing", "You'll be safe here."),
    ("closing", "You can go ahead and grab your registration."),
    ("command", "Could you step out of the car?"),
    ("command", "Could I see your license?"),
    ("command", "Can I see your license and registration?"),
    ("command", "Your license is suspended."),
    ("command", "Give me a second to check."),
    ("command", "You can stay in the car."),
    ("command", "Don't worry."),
    ("command", "Keep up the good work."),
    ("jargon", "Call 211 for housing help."),
    ("jargon", "My zip code 3 digits are 902."),
    ("jargon", "I'll pick up a new PC charger."),
    ("jargon", "I live at 415 Main Street."),
    ("dismissive", "Whatever you need, just ask."),
    ("dismissive", "It's not a big deal."),
    ("dismissive", "Once things calm down we'll talk."),
    ("dismissive", "I can help you calm down."),
    ("blame", "It's not your fault."),
    ("blame", "I'm not saying this is your fault."),
    ("blame", "You should have received a letter."),
    ("blame", "I'm not trying to give you a hard time."),
    ("threat", "I'm not going to arrest you."),
    ("threat", "You're not going to jail."),
    ("threat", "I won't arrest you."),
    ("threat", "I'm not trying to give you a hard time."),
    ("threat", "I can take you to the station to make a report."),
    ("threat", "Can you spell that one more time?"),
    ("profanity", "Please pass the salt."),
    ("profanity", "Do you need assistance?"),
    ("profanity", "Hello, class."),
    ("profanity", "Shell Street and Cockburn Avenue."),
    ("profanity", "We'll assess the damage."),
    ("profanity", "He shifted lanes."),
]


def test_signal_names_are_the_contract() -> None:
    assert SIGNALS[0] == "greeting" and SIGNALS[-1] == "id_request"
    assert len(SIGNALS) == 27 and len(set(SIGNALS)) == 27


def test_lexicon_loads_once() -> None:
    assert load_lexicon() is load_lexicon()
    assert [r.name for r in load_lexicon().rules] == list(SIGNALS)


def test_every_signal_has_positive_and_negative_examples() -> None:
    for name in SIGNALS:
        assert sum(s == name for s, _ in POSITIVES) >= 6, name
        assert sum(s == name for s, _ in NEGATIVES) >= 2, name


@pytest.mark.parametrize(("signal", "text"), POSITIVES)
def test_positive(signal: str, text: str) -> None:
    assert detect(text).has(signal), f"{signal} not found in {text!r}: {detect(text).names}"


@pytest.mark.parametrize(("signal", "text"), NEGATIVES)
def test_negative(signal: str, text: str) -> None:
    found = detect(text).first(signal)
    assert found is None, f"{signal} wrongly found in {text!r}: {found}"


@pytest.mark.parametrize(
    ("text", "present", "absent"),
    [
        ("I'm not going to arrest you.", "reassurance", "threat"),
        ("I don't want you to worry.", "reassurance", "threat"),
        ("I'm not trying to give you a hard time.", "reassurance", "blame"),
        ("I won't keep you long.", "reassurance", "command"),
        ("It isn't your fault.", "empathy", "blame"),
        ("Nobody's going to jail tonight.", "reassurance", "threat"),
        ("Don't worry, this won't take long.", "reassurance", "command"),
    ],
)
def test_negation_flips_meaning(text: str, present: str, absent: str) -> None:
    d = detect(text)
    assert d.has(present) and not d.has(absent), d.evidence


def test_please_makes_an_order_a_request() -> None:
    d = detect("License and registration, please.")
    assert d.has("id_request") and d.has("polite_request") and not d.has("command")
    assert detect("License and registration.").has("command")
    assert not detect("I need you to stay in the car for your safety.").has("command")


def test_introduction_captures_name() -> None:
    assert detect("Hi, I'm Officer Smith with CMPD.").first("introduction").detail == "Officer Smith"
    assert detect("my name is Deputy Jones").first("introduction").detail == "Deputy Jones"
    assert detect("This is Sergeant Diaz with the county.").first("introduction").detail == "Sergeant Diaz"
    assert detect("im officer smith").first("introduction").detail == "Officer Smith"
    assert detect("My name's Maria Lopez.").first("introduction").detail == "Maria Lopez"
    assert detect("evening, tpr nguyen w/ state patrol").first("introduction").detail == "Trooper Nguyen"
    assert detect("Jenkins, with Metro.").first("introduction").detail == "Jenkins"
    assert detect("Hi, I'm Pat, I work here in Records.").first("introduction").detail == "Pat"
    assert detect("Officer Tran. Following up on the burglary.").first("introduction").detail == "Officer Tran"
    assert detect("Records, this is Glen.").first("introduction").detail == "Glen"


def test_formal_address_detail_is_the_title() -> None:
    assert detect("Thanks, Mr. Smith").first("formal_address").detail == "Mr."
    assert detect("yes maam").first("formal_address").detail == "ma'am"
    assert detect("Yes, sir.").first("formal_address").detail == "sir"


@pytest.mark.parametrize(
    "text",
    [
        "I’m Officer Smith, I don’t want you to worry 🙂",
        "HELLO SIR!!! THE REASON I STOPPED YOU IS YOUR TAG IS EXPIRED",
        "hey… thx 🙏🏽 drive safe",
        "\u00a0\tI'm   sorry\u2019 for the wait\x00\x07",
        "İstanbul? ß sir straße ǅ",
    ],
)
def test_spans_index_the_original_text(text: str) -> None:
    d = detect(text)
    assert d.evidence, text
    for e in d.evidence:
        assert text[e.start : e.end] == e.quote
    assert [e.start for e in d.evidence] == sorted(e.start for e in d.evidence)


def test_curly_apostrophes_case_and_emoji() -> None:
    d = detect("I’M NOT GOING TO ARREST YOU 😊, DON’T WORRY")
    assert d.has("reassurance") and not d.has("threat")
    assert detect("IM OFFICER BROWN").first("introduction").detail == "Officer Brown"
    assert detect("dont move!!").has("command")


def test_extra_signals_from_a_scenario() -> None:
    extra = {
        "mentions_tag": [re.compile(r"\b(tag|registration|sticker)\b", re.IGNORECASE)],
        "reason_for_contact": [re.compile(r"\bfaded plate\b", re.IGNORECASE)],
        "hedging": [re.compile(r"don't", re.IGNORECASE)],
    }
    d = detect("Your sticker is hard to read, and the faded plate. Don’t panic.", extra)
    assert d.first("mentions_tag").quote == "sticker"
    assert d.first("reason_for_contact").quote == "faded plate"
    assert d.first("hedging").quote == "Don’t"  # extra patterns see straight apostrophes


def test_detection_helpers() -> None:
    d = detect("Hello sir, thank you.")
    assert isinstance(d, Detection) and d.names == {"greeting", "formal_address", "gratitude"}
    assert isinstance(d.first("greeting"), Evidence) and d.first("threat") is None


def test_analyze_is_json_ready() -> None:
    out = analyze("Good evening, I'm Officer Lee. Drive safe.")
    json.dumps(out)
    names = [s["name"] for s in out["signals"]]
    assert {"greeting", "introduction", "closing"} <= set(names)
    assert out["signals"][1]["evidence"][0]["detail"] == "Officer Lee"
    assert 0 <= out["respect"] <= 100 and 0 <= out["empathy"] <= 100


# ---------------------------------------------------------------- labelled officer lines


@pytest.mark.parametrize("name", [*TUNING, "blind_lines_heldout.jsonl"])
def test_labelled_lines_are_valid(name: str) -> None:
    rows = load_labelled(DATA_DIR / name)
    assert len(rows) >= 150
    for row in rows:
        assert set(row["signals"]) <= set(LABELS), row


@pytest.mark.parametrize("name", TUNING)
def test_recall_and_false_alarms_on_tuning_lines(name: str) -> None:
    result = agreement(load_labelled(DATA_DIR / name), load_checked(DIALOGUES / "traffic_stop.yaml"))
    assert result.recall >= 0.86, result.as_dict()
    assert result.false_alarm_rate <= 0.01, result.as_dict()
    assert result.called_right >= 0.9 * result.called_total, result.as_dict()


# ---------------------------------------------------------------- scores


@pytest.mark.parametrize(
    ("courteous", "harsh"),
    [
        ("Good evening, sir. I'm Officer Diaz; thanks for pulling over.", "License and registration."),
        ("Could you please step out of the car? Thank you.", "Step out of the car, now, buddy."),
        ("I'm sorry for the wait, ma'am. Drive safe.", "Keep it up and you're going to jail."),
        ("Thank you for calling us.", "Whatever. Not my problem."),
        ("Hello, how can I help you today?", "Shut the f*** up."),
    ],
)
def test_courteous_lines_score_higher_respect(courteous: str, harsh: str) -> None:
    assert respect_score(detect(courteous)) > 50 > respect_score(detect(harsh))


def test_neutral_line_is_fifty() -> None:
    assert respect_score(detect("The car is blue.")) == 50


@pytest.mark.parametrize(
    ("politer", "ruder", "strategy"),
    [
        ("Is the log on the server?", "What is on the server?", "polar vs direct wh-question"),
        ("Is the log on the server?", "Why is the log on the server?", "direct why-question"),
        ("Perhaps the path changed?", "The path changed?", "hedge"),
        ("The path changed.", "Actually, the path changed.", "factuality"),
        ("The path changed?", "So the path changed?", "direct start"),
        ("The log is empty.", "Your log is empty.", "2nd person start"),
        ("Send the log, please.", "Please send the log.", "please start"),
        ("Could you send the log?", "Send the log.", "counterfactual modal"),
        ("Can you send the log?", "Send the log.", "indicative modal"),
        ("Nice work. Does it run?", "Does it run?", "deference"),
        ("That is a helpful report.", "That is a useless report.", "positive vs negative words"),
        ("By the way, is the log empty?", "Is the log empty?", "indirect (by the way)"),
        ("If you don't mind, is the log empty?", "Is the log empty?", "conditional softener"),
        ("I read the log. Is it empty?", "The log. Is it empty?", "1st person"),
        ("The log is empty :)", "The log is empty.", "smiley"),
        ("The log is empty.", "Hmm, the log is empty.", "interjection"),
        ("The log is empty.", "The log is not empty.", "negation"),
    ],
)
def test_politeness_strategies_move_respect(politer: str, ruder: str, strategy: str) -> None:
    assert respect_score(detect(politer)) > respect_score(detect(ruder)), strategy


def test_plain_questions_lean_by_form() -> None:
    """No marker at all: a polar question leans polite, a wh-question impolite, never a tie."""
    assert respect_score(detect("Is it on?")) > 50 > respect_score(detect("What is it?"))
    assert respect_score(detect("Really?")) != 50


def test_officer_signals_keep_their_direction() -> None:
    """Politeness features must not flip what the officer signals say."""
    assert respect_score(detect("Thank you for calling us.")) > 50
    assert respect_score(detect("Are you okay?")) > 50
    assert respect_score(detect("Good evening, sir.")) > 50
    assert respect_score(detect("Calm down, buddy.")) < 50
    assert respect_score(detect("Hands on the wheel.")) < 50
    assert respect_score(detect("Do that again and you're going to jail.")) < 50


@pytest.mark.parametrize(
    ("empathic", "flat"),
    [
        ("That must have been terrifying. Are you okay?", "Fill out this form."),
        ("I understand, take your time.", "Step out of the car."),
        ("I'm so sorry this happened. Is there anything I can do?", "What is your name?"),
        ("I hear you, that sounds frustrating.", "I hear you, that sounds frustrating, but calm down or you're going to jail."),
    ],
)
def test_empathetic_lines_score_higher_empathy(empathic: str, flat: str) -> None:
    assert empathy_score(detect(empathic)) > empathy_score(detect(flat))


def test_empathy_is_zero_without_empathic_signals() -> None:
    assert empathy_score(detect("License and registration.")) == 0
    assert empathy_score(detect("Hello, thanks.")) == 0


# ---------------------------------------------------------------- robustness


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_never_raises_and_stays_in_range(text: str) -> None:
    d = detect(text)
    for e in d.evidence:
        assert 0 <= e.start < e.end <= len(text)
        assert text[e.start : e.end] == e.quote
        assert e.signal in SIGNALS
    assert 0 <= respect_score(d) <= 100
    assert 0 <= empathy_score(d) <= 100
    json.dumps(analyze(text))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            ["sir", "I'm", "not", "going", "to", "arrest", "you", "please", "f*ck", "’", "😊",
             "step", "out", "10-4", "what", "?", "!", ",", ".", "\n", "\x00", "thanks", "dude"]
        ),
        max_size=80,
    )
)
def test_word_soup_never_raises(words: list[str]) -> None:
    text = " ".join(words)
    d = detect(text)
    assert all(text[e.start : e.end] == e.quote for e in d.evidence)
    analyze(text)


def test_long_and_odd_inputs() -> None:
    for text in ["", " ", "\x00" * 50, "what " * 2000, "a" * 10_000, "sir, " * 2000, "🚓" * 3000]:
        d = detect(text)
        assert 0 <= respect_score(d) <= 100
        analyze(text)
