"""Role-play trainer: a resident played in chat, deterministic quoted feedback."""

__version__ = "0.1.0"
