"""Sign-in throttling: too many wrong passwords for one username or from one address -> 429.

Kept in memory, per process. Why not in the database: a failed sign-in rolls its request's
transaction back, so recording it would need a second transaction and a write on the
path an attacker drives; and Argon2 already makes each guess cost ~50 ms of CPU. What it
means: with N server processes an attacker gets at most N times the limit, and a restart
forgets the counts. Both are documented in docs/operations.md.

The policy is a sliding window: at most `per_user` failures for one username (across all
addresses) and `per_address` failures from one client address (across all usernames) within
`window_seconds`. A refused attempt is not even checked against its password (so it costs
no Argon2 either) and answers 429 with `Retry-After`: the seconds until the oldest failure
in the window ages out. A successful sign-in clears its username's failures.

Behind a reverse proxy, run uvicorn with `--proxy-headers --forwarded-allow-ips=<proxy>` so
the client address is the caller's and not the proxy's.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable

from fastapi.responses import JSONResponse

from app.core.errors import PROBLEM_BASE, problem_response

DEFAULT_PER_USER = 5
DEFAULT_PER_ADDRESS = 30
DEFAULT_WINDOW_SECONDS = 15 * 60
MAX_TRACKED_KEYS = 100_000  # memory bound: the least recently failed keys are forgotten first


class LoginThrottle:
    """Counts failed sign-ins per key in a sliding window. Thread-safe."""

    def __init__(
        self,
        *,
        per_user: int = DEFAULT_PER_USER,
        per_address: int = DEFAULT_PER_ADDRESS,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.per_user = per_user
        self.per_address = per_address
        self.window = window_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def keys(username: str, organisation: str | None, address: str | None) -> list[str]:
        """The keys one attempt counts against: its username (with organisation) and address."""
        name = username.strip().lower()
        if organisation:
            name = f"{organisation.strip().lower()}/{name}"
        keys = [f"user:{name}"]
        if address:
            keys.append(f"addr:{address}")
        return keys

    def _limit(self, key: str) -> int:
        return self.per_user if key.startswith("user:") else self.per_address

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds to wait if any key is over its limit, else None."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._recent(key, now)
                if times is not None and len(times) >= self._limit(key):
                    # the oldest failure that keeps the key at its limit must age out
                    oldest = times[len(times) - self._limit(key)]
                    wait = max(wait, oldest + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, keys: Iterable[str]) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                times = self._recent(key, now) or deque()
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > self.max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, keys: Iterable[str]) -> None:
        """A right password clears its username's failures (not its address's)."""
        with self._lock:
            for key in keys:
                if key.startswith("user:"):
                    self._failures.pop(key, None)


def too_many_attempts(retry_after: int, instance: str) -> JSONResponse:
    """The 429 problem answer, with `Retry-After` in seconds."""
    body = {
        "type": PROBLEM_BASE + "too-many-attempts",
        "title": "Too many failed sign-ins",
        "status": 429,
        "detail": f"too many failed sign-ins for this username or address; retry in {retry_after} s",
        "instance": instance,
        "retry_after": retry_after,
    }
    return problem_response(429, body, headers={"Retry-After": str(retry_after)})
