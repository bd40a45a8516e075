"""What a session sends, as plain values every transport can show, stored as JSON in the outbox.

A message is built once, when it is queued, from engine values (scenario, turn, score);
the Discord transport turns it into a message with an embed and buttons, the terminal
into text. Adding a kind of outgoing item is a builder here and a key to queue it under.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.engine.scenario import Scenario
from bot.engine.scoring import Score, SkillStatus

# Kinds of message. Only the trainee's own lines are turns; everything else the bot sends is one of these.
BRIEFING, OPENING, RESIDENT, NUDGE, FEEDBACK, RECOGNITION, NOTICE, CONTROLS_OFF = (
    "briefing", "opening", "resident", "nudge", "feedback", "recognition", "notice", "controls_off",
)
HINT, END = "hint", "end"  # buttons a message can carry

STATUS_ICON = {SkillStatus.EARNED: "\u2705", SkillStatus.LATE: "\U0001F7E1", SkillStatus.OUT_OF_ORDER: "\U0001F7E1", SkillStatus.MISSED: "\u2B1C"}

Mention = Callable[[int | None, str], str]  # (user id, name) -> how the platform names someone


@dataclass(frozen=True)
class Field:
    name: str
    value: str
    inline: bool = False  # may sit beside the next one


@dataclass(frozen=True)
class Card:
    """A titled block (a Discord embed; a panel in the terminal)."""

    title: str
    description: str = ""
    fields: tuple[Field, ...] = ()
    tone: str = "info"  # info | success | failure | abandoned | celebration
    footer: str = ""


@dataclass(frozen=True)
class Message:
    kind: str
    text: str = ""
    speaker: str | None = None  # a resident line: who says it
    card: Card | None = None
    mentions: tuple[int, ...] = ()  # the only people it may ping
    controls: tuple[str, ...] = ()  # buttons under it: HINT, END
    mood: int | None = None  # the resident's mood after a line (the terminal shows it)
    edit_of: str | None = None  # the outbox key of an earlier message this one changes

    def to_json(self) -> str:
        return _JSON.encode(self._plain())

    def _plain(self) -> dict[str, Any]:
        # What dataclasses.asdict gives, key for key (the stored JSON is unchanged), without
        # its deep copy of every field: one of these is built for everything a session sends.
        card = self.card
        return {
            "kind": self.kind, "text": self.text, "speaker": self.speaker,
            "card": None if card is None else {
                "title": card.title, "description": card.description, "tone": card.tone, "footer": card.footer,
                "fields": [{"name": f.name, "value": f.value, "inline": f.inline} for f in card.fields],
            },
            "mentions": list(self.mentions), "controls": list(self.controls), "mood": self.mood,
            "edit_of": self.edit_of,
        }

    @classmethod
    def from_json(cls, body: str) -> Message:
        data = json.loads(body)
        card = data.get("card")
        return cls(
            kind=data["kind"], text=data.get("text", ""), speaker=data.get("speaker"),
            card=Card(
                title=card["title"], description=card.get("description", ""), tone=card.get("tone", "info"),
                footer=card.get("footer", ""), fields=tuple(Field(f["name"], f["value"], bool(f.get("inline"))) for f in card.get("fields", ())),
            ) if card else None,
            mentions=tuple(data.get("mentions", ())), controls=tuple(data.get("controls", ())),
            mood=data.get("mood"), edit_of=data.get("edit_of"),
        )


# json.dumps(..., ensure_ascii=False, sort_keys=True), without a new encoder each call.
_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def briefing(scenario: Scenario, trainee: str, trainee_id: int | None, mode: str, mention: Mention) -> Message:
    card = Card(
        title=scenario.title, description=scenario.briefing,
        fields=(Field("Trainee", mention(trainee_id, trainee), inline=True), Field("Mode", mode, inline=True)),
        footer="Write what you would say, one message at a time. Only the trainee's messages count.",
    )
    controls = (HINT, END) if mode == "practice" else (END,)
    # The mention notifies the trainee (and on Discord brings them into a private thread).
    return Message(BRIEFING, text=mention(trainee_id, trainee), card=card, mentions=_ids(trainee_id), controls=controls)


def resident_line(scenario: Scenario, line: str, mood: int, kind: str = RESIDENT) -> Message:
    # No mentions: a resident line can repeat words of the trainee's (the name they gave).
    return Message(kind, text=line, speaker=scenario.resident.name, mood=mood)


def feedback(scenario: Scenario, score: Score, trainee: str, trainee_id: int | None, mention: Mention) -> Message:
    fields = []
    for skill in score.skills:
        value = f"\u201c{skill.quote}\u201d (turn {skill.turn})" if skill.turn else "not shown"
        if skill.note:
            value += f"\n_{skill.note}_"
        fields.append(Field(f"{STATUS_ICON[skill.status]} {skill.label} \u2014 {skill.points}/{skill.max_points}", value))
    if score.critical or score.penalties:
        lines = [f"\u26D4 {hit.label or hit.signal} (turn {hit.turn}): \u201c{hit.quote}\u201d" for hit in score.critical]
        lines += [f"{hit.points} {hit.label or hit.signal} (turn {hit.turn}): \u201c{hit.quote}\u201d" for hit in score.penalties]
        fields.append(Field("Costs", "\n".join(lines)))
    if score.went_well:
        fields.append(Field("What went well", "\n".join(f"\u2022 {item}" for item in score.went_well)))
    if score.try_next:
        tips = [f"\u2022 {tip.tip}" + (f"\n  e.g. \u201c{tip.example}\u201d" if tip.example else "") for tip in score.try_next]
        fields.append(Field("What to try next", "\n".join(tips)))
    if score.turning_points:
        points = [
            f"turn {p.turn}: mood {p.mood_before}\u2192{p.mood_after} after \u201c{_short(p.line, 120)}\u201d" for p in score.turning_points
        ]
        fields.append(Field("Turning points", "\n".join(points)))
    description = f"{mention(trainee_id, trainee)} \u00b7 outcome **{score.outcome.value}** \u00b7 score **{score.total}/100**"
    if score.ending:
        description += f"\n{score.ending}"
    description += "".join(f"\nCapped: {cap}" for cap in score.caps)
    card = Card(title=f"Feedback: {scenario.title}", description=description, fields=tuple(fields), tone=score.outcome.value)
    return Message(FEEDBACK, card=card, mentions=_ids(trainee_id))


def recognition(scenario: Scenario, score: Score, trainee: str, trainee_id: int | None, mention: Mention) -> Message:
    shown = [s.label[:1].lower() + s.label[1:] for s in score.skills if s.status is SkillStatus.EARNED]
    listed = ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 else (shown[0] if shown else "handled it well")
    text = f"\U0001F389 Well done, {mention(trainee_id, trainee)}! In *{scenario.title}* you {listed}. ({score.total}/100)"
    return Message(RECOGNITION, text=text, mentions=_ids(trainee_id))


def notice(text: str) -> Message:
    return Message(NOTICE, text=text)


def controls_off(briefing_key: str) -> Message:
    """Take the buttons off the briefing once the session has ended."""
    return Message(CONTROLS_OFF, edit_of=briefing_key)


def _ids(user_id: int | None) -> tuple[int, ...]:
    return (user_id,) if user_id is not None else ()


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
