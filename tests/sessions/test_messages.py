"""What a session sends is stored as JSON: the same JSON as dataclasses.asdict gave."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bot.engine.catalog import load_checked
from bot.engine.session import Session
from bot.sessions import messages
from bot.sessions.messages import Message

ROOT = Path(__file__).resolve().parents[2]


def _mention(user_id: int | None, name: str) -> str:
    return f"<@{user_id}>" if user_id is not None else name


def test_every_kind_of_message_is_stored_as_asdict_gave_it() -> None:
    scenario = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")
    play = Session.start(scenario, seed=3)
    for line in ("Good evening, I'm Officer Tran.", "I stopped you because your tail light is out.", "Have a good night."):
        if not play.ended:
            play.step(line)
    play.abandon()
    score = play.score()
    built = [
        messages.briefing(scenario, "Ana", 7, "practice", _mention),
        messages.briefing(scenario, "Ana", None, "assessment", _mention),
        messages.resident_line(scenario, play.opening, play.mood),
        messages.feedback(scenario, score, "Ana", 7, _mention),
        messages.recognition(scenario, score, "Ana", 7, _mention),
        messages.notice("Your line will be answered shortly."),
        messages.controls_off("1:briefing"),
        Message("notice", text="é ✅", mentions=(1, 2), controls=("end:1",), mood=None, edit_of="1:briefing"),
    ]
    for message in built:
        assert message.to_json() == json.dumps(asdict(message), ensure_ascii=False, sort_keys=True)
        assert Message.from_json(message.to_json()) == message
