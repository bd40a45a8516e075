"""The database: aiosqlite, numbered migrations, typed rows. The only place with SQL."""

from bot.store.rows import EvidenceRow, NewSession, SessionRow, TurnRow
from bot.store.store import Store, default_db_path

__all__ = ["EvidenceRow", "NewSession", "SessionRow", "Store", "TurnRow", "default_db_path"]
