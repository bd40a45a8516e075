"""Flood control: how fast a trainee's lines are played."""

from __future__ import annotations


class LineLimiter:
    """A token bucket: `burst` lines at once, refilled at `per_minute`; 0 per minute means no limit.

    Times are when the lines were written (the chat's timestamps), so lines caught up on
    after a reconnection are judged as they were sent, not as they are read.
    """

    def __init__(self, per_minute: int, burst: int) -> None:
        self.per_minute = per_minute
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._last: float | None = None

    def allow(self, written_at: float) -> bool:
        if self.per_minute <= 0:
            return True
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + max(0.0, written_at - self._last) * self.per_minute / 60)
        self._last = written_at if self._last is None else max(self._last, written_at)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def refund(self) -> None:
        """Give back the token of a line that was not played after all (it could not be
        saved): when it is tried again it is the same line, not one more."""
        if self.per_minute > 0:
            self._tokens = min(float(self.burst), self._tokens + 1)
