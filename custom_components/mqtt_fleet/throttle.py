"""A token bucket: bursts up to a size, then a steady rate; what it refuses is counted.

It paces what a publisher can otherwise multiply: log lines, availability writes and the
bus events they fire. Nothing here reads a clock; callers pass the loop's time.
"""

from __future__ import annotations


class Throttle:
    """Allow `burst` at once, then one every `period` seconds; count the refused ones."""

    __slots__ = ("_burst", "_period", "_tokens", "_updated", "suppressed")

    def __init__(self, burst: int, period: float, now: float) -> None:
        """Start full."""
        self._burst = burst
        self._period = period
        self._tokens = float(burst)
        self._updated = now
        self.suppressed = 0  # refused since the last one allowed

    def _refill(self, now: float) -> None:
        self._tokens = min(self._burst, self._tokens + (now - self._updated) / self._period)
        self._updated = now

    def allow(self, now: float) -> bool:
        """Spend a token if there is one; otherwise count the refusal."""
        self._refill(now)
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self.suppressed += 1
        return False

    def wait(self, now: float) -> float:
        """Return the seconds until a token is there (0 if one is)."""
        self._refill(now)
        return max(0.0, (1 - self._tokens) * self._period)

    def take_suppressed(self) -> int:
        """Return the refusals counted since the last call, and start counting again."""
        suppressed, self.suppressed = self.suppressed, 0
        return suppressed
