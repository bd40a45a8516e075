"""The database: aiosqlite, numbered migrations, typed rows. The only place with SQL."""

from bot.store.rows import NewSession, SessionRow, TurnRow
from bot.store.store import Store, default_db_path

__all__ = ["NewSession", "SessionRow", "Store", "TurnRow", "default_db_path"]
