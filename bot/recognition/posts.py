"""What recognition sends, as session messages every transport can show (see bot/sessions/messages.py).

Every post names the behaviour and, where there is one, quotes the trainee's line. Only the
person recognised may be pinged; a quoted line or a kudos reason pings nobody.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.recognition.leaderboard import Standing
from bot.recognition.rules import Badge
from bot.sessions.messages import Card, Field, Mention, Message

BADGE, BADGE_NOTE, NOMINATION_REVIEW, NOMINATION, KUDOS, LEADERBOARD = (
    "badge", "badge_note", "nomination_review", "nomination", "kudos", "leaderboard",
)
NOMINATION_CONTROL = "nomination"  # a control "nomination:<session>:<turn>": approve and dismiss buttons
QUOTE_LIMIT = 400


def badge_post(badge: Badge, trainee: str, trainee_id: int | None, mention: Mention) -> Message:
    text = f"\U0001F3C5 {mention(trainee_id, trainee)} earned the **{badge.title}** badge: {badge.description}."
    return Message(BADGE, text=text, mentions=_ids(trainee_id))


def badge_note(badge: Badge, public: bool) -> Message:
    where = "" if public else " (kept private: you opted out of public recognition)"
    return Message(BADGE_NOTE, text=f"\U0001F3C5 Badge earned: **{badge.title}**: {badge.description}.{where}")


def nomination_review(title: str, session_id: int, turn: int, line: str, why: str, trainee: str, trainee_id: int | None, mention: Mention) -> Message:
    card = Card(
        title=f"Caught doing it right? {trainee} in {title}",
        description=f"\u201c{_short(line)}\u201d",
        fields=(Field("Why", why), Field("Session", f"{session_id}, turn {turn}", inline=True)),
        tone="celebration",
        footer="An instructor can post this line to the trainee's cohort channel, or dismiss it.",
    )
    # The review names the trainee without pinging anyone.
    return Message(NOMINATION_REVIEW, card=card, controls=(f"{NOMINATION_CONTROL}:{session_id}:{turn}",))


def nomination_post(title: str, line: str, why: str, trainee: str, trainee_id: int | None, mention: Mention) -> Message:
    text = (f"\U0001F31F **Caught doing it right:** {mention(trainee_id, trainee)} in *{title}*: "
            f"\u201c{_short(line)}\u201d \u2014 {why}.")
    return Message(NOMINATION, text=text, mentions=_ids(trainee_id))


def kudos_post(giver: str, giver_id: int | None, receiver: str, receiver_id: int | None, skill: str, reason: str, mention: Mention) -> Message:
    text = f"\U0001F44F {mention(giver_id, giver)} gave kudos to {mention(receiver_id, receiver)} for **{skill}**: {reason}"
    # Only the two people the command names; a '<@id>' or '@everyone' in the reason pings nobody.
    return Message(KUDOS, text=text, mentions=tuple(i for i in (giver_id, receiver_id) if i is not None))


def leaderboard_post(heading: str, top: Sequence[Standing], mention: Mention) -> Message:
    lines = [f"**{s.rank}.** {mention(s.discord_id, s.name)} \u2014 {s.points} points ({s.summary()})" for s in top]
    card = Card(
        title=f"\U0001F3C5 Recognition board \u2014 {heading}",
        description="\n".join(lines) or "Nobody on the board yet.",
        tone="celebration",
        footer="Points: each scenario's best clean attempt, badges and kudos. Retrying can only help. /leaderboard shows your own standing.",
    )
    return Message(LEADERBOARD, card=card)  # names, no pings


def _ids(user_id: int | None) -> tuple[int, ...]:
    return (user_id,) if user_id is not None else ()


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 1] + "\u2026"
