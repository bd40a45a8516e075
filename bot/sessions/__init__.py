"""The session service: sessions played through any front end, and the outbox that delivers
everything they send exactly once through a small transport protocol (Discord, terminal)."""

from bot.sessions.messages import Card, Field, Message
from bot.sessions.recognition import recognition_due
from bot.errors import AlreadyPlaying
from bot.sessions.service import LineResult, Said, ServiceSettings, SessionService, Started, Trainee
from bot.sessions.transport import Posted, Transport

__all__ = [
    "AlreadyPlaying", "Card", "Field", "LineResult", "Message", "Posted", "Said", "ServiceSettings", "SessionService",
    "Started", "Trainee", "Transport", "recognition_due",
]
