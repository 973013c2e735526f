"""Whose turn it is to be polled, and whether the request budget has room for it.

Pure bookkeeping on a monotonic clock the caller passes in: no HA, no timers. The hub
ticks both a few times a second; neither ever looks at more than the turns it hands out.
"""

from __future__ import annotations

from collections import deque
import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Container

# Sums of a tick's share are inexact (ten times 0.1 is 0.9999999999999999), and so are
# times near the epoch (freezegun's clock): a microsecond or a millionth of a turn is no
# difference.
_EPSILON: Final = 1e-6


class PollRound:
    """Servers in a fixed order, each polled once per period, never more than a rate.

    The period is the poll interval, stretched to servers / max_rate once there are more
    servers than the rate allows in one interval. Time earns credit at that rate and each
    turn spends one, so the turns are spread evenly: a server gets its own offset. A tick
    hands out at most its share of turns (rounded up); credit a tick could not spend (the
    budget had no room, the loop stalled) carries over only up to one turn: the round is
    delayed then, it never catches up in a burst.
    """

    def __init__(self, interval: float, max_rate: float, tick: float, now: float) -> None:
        """Start empty; servers join with add()."""
        self.interval = interval
        self.max_rate = max_rate
        self._tick = tick
        self._order: deque[str] = deque()  # may still hold ids that left: dropped in turn
        self._members: set[str] = set()  # the ids in _order
        self._hurried: dict[str, None] = {}  # first in line, in order (setup, a reconnect)
        self._credit = 0.0
        self._last = now
        self._turns_left = 0  # in this tick
        self._lap_turns = 0
        self._lap_ended: float | None = None
        self.last_lap: float | None = None  # seconds the last full round took

    def __len__(self) -> int:
        """Return the number of servers in the round."""
        return len(self._order)

    @property
    def rate(self) -> float:
        """Return the turns per second."""
        return min(len(self._order) / self.interval, self.max_rate)

    @property
    def period(self) -> float:
        """Return the seconds from one turn of a server to its next."""
        return max(self.interval, len(self._order) / self.max_rate)

    @property
    def stretched(self) -> bool:
        """Tell whether the rate, not the interval, sets the period."""
        return len(self._order) > self.max_rate * self.interval

    def add(self, key: str) -> None:
        """Let a server join at the end of the round: its first turn is one period away."""
        if key not in self._members:
            self._members.add(key)
            self._order.append(key)

    def hurry(self, key: str) -> None:
        """Put a server first in line, once: its next turn comes before the round's."""
        self._hurried[key] = None

    def accrue(self, now: float) -> None:
        """Start a tick: earn the credit of the time since the last one."""
        rate = self.rate
        self._credit = min(self._credit, 1.0) + rate * (now - self._last)
        self._last = now
        self._turns_left = math.ceil(rate * self._tick - _EPSILON)

    def restart(self, now: float) -> None:
        """Start the round from now: the time before (nothing could be polled) earns nothing."""
        self._credit = 0.0
        self._last = now

    def resume(self, now: float) -> None:
        """Start a tick after a pause: the pause earns nothing; the next turn is due now."""
        self._credit = 1.0
        self._last = now
        self._turns_left = max(1, math.ceil(self.rate * self._tick - _EPSILON))

    def take_hurried(self, present: Container[str]) -> str | None:
        """Return the next server put first in line, None when none waits.

        It costs no credit: the caller's request budget bounds these.
        """
        while self._hurried:
            key = next(iter(self._hurried))
            del self._hurried[key]
            if key in present:
                return key
        return None

    def take(self, present: Container[str]) -> str | None:
        """Spend one turn and return whose it is; None once this tick's turns are spent.

        An id no longer `present` leaves the round without spending a turn.
        """
        if self._credit < 1 - _EPSILON or self._turns_left <= 0:
            return None
        while self._order:
            key = self._order.popleft()
            if key in present:
                self._order.append(key)
                self._credit -= 1
                self._turns_left -= 1
                self._count_turn()
                return key
            self._members.discard(key)
        return None

    def _count_turn(self) -> None:
        """Time the rounds: what the budget really gives, servers that need two included."""
        self._lap_turns += 1
        if self._lap_turns >= len(self._order):
            if self._lap_ended is not None:
                self.last_lap = self._last - self._lap_ended
            self._lap_turns, self._lap_ended = 0, self._last


class RequestBudget:
    """At most `per_second` requests start in any one-second window.

    A log of the last `per_second` start times: there is room when the oldest of them is
    a second old. Unlike the round's pacing this counts every request, a poll's second
    one (after its `info`) included, so it is a hard cap on what reaches the broker.
    """

    def __init__(self, per_second: int) -> None:
        """Start with the whole budget free."""
        self.per_second = per_second
        self._starts: deque[float] = deque(maxlen=per_second)

    def has_room(self, now: float) -> bool:
        """Tell whether one more request may start now."""
        return len(self._starts) < self.per_second or now - self._starts[0] >= 1 - _EPSILON

    def spend(self, now: float) -> None:
        """Count a request started now (after has_room said so)."""
        self._starts.append(now)
