"""One error hierarchy; front ends translate these into one clear line for the user."""

from __future__ import annotations


class TrainerError(Exception):
    """Base of every error the trainer raises on purpose."""


class ScenarioError(TrainerError):
    """A scenario file is invalid; carries file, line and a stable code."""

    def __init__(self, file: str, line: int, code: str, message: str) -> None:
        super().__init__(f"{file}:{line}: {code} {message}")
        self.file = file
        self.line = line
        self.code = code
        self.message = message


class ScenarioNotFound(TrainerError):
    """No scenario with that id or path exists."""


class SessionError(TrainerError):
    """A role-play was used in a way its state does not allow (e.g. stepping an ended scene)."""


class AlreadyPlaying(SessionError):
    """The trainee already has a session in progress (one at a time)."""

    def __init__(self, trainee: str, session_id: int, thread_id: int | None = None) -> None:
        super().__init__(f"{trainee} already has a role-play in progress (session {session_id})")
        self.trainee = trainee
        self.session_id = session_id
        self.thread_id = thread_id  # where it is played (a Discord thread); None in the terminal


class AlreadyExists(TrainerError):
    """Something with that name exists already (a cohort in the same server)."""


class StoreError(TrainerError):
    """The database could not be opened, migrated, read or written."""


class StoreBusy(StoreError):
    """Another process held the database's write lock for longer than the busy timeout."""


class StoreFull(StoreError):
    """The disk holding the database (or its size limit) is full."""


class DeliveryError(TrainerError):
    """A message could not be delivered to a chat platform.

    `permanent`: retrying cannot help (the channel is gone, the bot may not post there).
    `uncertain`: the platform may have posted it anyway (a 5xx, a dropped connection), so
    the channel's history must be checked before sending it again.
    """

    def __init__(self, message: str, *, permanent: bool = False, uncertain: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.uncertain = uncertain
        self.retry_after = retry_after


class ConfigError(TrainerError):
    """A setting is missing or invalid; the message names the key."""


class UsageError(TrainerError):
    """A command was given arguments it cannot work with."""
